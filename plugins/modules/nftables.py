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

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._files import atomic_write, file_diff, read_text, remove_file
from ansible_collections.mcast.linux.plugins.module_utils._nft import (
    RPF_FAMILY, RPF_TABLE, NftError, apply_batch, build_traffic, current_rules_lines, drop_report, ensure_include,
    foreign_owner, igmp_traffic, list_ruleset, parse_forward, plan, remove_include, render_include, rule_text, rules_text,
    run_nft, wanted_rules_lines)

NFT_MISSING = ('nft was not found on the target: install the nftables package (apt-get install nftables, '
               'dnf install nftables). This module reads and changes the firewall only through `nft -j`.')


def include_file_problem(params):
    """A sentence about what is wrong with the persistence paths, or None."""
    include_file, conf = params['include_file'], params['nftables_conf']
    for name, path in (('include_file', include_file), ('nftables_conf', conf)):
        if not os.path.isabs(path):
            return "%s '%s' is not an absolute path; give the full path, such as %s." % (
                name, path, '/etc/nftables.d/mcast-linux.nft' if name == 'include_file' else '/etc/nftables.conf')
        if os.path.isdir(path):
            return "%s '%s' is a directory; give the path of a file." % (name, path)
    if os.path.realpath(include_file) == os.path.realpath(conf):
        return 'include_file and nftables_conf are the same file; give the include its own file, such as ' \
               '/etc/nftables.d/mcast-linux.nft.'
    if '"' in include_file:
        return 'include_file must not contain a double quote: nft could not include it.'
    if params['state'] == 'present' and not os.path.isfile(conf):
        return ("nftables_conf '%s' does not exist, so nothing would load the rules at boot. Install nftables "
                "(its nftables.service loads /etc/nftables.conf), point nftables_conf at the file your firewall "
                "loads, or set persist: false." % conf)
    return None


