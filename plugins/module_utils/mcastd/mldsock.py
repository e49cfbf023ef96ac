# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A raw ICMPv6 socket bound to one interface that sends MLD as RFC 9777 asks: igmpsock.py's twin.

RFC 9777 (section 5) and RFC 2710 want every MLD message sent from a link-local address, with hop
limit 1 and the Router Alert option in a Hop-by-Hop Options header.  SO_BINDTODEVICE and
IPV6_MULTICAST_IF pick the interface, binding to its link-local address picks the source (the bind
fails with EADDRNOTAVAIL while the address is tentative: duplicate address detection still runs),
loopback is off so mcastd never hears itself, and IPV6_HOPOPTS adds mld.ROUTER_ALERT_HOPOPTS to
every packet.  The kernel computes the ICMPv6 checksum of what is sent (see mld.py).

Receiving: an ICMP6_FILTER blocks every ICMPv6 type unless ``receive`` names some, so by default
the socket only sends and nothing is ever queued on it (the ICMPv6 twin of igmprouter's drop-all
BPF program, which an ICMPv6 socket does not need).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import socket
import struct

from . import mld
from .igmpsock import SO_BINDTODEVICE

ICMP6_FILTER = 1  # <linux/icmpv6.h>, level IPPROTO_ICMPV6
ICMP6_FILTER_STRUCT = struct.Struct("=8I")  # struct icmp6_filter: 256 bits, a set bit blocks that type


def icmp6_filter(passed=()):
    """struct icmp6_filter that blocks every ICMPv6 type except those in ``passed``."""
    words = [0xFFFFFFFF] * 8
    for kind in passed:
        words[kind >> 5] &= ~(1 << (kind & 31))
    return ICMP6_FILTER_STRUCT.pack(*words)


def bound(ifname, ifindex, source=0, setup=None, receive=()):
    """A non-blocking raw ICMPv6 socket on ``ifname`` sending MLD from ``source`` (0: the kernel's choice).

    ``source`` is the interface's link-local address (an integer or text); ``receive`` the ICMPv6
    types the socket may hear (none by default).  ``setup(sock)`` runs after the filter and before
    anything else, for what must be in place before packets can arrive.  On any error the socket is
    closed and the OSError raised.
    """
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, icmp6_filter(receive))
        if setup is not None:
            setup(sock)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 1)  # a query to one listener, too
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_HOPOPTS, mld.ROUTER_ALERT_HOPOPTS)
        if source:
            text = source if isinstance(source, str) else mld.ntoa(source)
            sock.bind((text.split("%", 1)[0], 0, 0, ifindex))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def send_to(sock, destination, payload):
    """Send one MLD message to ``destination`` (text or integer: ALL_NODES, a group) on the socket's interface.

    The interface comes from SO_BINDTODEVICE, so a link-scope destination needs no scope id.
    """
    text = destination if isinstance(destination, str) else mld.ntoa(destination)
    return sock.sendto(payload, (text, 0))
