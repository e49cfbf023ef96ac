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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._rp_filter import ARGUMENT_SPEC, run


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