class NftablesAcceptance(object):
    """Read the ruleset, plan the accept rules, then apply one transaction (outside check mode)."""

    def __init__(self, module, forward):
        self.module = module
        self.params = module.params
        self.nft = module.get_bin_path('nft')
        present = self.params['state'] == 'present'
        self.traffics = build_traffic(self.params['pim'], self.params['mld'], forward) if present else []
        self.ipv6_rpf = present and self.params['ipv6_rpf']
        self.result = {'changed': False, 'igmp_drops': [], 'drops': {}, 'base_chains': [], 'rules': [],
                       'added': [], 'removed': [], 'commands': [],
                       'ipv6_rpf': {'wanted': self.ipv6_rpf, 'table': '%s %s' % (RPF_FAMILY, RPF_TABLE),
                                    'changed': False},
                       'persist': {'include_file': self.params['include_file'],
                                   'nftables_conf': self.params['nftables_conf'],
                                   'changed': False, 'unwritable_chains': []}}
        self.diff = []

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def run(self):
        if self.nft is None:
            self.fail(NFT_MISSING)
        ruleset = self.read_ruleset()
        self.report(ruleset)
        owner = foreign_owner(ruleset)
        if owner and self.traffics:
            self.fail(owner)
        the_plan = plan(ruleset, self.traffics, self.ipv6_rpf)
        self.report_plan(the_plan)
        files = self.plan_files(the_plan) if self.params['persist'] else []
        self.result['persist']['changed'] = bool(files)
        self.result['changed'] = the_plan.changed or bool(files)
        if the_plan.changed:
            self.diff.append({'before_header': 'nftables ruleset: rules tagged mcast.linux',
                              'after_header': 'nftables ruleset: rules tagged mcast.linux',
                              'before': self.before_text(ruleset, the_plan),
                              'after': rules_text(wanted_rules_lines(the_plan.all_wanted()))})
        self.diff += [file_diff(path, before, after) for path, before, after in files]
        if not self.module.check_mode:
            self.apply_ruleset(the_plan)
            self.apply_files(files)
        if self.module._diff:
            self.result['diff'] = self.diff
        return self.result

    def nft_run(self, args, data=None):
        try:
            return run_nft(self.module.run_command, self.nft, args, data)
        except NftError as error:
            self.fail(str(error))

    def read_ruleset(self):
        try:
            return list_ruleset(self.module.run_command, self.nft)
        except NftError as error:
            self.fail('%s Reading the ruleset needs root (CAP_NET_ADMIN): run the task with become: true.' % error)

    def report(self, ruleset):
        """What drops the traffic in the ruleset as it is today, this module's rules included."""
        kinds = self.traffics or [igmp_traffic()]
        drops = drop_report(ruleset, kinds, skip=lambda rule: False)
        self.result['drops'] = drops
        self.result['igmp_drops'] = drops['igmp']
        self.result['base_chains'] = [chain.describe() for chain in ruleset.base_chains()]

    def report_plan(self, the_plan):
        self.result['rules'] = [placement.describe() for placement in the_plan.all_wanted()]
        self.result['added'] = [placement.describe() for placement in the_plan.all_inserted()]
        self.result['removed'] = [{'family': chain.family, 'table': chain.table, 'chain': chain.name,
                                   'handle': rule.get('handle'), 'tag': rule.get('comment'),
                                   'rule': rule_text(rule)}
                                  for chain, _index, rule in the_plan.all_deleted()]
        self.result['commands'] = the_plan.commands()
        self.result['ipv6_rpf']['changed'] = the_plan.rpf_drop_table or the_plan.rpf_create_table

    def before_text(self, ruleset, the_plan):
        """The tagged rules as found; rules that are re-inserted at the top say so."""
        moved = set((chain.label, rule.get('comment')) for chain, _index, rule in the_plan.all_deleted()) & \
            set((p.chain.label, p.traffic.tag) for p in the_plan.insert)
        lines = []
        for label, text, tag in current_rules_lines(ruleset):
            lines.append((label, text + (' (below a rule that drops: moved to the top)' if (label, tag) in moved else ''),
                          tag))
        return rules_text(lines)

    def plan_files(self, the_plan):
        """``[(path, before, after)]`` for the persistence files that change, in the order to write them.

        The include file is written before the configuration includes it, and the include line is
        removed before the file goes, so nftables.service never loads a missing file.
        """
        include_file, conf = self.params['include_file'], self.params['nftables_conf']
        include_before, conf_before = read_text(include_file), read_text(conf)
        if self.traffics:
            include_after, unwritable = render_include(the_plan.wanted, the_plan.rpf)
            self.result['persist']['unwritable_chains'] = unwritable
            for label in unwritable:
                self.module.warn('The rule in chain %s is live only: nft syntax cannot write that name, so it is not '
                                 'in %s. Rename the table or chain to letters, digits, _ . / and -.' % (label, include_file))
            files = [(include_file, include_before, include_after), (conf, conf_before, ensure_include(conf_before, include_file))]
        else:
            files = [(conf, conf_before, remove_include(conf_before, include_file)), (include_file, include_before, None)]
        return [(path, before, after) for path, before, after in files if before != after]

    def apply_ruleset(self, the_plan):
        if not the_plan.changed:
            return
        try:
            apply_batch(self.module.run_command, self.nft, the_plan.commands())
        except NftError as error:
            self.fail('nft refused the change, so the ruleset was not changed at all (one transaction): %s. '
                      'If the ruleset changed while this task ran, run it again.' % error)

    def apply_files(self, files):
        """Write the persistence files; if the configuration stops loading, put the old files back."""
        if not files:
            return
        conf = self.params['nftables_conf']
        loaded_before = os.path.isfile(conf) and self.config_loads(conf) is None
        for path, _before, after in files:
            self.write(path, after)
        problem = self.config_loads(conf) if os.path.isfile(conf) else None
        if problem and loaded_before:
            for path, before, _after in reversed(files):
                self.write(path, before)
            self.fail('%s no longer loads with the include (`nft -c -f` said: %s), so the old files were put back. '
                      'The live ruleset has the rules; fix the configuration, or set persist: false.' % (conf, problem))
        if problem:
            self.module.warn('%s did not load before this run either (`nft -c -f` said: %s); the include was added '
                             'but the configuration could not be verified.' % (conf, problem))

    def config_loads(self, conf):
        """None if ``nft -c -f conf`` accepts the configuration, else nft's message."""
        rc, out, err = self.module.run_command([self.nft, '-c', '-f', conf])
        return None if rc == 0 else (err or out).strip()

    def write(self, path, content):
        if content is None:
            remove_file(path)
        elif path == self.params['nftables_conf']:
            atomic_write(self.module, path, content, mode=None)  # the user's file keeps its mode (executable on Debian)
        else:
            atomic_write(self.module, path, content)


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            mld=dict(type='bool', default=False),
            ipv6_rpf=dict(type='bool', default=False),
            pim=dict(type='bool', default=False),
            forward=dict(type='list', elements='dict', default=[], options=dict(
                group=dict(type='str', required=True),
                ports=dict(type='list', elements='str', default=[]),
            )),
            persist=dict(type='bool', default=True),
            include_file=dict(type='path', default='/etc/nftables.d/mcast-linux.nft'),
            nftables_conf=dict(type='path', default='/etc/nftables.conf'),
        ),
        supports_check_mode=True,
    )


def validate(module):
    """Check every option before anything is read or changed; return the parsed forward entries."""
    params = module.params
    if params['state'] == 'absent':
        given = [name for name in ('mld', 'ipv6_rpf', 'pim', 'forward') if params[name]]
        if given:
            module.fail_json(msg='state=absent removes every rule this module added; leave out %s.' % ', '.join(given))
    try:
        forward = parse_forward(params['forward'])
    except ValueError as error:
        module.fail_json(msg=str(error))
    if params['persist']:
        problem = include_file_problem(params)
        if problem:
            module.fail_json(msg=problem)
    return forward


def main():
    module = build_module()
    forward = validate(module)
    result = NftablesAcceptance(module, forward).run()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
