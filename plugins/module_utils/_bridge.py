# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Linux bridges as mcast.linux.bridge and mcast.linux.facts read them (private to this collection).

The option tables and unit conversions live in ``_bridge_keeper.py`` (the file the bridge keeper
runs from), so the module, the facts and the keeper name every setting the same way.

The bridge's elected querier, ``IFLA_BR_MCAST_QUERIER_STATE`` (attribute 47 of the bridge's
``IFLA_INFO_DATA``), is decoded here from the raw netlink bytes: pyroute2 0.7 and 0.9 do not
decode it. The kernel (``br_multicast_dump_querier_state``) fills it per family only while the
bridge is querier itself or another querier's timer runs: the address (ours or the other
querier's), and for another querier its remaining other-querier-present time (clock ticks,
centiseconds) and the port it was heard on.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import socket
import struct

from ansible_collections.mcast.linux.plugins.module_utils._bridge_keeper import (
    BRIDGE_OPTIONS, PORT_OPTIONS, from_kernel)
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import (
    NETLINK_ROUTE, NLMSG_ERROR, NLMSGHDR, netlink_attributes, netlink_messages)

# <linux/rtnetlink.h>, <linux/if_link.h>, <linux/if_bridge.h>
RTM_NEWLINK = 16
RTM_GETLINK = 18
NLM_F_REQUEST = 0x1
IFINFOMSG = struct.Struct('=BxHiII')
IFLA_LINKINFO = 18
IFLA_INFO_DATA = 2
IFLA_BR_MCAST_QUERIER_STATE = 47
BRIDGE_QUERIER_IP_ADDRESS = 1
BRIDGE_QUERIER_IP_PORT = 2
BRIDGE_QUERIER_IP_OTHER_TIMER = 3
BRIDGE_QUERIER_IPV6_ADDRESS = 5
BRIDGE_QUERIER_IPV6_PORT = 6
BRIDGE_QUERIER_IPV6_OTHER_TIMER = 7
# family -> (address attribute, port attribute, timer attribute, address family)
QUERIER_ATTRIBUTES = {
    'ipv4': (BRIDGE_QUERIER_IP_ADDRESS, BRIDGE_QUERIER_IP_PORT, BRIDGE_QUERIER_IP_OTHER_TIMER, socket.AF_INET),
    'ipv6': (BRIDGE_QUERIER_IPV6_ADDRESS, BRIDGE_QUERIER_IPV6_PORT, BRIDGE_QUERIER_IPV6_OTHER_TIMER, socket.AF_INET6),
}
# USER_HZ: the kernel reports timers in clock ticks of 1/100 s.
CLOCK_TICKS_PER_SECOND = 100.0


def option_kinds(table):
    """``{option: kind}`` of an option table."""
    return dict((option, kind) for option, _attribute, _keyword, kind in table)


def netlink_keyword(attribute, prefix):
    """pyroute2's keyword for an attribute: IFLA_BR_MCAST_QUERIER -> br_mcast_querier (0.7 and 0.9)."""
    return attribute[len(prefix):].lower()


def read_data(table, data):
    """``{option: kernel value}`` from a decoded IFLA_INFO_DATA / IFLA_INFO_SLAVE_DATA."""
    return dict((option, data.get_attr(attribute) if data is not None else None)
                for option, attribute, _keyword, _kind in table)


def shown(table, values):
    """Kernel values as the module shows them (seconds, bools)."""
    kinds = option_kinds(table)
    return dict((option, from_kernel(kinds[option], value)) for option, value in values.items())


def link_summaries(ipr):
    """``{name: {'index', 'master', 'kind', 'data', 'slave_data'}}`` for every link; data is the decoded link info."""
    links = {}
    for msg in ipr.get_links():
        info = msg.get_attr('IFLA_LINKINFO')
        links[msg.get_attr('IFLA_IFNAME')] = {
            'index': msg['index'], 'master': msg.get_attr('IFLA_MASTER'),
            'kind': info.get_attr('IFLA_INFO_KIND') if info is not None else None,
            'data': info.get_attr('IFLA_INFO_DATA') if info is not None else None,
            'slave_data': info.get_attr('IFLA_INFO_SLAVE_DATA') if info is not None else None,
        }
    return links


