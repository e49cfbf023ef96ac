# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's multicast routing API, IPv4 and IPv6: the only code that calls setsockopt(MRT_*, MRT6_*).

Structures and constants follow ``/usr/include/linux/mroute.h`` and ``mroute6.h``.  The IPv4 routing
socket is a raw IGMP socket; after MRT_INIT the kernel sends it upcalls
(``struct igmpmsg``) for flows it has no entry for, and drops every VIF and MFC
entry of the table the moment the socket closes.  With PIM mode on (see
``enable_wrongvif``) it also reports packets of a known (S,G) that arrive on
another VIF than the entry's input (IGMPMSG_WRONGVIF).  Reading the MFC back uses
rtnetlink (family RTNL_FAMILY_IPMR, what ``ip mroute show`` reads) via pyroute2.

The IPv6 twin (Mroute6Socket) is a raw ICMPv6 socket with MRT6_INIT: MIFs instead of VIFs, an
output *set* instead of TTL thresholds (the kernel ignores a MIF's threshold), upcalls as
``struct mrt6msg``.  Both classes take and give the same values (Vif, KernelEntry with a
32-byte vector whose non-zero bytes are the outputs, integer addresses, Upcall), so the route
logic and the daemon handle the two families with one code path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import errno
import fcntl
import importlib.util
import socket
import struct
from collections import namedtuple

from .groups import IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, IP_MREQN, SocketPool, max_memberships

# pyroute2 is imported only where the MFC is read back by another process (the modules); the
# daemon itself asks its own socket (SIOCGETSGCNT) and stays within the standard library, which
# spares it about 20 MB of resident memory.
HAS_PYROUTE2 = importlib.util.find_spec("pyroute2") is not None
PYROUTE2_IMPORT_ERROR = None if HAS_PYROUTE2 else "No module named 'pyroute2'"

MRT_INIT = 200
MRT_DONE = 201
MRT_ADD_VIF = 202
MRT_DEL_VIF = 203
MRT_ADD_MFC = 204
MRT_DEL_MFC = 205
MRT_ASSERT = 207
MRT_PIM = 208
MRT_TABLE = 209
VIFF_USE_IFINDEX = 0x8
IGMPMSG_NOCACHE = 1
IGMPMSG_WRONGVIF = 2
RTNL_FAMILY_IPMR = 128
SIOCGETSGCNT = 0x89E0 + 1  # SIOCPROTOPRIVATE + 1
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
IP_PKTINFO = 8  # not in Python's socket module; struct in_pktinfo starts with the ifindex
IP_MULTICAST_ALL = 49  # on by default; join() relies on it (memberships held by other sockets)
PKTINFO_SPACE = socket.CMSG_SPACE(12)

VIFCTL = struct.Struct("=HBBIi4s")  # struct vifctl, union as vifc_lcl_ifindex
MFCCTL = struct.Struct("@4s4sH32sIIIi")  # struct mfcctl
IGMPMSG = struct.Struct("=8xBBBB4s4s")  # struct igmpmsg: unused, msgtype, mbz, vif, vif_hi, src, dst
SIOC_SG_REQ = struct.Struct("@4s4sLLL")  # struct sioc_sg_req
MFC_STATS = struct.Struct("=QQQ")  # struct rta_mfc_stats: packets, bytes, wrong_if

# IPv6 (linux/mroute6.h): MRT6_BASE is 200, as MRT_BASE
MRT6_INIT = 200
MRT6_DONE = 201
MRT6_ADD_MIF = 202
MRT6_DEL_MIF = 203
MRT6_ADD_MFC = 204
MRT6_DEL_MFC = 205
MRT6_ASSERT = 207
MRT6_PIM = 208
MRT6_TABLE = 209
MRT6_ADD_MFC_PROXY = 210  # a (*,G) entry: origin ::, forwarded from any MIF of its set to the others
MRT6_DEL_MFC_PROXY = 211
MRT6MSG_NOCACHE = 1
MRT6MSG_WRONGMIF = 2
ICMP6_FILTER = 1  # at level IPPROTO_ICMPV6: a 256-bit set of the ICMPv6 types to block
ICMP6_BLOCK_ALL = b"\xff" * 32
SIOCGETSGCNT_IN6 = 0x89E0 + 1  # SIOCPROTOPRIVATE + 1, as the IPv4 one, on the ICMPv6 socket
RTNL_FAMILY_IP6MR = 129
MIF6CTL = struct.Struct("=HBBH2xI")  # struct mif6ctl: mifi, flags, threshold, pifi (ifindex), rate limit
MF6CCTL = struct.Struct("=28s28sH2x8I")  # struct mf6cctl: origin, group, parent, the output set (8 x u32)
SOCKADDR_IN6 = struct.Struct("=HHI16sI")  # family, port, flowinfo, address, scope id
MRT6MSG = struct.Struct("=BBHI16s16s")  # struct mrt6msg: mbz, msgtype, mif, pad, src, dst
SIOC_SG_REQ6 = struct.Struct("@28s28sLLL")  # struct sioc_sg_req6
PROC_MIFS = "/proc/net/ip6_mr_vif"
PROC_MFC6 = "/proc/net/ip6_mr_cache"
# Room for a burst of upcalls: each queued report costs about 1 KiB of receive buffer, and
# one that does not fit is lost for good (that source is then never forwarded).
UPCALL_BUFFER = 16 * 1024 * 1024

# kind: IGMPMSG_NOCACHE (a flow without entry) or IGMPMSG_WRONGVIF (a known flow on another VIF)
Upcall = namedtuple("Upcall", "vif source group kind", defaults=(IGMPMSG_NOCACHE,))
UPCALL_KINDS = (IGMPMSG_NOCACHE, IGMPMSG_WRONGVIF)
MfcRow = namedtuple("MfcRow", "source group iif oifs packets bytes wrong_if")
VifRow = namedtuple("VifRow", "index ifname bytes_in packets_in bytes_out packets_out flags")
PROC_VIFS = "/proc/net/ip_mr_vif"


class KernelError(Exception):
    """A routing-socket operation failed; ``errno`` tells start-up failures apart."""

    def __init__(self, message, err=None):
        super(KernelError, self).__init__(message)
        self.errno = err


LIKELY_HOLDERS = "smcroute (smcrouted), pimd, igmpproxy, mrouted or FRR's pimd"


def _explain_init_error(exc, family=4):
    api = "IPv6 " if family == 6 else ""
    if exc.errno == errno.EADDRINUSE:
        return ("another multicast routing daemon already holds the kernel's %smulticast routing API in this "
                "network namespace (likely %s); stop it first" % (api, LIKELY_HOLDERS))
    if exc.errno in (errno.EPERM, errno.EACCES):
        return "no permission to open the multicast routing socket: run as root or with CAP_NET_ADMIN and CAP_NET_RAW"
    if exc.errno in (errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT):
        if family == 6:
            return "this kernel has no IPv6 multicast routing (CONFIG_IPV6_MROUTE), or IPv6 is disabled"
        return "this kernel has no IPv4 multicast routing (CONFIG_IP_MROUTE)"
    return "cannot start %smulticast routing: %s" % (api, exc.strerror)


def _in_addr(addr):
    return addr.to_bytes(4, "big")


class _RoutingSocket:
    """What the IPv4 and IPv6 routing sockets share: buffer, close, packet counts, WRONGVIF/WRONGMIF mode."""

    LEVEL = socket.IPPROTO_IP
    DONE = MRT_DONE
    PIM = MRT_PIM
    ASSERT = MRT_ASSERT
    sock = None

    def enable_wrongvif(self):
        """Ask the kernel for IGMPMSG_WRONGVIF (MRT6MSG_WRONGMIF) upcalls; returns (mode, error), never raises.

        The kernel (ip_mr_forward, ip6_mr_forward) reports a packet that arrives on another VIF
        than its entry's input only if assert processing is on AND (PIM mode is on OR that VIF
        is one of the entry's outputs), at most once per entry every 3 s.  The case that
        matters here is a flow that moved to a new upstream interface, which is never one
        of its outputs: measured on Linux 6.18, an (S,G) entry with input up1 and output
        down got no WRONGVIF for packets on up2 with MRT_ASSERT alone, and one every 3 s
        with MRT_PIM (which sets assert processing too).  So PIM mode, as smcroute 2.6
        does; it adds nothing else without a register VIF.  MRT_ASSERT is the fallback
        for a kernel without PIM support (it still covers stop entries and arrivals on
        an output).  Without either, flows only move after they expire.
        """
        errors = []
        for mode, option in (("pim", self.PIM), ("assert", self.ASSERT)):
            try:
                self.sock.setsockopt(self.LEVEL, option, struct.pack("i", 1))
            except OSError as exc:
                errors.append("%s: %s" % (self.option_name(option), exc.strerror))
                continue
            return mode, "; ".join(errors) or None
        return None, "; ".join(errors)

    def option_name(self, option):
        prefix = "MRT6_" if self.LEVEL == socket.IPPROTO_IPV6 else "MRT_"
        return prefix + ("PIM" if option == self.PIM else "ASSERT")

    def _grow_buffer(self, size):
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except OSError:  # without CAP_NET_ADMIN: as much as net.core.rmem_max allows
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    @property
    def receive_buffer(self):
        return self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        if self.sock.fileno() >= 0:
            try:
                self.sock.setsockopt(self.LEVEL, self.DONE, struct.pack("i", 1))
            except OSError:
                pass  # closing drops the table anyway
            self.sock.close()

    def counters(self, source, group):  # pragma: no cover - each family has its own
        raise NotImplementedError

    def _remove(self, option, data, gone):
        """A removal the kernel may have made already (it answers ``gone``): that is not an error."""
        try:
            self.sock.setsockopt(self.LEVEL, option, data)
        except OSError as exc:
            if exc.errno != gone:
                raise

    def _counters(self, layout, request_code, source, group):
        """(packets, bytes, wrong_if) from the SIOCGETSGCNT ioctl of the family, or None without such an entry."""
        request = bytearray(layout.pack(source, group, 0, 0, 0))
        try:
            fcntl.ioctl(self.sock.fileno(), request_code, request)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return None
            raise
        return layout.unpack(bytes(request))[2:]

    def packets(self, source, group):
        """Packets an (S,G) entry took on its own input, or None if the kernel has no such entry.

        The kernel's packet counter also counts packets that arrived on another VIF
        (wrong_if); those are subtracted, as smcroute does, so an entry whose flow now
        arrives elsewhere counts as idle and expires.
        """
        counters = self.counters(source, group)
        return None if counters is None else counters[0] - counters[2]


class MrouteSocket(_RoutingSocket):
    """The IPv4 routing socket of one table; close() (or process death) drops the table."""

    family = 4

    def __init__(self, table=None, rcvbuf=UPCALL_BUFFER):
        try:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
        except OSError as exc:
            raise KernelError(_explain_init_error(exc), exc.errno)
        try:
            if table is not None:
                self.sock.setsockopt(socket.IPPROTO_IP, MRT_TABLE, struct.pack("I", table))
            self.sock.setsockopt(socket.IPPROTO_IP, MRT_INIT, struct.pack("i", 1))
        except OSError as exc:
            self.sock.close()
            raise KernelError(_explain_init_error(exc), exc.errno)
        self.wrongvif_mode, self.wrongvif_error = self.enable_wrongvif()
        # IGMP messages reach this socket too (the kernel hands it every IGMP packet with Router
        # Alert that it would otherwise forward, such as IGMPv2 reports to routable groups); the
        # interface they came in on is what the querier needs to know.
        self.sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        self._grow_buffer(rcvbuf)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, struct.pack("i", 1))
        self.memberships = SocketPool(4, max_memberships())  # the router groups' joins (join())

    # -- VIFs --------------------------------------------------------------------------------
    def add_vif(self, vif):
        data = VIFCTL.pack(vif.index, VIFF_USE_IFINDEX, vif.threshold, 0, vif.ifindex, bytes(4))
        self.sock.setsockopt(socket.IPPROTO_IP, MRT_ADD_VIF, data)

    def del_vif(self, vif):
        """Delete a VIF; one whose interface vanished is already gone (not an error)."""
        self._remove(MRT_DEL_VIF, VIFCTL.pack(vif.index, VIFF_USE_IFINDEX, vif.threshold, 0, vif.ifindex, bytes(4)),
                     errno.EADDRNOTAVAIL)

    # -- MFC ---------------------------------------------------------------------------------
    def add_mfc(self, source, group, entry):
        """Add or update (the kernel keys entries by source and group) an (S,G) entry."""
        data = MFCCTL.pack(_in_addr(source), _in_addr(group), entry.parent, entry.ttls, 0, 0, 0, 0)
        self.sock.setsockopt(socket.IPPROTO_IP, MRT_ADD_MFC, data)

    def del_mfc(self, source, group, entry):
        self._remove(MRT_DEL_MFC, MFCCTL.pack(_in_addr(source), _in_addr(group), entry.parent, bytes(32), 0, 0, 0, 0),
                     errno.ENOENT)

    def counters(self, source, group):
        """(packets, bytes, wrong_if) of an (S,G) entry, or None when the kernel has no such entry."""
        return self._counters(SIOC_SG_REQ, SIOCGETSGCNT, _in_addr(source), _in_addr(group))

    # -- memberships that route IGMP to this socket ---------------------------------------------------
    def join(self, group, ifindex):
        """Join a link-local group (e.g. 224.0.0.22, where IGMPv3 reports go) on an interface.

        The kernel delivers link-local multicast only for groups the interface joined, and this
        socket then receives those messages whichever of mcastd's sockets holds the membership
        (IP_MULTICAST_ALL, on by default: ip_mc_sf_allow() passes a group this socket did not
        join).  A socket holds at most net.ipv4.igmp_max_memberships (20) memberships, and each
        querier interface needs two, so they go on plain UDP sockets of their own, as many as
        needed (groups.SocketPool).  Joining twice is not an error.
        """
        self.memberships.join((group, ifindex), socket.IPPROTO_IP, IP_ADD_MEMBERSHIP,
                              IP_MREQN.pack(_in_addr(group), bytes(4), ifindex))

    def leave(self, group, ifindex):
        """Leave a group joined with join(); one already left (or whose interface vanished) is not an error."""
        self.memberships.leave((group, ifindex), socket.IPPROTO_IP, IP_DROP_MEMBERSHIP,
                               IP_MREQN.pack(_in_addr(group), bytes(4), ifindex),
                               gone=(errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT))

    def close(self):
        self.memberships.close()
        super(MrouteSocket, self).close()

    # -- upcalls and IGMP messages -------------------------------------------------------------
    def drain(self, limit=100000):
        """Read every queued message: (upcalls, IGMP packets as (ifindex, bytes with IP header)).

        An upcall has byte 9 (where an IP header has its protocol, 2 for IGMP) zero; anything
        else is a real IGMP packet, returned with the interface it arrived on.
        """
        upcalls = []
        packets = []
        for _attempt in range(limit):
            try:
                data, ancillary, _flags, _address = self.sock.recvmsg(2048, PKTINFO_SPACE)
            except (BlockingIOError, InterruptedError):
                break
            if len(data) < IGMPMSG.size:
                continue
            if data[9] != 0:
                packets.append((_ifindex(ancillary), data))
                continue
            msgtype, _mbz, vif, vif_hi, src, dst = IGMPMSG.unpack_from(data)
            if msgtype in UPCALL_KINDS:
                upcalls.append(Upcall(vif | (vif_hi << 8), int.from_bytes(src, "big"), int.from_bytes(dst, "big"),
                                      msgtype))
        return upcalls, packets


