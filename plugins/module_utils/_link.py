# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The code of mcast.linux.link: its options, their checks and the run (private to this collection).

The module file holds the documentation and main(); mcast.linux.settings runs the same code for its
``link`` part, in one module run with the others.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import re

from ansible_collections.mcast.linux.plugins.module_utils._files import atomic_write, file_diff, read_text, text_diff
from ansible_collections.mcast.linux.plugins.module_utils._netlink import (
    NetlinkError, check_interface_names, link_flags, link_summaries, open_iproute, require_pyroute2,
    resolve_interfaces, set_link_flags)
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import (
    IFF_ALLMULTI, IFF_MULTICAST, SHELL_WILDCARDS, WILDCARD, is_pattern)

FLAG_BITS = {'multicast': IFF_MULTICAST, 'allmulti': IFF_ALLMULTI}
# The words `ip link set` uses for each flag.
IP_LINK_WORDS = {'multicast': 'multicast', 'allmulti': 'allmulticast'}
UDEV_HEADER = ('# Managed by mcast.linux.link: multicast flags set whenever a matching interface appears.\n'
               '# Edits to the rule lines are overwritten by the module.\n')
UDEV_RULE = 'ACTION=="add", SUBSYSTEM=="net", KERNEL=="%s", RUN+="%s link set dev $name %s %s"'
UDEV_RULE_PATTERN = re.compile(
    r'^ACTION=="add", SUBSYSTEM=="net", KERNEL=="(?P<pattern>[^"]+)", '
    r'RUN\+="(?P<ip>\S+) link set dev \$name (?P<word>multicast|allmulticast) (?P<value>on|off)"$')


def flag_state(flags):
    """The module's view of ``ifi_flags``: ``{'multicast': bool, 'allmulti': bool}``."""
    return dict((name, bool(flags & bit)) for name, bit in FLAG_BITS.items())


def plan_flags(current_flags, wanted_flags, state):
    """Return ``(new_flags, mask)`` for one interface; mask 0 means nothing to change."""
    mask = 0
    for name in wanted_flags:
        bit = FLAG_BITS[name]
        if bool(current_flags & bit) != (state == 'present'):
            mask |= bit
    new_flags = current_flags ^ mask
    return new_flags, mask


def udev_glob(pattern):
    """udev's KERNEL match for a name or pattern: ``trunk.+`` -> ``trunk.*`` (udev matches shell globs)."""
    return pattern[:-1] + '*' if is_pattern(pattern) else pattern


def from_udev_glob(glob):
    """The module's pattern for a KERNEL match it wrote: ``trunk.*`` -> ``trunk.+``.

    Anything else (a glob written by an earlier release, such as ``eth[01]``) is kept as it is, so a
    rule the module no longer writes is still rendered unchanged.
    """
    if glob.endswith('*') and not SHELL_WILDCARDS.intersection(glob[:-1]):
        return glob[:-1] + WILDCARD
    return glob


def parse_udev_rules(text):
    """Map ``(pattern, flag)`` to ``'on'``/``'off'`` for the rule lines this module writes."""
    rules = {}
    words = dict((word, flag) for flag, word in IP_LINK_WORDS.items())
    for line in (text or '').splitlines():
        match = UDEV_RULE_PATTERN.match(line.strip())
        if match:
            rules[(from_udev_glob(match.group('pattern')), words[match.group('word')])] = match.group('value')
    return rules


def render_udev_rules(rules, ip_path):
    """The whole rules file for ``{(pattern, flag): 'on'|'off'}``, sorted so output is stable."""
    lines = [UDEV_RULE % (udev_glob(pattern), ip_path, IP_LINK_WORDS[flag], value)
             for (pattern, flag), value in sorted(rules.items())]
    return UDEV_HEADER + ''.join(line + '\n' for line in lines)


def describe_flags(name, state):
    return '%s: %s' % (name, ' '.join('%s=%s' % (flag, 'on' if on else 'off') for flag, on in sorted(state.items())))


