# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MLD on the router's interfaces: igmprouter.GroupRouter with MLD's part (RFC 9777, RFC 2710).

What differs from IGMP, and only that, is here:

- the querier's address is the interface's lowest link-local IPv6 address (RFC 9777, section 5:
  every MLD message is sent from one; election by the lowest address, section 7.6.2), and an
  interface without one is simply not queried in MLD (it may carry IPv4 only);
- queries go out through mldsock (hop limit 1, Router Alert) as MLDv2 (or MLDv1) messages; the
  state machines keep speaking IGMP's versions, MLDv1 being IGMPv2's twin and MLDv2 IGMPv3's;
- MLD messages are not read from the routing socket, whose ICMPv6 filter blocks every type (so
  that nothing sent to the router can forge an upcall): a listening socket of their own passes
  the four MLD types only, with the interface each arrived on (IPV6_PKTINFO).  It joins ff02::16
  (MLDv2 reports) and ff02::2 (MLDv1 Dones) on every querier interface; MLDv1 reports to routable
  groups and queries to ff02::1 reach it without a join (the kernel hands a multicast router every
  MLD message with Router Alert).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import errno
import socket
import struct

from . import membership, mld, mldsock
from .igmprouter import GroupRouter

ALL_NODES = mld.aton(mld.ALL_NODES)
ROUTER_GROUPS = (mld.aton(mld.ALL_MLDV2_ROUTERS), mld.aton(mld.ALL_ROUTERS))
MLD_TYPES = (mld.MULTICAST_LISTENER_QUERY, mld.V1_MULTICAST_LISTENER_REPORT, mld.V1_MULTICAST_LISTENER_DONE,
             mld.V2_MULTICAST_LISTENER_REPORT)
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
IPV6_JOIN_GROUP = 20
IPV6_LEAVE_GROUP = 21
PKTINFO6 = struct.Struct("=16si")  # struct in6_pktinfo: address, ifindex
PKTINFO_SPACE = socket.CMSG_SPACE(PKTINFO6.size)
TWIN_OF_IGMP = dict((twin, version) for version, twin in mld.IGMP_TWIN_VERSION.items())


def link_local(prefixes):
    """The interface's link-local addresses (integers), lowest first."""
    return sorted(addr for addr, _length in prefixes if mld.is_link_local(addr))


class QuerySocket:
    """A raw ICMPv6 socket that sends MLD queries on one interface and receives nothing."""

    def __init__(self, ifname, ifindex, source):
        self.sock = mldsock.bound(ifname, ifindex, source)

    def send(self, message, destination):
        mldsock.send_to(self.sock, destination, message)

    def close(self):
        self.sock.close()


class Mld:
    """MLD's part in a GroupRouter: link-local addresses, ICMPv6 sockets and MLD messages."""

    name = "MLD"
    family = 6
    counter_prefix = "mld_"
    general = ALL_NODES
    router_groups = ROUTER_GROUPS

    @staticmethod
    def version(phyint):
        """The querier's IGMP-twin version: a querier line queries MLD too (MLDv2 unless mldv1)."""
        return mld.IGMP_TWIN_VERSION[phyint.mld or 2] if phyint.querier else None

    @staticmethod
    def wire_version(version):
        return TWIN_OF_IGMP.get(version, 1)  # IGMPv1 has no MLD twin: an MLDv1 querier is the oldest there is

    @staticmethod
    def problem(_phyint, _prefixes):
        return None  # no link-local address (an IPv4-only interface, DAD still running) is no problem: not queried

    @staticmethod
    def source(_phyint, prefixes):
        found = link_local(prefixes)
        return found[0] if found else None

    @staticmethod
    def open(ifname, ifindex, source):
        return QuerySocket(ifname, ifindex, source)

    @staticmethod
    def decode(data, source):
        message = mld.parse(data)  # the kernel verified the checksum before the socket saw the packet
        if source is None:
            raise mld.MalformedPacket("an MLD message without its sender's address")
        return source, message

    @staticmethod
    def build(version, max_resp_time, group, s_flag, qrv, qqi, sources):
        return mld.build_query(version, max_resp_time, group, s_flag, qrv, qqi, sources)

    @staticmethod
    def is_query(message):
        return isinstance(message, mld.Query)

    @staticmethod
    def query_version(query):
        return mld.IGMP_TWIN_VERSION[query.version]

    @staticmethod
    def records(message):
        """The membership events of a report, in IGMP's terms (see igmprouter.Igmp.records)."""
        if isinstance(message, mld.ReportV2):
            return [(3, record.type, record.group, record.sources) for record in message.records]
        if isinstance(message, mld.ReportV1):
            return [(2, membership.REPORT, message.group, ())]
        if isinstance(message, mld.Done):
            return [(2, membership.LEAVE, message.group, ())]
        return None


class MldRouter(GroupRouter):
    """The MLD querier and memberships of the IPv6 interfaces."""

    protocol = Mld


class Listener:
    """The socket MLD messages are read from: the four MLD types, with the interface each came in on."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        try:
            self.sock.setsockopt(socket.IPPROTO_ICMPV6, mldsock.ICMP6_FILTER, mldsock.icmp6_filter(MLD_TYPES))
            self.sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise

    def fileno(self):
        return self.sock.fileno()

    def join(self, group, ifindex):
        """Join a link-scope group (ff02::16, ff02::2) on an interface; joining twice is not an error."""
        try:
            self.sock.setsockopt(socket.IPPROTO_IPV6, IPV6_JOIN_GROUP, _mreq(group, ifindex))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise

    def leave(self, group, ifindex):
        try:
            self.sock.setsockopt(socket.IPPROTO_IPV6, IPV6_LEAVE_GROUP, _mreq(group, ifindex))
        except OSError as exc:
            if exc.errno not in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT, errno.EINVAL):
                raise

    def drain(self, limit=10000):
        """Every queued message as (ifindex, sender address as an integer, ICMPv6 message)."""
        messages = []
        for _attempt in range(limit):
            try:
                data, ancillary, _flags, address = self.sock.recvmsg(4096, PKTINFO_SPACE)
            except (BlockingIOError, InterruptedError):
                break
            messages.append((_ifindex(ancillary), mld.aton(address[0].split("%", 1)[0]), data))
        return messages

    def close(self):
        self.sock.close()


def _mreq(group, ifindex):
    return group.to_bytes(16, "big") + struct.pack("=i", ifindex)


def _ifindex(ancillary):
    for level, kind, value in ancillary:
        if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO and len(value) >= PKTINFO6.size:
            return PKTINFO6.unpack_from(value)[1]
    return 0
