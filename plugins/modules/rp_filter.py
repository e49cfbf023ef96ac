#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: rp_filter
short_description: Set the effective IPv4 reverse path filter mode of interfaces
version_added: 0.1.0
description:
  - Makes the kernel apply the requested reverse path filter (C(rp_filter)) mode to the given
    interfaces. Strict or loose filtering silently drops multicast from sources that have no
    unicast route back through the input interface, which is the most common reason a router
    does not forward a stream.
  - The kernel applies C(max(conf/all/rp_filter, conf/IFACE/rp_filter)), where C(0) is off,
    C(1) strict and C(2) loose. The module works with that effective value. To turn one
    interface off while C(conf/all) is strict, it lowers C(conf/all) and raises the own value of
    every other interface (and of C(conf/default)) that relied on C(conf/all), so no other
    interface's effective mode changes.
  - Each target interface gets its own value set to the requested mode, so the mode stays in
    effect when C(conf/all) is lowered later.
  - Interface names containing dots, such as C(trunk.10), work; they are written in the slash
    form C(net/ipv4/conf/trunk.10/rp_filter).
  - With O(persist=true) the values are also written to the sysctl.d drop-in O(sysctl_file).
    systemd-sysctl applies it at boot, and udev applies the per-interface keys when an
    interface appears later. Keys the module writes are updated in place; other lines are kept.
author:
  - mcast.linux developers (@mcast-linux)
extends_documentation_fragment:
  - mcast.linux.attributes
options:
  interfaces:
    description:
      - Interfaces to set to O(mode). Names or patterns such as C(trunk.+). A pattern ends with C(+) and
        matches every interface whose name begins with what stands before it (the collection's one wildcard,
        as in smcroute and mcastd). Shell wildcards (C(*), C(?), C([...])) are refused with the C(+) spelling to use.
      - A name or pattern that matches no interface is an error unless O(ignore_missing=true).
      - C(all) and C(default) are not interfaces; use the pattern C(+) for every current
        interface and O(default) for interfaces created later.
    type: list
    elements: str
    aliases: [name]
    default: []
  mode:
    description:
      - Effective mode wanted on O(interfaces). C(off) accepts any source, C(loose) accepts a
        source reachable through any interface, C(strict) only through the input interface.
      - Required when O(interfaces) is given.
    type: str
    choices: ['off', loose, strict]
  default:
    description:
      - Effective mode for interfaces created later (C(conf/default/rp_filter), combined with
        C(conf/all)). When not given, the mode that new interfaces would get today is kept.
    type: str
    choices: ['off', loose, strict]
  ignore_missing:
    description:
      - Skip names and patterns that match no interface instead of failing. They are listed in
        RV(missing).
    type: bool
    default: false
  persist:
    description:
      - Also write the values to O(sysctl_file) so that they survive a reboot.
      - With V(false) only the running kernel is changed and the file is left as it is.
    type: bool
    default: true
  sysctl_file:
    description:
      - The sysctl.d drop-in that holds the persistent values.
    type: path
    default: /etc/sysctl.d/60-mcast-linux.conf
notes:
  - Only IPv4 has C(rp_filter); IPv6 reverse path filtering is done by the firewall.
  - Lowering C(conf/all) also affects interfaces created later; the module raises
    C(conf/default) when needed so they keep the mode they would have had.
seealso:
  - name: Kernel documentation of rp_filter
    description: ip-sysctl, the meaning of the values and the max() rule.
    link: https://docs.kernel.org/networking/ip-sysctl.html
  - module: mcast.linux.link
  - module: mcast.linux.route
'''

EXAMPLES = r'''
- name: Accept multicast from any source on the VLAN trunks of a router
  mcast.linux.rp_filter:
    interfaces: ['trunk.+']
    mode: 'off'

- name: Loose filtering on the upstream interface, only in the running kernel
  mcast.linux.rp_filter:
    interfaces: [eth0]
    mode: loose
    persist: false

- name: Interfaces created later get loose filtering
  mcast.linux.rp_filter:
    default: loose

- name: Preview what would change
  mcast.linux.rp_filter:
    interfaces: [trunk.10, trunk.20]
    mode: 'off'
  check_mode: true
  diff: true
  register: rpf

- name: Show the effective modes that would result
  ansible.builtin.debug:
    var: rpf.interfaces
'''

RETURN = r'''
interfaces:
  description: Effective mode of every interface before and after the run.
  returned: always
  type: dict
  sample: {"lo": {"before": "off", "after": "off"}, "trunk.10": {"before": "strict", "after": "off"},
           "trunk.20": {"before": "strict", "after": "strict"}}
