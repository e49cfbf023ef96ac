#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: settings
short_description: Check and apply several multicast settings of a host in one module run
version_added: 0.2.0
description:
  - Runs the code of M(mcast.linux.link), M(mcast.linux.route), M(mcast.linux.rp_filter) and
    M(mcast.linux.nftables) in one module run, in that order. Each part takes exactly the options of
    its module and does exactly what that module does, in check mode and diff mode too; a part left
    out is not touched.
  - Why one run. Every module run costs the target a Python start and the compile of Ansible's module
    code, about as much as C(ansible -m ping); with four settings per host that cost is most of a role's
    time on a fleet. The roles mcast.linux.host and mcast.linux.router use this module, so their converge
    and the compliance playbook run one module per host for these settings instead of up to four.
  - The options of every part are checked before anything is read or changed. A part that fails while
    it applies stops the run; the parts before it stay applied and their results are returned in
    RV(parts), the parts after it do not run. The message names the part, such as
    C(routes[1] (mcast.linux.route)).
author:
  - mcast.linux developers (@mcast-linux)
extends_documentation_fragment:
  - mcast.linux.attributes
requirements:
  - pyroute2 (Debian and Ubuntu package C(python3-pyroute2)) on the target, for O(link) and O(routes).
options:
  link:
    description:
      - The options of M(mcast.linux.link) (the multicast flags of interfaces), as that module takes them.
    type: dict
  routes:
    description:
      - Each item the options of M(mcast.linux.route) (one multicast route), as that module takes them.
        The routes are applied in the order given.
    type: list
    elements: dict
    default: []
  rp_filter:
    description:
      - The options of M(mcast.linux.rp_filter) (reverse path filtering), as that module takes them.
    type: dict
  nftables:
    description:
      - The options of M(mcast.linux.nftables) (nftables acceptance of IGMP, MLD and PIM), as that module
        takes them.
    type: dict
notes:
  - Give at least one part. To undo a setting, give its part with the undoing option of its module, such
    as C(state=absent) in O(link) (M(mcast.linux.link)).
seealso:
  - module: mcast.linux.link
  - module: mcast.linux.route
  - module: mcast.linux.rp_filter
  - module: mcast.linux.nftables
'''

EXAMPLES = r'''
- name: Make eth0 a multicast host interface, in one module run
  become: true
  mcast.linux.settings:
    link:
      interfaces: [eth0]
    routes:
      - dest: 224.0.0.0/4
        dev: eth0
      - dest: ff0e::/16
        dev: eth0
    rp_filter:
      interfaces: [eth0]
      mode: loose
    nftables:
      mld: true
  register: host_settings

- name: Show what changed on eth0's flags
  ansible.builtin.debug:
    var: host_settings.parts.link.interfaces
'''

RETURN = r'''
parts:
  description:
    - The result of each part that ran, as its module returns it (C(changed), C(diff) and the module's
      own return values). A part left out, or not run because an earlier one failed, is absent.
  returned: always
  type: dict
  contains:
    link:
      description: The result of M(mcast.linux.link).
      returned: when O(link) is given and ran
      type: dict
    routes:
      description: The result of M(mcast.linux.route) for each item of O(routes), in order.
      returned: always
      type: list
      elements: dict
    rp_filter:
      description: The result of M(mcast.linux.rp_filter).
      returned: when O(rp_filter) is given and ran
      type: dict
    nftables:
      description: The result of M(mcast.linux.nftables).
      returned: when O(nftables) is given and ran
      type: dict
  sample:
    link: {changed: false, interfaces: {eth0: {before: {multicast: true, allmulti: false},
                                               after: {multicast: true, allmulti: false}}}}
    routes: [{changed: true, route: {dest: 224.0.0.0/4, dev: eth0, table: 254}}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils import _link, _nftables, _route, _rp_filter
from ansible_collections.mcast.linux.plugins.module_utils._parts import Part, PartFailed, run_parts

# Option, module code, module name, in the order of application: the flags before the routes (the
# kernel takes no multicast route through an interface without IFF_MULTICAST).
PARTS = (('link', _link, 'link'), ('routes', _route, 'route'), ('rp_filter', _rp_filter, 'rp_filter'),
         ('nftables', _nftables, 'nftables'))


def build_parts(module):
    parts = []
    for option, code, name in PARTS:
        value = module.params[option]
        items = value if option == 'routes' else ([] if value is None else [value])
        for index, options in enumerate(items):
            label = '%s (mcast.linux.%s)' % ('%s[%d]' % (option, index) if option == 'routes' else option, name)
            try:
                parts.append(Part(module, option, label, code, options))
            except PartFailed as error:
                module.fail_json(msg='%s: %s' % (label, error.msg))
    if not parts:
        module.fail_json(msg='Nothing to do: give at least one of link, routes, rp_filter and nftables.')
    return parts


def collect(results):
    """The module's result from the parts' results: each under its option, their diffs in order."""
    by_option = {'routes': []}
    diffs = []
    for part, result in results:
        if part.option == 'routes':
            by_option['routes'].append(result)
        else:
            by_option[part.option] = result
        diff = result.get('diff')
        diffs.extend(diff if isinstance(diff, list) else [diff] if diff else [])
    # Not "results": Ansible takes that key for a loop's results and renames it in a module's return.
    outcome = {'changed': any(result.get('changed') for _part, result in results), 'parts': by_option}
    if diffs:
        outcome['diff'] = diffs
    return outcome


def main():
    module = AnsibleModule(
        argument_spec=dict(
            link=dict(type='dict'),
            routes=dict(type='list', elements='dict', default=[]),
            rp_filter=dict(type='dict'),
            nftables=dict(type='dict'),
        ),
        supports_check_mode=True,
    )
    results, failure = run_parts(module, build_parts(module))
    outcome = collect(results)
    if failure:
        module.fail_json(msg=failure, **outcome)
    module.exit_json(**outcome)


if __name__ == '__main__':
    main()
