# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``mgroup`` joins: IGMP (IPv4) and MLD (IPv6) memberships held by the daemon on an interface.

A socket holds at most net.ipv4.igmp_max_memberships groups (20 by default), so
memberships are spread over as many sockets as needed (``SocketPool``, also used for
the routing socket's 224.0.0.22 and 224.0.0.2): a socket takes at most the limit read
at start, and a join that fails with ENOBUFS anyway is retried on a fresh socket (IPv6
has no count limit, only net.core.optmem_max, but the same rule covers it).  Only the
interface needs the membership: a raw socket of the daemon that did not join the group
still receives the packets, as IP_MULTICAST_ALL (IPV6_MULTICAST_ALL) is on by default.  Source-specific joins use MCAST_JOIN_SOURCE_GROUP,
which names the interface by index (IP_ADD_SOURCE_MEMBERSHIP needs an address), for
both families.  A membership's family is its group's (config.group_family).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import errno
import socket
import struct

from .config import group_family, ntop

IP_ADD_MEMBERSHIP = 35
IP_DROP_MEMBERSHIP = 36
MCAST_JOIN_SOURCE_GROUP = 46
MCAST_LEAVE_SOURCE_GROUP = 47
IP_MREQN = struct.Struct("=4s4si")  # struct ip_mreqn: group, local address, ifindex
IPV6_JOIN_GROUP = 20  # IPV6_ADD_MEMBERSHIP
IPV6_LEAVE_GROUP = 21  # IPV6_DROP_MEMBERSHIP
IPV6_MREQ = struct.Struct("=16si")  # struct ipv6_mreq: group, ifindex
SOCKADDR_STORAGE = 128
# struct group_source_req: u32 interface, then two sockaddr_storage aligned like a long
_GSR_OFFSET = struct.calcsize("@I0L")
GROUP_SOURCE_REQ_SIZE = _GSR_OFFSET + 2 * SOCKADDR_STORAGE


def _sockaddr(addr, family):
    if family == 4:
        raw = struct.pack("=H2x4s", socket.AF_INET, addr.to_bytes(4, "big"))
    else:
        raw = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, addr.to_bytes(16, "big"), 0)
    return raw + bytes(SOCKADDR_STORAGE - len(raw))


def _request(group, source, ifindex):
    """(socket level, join option, leave option, argument) for one membership."""
    family = group_family(group)
    level = socket.IPPROTO_IP if family == 4 else socket.IPPROTO_IPV6
    if source is not None:
        data = struct.pack("@I", ifindex) + bytes(_GSR_OFFSET - 4) + _sockaddr(group, family) + _sockaddr(source, family)
        return level, MCAST_JOIN_SOURCE_GROUP, MCAST_LEAVE_SOURCE_GROUP, data
    if family == 4:
        return level, IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, IP_MREQN.pack(group.to_bytes(4, "big"), bytes(4), ifindex)
    return level, IPV6_JOIN_GROUP, IPV6_LEAVE_GROUP, IPV6_MREQ.pack(group.to_bytes(16, "big"), ifindex)


def _text(addr, group):
    return ntop(addr, group_family(group))


def describe(key):
    ifname, group, source = key
    return {"interface": ifname, "group": _text(group, group), "source": None if source is None else _text(source, group)}


IGMP_MAX_MEMBERSHIPS = "/proc/sys/net/ipv4/igmp_max_memberships"
DEFAULT_MAX_MEMBERSHIPS = 20  # the kernel's default


def max_memberships(path=IGMP_MAX_MEMBERSHIPS, default=DEFAULT_MAX_MEMBERSHIPS):
    """IPv4 memberships one socket may hold in this network namespace (the default if unreadable)."""
    try:
        with open(path) as handle:
            value = int(handle.read().strip())
    except (OSError, ValueError):
        return default
    return value if value > 0 else default


def _udp_socket(family):
    return socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6, socket.SOCK_DGRAM)


