# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changes of the interface table (linux.interfaces), interface addresses and rtnetlink link events.

Interfaces come and go under a running daemon (a container restarts, a VLAN is
re-created, a link is renamed).  A netlink socket subscribed to link events
wakes the daemon; it then re-reads the whole table (a handful of interfaces,
cheaper and safer than applying each message) and compares: appeared,
disappeared, new ifindex, flags changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import socket
import struct
from collections import namedtuple

from .linux import (
    NETLINK_ROUTE, NLMSG_DONE, NLMSG_ERROR, NLMSGHDR, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK, drain,
    netlink_attributes, netlink_messages, open_events)

IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40  # duplicate address detection still runs: nothing can be sent from it yet
RTM_NEWADDR = 20
RTM_GETADDR = 22
NLM_F_REQUEST_DUMP = 0x301
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFADDRMSG = struct.Struct("=BBBBI")


Change = namedtuple("Change", "kind iface old")  # kind: appeared, disappeared, reindexed, flags


def compare(old, new):
    """The changes from one table to the next, as Change tuples."""
    changes = []
    for name, iface in new.items():
        before = old.get(name)
        if before is None:
            changes.append(Change("appeared", iface, None))
        elif before.index != iface.index:
            changes.append(Change("reindexed", iface, before))
        elif before.flags != iface.flags:
            changes.append(Change("flags", iface, before))
    for name, iface in old.items():
        if name not in new:
            changes.append(Change("disappeared", iface, iface))
    return changes


def ipv4_addresses():
    """{ifindex: [(address, prefix length), ...]} of this network namespace, addresses as integers.

    One RTM_GETADDR dump (what ``ip -4 addr`` reads): the querier needs every address of an
    interface and its prefix length, which SIOCGIFADDR does not give.
    """
    return addresses(socket.AF_INET)


def ipv6_addresses():
    """The same for IPv6 (what ``ip -6 addr`` reads), without the addresses still in (or failed) DAD."""
    return addresses(socket.AF_INET6)


def addresses(family):
    table = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        request = IFADDRMSG.pack(family, 0, 0, 0, 0)
        sock.send(NLMSGHDR.pack(NLMSGHDR.size + len(request), RTM_GETADDR, NLM_F_REQUEST_DUMP, 1, 0) + request)
        while True:
            data = sock.recv(65536)
            for kind, _sequence, message in netlink_messages(data):
                if kind in (NLMSG_DONE, NLMSG_ERROR):
                    return table
                if kind == RTM_NEWADDR:
                    _add_address(table, message[NLMSGHDR.size:], family)


def _add_address(table, payload, wanted=socket.AF_INET):
    family, prefixlen, flags, _scope, index = IFADDRMSG.unpack_from(payload)
    if family != wanted or flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
        return
    attributes = netlink_attributes(payload[IFADDRMSG.size:])
    # IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point links
    value = attributes.get(IFA_LOCAL) or attributes.get(IFA_ADDRESS)
    if value and len(value) == (4 if family == socket.AF_INET else 16):
        table.setdefault(index, []).append((int.from_bytes(value, "big"), prefixlen))


class LinkMonitor:
    """A netlink socket that becomes readable when a link or an address is added, removed or changed."""

    def __init__(self):
        self.sock = open_events(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)

    def fileno(self):
        return self.sock.fileno()

    def drain(self):
        """Consume pending notifications; True if there were any (or the queue overflowed)."""
        return bool(drain(self.sock))

    def close(self):
        self.sock.close()
