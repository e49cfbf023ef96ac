#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: nftables
short_description: Accept multicast control traffic and routed groups in nftables; check IPv6 reverse paths
version_added: 0.1.0
description:
  - Makes sure the nftables firewall lets multicast work. IGMP is always accepted; MLD, PIM and
    routed multicast groups are accepted when asked for.
  - A firewall that drops IGMP stops a host answering membership queries, and snooping switches
    then cut its groups after a few minutes; MLD does the same for IPv6. In nftables an accept
    in one table does not stop a drop in another table's base chain at the same hook, so the
    module looks at every base chain in every table and family (C(ip), C(ip6), C(inet),
    C(netdev), C(bridge)) at the hooks the traffic passes, works out whether that chain could drop it (its policy, its drop and reject
    rules, the chains it jumps to), and inserts an accept rule at the top of each chain that
    could. Chains that already accept the traffic, or never drop it, are left alone.
  - Control traffic (IGMP, MLD, PIM) is checked at the C(ingress), C(prerouting), C(input),
    C(output) and C(postrouting) hooks (and C(forward) of the C(bridge) family); routed groups
    at C(ingress), C(prerouting), C(forward) and C(postrouting).
  - Every rule the module adds carries the comment C(mcast.linux:KIND:DIGEST). The module finds
    its rules by that tag and never changes, moves or deletes a rule without it. All changes of
    one run go to the kernel as one C(nft -j) transaction, which applies completely or not at all.
  - The ruleset is read and changed only through C(nft -j) JSON.
  - With O(persist=true) the rules are written to O(include_file), and an C(include) of it is
    added as the last statement of O(nftables_conf), the file that C(nftables.service) loads at
    boot and on C(systemctl reload nftables). After a reload the rules are back at the top of
    their chains.
  - When firewalld (or iptables-nft, or a table with the C(owner) flag) owns the ruleset, the
    module changes nothing, fails, and says how to accept multicast through that owner instead.
  - With O(ipv6_rpf=true) the module also keeps a table of its own, C(ip6 mcast_linux_rpf), that
    drops IPv6 multicast from sources without a route back through the input interface, as
    C(rp_filter) does for IPv4, which IPv6 lacks. See O(ipv6_rpf).
author:
  - mcast.linux developers (@mcast-linux)
extends_documentation_fragment:
  - mcast.linux.attributes
options:
  state:
    description:
      - V(present) adds the accept rules where they are needed and removes tagged rules that
        are no longer needed.
      - V(absent) removes every rule this module added (and, with O(persist=true), the include).
    type: str
    choices: [present, absent]
    default: present
  mld:
    description:
      - Also accept MLD, the IPv6 group membership protocol (ICMPv6 types 130, 131, 132 and 143),
        with C(ip6 saddr { ::, fe80::/10 } icmpv6 type { ... } accept) in every base chain that
        could drop it. Turn it on for every host that receives IPv6 multicast through snooping
        switches or an MLD querier; it is off by default so that existing playbooks keep their
        rules.
      - MLD is only valid from link-local sources, so only those are accepted, and MLD from any
        other source stays dropped. A report may also come from the unspecified address C(::)
        while the sender has no valid link-local address yet (duplicate address detection, RFC
        9777 section 5.2.14); routers discard such reports, but a host's own must leave it and a
        bridge must pass its neighbours' for snooping switches to let the neighbour solicitations of
        DAD through. The rule therefore accepts C(::) too, and a chain counts as dropping MLD when it
        drops MLD from link-local sources at any hook, or reports from C(::) at C(output),
        C(postrouting), C(egress) or in the C(bridge) family. The rule matches IPv6 only, also in
        C(inet), C(netdev) and C(bridge) chains.
    type: bool
    default: false
  ipv6_rpf:
    description:
      - >-
        IPv6 has no C(rp_filter). With V(true) the module keeps a table of its own,
        C(ip6 mcast_linux_rpf), with one base chain at C(prerouting) (priority C(raw), -300,
        before conntrack) and one rule,
        C(ip6 daddr & ff0f:: > ff02:: ip6 saddr != { ::, fe80::/10 } fib saddr . iif oif missing drop).
        IPv6 multicast whose source has no route back through the interface it came in on is
        dropped before the multicast routing code sees it. An accept in another table cannot undo
        this drop.
      - >-
        Only what a router could forward is checked. C(ip6 daddr & ff0f:: > ff02::) matches groups of
        scope 3 and wider (C(ff05::/16), C(ff0e::/16), C(ff3e::/16) ...), whatever their flags;
        unicast and interface- or link-local groups (neighbour discovery, MLD, mDNS) are never
        dropped, and neither is anything from a link-local or the unspecified source (an MLDv1
        report for a routed group goes to that group from a link-local address).
      - Meant for multicast routers with IPv6 routes back to their sources, like C(rp_filter=1)
        for IPv4 (see M(mcast.linux.rp_filter)). A route back through another interface does not
        count, as with strict C(rp_filter).
      - The module owns the table whole. If it differs from the above it is replaced, and with
        V(false) or O(state=absent) it is deleted. Do not put rules of your own there.
    type: bool
    default: false
  pim:
    description:
      - Also accept PIM (IP protocol 103), over IPv4 and IPv6, for hosts that run a PIM router.
    type: bool
    default: false
  forward:
    description:
      - Routed multicast that a multicast router forwards between its interfaces. Each entry is
        accepted in the chains at the C(forward) hook and at the hooks before and after it.
      - Link-local groups (C(224.0.0.0/24), C(ff02::/16)) are never routed and are refused.
    type: list
    elements: dict
    default: []
    suboptions:
      group:
        description:
          - A multicast group or prefix, IPv4 (within C(224.0.0.0/4)) or IPv6 (within C(ff00::/8)),
            such as C(239.1.1.1) or C(239.1.0.0/16).
        type: str
        required: true
      ports:
        description:
          - UDP destination ports or ranges such as C(5004) or C(5000-5010). Empty accepts every
            protocol and port sent to O(forward[].group).
        type: list
        elements: str
        default: []
  persist:
    description:
      - Also write the rules to O(include_file) and include it from O(nftables_conf), so that they
        come back at boot and on C(systemctl reload nftables).
      - With V(false) only the running ruleset is changed and both files are left as they are.
    type: bool
    default: true
  include_file:
    description:
      - The file holding this module's rules in nft syntax. It is overwritten on every change.
    type: path
    default: /etc/nftables.d/mcast-linux.nft
  nftables_conf:
    description:
      - The configuration that C(nftables.service) loads. The module keeps an C(include) of
        O(include_file) as its last statement, after the tables that define the chains.
      - Must exist when O(persist=true) and O(state=present).
    type: path
    default: /etc/nftables.conf
