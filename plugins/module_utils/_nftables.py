# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The code of mcast.linux.nftables: its options, their checks and the run (private to this collection).

The module file holds the documentation and main(); mcast.linux.settings runs the same code for its
``nftables`` part, in one module run with the others.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os

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


ARGUMENT_SPEC = dict(
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


def apply(module, forward):
    """Read, plan and (outside check mode) apply options that validate() accepted; the module's result."""
    return NftablesAcceptance(module, forward).run()


def run(module):
    """Check the options, then read, plan and (outside check mode) apply; the module's result."""
    return apply(module, validate(module))