class Link(object):
    """Read the flags, plan, then set them (outside check mode) and keep the udev rule."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = {'changed': False, 'interfaces': {}, 'targets': [], 'missing': [],
                       'udev_rules_file': {'path': self.params['udev_rules_file'], 'changed': False}}
        self.diff = []

    def run(self):
        links = link_summaries()
        names = [link['name'] for link in links]
        targets, missing = resolve_interfaces(self.module, self.params['interfaces'], names,
                                              self.params['ignore_missing'])
        self.result['targets'], self.result['missing'] = targets, missing
        plans = self.plan_links([link for link in links if link['name'] in targets])
        file_text, new_file_text = self.plan_rules()
        # Reported from the plan, so check mode says what a real run would change.
        self.result['udev_rules_file']['changed'] = new_file_text is not None
        self.result['changed'] = any(plan['mask'] for plan in plans) or new_file_text is not None
        self.describe(plans, file_text, new_file_text)
        if not self.module.check_mode:
            self.apply_links([plan for plan in plans if plan['mask']])
            if new_file_text is not None:
                atomic_write(self.module, self.params['udev_rules_file'], new_file_text)
        if self.module._diff:
            self.result['diff'] = self.diff
        return self.result

    def plan_links(self, links):
        plans = []
        for link in links:
            new_flags, mask = plan_flags(link['flags'], self.params['flags'], self.params['state'])
            plans.append(dict(link, new_flags=new_flags, mask=mask))
            self.result['interfaces'][link['name']] = {'before': flag_state(link['flags']),
                                                       'after': flag_state(new_flags)}
        return plans

    def plan_rules(self):
        """Return ``(current_text, new_text)``; new_text is None when the rules file needs no change."""
        if not self.params['persist']:
            return None, None
        path = self.params['udev_rules_file']
        current = read_text(path)
        rules = parse_udev_rules(current)
        value = 'on' if self.params['state'] == 'present' else 'off'
        wanted = dict(((pattern, flag), value) for pattern in self.params['interfaces'] for flag in self.params['flags'])
        if all(rules.get(key) == wanted_value for key, wanted_value in wanted.items()) and current is not None:
            return current, None
        ip_path = self.module.get_bin_path('ip')
        if ip_path is None:
            self.module.fail_json(msg="the udev rule runs 'ip', which is not installed: install iproute2, "
                                      "or use persist: false.")
        rules.update(wanted)
        return current, render_udev_rules(rules, ip_path)

    def describe(self, plans, file_text, new_file_text):
        changed = [plan for plan in plans if plan['mask']]
        if changed:
            self.diff.append(text_diff('interface flags (running kernel)',
                                       [describe_flags(plan['name'], flag_state(plan['flags'])) for plan in changed],
                                       [describe_flags(plan['name'], flag_state(plan['new_flags'])) for plan in changed]))
        if new_file_text is not None:
            self.diff.append(file_diff(self.params['udev_rules_file'], file_text, new_file_text))

    def apply_links(self, plans):
        """Set the planned flags; netlink (and pyroute2's import) only when a flag changes."""
        if not plans:
            return
        with open_iproute() as ipr:
            for plan in plans:
                try:
                    set_link_flags(ipr, plan['index'], plan['new_flags'], plan['mask'])
                except NetlinkError as error:
                    self.module.fail_json(msg='setting the flags of %s failed: %s. Run as root (become: true).'
                                              % (plan['name'], error), **self.result)
                actual = link_flags(ipr, plan['index'])
                if (actual ^ plan['new_flags']) & plan['mask']:
                    self.module.fail_json(msg=self.stuck_flag_message(plan['name'], actual, plan['new_flags']),
                                          **self.result)

    @staticmethod
    def stuck_flag_message(name, actual, wanted):
        if (actual & IFF_ALLMULTI) and not (wanted & IFF_ALLMULTI):
            return ('the kernel keeps IFF_ALLMULTI on %s: a multicast routing daemon (mcastd, smcroute, pimd) uses it '
                    'as a VIF, or another program asked for all-multicast. Remove the interface from the daemon '
                    'first, or leave allmulti out of flags.' % name)
        return 'the kernel did not apply the flags on %s (now %s); the driver may not support them.' % (
            name, describe_flags(name, flag_state(actual)))


ARGUMENT_SPEC = dict(
    interfaces=dict(type='list', elements='str', aliases=['name'], required=True),
    flags=dict(type='list', elements='str', choices=list(FLAG_BITS), default=['multicast']),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    ignore_missing=dict(type='bool', default=False),
    persist=dict(type='bool', default=True),
    udev_rules_file=dict(type='path', default='/etc/udev/rules.d/60-mcast-linux-link.rules'),
)


def validate(module):
    """Check every option (and that pyroute2 is there) before anything is read or changed."""
    params = module.params
    if not params['interfaces']:
        module.fail_json(msg="interfaces is empty: list interface names or patterns such as 'trunk.+'.")
    if not params['flags']:
        module.fail_json(msg='flags is empty: list multicast, allmulti or both.')
    check_interface_names(module, params['interfaces'])
    quoted = [name for name in params['interfaces'] if '"' in name]
    if quoted:
        module.fail_json(msg="'%s' cannot be written into a udev rule (it holds a double quote); rename the "
                             "interface or use persist: false." % quoted[0])
    require_pyroute2(module)


def apply(module, _validated):
    """Read, plan and (outside check mode) apply options that validate() accepted; the module's result."""
    return Link(module).run()


def run(module):
    """Check the options, then read, plan and (outside check mode) apply; the module's result."""
    return apply(module, validate(module))
