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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._facts import ARGUMENT_SPEC, run


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