class SocketPool:
    """Memberships of one family spread over sockets that each hold at most ``limit`` of them.

    ``join(key, level, option, data)`` puts the membership on the oldest socket with room (a new
    one if none has), ``leave`` takes it off and closes a socket left empty, ``close`` closes all.
    ``limit`` None: as many as a socket takes (until ENOBUFS).
    """

    def __init__(self, family, limit=None, opener=_udp_socket):
        self.family = family
        self.limit = limit
        self.opener = opener
        self.sockets = []  # open sockets, oldest first
        self.held = {}  # key -> socket holding that membership

    def count(self, sock):
        return sum(1 for held in self.held.values() if held is sock)

    def socket_of(self, key):
        return self.held.get(key)

    def join(self, key, level, option, data):
        """Hold one membership (joining twice is not an error); raises OSError when no socket takes it."""
        if key in self.held:
            return self.held[key]
        candidates = [sock for sock in self.sockets if self.limit is None or self.count(sock) < self.limit]
        for sock in candidates + [None]:
            fresh = sock is None
            if fresh:
                sock = self.opener(self.family)
                self.sockets.append(sock)
            try:
                sock.setsockopt(level, option, data)
            except OSError as exc:
                if fresh:
                    self._close(sock)
                if exc.errno == errno.ENOBUFS and not fresh:
                    continue  # this socket is full (igmp_max_memberships lowered, igmp_max_msf)
                if exc.errno != errno.EADDRINUSE or fresh:  # EADDRINUSE: this socket already has it
                    raise
            self.held[key] = sock
            return sock
        raise AssertionError("unreachable: the fresh socket either takes the membership or raises")

    def leave(self, key, level, option, data, gone=()):
        """Drop a membership held by join(); errors in ``gone`` (interface vanished, ...) are not errors."""
        sock = self.held.pop(key, None)
        if sock is None:
            return
        try:
            sock.setsockopt(level, option, data)
        except OSError as exc:
            if exc.errno not in gone:
                raise
        finally:
            if not self.count(sock):
                self._close(sock)

    def _close(self, sock):
        sock.close()
        self.sockets = [other for other in self.sockets if other is not sock]

    def close(self):
        for sock in self.sockets:
            sock.close()
        self.sockets = []
        self.held = {}


class GroupJoins:
    """Keeps the joined memberships equal to the configured ones on present interfaces."""

    def __init__(self, limit=None):
        limit = max_memberships() if limit is None else limit
        self.pools = {4: SocketPool(4, limit), 6: SocketPool(6)}
        self.joined = {}  # (ifname, group, source) -> (socket, ifindex)
        self.failed = {}  # key -> error sentence, for show groups and the log

    def sync(self, wanted, ifaces):
        """Join what is wanted and possible, leave the rest; returns log sentences."""
        messages = []
        for key, (sock, ifindex) in list(self.joined.items()):
            iface = ifaces.get(key[0])
            if key not in wanted or iface is None or iface.index != ifindex:
                self._leave(key, sock, ifindex)
                messages.append("left %s" % self._text(key))
        self.failed = {}
        for key in wanted:
            iface = ifaces.get(key[0])
            if key in self.joined or iface is None:
                continue
            error = self._join(key, iface.index)
            if error:
                self.failed[key] = error
                messages.append("cannot join %s: %s" % (self._text(key), error))
            else:
                messages.append("joined %s" % self._text(key))
        return messages

    @staticmethod
    def _text(key):
        ifname, group, source = key
        if source is None:
            return "%s on %s" % (_text(group, group), ifname)
        return "(%s, %s) on %s" % (_text(source, group), _text(group, group), ifname)

    def _join(self, key, ifindex):
        level, option, _leave, data = _request(key[1], key[2], ifindex)
        pool = self.pools[group_family(key[1])]
        try:
            sock = pool.join(key, level, option, data)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                return "no socket accepts another membership (see net.ipv4.igmp_max_memberships)"
            return exc.strerror or str(exc)
        self.joined[key] = (sock, ifindex)
        return None

    def _leave(self, key, _sock, ifindex):
        level, _join, option, data = _request(key[1], key[2], ifindex)
        try:
            self.pools[group_family(key[1])].leave(key, level, option, data)
        except OSError:
            pass  # the interface is gone and took the membership with it
        del self.joined[key]

    def rows(self):
        rows = [dict(describe(key), state="joined") for key in sorted(self.joined, key=_sort_key)]
        rows += [dict(describe(key), state="failed: %s" % error) for key, error in sorted(self.failed.items(), key=lambda item: _sort_key(item[0]))]
        return rows

    def close(self):
        for pool in self.pools.values():
            pool.close()
        self.joined = {}


def _sort_key(key):
    return (key[0], key[1], -1 if key[2] is None else key[2])
