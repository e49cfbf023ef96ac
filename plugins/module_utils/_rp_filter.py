# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The code of mcast.linux.rp_filter: its options, their checks and the run (private to this collection).

The module file holds the documentation and main(); mcast.linux.settings runs the same code for its
``rp_filter`` part, in one module run with the others.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os

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


ARGUMENT_SPEC = dict(
    interfaces=dict(type='list', elements='str', aliases=['name'], default=[]),
    mode=dict(type='str', choices=list(RP_FILTER_MODES)),
    default=dict(type='str', choices=list(RP_FILTER_MODES)),
    ignore_missing=dict(type='bool', default=False),
    persist=dict(type='bool', default=True),
    sysctl_file=dict(type='path', default='/etc/sysctl.d/60-mcast-linux.conf'),
)


def validate(module):
    """Check every option before anything is read or changed."""
    params = module.params
    if params['interfaces'] and params['mode'] is None:
        module.fail_json(msg="interfaces needs mode: add mode: 'off', loose or strict (quote 'off' in YAML).")
    if params['mode'] is not None and not params['interfaces']:
        module.fail_json(msg="mode needs interfaces: list the interfaces (or patterns such as 'trunk.+') to set to %s."
                             % params['mode'])
    if not params['interfaces'] and params['default'] is None:
        module.fail_json(msg='Nothing to do: give interfaces and mode, or default (the mode for interfaces created later).')
    check_interface_names(module, params['interfaces'])


def apply(module, _validated):
    """Read, plan and (outside check mode) apply options that validate() accepted; the module's result."""
    return RpFilter(module).run()


def run(module):
    """Check the options, then read, plan and (outside check mode) apply; the module's result."""
    return apply(module, validate(module))
