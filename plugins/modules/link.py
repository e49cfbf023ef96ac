#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: link
short_description: Set the multicast flags (IFF_MULTICAST, IFF_ALLMULTI) of network interfaces
version_added: 0.1.0
description:
  - Makes sure the listed flags are set (O(state=present)) or cleared (O(state=absent)) on one or
    more interfaces, given by name or by pattern such as C(trunk.+). Flags that are
    not listed are left alone.
  - C(multicast) (IFF_MULTICAST) lets the interface send and join multicast at all; the kernel
    picks no interface without it for multicast routes and group joins.
    C(allmulti) (IFF_ALLMULTI) makes the interface receive every multicast frame, which a
    multicast router needs on interfaces where the NIC filters by group.
  - Talks to the kernel over netlink (pyroute2); returns each interface's flags before and after.
  - With O(persist=true) a udev rule in O(udev_rules_file) sets the same flags whenever a
    matching interface appears, at boot and when it is created later; patterns are kept as
    patterns, so interfaces created later that match get the flags too.
author:
  - mcast.linux developers (@mcast-linux)
extends_documentation_fragment:
  - mcast.linux.attributes
requirements:
  - pyroute2 (Debian and Ubuntu package C(python3-pyroute2)) on the target.
options:
  interfaces:
    description:
      - Interface names or patterns. A pattern ends with C(+) and matches every interface whose name
        begins with what stands before it (C(trunk.+) matches C(trunk.10) and C(trunk.20); C(+) alone
        matches every interface), the wildcard of smcroute, mcastd and the rest of this collection.
      - Shell wildcards (C(*), C(?), C([...])) are refused with the C(+) spelling to use.
      - A name or pattern that matches no interface is an error unless O(ignore_missing=true).
    type: list
    elements: str
    aliases: [name]
    required: true
  flags:
    description:
      - The flags to act on.
    type: list
    elements: str
    choices: [multicast, allmulti]
    default: [multicast]
  state:
    description:
      - V(present) sets the flags, V(absent) clears them.
    type: str
    choices: [present, absent]
    default: present
  ignore_missing:
    description:
      - Skip names and patterns that match no interface instead of failing; they are listed in
        RV(missing). With O(persist=true) they are still written to the udev rule, so the flags
        are set when such an interface appears.
    type: bool
    default: false
  persist:
    description:
      - Also write a udev rule so that the flags are set again after a reboot and on interfaces
        created later. With V(false) only the running kernel is changed.
    type: bool
    default: true
  udev_rules_file:
    description:
      - The udev rules file the module owns. It holds one rule per interface name or pattern and flag.
    type: path
    default: /etc/udev/rules.d/60-mcast-linux-link.rules
notes:
  - The persistent rule runs C(ip link set) from udev. Systems without udev (most containers)
    apply it only if something else runs the rules; there, apply the module again at start-up.
  - IFF_ALLMULTI is also set by the kernel while a multicast routing daemon uses the interface
    as a VIF. The module cannot clear it then and fails with that explanation.
seealso:
  - module: mcast.linux.rp_filter
  - module: mcast.linux.route
'''

EXAMPLES = r'''
- name: Make sure the VLAN subinterfaces of a router can do multicast and receive all groups
  mcast.linux.link:
    interfaces: ['trunk.+']
    flags: [multicast, allmulti]

- name: Multicast on the receiving interface of a host
  mcast.linux.link:
    interfaces: [eth1]

- name: Stop multicast on the management interface, only until the next reboot
  mcast.linux.link:
    interfaces: [mgmt0]
    state: absent
    persist: false

- name: Apply to the trunks that exist on this host, and to those created later
  mcast.linux.link:
    interfaces: ['trunk.1?', uplink0]
    ignore_missing: true
  register: flags

- name: Show the flags before and after
  ansible.builtin.debug:
    var: flags.interfaces
'''

RETURN = r'''
interfaces:
  description: The flags of each matched interface before and after the run.
  returned: always
  type: dict
  sample: {"trunk.10": {"before": {"multicast": false, "allmulti": false},
                        "after": {"multicast": true, "allmulti": false}}}
targets:
  description: The interfaces that O(interfaces) matched.
  returned: always
  type: list
  elements: str
  sample: ["trunk.10", "trunk.20"]
missing:
  description: Names and patterns that matched no interface (only with O(ignore_missing=true)).
  returned: always
  type: list
  elements: str
  sample: []
udev_rules_file:
  description: The udev rules file, and whether it was (or would be) changed.
  returned: always
  type: dict
  sample: {"path": "/etc/udev/rules.d/60-mcast-linux-link.rules", "changed": false}
'''

import re

from ansible.module_utils.basic import AnsibleModule

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


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            interfaces=dict(type='list', elements='str', aliases=['name'], required=True),
            flags=dict(type='list', elements='str', choices=list(FLAG_BITS), default=['multicast']),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            ignore_missing=dict(type='bool', default=False),
            persist=dict(type='bool', default=True),
            udev_rules_file=dict(type='path', default='/etc/udev/rules.d/60-mcast-linux-link.rules'),
        ),
        supports_check_mode=True,
    )


def validate(module):
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


def main():
    module = build_module()
    validate(module)
    require_pyroute2(module)
    result = Link(module).run()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