default:
  description: Effective mode that an interface created later gets, before and after the run.
  returned: always
  type: dict
  sample: {"before": "loose", "after": "loose"}
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
changes:
  description: Kernel values written (or that would be written in check mode), in the order applied.
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: The key in slash form.
      type: str
      sample: net/ipv4/conf/trunk.10/rp_filter
    before:
      description: Value before.
      type: int
      sample: 1
    after:
      description: Value after.
      type: int
      sample: 0
sysctl_file:
  description: The drop-in file, and whether it was (or would be) changed.
  returned: always
  type: dict
  sample: {"path": "/etc/sysctl.d/60-mcast-linux.conf", "changed": true}
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._files import atomic_write, file_diff, read_text, text_diff
from ansible_collections.mcast.linux.plugins.module_utils._netlink import check_interface_names, resolve_interfaces
from ansible_collections.mcast.linux.plugins.module_utils._sysctl import (
    CONF_PSEUDO_INTERFACES, RP_FILTER_MODES, RP_FILTER_NAMES, conf_interfaces, conf_key,
    effective_rp_filter, parse_dropin, proc_path, read_value, render_dropin, write_value)

# conf/default behaves like an interface that does not exist yet: the planner treats it as one.
DEFAULT = 'default'
ALL = 'all'


def plan_rp_filter(all_value, own_values, targets):
    """Plan the new conf/all and own values so that ``targets`` get their effective modes.

    ``own_values`` maps every interface (and ``default``) to its own rp_filter value, and
    ``targets`` maps the interfaces to change to the wanted value. Returns ``(new_all, new_own)``.
    conf/all is only ever lowered, just enough for the lowest target; every interface that is not
    a target keeps its effective value, raising its own value where it relied on conf/all.
    """
    new_all = min([all_value] + list(targets.values()))
    new_own = {}
    for name, own in own_values.items():
        before = effective_rp_filter(all_value, own)
        if name in targets:
            new_own[name] = targets[name]
        elif effective_rp_filter(new_all, own) == before:
            new_own[name] = own
        else:
            new_own[name] = before
    return new_all, new_own


def ordered_changes(all_value, own_values, new_all, new_own):
    """The kernel writes as ``[{key, before, after}]``: raises first, conf/all last.

    Raising before lowering means no interface is ever filtered less than planned, not even for
    the moment between two writes.
    """
    changes = [{'key': conf_key(name, 'rp_filter'), 'before': own_values[name], 'after': new_own[name]}
               for name in own_values if new_own[name] != own_values[name]]
    changes.sort(key=lambda change: change['after'] < change['before'])
    if new_all != all_value:
        changes.append({'key': conf_key(ALL, 'rp_filter'), 'before': all_value, 'after': new_all})
    return changes


def persistent_values(new_all, new_own, targets, changes):
    """Keys the drop-in must hold: conf/all, the targets and every value this run changes."""
    values = {conf_key(ALL, 'rp_filter'): new_all}
    for name in targets:
        values[conf_key(name, 'rp_filter')] = new_own[name]
    for change in changes:
        values[change['key']] = change['after']
    return values


