# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A raw IGMP socket bound to one interface that sends as the IGMP and MRD RFCs ask.

RFC 2236, RFC 9776 and RFC 4286 all want their messages sent with TTL 1 and the Router Alert
option; TOS 0xc0 (Internetwork Control) is what routers mark their control traffic with.
SO_BINDTODEVICE both picks the outgoing interface and limits what the socket receives to it,
also on an interface without an IPv4 address; loopback is off so mcastd never hears itself.
The querier (igmprouter.py) and multicast router discovery (mrdisc.py) each add what they need.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import socket

from . import igmp
from .groups import IP_MREQN

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def bound(ifname, ifindex, source=0, setup=None):
    """A non-blocking raw IGMP socket on ``ifname`` sending from ``source`` (integer; 0: the kernel's choice).

    ``setup(sock)`` runs first, for what must be in place before packets can arrive.  On any
    error the socket is closed and the OSError raised.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, igmp.IPPROTO_IGMP)
    try:
        if setup is not None:
            setup(sock)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
        # The source address of a multicast datagram from a raw socket is IP_MULTICAST_IF's address.
        interface = IP_MREQN.pack(bytes(4), source.to_bytes(4, "big"), ifindex)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, interface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, igmp.TOS_INTERNETWORK_CONTROL)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, igmp.ROUTER_ALERT)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