# --------------------------------------------------------------------------- netlink attributes by hand

def querier_state_bytes(message):
    """The payload of IFLA_BR_MCAST_QUERIER_STATE in one RTM_NEWLINK message (header included), or None."""
    linkinfo = netlink_attributes(message[NLMSGHDR.size + IFINFOMSG.size:]).get(IFLA_LINKINFO)
    if linkinfo is None:
        return None
    info_data = netlink_attributes(linkinfo).get(IFLA_INFO_DATA)
    if info_data is None:
        return None
    return netlink_attributes(info_data).get(IFLA_BR_MCAST_QUERIER_STATE)


def decode_querier_state(payload):
    """``{'ipv4': querier or None, 'ipv6': querier or None}`` from the nested attributes.

    A querier is ``{'address', 'port_index', 'other_querier_expires_in'}``: ``port_index`` and the
    expiry (seconds) are set only when another querier was heard; without them the address is
    the bridge's own querier (0.0.0.0 unless ``mcast_query_use_ifaddr``). None: no querier known.
    """
    nested = netlink_attributes(payload or b'')
    state = {}
    for family, (address_type, port_type, timer_type, address_family) in QUERIER_ATTRIBUTES.items():
        address = nested.get(address_type)
        if address is None:
            state[family] = None
            continue
        timer = nested.get(timer_type)
        port = nested.get(port_type)
        state[family] = {
            'address': socket.inet_ntop(address_family, address),
            'port_index': struct.unpack('=I', port[:4])[0] if port and len(port) >= 4 else None,
            'other_querier_expires_in': (struct.unpack('=Q', timer[:8])[0] / CLOCK_TICKS_PER_SECOND
                                         if timer and len(timer) >= 8 else None),
        }
    return state


def read_querier_state(index):
    """The decoded querier state of the bridge with ifindex ``index`` (this network namespace)."""
    request = IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0)
    sequence = 1
    header = NLMSGHDR.pack(NLMSGHDR.size + len(request), RTM_GETLINK, NLM_F_REQUEST, sequence, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        sock.sendto(header + request, (0, 0))
        reply = _receive(sock, sequence)
    return decode_querier_state(querier_state_bytes(reply))


def _receive(sock, sequence):
    """The RTM_NEWLINK message answering ``sequence``; OSError when the kernel answers with an error."""
    while True:
        for kind, seq, message in netlink_messages(sock.recv(1 << 16)):
            if seq != sequence:
                continue
            if kind == NLMSG_ERROR:
                code = struct.unpack_from('=i', message, NLMSGHDR.size)[0]
                raise OSError(-code, os.strerror(-code))
            if kind == RTM_NEWLINK:
                return message


# --------------------------------------------------------------------------- what facts reports

def bridge_facts(ipr, names):
    """``{bridge: {...}}`` for every Linux bridge: settings in module units, ports, querier state.

    ``names`` maps ifindex -> name, to name the port the other querier was heard on.
    """
    links = link_summaries(ipr)
    bridges = {}
    for name, link in sorted(links.items()):
        if link['kind'] != 'bridge':
            continue
        try:
            querier = read_querier_state(link['index'])
        except OSError:  # the bridge vanished in between
            continue
        for family_state in querier.values():
            if family_state:
                family_state['port'] = names.get(family_state['port_index'])
        bridges[name] = dict(shown(BRIDGE_OPTIONS, read_data(BRIDGE_OPTIONS, link['data'])), index=link['index'],
                             ports=sorted(port for port, summary in links.items() if summary['master'] == link['index']),
                             querier_state=querier)
    return bridges


__all__ = ['BRIDGE_OPTIONS', 'PORT_OPTIONS', 'bridge_facts', 'decode_querier_state', 'link_summaries',
           'netlink_keyword', 'option_kinds', 'querier_state_bytes', 'read_data', 'read_querier_state', 'shown']
