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
  - Runs the code of M(mcast.linux.facts), M(mcast.linux.link), M(mcast.linux.route),
    M(mcast.linux.rp_filter) and M(mcast.linux.nftables) in one module run, in that order. Each part
    takes exactly the options of its module and does exactly what that module does, in check mode and
    diff mode too; a part left out is not touched.
  - With O(requires), the facts are gathered first and the settings are applied only where the host
    meets the requirements (Python, installed packages and their versions); where it does not,
    nothing is changed and RV(requirements) says why. The roles check the platform and apply their
    settings this way in one module run, and install what is missing and run again only where
    something is.
  - Why one run. Every module run costs the target a Python start and the compile of Ansible's module
    code, about as much as C(ansible -m ping); with four settings per host that cost is most of a role's
    time on a fleet. The roles mcast.linux.host and mcast.linux.router use this module, so their converge
    and the compliance playbook run one module per host for the platform check and these settings
    instead of up to five.
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
  facts:
    description:
      - The options of M(mcast.linux.facts), as that module takes them. The facts are gathered before
        any setting is applied and returned as that module returns them (RV(ansible_facts)).
    type: dict
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
  requires:
    description:
      - What the host must have before any setting is applied. It is checked against the facts of
        O(facts), which must include C(platform) in its C(gather_subset); the packages named here are
        added to its query.
      - When the host does not meet it, the settings are not applied, the module reports no change
        and RV(requirements) lists why.
    type: dict
    suboptions:
      python:
        description: The oldest version of the Python that runs the module, such as C(3.9).
        type: str
      packages:
        description:
          - The packages that must be installed, per OS family as C(ansible_facts.os_family) names it
            (C(Debian), C(RedHat), ...); the key C(*) gives those of any other family. On a family
            with neither, the requirement is not met.
        type: dict
      min_versions:
        description:
          - The oldest version of a package, by name, checked where it is installed (epoch and
            packaging revision left out, as in C(1:0.7.2-2) read as C(0.7.2)).
        type: dict
notes:
  - Give at least one part. To undo a setting, give its part with the undoing option of its module, such
    as C(state=absent) in O(link) (M(mcast.linux.link)).
seealso:
  - module: mcast.linux.facts
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

- name: Set eth0's flags only where pyroute2 and nftables are installed, and learn the platform either way
  become: true
  mcast.linux.settings:
    facts:
      gather_subset: [platform]
    link:
      interfaces: [eth0]
    requires:
      python: "3.9"
      packages:
        Debian: [python3-pyroute2, nftables]
        RedHat: [python3-pyroute2, nftables]
      min_versions:
        python3-pyroute2: 0.5.14
  register: host_settings

- name: Name what is missing
  ansible.builtin.debug:
    msg: "Not applied: {{ host_settings.requirements.unmet | join('; ') }}"
  when: not host_settings.requirements.met
'''

RETURN = r'''
ansible_facts:
  description: The facts of O(facts), as M(mcast.linux.facts) returns them.
  returned: when O(facts) is given
  type: dict
  sample: {os_family: Debian, distribution: Debian, distribution_version: "12.11"}
check_mode:
  description:
    - Whether the module ran in check mode. A role can tell from it whether its tasks run in check mode,
      as C(ansible_check_mode) is only true with C(--check), not under the C(check_mode) keyword of a
      play, block or task (as in the compliance playbook).
  returned: always
  type: bool
  sample: false
requirements:
  description: Whether the host meets O(requires), and why not.
  returned: when O(requires) is given and the facts were gathered
  type: dict
  contains:
    met:
      description: The host meets O(requires); the settings were applied.
      type: bool
      returned: always
    unmet:
      description: Each requirement the host does not meet, in words.
      type: list
      elements: str
      returned: always
      sample: ["not installed: nftables, python3-pyroute2"]
    missing:
      description:
        - The packages of O(requires.packages) for this host's OS family that the package database
          lists as not installed (empty where it did not answer).
      type: list
      elements: str
      returned: always
      sample: [nftables, python3-pyroute2]
parts:
  description:
    - The result of each part that ran, as its module returns it (C(changed), C(diff) and the module's
      own return values). A part left out, or not run because an earlier one failed, is absent.
  returned: always
  type: dict
  contains:
    facts:
      description:
        - The result of M(mcast.linux.facts) but its C(ansible_facts), which are returned at the top
          (such as C(packages) and C(packages_checked)).
      returned: when O(facts) is given and ran
      type: dict
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