requirements:
  - nft (the C(nftables) package) with JSON support, as Debian, Ubuntu, Fedora and RHEL ship it.
notes:
  - An accept rule placed at the top of a chain also accepts the traffic before your own rules for
    it (rate limits, logging) in that chain.
  - The module decides whether a chain could drop the traffic from the matches it understands
    (protocol, destination addresses, ports, ICMPv6 types, conntrack state, and the source
    address of MLD). A drop rule with other matches, for example on the input interface or the
    source address of IGMP, counts as one that could drop, and the chain gets an accept rule.
  - One task should describe the whole wanted state; a second task with other O(forward) entries
    replaces the rules of the first.
  - If O(nftables_conf) does not define a chain any longer, loading O(include_file) creates an empty
    regular chain of that name, which no packet passes, rather than failing.
seealso:
  - name: nftables wiki, netfilter hooks
    description: Which hooks a packet passes, and how base chains at one hook are ordered by priority.
    link: https://wiki.nftables.org/wiki-nftables/index.php/Netfilter_hooks
  - name: nftables wiki, JSON API
    description: The C(nft -j) format this module reads and writes.
    link: https://wiki.nftables.org/wiki-nftables/index.php/JSON_API
  - module: mcast.linux.rp_filter
'''

EXAMPLES = r'''
- name: Accept IGMP wherever the firewall would drop it (every host that receives multicast)
  mcast.linux.nftables:

- name: On a multicast router, accept IGMP, PIM and two routed groups
  mcast.linux.nftables:
    pim: true
    forward:
      - group: 239.1.1.0/24
        ports: ['5004', '5006']
      - group: 239.2.0.0/16

- name: IPv6 too, in the running ruleset only
  mcast.linux.nftables:
    mld: true
    persist: false

- name: An IPv6 multicast router, with a reverse-path check and a routed IPv6 group
  mcast.linux.nftables:
    mld: true
    ipv6_rpf: true
    forward:
      - group: ff3e::/16
        ports: ['5004']

- name: Which chains drop IGMP today? (changes nothing)
  mcast.linux.nftables:
  check_mode: true
  register: igmp

- name: Show them
  ansible.builtin.debug:
    msg: "{{ igmp.igmp_drops | map(attribute='chain') | list }}"

- name: Remove every rule this module added, and its include
  mcast.linux.nftables:
    state: absent