class Mroute6Socket(_RoutingSocket):
    """The IPv6 routing socket of one table: MIFs and the IPv6 MFC, with the IPv4 socket's interface.

    Two things smcroute does not do.  An ICMP6_FILTER that blocks every type: the routing socket
    is a raw ICMPv6 socket and would otherwise read every ICMPv6 packet addressed to the router
    (pings, neighbour solicitations), and a forged type-0 packet would parse as an upcall for the
    (S,G) of the sender's choice; the kernel's own upcalls pass any filter.  And kernel (*,G)
    entries (MRT6_ADD_MFC_PROXY) for (*,G) routes of one group: the kernel forwards every source
    of the group at once, without an upcall per source and without losing the first datagrams.
    """

    LEVEL = socket.IPPROTO_IPV6
    DONE = MRT6_DONE
    PIM = MRT6_PIM
    ASSERT = MRT6_ASSERT
    family = 6

    def __init__(self, table=None, rcvbuf=UPCALL_BUFFER):
        try:
            self.sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        except OSError as exc:
            raise KernelError(_explain_init_error(exc, 6), exc.errno)
        try:
            self.sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, ICMP6_BLOCK_ALL)
            if table is not None:
                self.sock.setsockopt(socket.IPPROTO_IPV6, MRT6_TABLE, struct.pack("I", table))
            self.sock.setsockopt(socket.IPPROTO_IPV6, MRT6_INIT, struct.pack("i", 1))
        except OSError as exc:
            self.sock.close()
            raise KernelError(_explain_init_error(exc, 6), exc.errno)
        self.wrongvif_mode, self.wrongvif_error = self.enable_wrongvif()
        self._grow_buffer(rcvbuf)
        self.sock.setblocking(False)
        self.foreign = 0  # messages read that were not upcalls: the filter keeps this at 0 (status shows it)

    # -- MIFs --------------------------------------------------------------------------------
    def add_vif(self, vif):
        # The threshold goes in as given (always 1 here): ip6_mr_forward never reads it.
        self.sock.setsockopt(socket.IPPROTO_IPV6, MRT6_ADD_MIF, MIF6CTL.pack(vif.index, 0, vif.threshold, vif.ifindex, 0))

    def del_vif(self, vif):
        """Delete a MIF; one whose interface vanished is already gone (not an error)."""
        self._remove(MRT6_DEL_MIF, struct.pack("=H", vif.index), errno.EADDRNOTAVAIL)

    # -- MFC ---------------------------------------------------------------------------------
    @staticmethod
    def _mf6cctl(source, group, parent, outputs):
        words = [0] * 8
        for index, value in enumerate(outputs):
            if value:
                words[index >> 5] |= 1 << (index & 31)
        return MF6CCTL.pack(_sockaddr_in6(source), _sockaddr_in6(group), parent, *words)

    def add_mfc(self, source, group, entry):
        """Add or update an (S,G) entry; source 0 (::) is a kernel (*,G) entry, whose set must hold its input."""
        option = MRT6_ADD_MFC_PROXY if source == 0 else MRT6_ADD_MFC
        self.sock.setsockopt(socket.IPPROTO_IPV6, option, self._mf6cctl(source, group, entry.parent, entry.ttls))

    def del_mfc(self, source, group, entry):
        option = MRT6_DEL_MFC_PROXY if source == 0 else MRT6_DEL_MFC
        self._remove(option, self._mf6cctl(source, group, entry.parent, b""), errno.ENOENT)

    def counters(self, source, group):
        """(packets, bytes, wrong_if) of an (S,G) entry (source 0: the (*,G) entry), or None when there is none."""
        return self._counters(SIOC_SG_REQ6, SIOCGETSGCNT_IN6, _sockaddr_in6(source), _sockaddr_in6(group))

    # -- upcalls -----------------------------------------------------------------------------
    def drain(self, limit=100000):
        """Read every queued upcall: (upcalls, []); the ICMPv6 filter lets no packet in."""
        upcalls = []
        for _attempt in range(limit):
            try:
                data = self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                break
            if len(data) < MRT6MSG.size or data[0] != 0:
                self.foreign += 1  # not an upcall (im6_mbz is 0); only a kernel without the filter lets one in
                continue
            _mbz, msgtype, mif, _pad, src, dst = MRT6MSG.unpack_from(data)
            if msgtype in (MRT6MSG_NOCACHE, MRT6MSG_WRONGMIF):
                upcalls.append(Upcall(mif, int.from_bytes(src, "big"), int.from_bytes(dst, "big"), msgtype))
        return upcalls, []