class RpFilter(object):
    """Read the rp_filter values, plan the effective modes, then write them (outside check mode)."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = {'changed': False, 'targets': [], 'missing': [], 'changes': [],
                       'interfaces': {}, 'default': {},
                       'sysctl_file': {'path': self.params['sysctl_file'], 'changed': False}}
        self.diff = []

    def run(self):
        interfaces = conf_interfaces()
        targets = self.targets(interfaces)
        all_value = int(read_value(conf_key(ALL, 'rp_filter')))
        own_values = dict((name, int(read_value(conf_key(name, 'rp_filter')))) for name in interfaces + [DEFAULT])
        new_all, new_own = plan_rp_filter(all_value, own_values, targets)
        changes = ordered_changes(all_value, own_values, new_all, new_own)
        self.report_modes(all_value, own_values, new_all, new_own)
        self.result['changes'] = changes
        file_text, new_file_text = self.plan_file(persistent_values(new_all, new_own, targets, changes))
        self.check_writable(changes, new_file_text is not None)
        # Reported from the plan, so check mode says what a real run would change.
        self.result['sysctl_file']['changed'] = new_file_text is not None
        self.result['changed'] = bool(changes) or new_file_text is not None
        if changes:
            self.diff.append(text_diff('rp_filter (running kernel)',
                                       ['%s = %d' % (change['key'], change['before']) for change in changes],
                                       ['%s = %d' % (change['key'], change['after']) for change in changes]))
        if new_file_text is not None:
            self.diff.append(file_diff(self.params['sysctl_file'], file_text, new_file_text))
        if not self.module.check_mode:
            self.apply(changes, new_file_text)
        if self.module._diff:
            self.result['diff'] = self.diff
        return self.result

    def targets(self, interfaces):
        """Map each interface matched by the options (and ``default``) to its wanted value."""
        names = self.params['interfaces']
        pseudo = [name for name in names if name in CONF_PSEUDO_INTERFACES]
        if pseudo:
            self.module.fail_json(
                msg="'%s' is not an interface name: use interfaces: ['+'] for every current interface and "
                    "the option default for interfaces created later." % pseudo[0])
        matched, missing = resolve_interfaces(self.module, names, interfaces, self.params['ignore_missing'])
        self.result['targets'] = matched
        self.result['missing'] = missing
        targets = dict((name, RP_FILTER_MODES[self.params['mode']]) for name in matched)
        if self.params['default'] is not None:
            targets[DEFAULT] = RP_FILTER_MODES[self.params['default']]
        return targets

    def report_modes(self, all_value, own_values, new_all, new_own):
        modes = {}
        for name in own_values:
            modes[name] = {'before': RP_FILTER_NAMES[effective_rp_filter(all_value, own_values[name])],
                           'after': RP_FILTER_NAMES[effective_rp_filter(new_all, new_own[name])]}
        self.result['default'] = modes.pop(DEFAULT)
        self.result['interfaces'] = modes

    def plan_file(self, values):
        """Return ``(current_text, new_text)``; new_text is None when the file needs no change."""
        if not self.params['persist']:
            return None, None
        path = self.params['sysctl_file']
        if os.path.isdir(path):
            self.module.fail_json(msg="sysctl_file '%s' is a directory; give the path of a file such as "
                                      "/etc/sysctl.d/60-mcast-linux.conf." % path)
        current = read_text(path)
        persisted = parse_dropin(current)
        if all(persisted.get(key) == str(value) for key, value in values.items()):
            return current, None
        return current, render_dropin(current, values)

    def check_writable(self, changes, file_changes):
        """Fail before writing anything when a value or the drop-in directory cannot be written."""
        if self.module.check_mode:
            return
        for change in changes:
            if not os.access(proc_path(change['key']), os.W_OK):
                self.module.fail_json(
                    msg="%s is not writable (read-only /proc/sys, or not root?). Run as root with become: true; "
                        "in a container, /proc/sys/net must be mounted read-write." % proc_path(change['key']))
        directory = os.path.dirname(os.path.abspath(self.params['sysctl_file']))
        if file_changes and os.path.isdir(directory) and not os.access(directory, os.W_OK):
            self.module.fail_json(msg="cannot write into %s: run as root with become: true, or choose another "
                                      "sysctl_file." % directory)

    def apply(self, changes, new_file_text):
        for change in changes:
            try:
                write_value(change['key'], change['after'])
            except OSError as error:
                self.module.fail_json(msg='writing %s failed: %s' % (proc_path(change['key']), error), **self.result)
        if new_file_text is not None:
            atomic_write(self.module, self.params['sysctl_file'], new_file_text)


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            interfaces=dict(type='list', elements='str', aliases=['name'], default=[]),
            mode=dict(type='str', choices=list(RP_FILTER_MODES)),
            default=dict(type='str', choices=list(RP_FILTER_MODES)),
            ignore_missing=dict(type='bool', default=False),
            persist=dict(type='bool', default=True),
            sysctl_file=dict(type='path', default='/etc/sysctl.d/60-mcast-linux.conf'),
        ),
        supports_check_mode=True,
    )


def validate(module):
    params = module.params
    if params['interfaces'] and params['mode'] is None:
        module.fail_json(msg="interfaces needs mode: add mode: 'off', loose or strict (quote 'off' in YAML).")
    if params['mode'] is not None and not params['interfaces']:
        module.fail_json(msg="mode needs interfaces: list the interfaces (or patterns such as 'trunk.+') to set to %s."
                             % params['mode'])
    if not params['interfaces'] and params['default'] is None:
        module.fail_json(msg='Nothing to do: give interfaces and mode, or default (the mode for interfaces created later).')
    check_interface_names(module, params['interfaces'])


def main():
    module = build_module()
    validate(module)
    result = RpFilter(module).run()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
