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
    interfaces: ['trunk.+', uplink0]
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._link import ARGUMENT_SPEC, run


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