def _sockaddr_in6(addr):
    return SOCKADDR_IN6.pack(socket.AF_INET6, 0, 0, addr.to_bytes(16, "big"), 0)


def _ifindex(ancillary):
    """The ifindex of an IP_PKTINFO control message, 0 when there is none."""
    for level, kind, value in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= 4:
            return struct.unpack_from("=i", value)[0]
    return 0


def _nla_bytes(value, size):
    """pyroute2 hands unknown IPMR attributes back raw, sometimes with their NLA header."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[-size:]) if len(value) >= size else None
    return None


def _nla_addr(value):
    if isinstance(value, str):
        return int.from_bytes(socket.inet_aton(value), "big")
    raw = _nla_bytes(value, 4)
    return int.from_bytes(raw, "big") if raw else 0


def _row(msg):
    stats = _nla_bytes(msg.get_attr("RTA_MFC_STATS"), MFC_STATS.size)
    packets, nbytes, wrong_if = MFC_STATS.unpack(stats) if stats else (0, 0, 0)
    oifs = [hop["oif"] for hop in (msg.get_attr("RTA_MULTIPATH") or [])]
    return MfcRow(_nla_addr(msg.get_attr("RTA_SRC")), _nla_addr(msg.get_attr("RTA_DST")),
                  msg.get_attr("RTA_IIF"), oifs, packets, nbytes, wrong_if)


def read_mfc(netns=None):
    """Every IPv4 MFC entry with counters, as MfcRow (interfaces as ifindex).

    Works with pyroute2 0.7 (Debian 12) and 0.9; raises KernelError without pyroute2.
    """
    if not HAS_PYROUTE2:
        raise KernelError("pyroute2 is required to read the multicast routing table: %s" % PYROUTE2_IMPORT_ERROR)
    try:
        from pyroute2 import IPRoute  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise KernelError("pyroute2 is required to read the multicast routing table: %s" % exc)
    kwargs = {"netns": netns} if netns else {}
    with IPRoute(**kwargs) as ipr:
        return [_row(msg) for msg in ipr.route("dump", family=RTNL_FAMILY_IPMR)]


def _proc_rows(path):
    """The words of each line of a kernel table in /proc after its heading; none when the file is absent."""
    try:
        with open(path, encoding="ascii") as handle:
            return [line.split() for line in handle.read().splitlines()[1:]]
    except FileNotFoundError:
        return []


def read_vifs(path=PROC_VIFS):
    """The VIF table of the reader's network namespace (default table), as VifRow.

    rtnetlink has no dump of IPv4 VIFs that pyroute2 0.7 decodes, so this reads the kernel's
    own table (what ``cat /proc/net/ip_mr_vif`` shows: index, name, counters, hex flags).
    A kernel without multicast routing has no such file: no VIFs.
    """
    rows = []
    for fields in _proc_rows(path):
        if len(fields) >= 7:
            rows.append(VifRow(int(fields[0]), fields[1], int(fields[2]), int(fields[3]), int(fields[4]),
                               int(fields[5]), int(fields[6], 16)))
    return rows


def read_mfc6(path=PROC_MFC6):
    """Every IPv6 MFC entry with counters, as MfcRow (interfaces as MIF indexes: name them with read_vifs(PROC_MIFS)).

    The kernel's own table (what ``cat /proc/net/ip6_mr_cache`` shows), since pyroute2 0.7 decodes
    nothing of rtnetlink family 129: group and origin as 32 hex digits, the parent MIF, packets,
    bytes, wrong interface, then ``MIF:TTL`` for each output.  A kernel (*,G) entry has origin ``::``
    (0) and its input among the outputs; an unresolved entry (waiting for the daemon's answer to its
    upcall) has parent -1, read as iif None, and no outputs.  No such file: no IPv6 multicast routing.
    """
    rows = []
    for fields in _proc_rows(path):
        if len(fields) >= 6:
            parent = int(fields[2])
            rows.append(MfcRow(_hex_addr(fields[1]), _hex_addr(fields[0]), parent if parent >= 0 else None,
                               [int(item.split(":")[0]) for item in fields[6:]], int(fields[3]), int(fields[4]),
                               int(fields[5])))
    return rows


def _hex_addr(text):
    """An address of /proc/net/ip6_mr_cache (32 hex digits, %pI6 without colons, or with them) as an integer."""
    return int(text.replace(":", ""), 16)