'''

RETURN = r'''
igmp_drops:
  description:
    - The base chains that would drop IGMP in the ruleset as found before the run, this module's
      own rules included. Empty when IGMP passes everywhere. In check mode this is the answer to
      "which chains drop IGMP today".
  returned: always
  type: list
  elements: dict
  contains:
    family:
      description: Family of the table.
      type: str
      sample: inet
    table:
      description: Name of the table.
      type: str
      sample: filter
    chain:
      description: Name of the base chain.
      type: str
      sample: input
    hook:
      description: Hook the chain is registered at.
      type: str
      sample: input
    priority:
      description: Priority of the chain at its hook; lower runs first.
      type: int
      sample: 0
    policy:
      description: Policy of the chain.
      type: str
      sample: drop
    type:
      description: Type of the chain (filter, nat, route).
      type: str
      sample: filter
    certain:
      description: False when the deciding drop rule has matches the module does not evaluate.
      type: bool
      sample: true
    reason:
      description: Why the chain drops the traffic.
      type: str
      sample: policy drop
    unsure_accepts:
      description: Handles of earlier accept rules that accept only some of the traffic (for example on one interface).
      type: list
      elements: int
      sample: [5]
  sample: [{"family": "inet", "table": "filter", "chain": "input", "hook": "input", "priority": 0, "policy": "drop",
            "type": "filter", "certain": true, "reason": "policy drop", "unsure_accepts": []}]
drops:
  description:
    - Like RV(igmp_drops), for each kind of traffic of this run (C(igmp), C(mld), C(pim),
      C(forward)). Entries for C(forward) also name the traffic. The module's own table
      C(ip6 mcast_linux_rpf) is never listed here.
  returned: always
  type: dict
  sample: {"igmp": [], "pim": [], "forward": [{"family": "inet", "table": "filter", "chain": "forward",
           "hook": "forward", "priority": 0, "policy": "drop", "type": "filter", "certain": true,
           "reason": "policy drop", "unsure_accepts": [], "traffic": "routed multicast to 239.1.1.0/24"}]}
base_chains:
  description: Every base chain of the ruleset, sorted by family, hook and priority.
  returned: always
  type: list
  elements: dict
  sample: [{"family": "inet", "table": "filter", "chain": "input", "hook": "input", "priority": 0,
            "policy": "drop", "type": "filter"}]
rules:
  description: The rules of this module in the ruleset after the run (would be, in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    family:
      description: Family of the table.
      type: str
      sample: inet
    table:
      description: Name of the table.
      type: str
      sample: filter
    chain:
      description: Name of the base chain.
      type: str
      sample: input
    hook:
      description: Hook of the chain.
      type: str
      sample: input
    priority:
      description: Priority of the chain.
      type: int
      sample: 0
    kind:
      description: The traffic, C(igmp), C(mld), C(pim) or C(forward); C(rpf6) for the IPv6 reverse-path drop.
      type: str
      sample: igmp
    tag:
      description: The comment that marks the rule as this module's.
      type: str
      sample: "mcast.linux:igmp:d795f203a198"
    rule:
      description: The rule in nft syntax (without the comment).
      type: str
      sample: ip protocol 2 accept
added:
  description: The rules inserted by this run (or that would be, in check mode), as in RV(rules).
  returned: always
  type: list
  elements: dict
  sample: [{"family": "inet", "table": "filter", "chain": "input", "hook": "input", "priority": 0, "kind": "igmp",
            "tag": "mcast.linux:igmp:d795f203a198", "rule": "ip protocol 2 accept"}]
removed:
  description:
    - Tagged rules deleted by this run (or that would be), because they are no longer needed or sit
      below a rule that drops the traffic (they are then inserted again at the top). Rules of the
      table C(ip6 mcast_linux_rpf) are listed when that table is deleted or replaced.
  returned: always
  type: list
  elements: dict
  sample: [{"family": "ip", "table": "raw", "chain": "pre", "handle": 7, "tag": "mcast.linux:igmp:d795f203a198",
            "rule": "ip protocol 2 accept"}]
commands:
  description: The nft JSON commands of the one transaction of this run (empty when nothing changes).
  returned: always
  type: list
  elements: dict
  sample: [{"insert": {"rule": {"family": "inet", "table": "filter", "chain": "input", "comment": "mcast.linux:igmp:d795f203a198",
            "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "protocol"}}, "right": "igmp"}},
                     {"accept": null}]}}}]
ipv6_rpf:
  description: The IPv6 reverse-path table of O(ipv6_rpf) and whether this run changed it.
  returned: always
  type: dict
  contains:
    wanted:
      description: The value of O(ipv6_rpf) (false with O(state=absent)).
      type: bool
      sample: true
    table:
      description: The module's own table.
      type: str
      sample: ip6 mcast_linux_rpf
    changed:
      description: Whether the table was (or would be) created, replaced or deleted.
      type: bool
      sample: false
persist:
  description: The persistence files and whether they were (or would be) changed.
  returned: always
  type: dict
  contains:
    include_file:
      description: The value of O(include_file).
      type: str
      sample: /etc/nftables.d/mcast-linux.nft
    nftables_conf:
      description: The value of O(nftables_conf).
      type: str
      sample: /etc/nftables.conf
    changed:
      description: Whether either file was (or would be) changed.
      type: bool
      sample: true
    unwritable_chains:
      description: Chains whose names nft syntax cannot write; their rules are live only.
      type: list
      elements: str
      sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._nftables import ARGUMENT_SPEC, run


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
