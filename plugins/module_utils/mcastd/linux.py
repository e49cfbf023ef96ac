# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Linux and systemd define, written once for the whole collection.

Interface names and the one wildcard style, the interface table, the rtnetlink event socket,
sd_notify, the signal wake-up and the constants that modules, mcastd and the keepers share.

Only the standard library and no imports of this collection: mcastd imports it from its own
package, the modules as module_utils, and the keepers' deployed scripts carry its source at
their top (``_keeper_deploy.keeper_script``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import fcntl
import os
import signal
import socket
import struct
from collections import namedtuple

# ---------------------------------------------------------------------------------- constants

DEFAULT_CONFIG = "/etc/mcastd/mcastd.conf"
DEFAULT_SOCKET = "/run/mcastd/mcastd.sock"
MAX_U32 = 0xFFFFFFFF
LOCAL_TABLE = 255  # RT_TABLE_LOCAL: where IPv6 multicast routes take effect (rule 0 looks it up first)
MAIN_TABLE = 254
RTPROT_KERNEL = 2  # a route the kernel added itself (proto kernel)
# Where routed multicast lives, per IP version, and the IPv4 groups the kernel never forwards.
MULTICAST_PREFIXES = {4: "224.0.0.0/4", 6: "ff00::/8"}
LINK_LOCAL_GROUPS_IPV4 = "224.0.0.0/24"

# Interface flags from <linux/if.h>.
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_RUNNING = 0x40
IFF_ALLMULTI = 0x200
IFF_MULTICAST = 0x1000

# rtnetlink multicast groups (RTMGRP_* of <linux/rtnetlink.h>).
NETLINK_ROUTE = 0
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_ROUTE = 0x400

# ---------------------------------------------------------------------------- interface names

IFNAMSIZ = 16  # the kernel's buffer, the terminating NUL included: names have at most 15 bytes
# The one wildcard of the collection, smcroute's and iptables': a trailing '+' matches every name
# that begins with what stands before it (eth+ matches eth0 and eth1.10).
WILDCARD = "+"
SHELL_WILDCARDS = frozenset("*?[")


def interface_name_problem(name):
    """Why the kernel would refuse ``name`` for an interface (dev_valid_name()), or None.

    At most 15 bytes, not empty, not '.' or '..', no '/', ':' or whitespace.
    """
    if not isinstance(name, str) or not name:
        return "an interface name is empty: give the name, such as eth1"
    if name in (".", ".."):
        return "%r cannot be an interface name" % name
    if "/" in name or any(character.isspace() for character in name):
        return ("%r cannot be an interface name: Linux names contain no '/' and no whitespace "
                "(for an address or a VLAN, give the interface's name, such as trunk.10)" % name)
    if ":" in name:
        return ("%r cannot be an interface name: a ':' marks an address label (eth0:1), not an interface; "
                "give the interface's name (eth0)" % name)
    if len(name.encode("utf-8")) >= IFNAMSIZ:
        return "interface name %r is longer than 15 bytes, so no Linux interface can have it: check the spelling" % name
    return None


def is_pattern(text):
    """True when ``text`` names interfaces by the wildcard (eth+) rather than one interface."""
    return text.endswith(WILDCARD)


def pattern_problem(text):
    """Why ``text`` is neither an interface name nor a pattern of the collection's one style, or None.

    A lone '+' is allowed here (every interface); callers for whom that is wrong say so themselves.
    """
    shell = sorted(SHELL_WILDCARDS.intersection(text)) if isinstance(text, str) else []
    if shell:
        return ("%r uses the shell wildcard %s: mcast.linux names interfaces as smcroute does, with a trailing '+' "
                "that matches every name beginning with what stands before it (write %s)"
                % (text, "".join(shell), suggested_pattern(text)))
    if isinstance(text, str) and WILDCARD in text[:-1]:
        return "%r: the wildcard '+' may only end an interface name, as in eth+" % text
    if text == WILDCARD:
        return None
    return interface_name_problem(text[:-1] if is_pattern(text) else text)


def suggested_pattern(text):
    """``trunk.*`` -> ``trunk.+``: the prefix before the first shell wildcard, then '+'."""
    cut = min(text.index(character) for character in SHELL_WILDCARDS if character in text)
    return text[:cut] + WILDCARD


def name_matches(pattern, name):
    """True when the interface ``name`` is ``pattern`` or begins with a wildcard pattern's prefix."""
    if is_pattern(pattern):
        return name.startswith(pattern[:-1])
    return pattern == name


# ---------------------------------------------------------------------------- interface table

SIOCGIFFLAGS = 0x8913
IFREQ_FLAGS = struct.Struct("16sH14x")


class Iface(namedtuple("Iface", "name index flags")):
    """One network interface as the kernel sees it now."""

    __slots__ = ()

    @property
    def up(self):
        return bool(self.flags & IFF_UP)

    @property
    def multicast(self):
        return bool(self.flags & IFF_MULTICAST)

    def problems(self):
        """Sentences for what stops this interface from carrying multicast."""
        found = []
        if not self.up:
            found.append("down")
        if not self.multicast:
            found.append("no MULTICAST flag")
        return found


def _flags(probe, name):
    try:
        data = fcntl.ioctl(probe.fileno(), SIOCGIFFLAGS, IFREQ_FLAGS.pack(name.encode(), 0))
    except OSError:
        return None  # vanished between listing and asking
    return IFREQ_FLAGS.unpack(data)[1]


def interfaces():
    """{name: Iface} for every interface of this network namespace (if_nameindex, then each one's flags).

    Two system calls per interface and no netlink parsing: the cheapest complete look, and the same
    in the daemon, the keepers and the modules.
    """
    table = {}
    # Any socket answers SIOCGIFFLAGS; AF_UNIX is one that every unit of the collection may open
    # (the keepers' RestrictAddressFamilies= has no AF_INET).
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as probe:
        for index, name in socket.if_nameindex():
            flags = _flags(probe, name)
            if flags is not None:
                table[name] = Iface(name, index, flags)
    return table


# ------------------------------------------------------------------------ netlink by hand

# <linux/netlink.h>: what pyroute2 would decode, for the few questions asked without it.
NLMSGHDR = struct.Struct("=IHHII")
NLA_HEADER = struct.Struct("=HH")
NLA_TYPE_MASK = 0x3fff  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
NLMSG_ERROR = 2
NLMSG_DONE = 3


def netlink_messages(data):
    """``(kind, sequence, message)`` of each netlink message in one datagram; ``message`` keeps its header."""
    offset = 0
    while offset + NLMSGHDR.size <= len(data):
        length, kind, _flags, sequence, _pid = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size:
            return  # malformed: nothing after it can be framed
        yield kind, sequence, data[offset:offset + length]
        offset += (length + 3) & ~3


def netlink_attributes(data):
    """``{type: payload}`` of a run of netlink attributes (flags masked off; the last of a type wins)."""
    found = {}
    offset = 0
    while offset + NLA_HEADER.size <= len(data):
        length, kind = NLA_HEADER.unpack_from(data, offset)
        if length < NLA_HEADER.size or offset + length > len(data):
            break  # truncated: keep what was read
        found[kind & NLA_TYPE_MASK] = data[offset + NLA_HEADER.size:offset + length]
        offset += (length + 3) & ~3
    return found


# ------------------------------------------------------------------------ rtnetlink events

def open_events(groups):
    """A non-blocking rtnetlink socket subscribed to the multicast ``groups`` (RTMGRP_* bits)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    # A bridge being set up or a hundred VLANs created at once is a burst: room for it, then one look.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((0, groups))
    sock.setblocking(False)
    return sock


def drain(sock):
    """Read everything queued on a non-blocking socket; return the bytes.

    ENOBUFS (events were lost) counts as an event: the reader looks at the whole table anyway.
    """
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return data
        except OSError:
            return data + b"\0"
        if not chunk:
            return data
        data += chunk


# ------------------------------------------------------------------- systemd and signals

def sd_notify(**fields):
    """Send ``KEY=value`` lines to systemd over $NOTIFY_SOCKET; False when not run by systemd or it fails."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path  # '@': the abstract namespace
    message = "\n".join("%s=%s" % (key, value) for key, value in fields.items())
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8"), address)
    except OSError:
        return False
    return True


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def watch_signals(signums=(signal.SIGHUP, signal.SIGTERM, signal.SIGINT)):
    """``(read, write)``: a socket pair whose read end receives the number of each signal in ``signums``.

    The handlers do nothing else, so a signal only wakes the main loop, which acts on it between two
    events (never inside one). Keep both ends open while serving.
    """
    read, write = socket.socketpair()
    read.setblocking(False)
    write.setblocking(False)
    signal.set_wakeup_fd(write.fileno())
    for signum in signums:
        signal.signal(signum, lambda *_: None)
    return read, write
