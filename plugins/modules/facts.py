#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: facts
short_description: Gather the multicast state of a Linux host, with findings of known pitfalls
version_added: 0.1.0
description:
  - Returns C(ansible_facts.mcast), the whole multicast state of the host (of the network namespace
    the task runs in), read from the kernel. Interfaces with their flags, addresses and group
    memberships; the effective rp_filter mode of every interface; multicast routes in the unicast
    tables; the multicast routing VIFs and MFC entries with their counters, for IPv4 and IPv6 (MIFs,
    C(mfc6)); MLD memberships with their source filters; whether nftables accepts IGMP and MLD at each
    hook and which chain drops them; who holds the multicast routing API; and the state of mcastd.
  - The IPv4 keys keep their names (C(vifs), C(mfc), C(igmp)); their IPv6 twins sit beside them as
    C(mifs), C(mfc6), C(mld) and C(mld_memberships), in the same shapes.
  - With C(platform) in O(gather_subset) it also returns, in the same run, what the roles check before
    they change anything. That is the OS family, the distribution and the C(python) fact, under the
    names M(ansible.builtin.setup) gives them but read from os-release(5) alone (setup's collectors would
    load the code of every fact subset), and the installed version of each package of O(packages)
    (RV(packages)).
  - C(ansible_facts.mcast.findings) lists the pitfalls found in that state, each with an C(id), a
    C(severity), the C(evidence) and the C(fix). C(error) means multicast is broken now,
    C(warning) that it breaks under conditions the facts cannot rule out.
  - "The findings are: C(igmp-dropped-by-firewall) (a base chain in any table drops IGMP at some
    hook), C(rp-filter-on-route-input) (strict or loose rp_filter on an interface where routed
    multicast enters; C(error) when a known source has no route back through it),
    C(multihomed-without-multicast-route), C(multicast-route-via-gateway),
    C(link-local-group-in-config) (an mcastd route for a group in 224.0.0.0/24),
    C(vif-table-near-full) (from O(vif_warning) of the kernel's 32 VIFs),
    C(routing-api-held-by-other) (a routing socket is open but mcastd does not answer),
    C(route-interface-without-multicast) (a multicast route uses an interface without IFF_MULTICAST),
    C(no-querier-on-segment) (routed multicast leaves through an interface where neither mcastd nor a
    snooping bridge knows an IGMP querier), C(querier-address-implausible) (a querier heard from an
    address outside the interface's IPv4 subnets, from 0.0.0.0 while the interface has an address, or
    from 169.254/16 while it has a real one; C(error) when this host's own rp_filter drops its
    queries), C(bridge-snooping-without-querier) (a bridge snoops, is not querier and hears none),
    C(mld-dropped-by-firewall) (a base chain drops MLD, ICMPv6 130, 131, 132 and 143),
    C(multihomed-without-ipv6-multicast-route) (global or ULA IPv6 addresses on several interfaces and no
    multicast route of its own in table local, the only table the kernel consults for it),
    C(link-local-group-routed) (an MFC entry of either family, or an IPv6 mroute line of the mcastd or
    smcroute configuration, for a group the kernel never forwards: 224.0.0.0/24, ff01::/16, ff02::/16 and
    every ffx1 or ffx2 group) and C(ttl-too-low-to-route) (a routed flow whose MFC entry counts datagrams
    while none of its outputs sends any: they arrive with TTL or hop limit 1)."
  - C(ttl-too-low-to-route) needs two readings of the counters; the module takes the second one
    O(sample_interval) seconds after the first, and only when an MFC entry has outputs, so a host
    that does not route pays nothing.
  - The querier heard on each interface comes from mcastd's querier table (while it runs) and, for
    Linux bridges, from the bridge's own C(IFLA_BR_MCAST_QUERIER_STATE), decoded from the netlink
    bytes.
  - The module changes nothing. It does not probe the routing API with C(MRT_INIT) (a probe that
    succeeded would be, for a moment, the namespace's multicast router); it reads
    C(conf/all/mc_forwarding) and the raw IGMP sockets instead.
  - Group memberships come from C(/proc/net/igmp) and C(/proc/net/igmp6) (source filters from
    C(/proc/net/mcfilter6)), the VIFs from C(/proc/net/ip_mr_vif), the MIFs and the IPv6 MFC from
    C(/proc/net/ip6_mr_vif) and C(/proc/net/ip6_mr_cache) (readable whatever pyroute2 version the
    target has); links, addresses, routes and the IPv4 MFC come from rtnetlink, the nftables ruleset
    from C(nft -j).
author:
  - mcast.linux developers (@mcast-linux)
extends_documentation_fragment:
  - mcast.linux.attributes
  - mcast.linux.attributes.facts
requirements:
  - pyroute2 (Debian and Ubuntu package C(python3-pyroute2)) on the target, for the C(multicast) subset.
  - C(nft) on the target to report IGMP and MLD acceptance (without it, C(igmp.checked) and C(mld.checked) are false).
options:
  gather_subset:
    description:
      - What to gather. C(multicast) is the multicast state with its findings (RV(ansible_facts.mcast));
        C(platform) the distribution and Python facts and the installed packages of O(packages), which
        need neither pyroute2 nor the kernel's multicast tables (the roles' platform check uses it alone
        before the packages are installed, and with C(multicast) in the compliance playbook, so that one
        run of the module serves both).
    type: list
    elements: str
    choices: [multicast, platform]
    default: [multicast]
    version_added: 0.2.0
  packages:
    description:
      - With C(platform) in O(gather_subset), the packages whose installed version to report in
        RV(packages). The package database is asked with the query tool of the OS family (C(dpkg-query)
        on Debian, C(rpm) on RedHat and Suse; none elsewhere), without a network and without the package
        manager's Python bindings. Names the database does not know are left out.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  mcastd_socket:
    description:
      - The control socket of mcastd. When nothing answers there, C(mcastd.running) is false.
    type: path
    default: /run/mcastd/mcastd.sock
  mcastd_config:
    description:
      - The mcastd configuration to check. Defaults to the file the running daemon reports, and to
        C(/etc/mcastd/mcastd.conf) when the daemon does not run.
    type: path
  vif_warning:
    description:
      - The number of VIFs in use from which C(vif-table-near-full) warns (the kernel offers 32).
    type: int
    default: 28
  sample_interval:
    description:
      - Seconds between the two readings of the MFC and VIF/MIF counters from which
        C(ttl-too-low-to-route) is judged (see RV(ansible_facts.mcast.mfc_deltas)). The second reading
        is taken only when an MFC entry has outputs. C(0) takes no second reading (and the finding is
        never reported); at most C(10).
    type: float
    default: 0.5
seealso:
  - module: mcast.linux.mroute
  - module: mcast.linux.nftables
  - module: mcast.linux.rp_filter
  - module: mcast.linux.route
  - module: mcast.linux.link
'''

EXAMPLES = r'''
- name: Gather the multicast state
  mcast.linux.facts:

- name: Fail with a readable list when something is wrong
  ansible.builtin.assert:
    that: ansible_facts.mcast.findings | selectattr('severity', 'equalto', 'error') | list | length == 0
    fail_msg: "{{ ansible_facts.mcast.findings | map(attribute='summary') | list }}"

- name: Show how to fix each finding
  ansible.builtin.debug:
    msg: "{{ item.id }} ({{ item.subject }}): {{ item.fix }}"
  loop: "{{ ansible_facts.mcast.findings }}"

- name: Is IGMP accepted on input?
  ansible.builtin.debug:
    var: ansible_facts.mcast.igmp.hooks.input

- name: A daemon on another socket, and an earlier warning for the VIF table
  mcast.linux.facts:
    mcastd_socket: /run/mcastd/edge.sock
    vif_warning: 24

- name: Watch the counters for two seconds to tell flows that never leave (TTL 1) from quiet ones
  mcast.linux.facts:
    sample_interval: 2

- name: Learn the OS family, the Python version and whether pyroute2 and nftables are installed
  mcast.linux.facts:
    gather_subset: [platform]
    packages: [python3-pyroute2, nftables]
  register: platform

- name: Which IPv6 groups does eth0 hold, and from which sources?
  ansible.builtin.debug:
    var: ansible_facts.mcast.mld_memberships.eth0
'''

RETURN = r'''
packages:
  description:
    - The installed version of each package of O(packages) that is installed (a package the database
      does not know, or knows as removed, is absent). Empty when RV(packages_checked) is false.
  returned: when O(gather_subset) has C(platform)
  type: dict
  sample: {"python3": "3.11.2-1+b1", "nftables": "1.0.6-2+deb12u2"}
  version_added: 0.2.0
packages_checked:
  description:
    - Whether the package database answered, that is, the OS family has a query tool, it is installed
      and it listed at least one package. When false, RV(packages) tells nothing about what is missing.
  returned: when O(gather_subset) has C(platform)
  type: bool
  sample: true
  version_added: 0.2.0
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: complex
  contains:
    os_family:
      description:
        - The OS family (C(Debian), C(RedHat), C(Suse), C(Archlinux); otherwise the distribution), from
          os-release's C(ID) and C(ID_LIKE). With it, C(distribution), C(distribution_version) (Debian's point
          release from C(/etc/debian_version)), C(distribution_major_version) and C(distribution_release)
          (C(VERSION_CODENAME)), named as M(ansible.builtin.setup) names them; C(NA) where unknown.
      returned: when O(gather_subset) has C(platform)
      type: str
      sample: Debian
      version_added: 0.2.0
    python:
      description: The Python that runs the module, as M(ansible.builtin.setup)'s C(python) fact gives it (without C(has_sslcontext)).
      returned: when O(gather_subset) has C(platform)
      type: dict
      sample: {"version": {"major": 3, "minor": 11, "micro": 2, "releaselevel": "final", "serial": 0},
               "version_info": [3, 11, 2, "final", 0], "executable": "/usr/bin/python3",
               "type": "cpython"}
      version_added: 0.2.0
    mcast:
      description: The multicast state of the host and the findings.
      returned: when O(gather_subset) has C(multicast)
      type: complex
      contains:
        interfaces:
          description:
            - Every interface by name, with C(index), C(flags) (names such as C(UP), C(MULTICAST),
              C(ALLMULTI)), C(up), C(multicast), C(allmulti), C(loopback), C(addresses) (C(ADDR/LEN)),
              C(groups) (IPv4 and IPv6 groups joined), C(rp_filter) (C(value) of conf/IFACE,
              C(effective) value max(conf/all, conf/IFACE) and its C(mode) name), C(mc_forwarding)
              and C(vif) (the VIF index, or null).
          type: dict
          sample: {"trunk.10": {"index": 3, "flags": ["UP", "BROADCAST", "RUNNING", "MULTICAST", "LOWER_UP"],
                   "up": true, "multicast": true, "allmulti": false, "loopback": false,
                   "addresses": ["192.0.2.1/24"], "groups": ["224.0.0.1", "ff02::1"],
                   "rp_filter": {"value": 1, "effective": 1, "mode": "strict"}, "mc_forwarding": 1, "vif": 0}}
        rp_filter:
          description: The own values of C(conf/all) and C(conf/default).
          type: dict
          sample: {"all": 0, "default": 1}
        routes:
          description:
            - Multicast routes (inside 224.0.0.0/4 or ff00::/8) of every table; of table C(local) (255) only
              those the kernel did not add itself (it adds C(ff00::/8) on every interface). For IPv6 a route in
              table C(local) is the one that takes effect.
          type: list
          elements: dict
          sample: [{"dest": "224.0.0.0/4", "family": "ipv4", "dev": "eth1", "gateway": null, "table": 254,
                    "metric": 0}]
        vifs:
          description: The multicast routing VIFs with their counters.
          type: list
          elements: dict
          sample: [{"index": 0, "interface": "trunk.10", "bytes_in": 1200, "packets_in": 10, "bytes_out": 0,
                    "packets_out": 0, "flags": 8}]
        mfc:
          description: The IPv4 multicast forwarding cache (what C(ip mroute show) lists) with counters.
          type: list
          elements: dict
          sample: [{"source": "192.0.2.10", "group": "239.1.1.1", "iif": "trunk.10", "oifs": ["trunk.20"],
                    "packets": 10, "bytes": 1200, "wrong_if": 0}]
        mifs:
          description:
            - The IPv6 multicast routing MIFs with their counters, in the shape of RV(ansible_facts.mcast.vifs).
          type: list
          elements: dict
          sample: [{"index": 0, "interface": "trunk.10", "bytes_in": 620, "packets_in": 10, "bytes_out": 0,
                    "packets_out": 0, "flags": 0}]
        mfc6:
          description:
            - The IPv6 multicast forwarding cache (what C(ip -6 mroute show) lists) with counters, in the
              shape of RV(ansible_facts.mcast.mfc). C(source) is C(::) for a (*,G) entry; C(iif) is null for
              an unresolved entry or a parent MIF that does not exist.
          type: list
          elements: dict
          sample: [{"source": "2001:db8:10::10", "group": "ff0e::1:5", "iif": "trunk.10", "oifs": ["trunk.20"],
                    "packets": 10, "bytes": 620, "wrong_if": 0}]
        mfc_deltas:
          description:
            - How the counters grew between two readings C(interval) seconds apart (O(sample_interval)).
              C(sampled) is false, and C(entries) empty, when no MFC entry has outputs or the interval is 0.
            - Each entry is an MFC entry with outputs (C(family) C(ipv4) or C(ipv6)) with the growth of its
              C(packets), C(bytes) and C(wrong_if), and for each output its C(interface), C(vif) (VIF or MIF
              index) and the growth of its C(packets_out) (null when the VIF vanished). A (*,G) entry's input is
              not one of its outputs.
          type: dict
          sample: {"sampled": true, "interval": 0.5,
                   "entries": [{"family": "ipv4", "source": "192.0.2.10", "group": "239.1.1.1", "iif": "trunk.10",
                                "packets": 50, "bytes": 3100, "wrong_if": 0,
                                "outputs": [{"interface": "trunk.20", "vif": 1, "packets_out": 0}]}]}
        mld_memberships:
          description:
            - The IPv6 groups each interface holds (from C(/proc/net/igmp6)), each with C(group), C(users)
              (the sockets and kernel users holding it), C(reported) (false for the groups MLD never reports, such as
              C(ff02::1)) and C(sources), the source filters of C(/proc/net/mcfilter6) with the number of
              sockets that C(include) or C(exclude) each source (an SSM join includes its source).
          type: dict
          sample: {"eth0": [{"group": "ff3e::1:3", "users": 1, "reported": true,
                             "sources": [{"source": "2001:db8:10::10", "include": 1, "exclude": 0}]},
                            {"group": "ff02::1", "users": 1, "reported": false, "sources": []}]}
        multicast_egress:
          description:
            - The interface the kernel picks for a datagram to C(239.0.0.1) and to C(ff0e::1) when the sender
              names none (C(ip route get GROUP)), null when it has no route.
          type: dict
          sample: {"239.0.0.1": "eth0", "ff0e::1": "eth0"}
        igmp:
          description:
            - Whether nftables accepts IGMP. C(checked) is false (with C(reason)) when C(nft) is missing
              or cannot read the ruleset. C(accepted) is true when no base chain could drop it;
              C(hooks) tells for each hook whether it is accepted and which chains drop it; C(drops)
              describes each dropping chain (as mcast.linux.nftables reports them).
          type: dict
          sample: {"checked": true, "accepted": false,
                   "hooks": {"input": {"accepted": false, "dropped_by": ["inet filter input"]},
                             "output": {"accepted": true, "dropped_by": []}},
                   "drops": [{"family": "inet", "table": "filter", "chain": "input", "hook": "input",
                              "priority": 0, "policy": "drop", "certain": true, "reason": "policy drop"}]}
        mld:
          description:
            - Whether nftables accepts MLD (ICMPv6 130, 131, 132, 143), in the shape of
              RV(ansible_facts.mcast.igmp), for the hooks IPv6 traffic passes.
          type: dict
          sample: {"checked": true, "accepted": false,
                   "hooks": {"input": {"accepted": false, "dropped_by": ["ip6 filter input"]},
                             "output": {"accepted": true, "dropped_by": []}},
                   "drops": [{"family": "ip6", "table": "filter", "chain": "input", "hook": "input",
                              "priority": 0, "policy": "drop", "certain": true, "reason": "policy drop"}]}
        routing_api:
          description:
            - C(held) is true while a process holds the multicast routing API in this namespace
              (C(conf/all/mc_forwarding)); C(holders) are the processes with a raw IGMP socket.
          type: dict
          sample: {"held": true, "holders": [{"pid": 812, "name": "smcrouted", "command": "smcrouted -n"}]}
        reverse_paths:
          description: For each known unicast source of a route, the interface the route back to it leaves through (null when unreachable).
          type: dict
          sample: {"192.0.2.10": "trunk.10"}
        mcastd:
          description:
            - C(running) and C(socket); C(status), C(pending), C(routes), C(queriers) and C(members) (what
              C(mcastctl status) and C(mcastctl show pending|routes|queriers|members) report; each route's
              C(outputs) say where each output is served, C(kernel) or C(nftables) (mcastd copies the outputs
              without a VIF), with its counters; the last two are empty with a daemon without the IGMP
              querier) while it runs; C(config) with C(path), C(exists),
              C(valid), the grammar's C(errors) and C(warnings), the configured C(routes) and
              C(mgroups), and C(link_local_routes), the mroute lines (of the file and its includes) for an
              IPv6 group of scope 1 or 2 with their C(origin), C(group) and C(line), found by reading the
              words whatever the grammar makes of the line.
          type: dict
          sample: {"running": true, "socket": "/run/mcastd/mcastd.sock", "status": {"pid": 901, "vifs": 3},
                   "pending": [], "queriers": [], "members": [],
                   "routes": [{"source": "192.0.2.10", "group": "239.1.1.1", "iif": "trunk.10", "kind": "learned",
                               "oifs": ["trunk.20"], "nft_oifs": [], "packets": 1200, "bytes": 1560000,
                               "outputs": [{"name": "trunk.20", "served": "kernel", "packets": 1200,
                                            "bytes": 1560000}]}],
                   "config": {"path": "/etc/mcastd/mcastd.conf", "exists": true, "valid": true,
                   "errors": [], "warnings": [],
                   "routes": [{"iif": "trunk.10", "source": null, "group": "239.1.0.0/16", "oifs": ["trunk.20"],
                               "origin": "/etc/mcastd/mcastd.conf:3"}],
                   "mgroups": [], "link_local_routes": []}}
        bridges:
          description:
            - Every Linux bridge by name, with its multicast settings as M(mcast.linux.bridge) names them
              (intervals in seconds), C(index), C(ports) (the enslaved interfaces) and C(querier_state),
              the kernel's C(IFLA_BR_MCAST_QUERIER_STATE) per family (C(ipv4), C(ipv6)), null when the
              bridge knows no querier, else C(address), and for another querier heard C(port) (its name),
              C(port_index) and C(other_querier_expires_in) (seconds).
          type: dict
          sample: {"br0": {"index": 4, "snooping": true, "querier": false, "igmp_version": 2, "mld_version": 1,
                   "query_interval": 125.0, "query_response_interval": 10.0, "membership_interval": 260.0,
                   "querier_interval": 255.0, "last_member_interval": 1.0, "startup_query_interval": 31.24,
                   "query_use_ifaddr": false, "ports": ["swp1", "swp2"],
                   "querier_state": {"ipv4": {"address": "192.0.2.2", "port": "swp1", "port_index": 5,
                                              "other_querier_expires_in": 243.1}, "ipv6": null}}}
        queriers:
          description:
            - The IGMP querier heard per interface. C(mcastd) is mcastd's row for the interface (its
              C(role) C(querier), C(non-querier) or C(listener), the elected C(querier) address or null,
              C(is_us), C(version), C(other_querier_expires_in), C(last_query), C(subnets), ...), present
              when mcastd runs and knows the interface. C(bridge) is present for every bridge, null when
              it knows no IPv4 querier, else C(address), C(own) (the bridge's own querier), C(port) and
              C(other_querier_expires_in).
          type: dict
          sample: {"br0": {"bridge": {"address": "192.0.2.2", "own": false, "port": "swp1",
                                      "other_querier_expires_in": 243.1}},
                   "trunk.20": {"mcastd": {"interface": "trunk.20", "role": "querier", "querier": "198.51.100.1",
                                           "is_us": true, "version": 3}}}
        findings:
          description:
            - The pitfalls found, each with C(id), C(severity) (C(error) or C(warning)), C(subject),
              C(summary), C(evidence) (a list of sentences) and C(fix).
          type: list
          elements: dict
          sample: [{"id": "igmp-dropped-by-firewall", "severity": "error", "subject": "inet filter input",
                    "summary": "nftables drops IGMP in inet filter input at hook input",
                    "evidence": ["base chain inet filter input (hook input, priority 0, policy drop) drops IGMP: policy drop"],
                    "fix": "Accept IGMP before the drop: run mcast.linux.nftables ..."}]
'''

import glob
import ipaddress
import os
import socket
import struct
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._bridge import bridge_facts
from ansible_collections.mcast.linux.plugins.module_utils._findings import VIF_WARNING, evaluate, querier_views
from ansible_collections.mcast.linux.plugins.module_utils._mcastd_client import (
    DEFAULT_CONFIG, DEFAULT_SOCKET, DaemonRefused, routing_api, snapshot)
from ansible_collections.mcast.linux.plugins.module_utils._netlink import (
    address_summaries, link_summaries, open_iproute, require_pyroute2, route_lookup, route_summaries)
from ansible_collections.mcast.linux.plugins.module_utils._nft import (
    CONTROL_HOOKS, FAMILIES_SEEING, NftError, drop_report, igmp_traffic, list_ruleset, mld_traffic)
from ansible_collections.mcast.linux.plugins.module_utils._platform import platform_facts
from ansible_collections.mcast.linux.plugins.module_utils._sysctl import (
    RP_FILTER_NAMES, conf_key, effective_rp_filter, read_value)
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as mcastd_config
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import kernel
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.config import MAX_VIFS
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import (
    LOCAL_TABLE, MULTICAST_PREFIXES, RTPROT_KERNEL)

# Interface flags from <linux/if.h>, in bit order, for the readable flag list.
IFF_NAMES = ('UP', 'BROADCAST', 'DEBUG', 'LOOPBACK', 'POINTOPOINT', 'NOTRAILERS', 'RUNNING', 'NOARP', 'PROMISC',
             'ALLMULTI', 'MASTER', 'SLAVE', 'MULTICAST', 'PORTSEL', 'AUTOMEDIA', 'DYNAMIC', 'LOWER_UP', 'DORMANT',
             'ECHO')
MULTICAST_NETWORKS = tuple(ipaddress.ip_network(prefix) for _version, prefix in sorted(MULTICAST_PREFIXES.items()))
PROC_IGMP = '/proc/net/igmp'
PROC_IGMP6 = '/proc/net/igmp6'
PROC_MCFILTER6 = '/proc/net/mcfilter6'
# IPv6 multicast routing: the kernel's own tables, readable with any pyroute2 (0.7 decodes none of family 129).
PROC_MIFS = kernel.PROC_MIFS  # the kernel's tables, named once in mcastd's kernel.py
PROC_MFC6 = kernel.PROC_MFC6
MAF_NOREPORT = 0x8  # linux/include/net/if_inet6.h: a group MLD never reports (ff02::1, interface-local scope)
ANY_SOURCE = ('0.0.0.0', '::')
# The groups whose route lookup tells which interface a sender without IP(V6)_MULTICAST_IF uses.
EGRESS_GROUPS = ('239.0.0.1', 'ff0e::1')
SUBSETS = ('multicast', 'platform')
SAMPLE_INTERVAL = 0.5
MAX_SAMPLE_INTERVAL = 10.0
MAX_INCLUDE_DEPTH = 8


def flag_names(flags):
    return [name for bit, name in enumerate(IFF_NAMES) if flags & (1 << bit)]


def parse_igmp(text):
    """``{ifindex: [group]}`` from /proc/net/igmp: a device line, then its groups (hex, host byte order)."""
    groups = {}
    index = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        if not line[0].isspace():
            index = int(fields[0])
            groups.setdefault(index, [])
        elif index is not None:
            groups[index].append(socket.inet_ntoa(struct.pack('=I', int(fields[0], 16))))
    return groups


def parse_igmp6(text):
    """``{ifindex: [group]}`` from /proc/net/igmp6: index, name, group (32 hex digits), users, flags, timer."""
    groups = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            groups.setdefault(int(fields[0]), []).append(str(ipaddress.IPv6Address(bytes.fromhex(fields[2]))))
    return groups


def _hex6(text):
    """An IPv6 address the kernel prints as 32 hex digits (%pi6), or in full with colons (%pI6)."""
    return str(ipaddress.IPv6Address(bytes.fromhex(text) if ':' not in text else text))


def parse_mcfilter6(text):
    """``{(ifindex, group): [{'source', 'include', 'exclude'}]}`` from /proc/net/mcfilter6 (header, then one
    line per source filter: index, name cut to 6 characters, group, source, sockets including, excluding)."""
    filters = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 6:
            filters.setdefault((int(fields[0]), _hex6(fields[2])), []).append(
                {'source': _hex6(fields[3]), 'include': int(fields[4]), 'exclude': int(fields[5])})
    return filters


def parse_mld_memberships(igmp6_text, mcfilter6_text=''):
    """``{ifindex: [{'group', 'users', 'reported', 'sources'}]}`` from /proc/net/igmp6 and /proc/net/mcfilter6.

    ``reported`` is false for the groups MLD never reports (the kernel's MAF_NOREPORT: ff02::1 and the
    interface-local ones); ``sources`` are the group's source filters (an SSM join includes its source).
    """
    filters = parse_mcfilter6(mcfilter6_text)
    memberships = {}
    for line in igmp6_text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        index, group = int(fields[0]), _hex6(fields[2])
        memberships.setdefault(index, []).append({
            'group': group, 'users': int(fields[3]), 'reported': not int(fields[4], 16) & MAF_NOREPORT,
            'sources': filters.get((index, group), [])})
    return memberships


def parse_mfc6(text, mif_names):
    """The IPv6 MFC from /proc/net/ip6_mr_cache, in the shape of the IPv4 ``mfc`` facts.

    Each line: group and origin (%pI6), the parent MIF, packets, bytes, wrong interface, then ``MIF:TTL``
    for every output. ``mif_names`` maps MIF indexes to interface names; an unresolved entry (parent -1,
    waiting for the daemon's answer to its upcall) has no input and no outputs.
    """
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        parent = int(fields[2])
        rows.append({'source': _hex6(fields[1]), 'group': _hex6(fields[0]),
                     'iif': mif_names.get(parent) if parent >= 0 else None,
                     'oifs': [mif_names.get(mif, mif) for mif in (int(item.split(':')[0]) for item in fields[6:])],
                     'packets': int(fields[3]), 'bytes': int(fields[4]), 'wrong_if': int(fields[5])})
    return rows


def read_text(path):
    """The text of a /proc table, or '' when the kernel has none (no IPv6, no multicast routing)."""
    try:
        with open(path, encoding='ascii') as stream:
            return stream.read()
    except (IOError, OSError):
        return ''


def read_memberships():
    memberships = {}
    for path, parse in ((PROC_IGMP, parse_igmp), (PROC_IGMP6, parse_igmp6)):
        try:
            with open(path, encoding='ascii') as stream:
                text = stream.read()
        except (IOError, OSError):  # no IPv6, or no multicast at all
            continue
        for index, groups in parse(text).items():
            memberships.setdefault(index, []).extend(groups)
    return memberships


def is_multicast_route(route):
    """A route inside 224.0.0.0/4 or ff00::/8, except the kernel's own in table local (ff00::/8 on every link).

    A route added to table local is kept: rule 0 looks that table up first, so for IPv6 it is the
    one place where a multicast route takes effect.
    """
    network = ipaddress.ip_network(route['dest'])
    if route['table'] == LOCAL_TABLE and route.get('proto', RTPROT_KERNEL) == RTPROT_KERNEL:
        return False
    return any(network.version == multicast.version and network.subnet_of(multicast)
               for multicast in MULTICAST_NETWORKS)


def hook_acceptance(drops, version='ipv4'):
    """``{hook: {'accepted', 'dropped_by'}}`` for every hook control traffic of ``version`` (ipv4, ipv6) passes."""
    hooks = {}
    for family in FAMILIES_SEEING[version]:
        for hook in CONTROL_HOOKS[family]:
            hooks.setdefault(hook, {'accepted': True, 'dropped_by': []})
    for drop in drops:
        entry = hooks.setdefault(drop['hook'], {'accepted': True, 'dropped_by': []})
        entry['accepted'] = False
        entry['dropped_by'].append('%s %s %s' % (drop['family'], drop['table'], drop['chain']))
    return hooks


def config_facts(path):
    """The mcastd configuration as the daemon's grammar reads it."""
    facts = {'path': path, 'exists': os.path.exists(path), 'valid': False, 'errors': [], 'warnings': [],
             'routes': [], 'mgroups': [], 'link_local_routes': []}
    if not facts['exists']:
        return facts
    facts['link_local_routes'] = link_local_route_lines(path)
    try:
        loaded = mcastd_config.load(path)
    except mcastd_config.ConfigError as error:
        facts.update(errors=error.errors, warnings=error.warnings)
        return facts
    facts.update(valid=True, warnings=loaded.warnings)
    facts['routes'] = [{'iif': route.iif, 'source': str(route.source) if route.source else None,
                        'group': str(route.group), 'oifs': list(route.oifs), 'origin': str(route.origin)}
                       for route in loaded.mroutes]
    facts['mgroups'] = [{'iif': mgroup.ifname, 'source': str(mgroup.source) if mgroup.source else None,
                         'group': str(mgroup.group), 'origin': str(mgroup.origin)} for mgroup in loaded.mgroups]
    return facts


def link_local_scope_group(word):
    """The IPv6 group (text) a word names when it is of interface- or link-local scope (ffx1, ffx2), else None."""
    try:
        network = ipaddress.ip_network(word, strict=False)
    except ValueError:
        return None
    address = network.network_address
    if network.version != 6 or network.prefixlen < 16 or not address.is_multicast:
        return None
    if address.packed[1] & 0xf not in (1, 2):  # the scope nibble: 1 interface-local, 2 link-local
        return None
    return str(address) if network.prefixlen == network.max_prefixlen else str(network)


def link_local_route_lines(path, depth=0, seen=None):
    """``[{'origin', 'group', 'line'}]``: mroute lines for an IPv6 group of scope 1 or 2, in ``path`` and its includes.

    A plain reading of the words, whatever a grammar makes of the line: smcroute installs such a route
    (the kernel accepts it and never forwards it), an mcastd without IPv6 skips the line, one with IPv6
    refuses it.
    """
    seen = set() if seen is None else seen
    real = os.path.realpath(path)
    if depth > MAX_INCLUDE_DEPTH or real in seen:
        return []
    seen.add(real)
    try:
        with open(path, encoding='utf-8') as stream:
            lines = stream.read().splitlines()
    except (IOError, OSError, ValueError):
        return []
    found = []
    for number, raw in enumerate(lines, 1):
        words = raw.split('#', 1)[0].split()
        if len(words) > 1 and words[0] == 'include':
            pattern = words[1] if os.path.isabs(words[1]) else os.path.join(os.path.dirname(path), words[1])
            for included in sorted(glob.glob(pattern)):
                found.extend(link_local_route_lines(included, depth + 1, seen))
        elif words and words[0].startswith('mroute'):  # smcroute reads any word that begins with a keyword as it
            for group in filter(None, (link_local_scope_group(word) for word in words[1:])):
                found.append({'origin': '%s:%d' % (path, number), 'group': group, 'line': raw.strip()})
    return found


def outputs_of(row):
    """Where an MFC entry forwards to: a (*,G) entry never sends a datagram back out of its input."""
    if row['source'] in ANY_SOURCE:
        return [oif for oif in row['oifs'] if oif != row['iif']]
    return list(row['oifs'])


def _out_delta(before, after, name):
    if name not in before or name not in after:
        return None
    return after[name]['packets_out'] - before[name]['packets_out']


def mfc_deltas(before, after):
    """How each MFC entry with outputs and its outputs' out-packet counters grew between two readings.

    A reading is ``{'ipv4': {'mfc', 'vifs'}, 'ipv6': {'mfc', 'vifs'}}`` in the facts' shape (for IPv6 the
    ``vifs`` are the MIFs). Entries present in both readings only.
    """
    entries = []
    for family in ('ipv4', 'ipv6'):
        first = dict(((row['source'], row['group'], row['iif']), row) for row in before[family]['mfc'])
        vifs_before = dict((vif['interface'], vif) for vif in before[family]['vifs'])
        vifs_after = dict((vif['interface'], vif) for vif in after[family]['vifs'])
        for row in after[family]['mfc']:
            old = first.get((row['source'], row['group'], row['iif']))
            if old is None or not outputs_of(row):
                continue
            entries.append({
                'family': family, 'source': row['source'], 'group': row['group'], 'iif': row['iif'],
                'packets': row['packets'] - old['packets'], 'bytes': row['bytes'] - old['bytes'],
                'wrong_if': row['wrong_if'] - old['wrong_if'],
                'outputs': [{'interface': name, 'vif': (vifs_after.get(name) or {}).get('index'),
                             'packets_out': _out_delta(vifs_before, vifs_after, name)} for name in outputs_of(row)]})
    return entries


def bridge_querier(bridge):
    """The IPv4 querier a bridge knows: ``{'address', 'own', 'port', 'other_querier_expires_in'}``, or None."""
    state = (bridge.get('querier_state') or {}).get('ipv4')
    if not state:
        return None
    # The kernel adds the other-querier timer only for a querier heard from elsewhere.
    own = state['other_querier_expires_in'] is None
    return {'address': state['address'], 'own': own, 'port': state.get('port'),
            'other_querier_expires_in': state['other_querier_expires_in']}


def queriers_heard(mcastd, bridges):
    """``{interface: {'mcastd': row, 'bridge': querier or None}}``: each view present only where it exists.

    Only mcastd's IGMP rows: a daemon with the MLD querier also lists MLD rows (``protocol`` MLD) for
    the same interfaces, and a daemon without it rows without ``protocol``.
    """
    heard = {}
    for row in mcastd.get('queriers') or []:
        if row.get('protocol', 'IGMP') != 'IGMP':
            continue
        heard.setdefault(row['interface'], {})['mcastd'] = row
    for name, bridge in bridges.items():
        heard.setdefault(name, {})['bridge'] = bridge_querier(bridge)
    return heard


class McastFacts(object):
    """Read everything once; the findings are computed from what was read."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.names = {}

    def run(self):
        facts = {}
        with open_iproute() as ipr:
            links = link_summaries()
            self.names = dict((link['index'], link['name']) for link in links)
            facts['vifs'] = self.vifs()
            facts['mifs'] = self.mifs()
            facts['interfaces'] = self.interfaces(ipr, links, facts['vifs'])
            facts['mld_memberships'] = self.mld_memberships()
            facts['rp_filter'] = dict((name, int(read_value(conf_key(name, 'rp_filter')))) for name in ('all', 'default'))
            facts['routes'] = self.routes(ipr)
            facts['multicast_egress'] = dict((group, self.names.get(route_lookup(ipr, group)))
                                             for group in EGRESS_GROUPS)
            facts['mfc'] = self.mfc()
            facts['mfc6'] = self.mfc6(facts['mifs'])
            facts['igmp'], facts['mld'] = self.firewall()
            facts['routing_api'] = routing_api()
            facts['mcastd'] = self.mcastd()
            facts['bridges'] = bridge_facts(ipr, self.names)
            facts['queriers'] = queriers_heard(facts['mcastd'], facts['bridges'])
            facts['reverse_paths'] = self.reverse_paths(ipr, facts)
        facts['mfc_deltas'] = self.sample_counters(facts)
        facts['findings'] = evaluate(facts, self.params['vif_warning'])
        return {'changed': False, 'ansible_facts': {'mcast': facts}}

    def interfaces(self, ipr, links, vifs):
        addresses = {}
        for address in address_summaries(ipr):
            addresses.setdefault(address['index'], []).append(address['address'])
        memberships = read_memberships()
        vif_by_name = dict((vif['interface'], vif['index']) for vif in vifs)
        all_rp_filter = read_value(conf_key('all', 'rp_filter'))
        interfaces = {}
        for link in links:
            names = flag_names(link['flags'])
            interfaces[link['name']] = {
                'index': link['index'], 'flags': names, 'up': 'UP' in names, 'multicast': 'MULTICAST' in names,
                'allmulti': 'ALLMULTI' in names, 'loopback': 'LOOPBACK' in names,
                'addresses': addresses.get(link['index'], []), 'groups': memberships.get(link['index'], []),
                'rp_filter': self.rp_filter(link['name'], all_rp_filter),
                'mc_forwarding': self.conf_value(link['name'], 'mc_forwarding'),
                'vif': vif_by_name.get(link['name'])}
        return interfaces

    @staticmethod
    def conf_value(name, setting):
        try:
            return int(read_value(conf_key(name, setting)))
        except (IOError, OSError):  # an interface without IPv4 configuration, or one that just vanished
            return None

    def rp_filter(self, name, all_value):
        value = self.conf_value(name, 'rp_filter')
        if value is None:
            return None
        effective = effective_rp_filter(all_value, value)
        return {'value': value, 'effective': effective, 'mode': RP_FILTER_NAMES.get(effective, str(effective))}

    def routes(self, ipr):
        routes = []
        for family, name in ((socket.AF_INET, 'ipv4'), (socket.AF_INET6, 'ipv6')):
            for route in route_summaries(ipr, family):
                if is_multicast_route(route):
                    routes.append({'dest': route['dest'], 'family': name, 'dev': self.names.get(route['oif']),
                                   'gateway': route['gateway'], 'table': route['table'], 'metric': route['metric'],
                                   'multipath': route['multipath']})
        return routes

    def mld_memberships(self):
        memberships = parse_mld_memberships(read_text(PROC_IGMP6), read_text(PROC_MCFILTER6))
        return dict((self.names.get(index, str(index)), groups) for index, groups in sorted(memberships.items()))

    def mfc(self, warn=True):
        try:
            rows = kernel.read_mfc()
        except (kernel.KernelError, OSError) as error:
            if warn:
                self.module.warn('cannot read the multicast forwarding cache: %s' % error)
            return []
        return [{'source': mcastd_config.ntoa(row.source), 'group': mcastd_config.ntoa(row.group),
                 'iif': self.names.get(row.iif), 'oifs': [self.names.get(oif, oif) for oif in row.oifs],
                 'packets': row.packets, 'bytes': row.bytes, 'wrong_if': row.wrong_if} for row in rows]

    @staticmethod
    def mfc6(mifs):
        return parse_mfc6(read_text(PROC_MFC6), dict((mif['index'], mif['interface']) for mif in mifs))

    @staticmethod
    def vifs(path=kernel.PROC_VIFS):
        """The VIFs, or with ``path`` PROC_MIFS the IPv6 MIFs: both tables have the same columns."""
        return [{'index': row.index, 'interface': row.ifname, 'bytes_in': row.bytes_in, 'packets_in': row.packets_in,
                 'bytes_out': row.bytes_out, 'packets_out': row.packets_out, 'flags': row.flags}
                for row in kernel.read_vifs(path)]

    def mifs(self):
        return self.vifs(PROC_MIFS)

    def counters(self):
        """One reading of both families' MFC and VIF/MIF counters, as close together as they can be read."""
        vifs, mifs = self.vifs(), self.mifs()
        return {'ipv4': {'mfc': self.mfc(warn=False), 'vifs': vifs}, 'ipv6': {'mfc': self.mfc6(mifs), 'vifs': mifs}}

    def sample_counters(self, facts):
        """Two readings ``sample_interval`` apart, only where an MFC entry has outputs: a host pays nothing."""
        interval = self.params['sample_interval']
        if not interval or not any(outputs_of(row) for row in facts['mfc'] + facts['mfc6']):
            return {'sampled': False, 'interval': interval, 'entries': []}
        before = self.counters()
        time.sleep(interval)
        return {'sampled': True, 'interval': interval, 'entries': mfc_deltas(before, self.counters())}

    def firewall(self):
        """``(igmp, mld)``: whether nftables accepts each, from one listing of the ruleset."""
        nft = self.module.get_bin_path('nft')
        if nft is None:
            reason = 'nft is not installed (Debian: apt install nftables)'
            return {'checked': False, 'reason': reason}, {'checked': False, 'reason': reason}
        try:
            ruleset = list_ruleset(self.module.run_command, nft)
        except NftError as error:
            return {'checked': False, 'reason': str(error)}, {'checked': False, 'reason': str(error)}
        report = drop_report(ruleset, [igmp_traffic(), mld_traffic()], skip=lambda rule: False)
        return tuple({'checked': True, 'accepted': not report[kind], 'hooks': hook_acceptance(report[kind], family),
                      'drops': report[kind]} for kind, family in (('igmp', 'ipv4'), ('mld', 'ipv6')))

    def mcastd(self):
        path = self.params['mcastd_socket']
        try:
            state = snapshot(path)
        except DaemonRefused as error:
            self.module.warn('mcastd on %s refused a query: %s' % (path, error))
            state = None
        status = state['status'] if state else None
        config_path = self.params['mcastd_config'] or (status or {}).get('config') or DEFAULT_CONFIG
        # queriers and members: the tables of mcastd's IGMP querier (show queriers, show members).
        # routes: mcastctl show routes, each output with where it is served (the kernel, or nftables' copies).
        return {'running': state is not None, 'socket': path, 'status': status,
                'pending': state['pending'] if state else [], 'routes': (state or {}).get('routes') or [],
                'queriers': (state or {}).get('queriers') or [],
                'members': (state or {}).get('members') or [], 'config': config_facts(config_path)}

    def reverse_paths(self, ipr, facts):
        """Where the route back to each known source leaves: what rp_filter checks."""
        sources = set(row['source'] for row in facts['mfc'] if row['source'] != '0.0.0.0')
        sources.update(route['source'] for route in facts['mcastd']['config']['routes']
                       if route['source'] and '/' not in route['source'] and ':' not in route['source'])
        # rp_filter judges a querier's queries like any other source.
        sources.update(address for heard in facts['queriers'].values() for _view, address in querier_views(heard)
                       if address != '0.0.0.0')
        return dict((source, self.names.get(route_lookup(ipr, source))) for source in sorted(sources))


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            gather_subset=dict(type='list', elements='str', choices=list(SUBSETS), default=['multicast']),
            packages=dict(type='list', elements='str', default=[]),
            mcastd_socket=dict(type='path', default=DEFAULT_SOCKET),
            mcastd_config=dict(type='path'),
            vif_warning=dict(type='int', default=VIF_WARNING),
            sample_interval=dict(type='float', default=SAMPLE_INTERVAL),
        ),
        supports_check_mode=True,
    )


def check_subsets(module):
    subsets = module.params['gather_subset']
    if not subsets:
        module.fail_json(msg='gather_subset is empty: give multicast, platform or both.')
    if module.params['packages'] and 'platform' not in subsets:
        module.fail_json(msg='packages %s are only queried with platform in gather_subset: add platform to '
                         'gather_subset, or leave packages out.' % ', '.join(module.params['packages']))


def main():
    module = build_module()
    check_subsets(module)
    if not 1 <= module.params['vif_warning'] <= MAX_VIFS:
        module.fail_json(msg='vif_warning %d is out of range: use a number from 1 to %d (the kernel offers %d VIFs).'
                         % (module.params['vif_warning'], MAX_VIFS, MAX_VIFS))
    if not 0 <= module.params['sample_interval'] <= MAX_SAMPLE_INTERVAL:
        module.fail_json(msg='sample_interval %s is out of range: use a number of seconds from 0 (no second reading, '
                         'no ttl-too-low-to-route) to %d.' % (module.params['sample_interval'], MAX_SAMPLE_INTERVAL))
    result = {'changed': False, 'ansible_facts': {}}
    if 'platform' in module.params['gather_subset']:
        facts, packages = platform_facts(module, module.params['packages'])
        result['ansible_facts'].update(facts)
        result.update(packages)
    if 'multicast' in module.params['gather_subset']:
        require_pyroute2(module)
        result['ansible_facts'].update(McastFacts(module).run()['ansible_facts'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