from ansible_collections.mcast.linux.plugins.module_utils import _facts, _link, _nftables, _route, _rp_filter
from ansible_collections.mcast.linux.plugins.module_utils._parts import Part, PartFailed, apply_parts, validate_parts
from ansible_collections.mcast.linux.plugins.module_utils._platform import missing_packages, unmet_requirements

# In the order they run: the facts first, so they tell the state the other parts start from.
PARTS = (('facts', _facts, 'facts'), ('link', _link, 'link'), ('routes', _route, 'route'),
         ('rp_filter', _rp_filter, 'rp_filter'), ('nftables', _nftables, 'nftables'))
SETTINGS = 'link, routes, rp_filter and nftables'


def part_options(module, option, value):
    """The options a part gets: as given, except that the facts part also queries the packages that
    O(requires) names (they are only known installed if the query asks about them)."""
    requires = module.params['requires']
    if option != 'facts' or not requires:
        return value
    names = set((value or {}).get('packages') or [])
    for wanted in (requires.get('packages') or {}).values():
        names.update(wanted or [])
    names.update(requires.get('min_versions') or {})
    return dict(value or {}, packages=sorted(names))


def build_parts(module):
    parts = []
    for option, code, name in PARTS:
        value = module.params[option]
        items = value if option == 'routes' else ([] if value is None else [part_options(module, option, value)])
        for index, options in enumerate(items):
            label = '%s (mcast.linux.%s)' % ('%s[%d]' % (option, index) if option == 'routes' else option, name)
            try:
                parts.append(Part(module, option, label, code, options))
            except PartFailed as error:
                module.fail_json(msg='%s: %s' % (label, error.msg))
    if not parts:
        module.fail_json(msg='Nothing to do: give at least one of facts, %s.' % SETTINGS)
    if module.params['requires'] and not (parts[0].option == 'facts'
                                          and 'platform' in parts[0].params['gather_subset']):
        module.fail_json(msg='requires is checked against the platform facts: give facts with platform in its '
                         'gather_subset, or leave requires out.')
    return parts


def collect(results):
    """The module's result from the parts' results: each under its option, their diffs in order; the facts
    part's ansible_facts at the top, where Ansible takes them."""
    by_option = {'routes': []}
    diffs = []
    outcome = {}
    for part, result in results:
        if part.option == 'routes':
            by_option['routes'].append(result)
        elif part.option == 'facts':
            result = dict(result)
            outcome['ansible_facts'] = result.pop('ansible_facts')
            by_option['facts'] = result
        else:
            by_option[part.option] = result
        diff = result.get('diff')
        diffs.extend(diff if isinstance(diff, list) else [diff] if diff else [])
    # Not "results": Ansible takes that key for a loop's results and renames it in a module's return.
    outcome.update(changed=any(result.get('changed') for _part, result in results), parts=by_option)
    if diffs:
        outcome['diff'] = diffs
    return outcome


def run(module, parts):
    """``(results, failure, unmet)``: the facts part first; the settings only when O(requires) is met."""
    validated, failure = validate_parts(parts)
    if failure:
        return [], failure, None
    requires = module.params['requires']
    if not requires:
        results, failure = apply_parts(parts, validated)
        return results, failure, None
    results, failure = apply_parts(parts[:1], validated[:1])
    if failure:
        return results, failure, None
    facts = results[0][1]
    unmet = unmet_requirements(requires, facts['ansible_facts'], facts)
    if unmet:
        return results, None, unmet
    more, failure = apply_parts(parts[1:], validated[1:])
    return results + more, failure, unmet


def main():
    module = AnsibleModule(
        argument_spec=dict(
            facts=dict(type='dict'),
            link=dict(type='dict'),
            routes=dict(type='list', elements='dict', default=[]),
            rp_filter=dict(type='dict'),
            nftables=dict(type='dict'),
            requires=dict(type='dict', options=dict(
                python=dict(type='str'),
                packages=dict(type='dict'),
                min_versions=dict(type='dict'),
            )),
        ),
        supports_check_mode=True,
    )
    results, failure, unmet = run(module, build_parts(module))
    outcome = collect(results)
    outcome['check_mode'] = module.check_mode
    if unmet is not None:
        outcome['requirements'] = {'met': not unmet, 'unmet': unmet,
                                   'missing': missing_packages(module.params['requires'], results[0][1])}
    if failure:
        module.fail_json(msg=failure, **outcome)
    module.exit_json(**outcome)


if __name__ == '__main__':
    main()
