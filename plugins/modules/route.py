#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: route
short_description: Route multicast out of the right interface of a multi-homed host
version_added: 0.1.0
description:
  - Manages a dev-scoped route for a multicast prefix (C(224.0.0.0/4) or a narrower one, or an
    IPv6 prefix inside C(ff00::/8)) in the unicast routing table, such as
    C(ip route replace 224.0.0.0/4 dev eth1). Without it, a host with several interfaces sends
    multicast out of the interface of its default route.
  - A route is identified by O(dest), O(table) and O(metric). With O(state=present) a route with
    that identity that points elsewhere (another interface, or a gateway) is replaced.
  - A gateway (C(via)) for a multicast prefix is refused, because the kernel would put multicast
    packets into unicast frames addressed to the gateway, which receivers never see.
  - B(IPv6) prefixes go to table C(local) (255), the only place where the kernel takes them into
    account. Its rule 0 looks up table C(local) first, and that table holds a C(ff00::/8) multicast
    route of its own (protocol C(kernel), metric 256) for every interface, so an IPv6 multicast lookup
    never reaches table C(main). A route there would be ignored, so it is
    refused with this reason. A prefix longer than C(/8) wins over the kernel's routes by its length,
    C(ff00::/8) itself by its metric (the default V(255), and anything below 256). The kernel's own
    routes are never changed nor removed. Like any route, the kernel drops it when the interface
    goes down; the route keeper (O(persist)) adds it again.
  - IPv6 prefixes of interface-local and link-local scope (C(ff01::/16), C(ff02::/16) and the like)
    are refused. Their groups never leave the host or exist once per link, so the program names the
    interface (a scope ID such as C(ff02::fb%eth1), or C(IPV6_MULTICAST_IF)), not a route.
  - With O(persist=true) the route is also kept in a JSON routes file (O(routes_file)), and a small
    route keeper (O(keeper_file), Python standard library only) runs as the systemd service
    O(unit_file), enabled for C(multi-user.target). The keeper adds every route of the file whose
    interface exists and is up, at boot and whenever an interface appears, comes up again or loses
    the route (it listens to rtnetlink link and route events), so a route through a VLAN or port
    that comes up late, or an interface deleted and created again, comes back within a second,
    without udev and without running the module again.
  - A oneshot unit written by an older version of this module at O(unit_file) is migrated (its routes
    move to O(routes_file) and the unit is replaced by the keeper's).
author:
  - mcast.linux developers (@mcast-linux)
extends_documentation_fragment:
  - mcast.linux.attributes
requirements:
  - pyroute2 (Debian and Ubuntu package C(python3-pyroute2)) on the target.
options:
  dest:
    description:
      - The multicast prefix, inside C(224.0.0.0/4) or C(ff00::/8). An address without a length
        is one group (C(/32) or C(/128)).
    type: str
    default: 224.0.0.0/4
  dev:
    description:
      - The interface multicast for O(dest) leaves through. One exact name, not a pattern.
      - Required with O(state=present). With O(state=absent) only a route through this interface
        is removed; without it the route with this identity is removed whatever its interface.
    type: str
  via:
    description:
      - Not supported for multicast prefixes; the option exists so that a task copied from a
        unicast route fails with the reason instead of silently breaking multicast.
    type: str
  table:
    description:
      - Routing table. For IPv4, V(main) (the default), V(default) or a number from 1 to 4294967295
        other than 255 (C(local), which belongs to the kernel's own addresses).
      - For IPv6, V(local) (255), the default. With O(state=present) another table is refused, because
        the kernel would never use a route there (see the description). With O(state=absent) any table
        is accepted, to remove a route that an older version of this module put in table V(main).
    type: str
  metric:
    description:
      - Route priority (lower wins). Defaults to C(0) for IPv4 (the kernel's default, so that the route
        reads back the same) and to C(255) for IPv6, just below the metric 256 of the kernel's own
        C(ff00::/8) routes in table C(local).
      - For O(dest=ff00::/8) (IPv6) a metric of 256 or more is refused, because the kernel's own routes
        of that prefix would keep winning, and at 256 one of them would be replaced.
    type: int
  state:
    description:
      - V(present) makes sure the route exists, V(absent) that it does not.
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - Also keep the route in O(routes_file), so that the route keeper adds it again at boot and
        whenever its interface comes (back) up. With V(false) only the running kernel is changed and
        the files are left as they are.
      - When no route is left in O(routes_file), the routes file, the keeper script, the unit and its
        symlink are removed (and the service stopped).
    type: bool
    default: true
  routes_file:
    description:
      - The JSON list of persisted routes the module owns, read by the route keeper, one object per
        route with the keys C(dest), C(dev), C(table), C(metric) (numbers) and C(family) (C(4) or C(6)).
    type: path
    default: /etc/mcast-linux/routes.json
  keeper_file:
    description:
      - Where the module deploys the route keeper script, run by C(/usr/bin/python3) from the unit.
    type: path
    default: /usr/lib/mcast-linux/route_keeper.py
  unit_file:
    description:
      - The systemd unit of the route keeper (C(Type=notify), C(ExecReload) re-reads O(routes_file)).
        It is enabled by a symlink in the C(multi-user.target.wants) directory next to it.
    type: path
    default: /etc/systemd/system/mcast-linux-routes.service
  service_control:
    description:
      - V(auto) brings the running keeper in line with its files when systemd is the init system
        and O(unit_file) lies in C(/etc/systemd/system) or C(/run/systemd/system). It runs
        C(systemctl daemon-reload) after a unit change, C(restart) after a unit or keeper change,
        C(reload-or-restart) after a routes file change, C(start) when it is not running, and C(stop)
        before its files are removed.
      - V(never) only writes the files; the keeper starts at the next boot (or when you start it).
    type: str
    choices: [auto, never]
    default: auto
notes:
  - The kernel removes routes from an interface that goes down or is deleted. The route keeper adds
    them again as soon as the interface is up; while the interface is down or missing the route is
    simply not there (check mode and compliance report it only through the kernel state).
  - The keeper needs C(python3) (3.9 or newer) and C(ip) (iproute2) on the target, but not pyroute2
    nor udev, so it works in containers booting systemd. Its unit is hardened without mount
    namespaces (no C(ProtectSystem=)), which containers cannot create; it runs as root with only
    C(CAP_NET_ADMIN). Its log is in C(journalctl -u mcast-linux-routes).
seealso:
  - module: mcast.linux.link
  - module: mcast.linux.rp_filter
'''

EXAMPLES = r'''
- name: Send multicast out of eth1 on a host whose default route is on eth0
  mcast.linux.route:
    dev: eth1

- name: Only the video groups leave through the trunk, in table 100 with metric 10
  mcast.linux.route:
    dest: 239.10.0.0/16
    dev: trunk.10
    table: 100
    metric: 10

- name: IPv6 site-local multicast out of eth1 (the module puts it in table local, metric 255)
  mcast.linux.route:
    dest: ff05::/16
    dev: eth1

- name: All IPv6 multicast without a chosen interface leaves through eth1
  mcast.linux.route:
    dest: ff00::/8
    dev: eth1

- name: Remove an IPv6 route that an older version of this module left, ignored, in table main
  mcast.linux.route:
    dest: ff05::/16
    table: main
    metric: 1024
    state: absent

- name: Remove the route again, at once and from the routes the keeper keeps
  mcast.linux.route:
    dest: 239.10.0.0/16
    table: 100
    metric: 10
    state: absent
'''

RETURN = r'''
route:
  description:
    - The route the module manages (table and metric as numbers). An IPv6 route is in table 255
      (C(local)), with metric 255 unless O(metric) says otherwise.
  returned: always
  type: dict
  sample: {"dest": "224.0.0.0/4", "dev": "eth1", "table": 254, "metric": 0}
before:
  description:
    - Routes with the same destination, table and metric before the run. The kernel's own routes
      (protocol C(kernel)) of table C(local) are left out, since the module never manages them.
  returned: always
  type: list
  elements: dict
  sample: [{"dest": "224.0.0.0/4", "dev": "eth0", "gateway": "192.0.2.1", "table": 254, "metric": 0}]
after:
  description: Routes with the same destination, table and metric after the run (as planned in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"dest": "224.0.0.0/4", "dev": "eth1", "gateway": null, "table": 254, "metric": 0}]
persistence:
  description:
    - The persistence files that were (or, in check mode, would be) written or removed, including
      the C(multi-user.target.wants) symlink; and the C(systemctl) actions run (or planned) for the
      route keeper's unit.
  returned: always
  type: dict
  sample: {"files": ["/etc/mcast-linux/routes.json", "/usr/lib/mcast-linux/route_keeper.py",
           "/etc/systemd/system/mcast-linux-routes.service",
           "/etc/systemd/system/multi-user.target.wants/mcast-linux-routes.service"],
           "service": ["daemon-reload", "restart mcast-linux-routes.service"]}
  contains:
    files:
      description: Paths changed, in the order routes file, keeper, unit, symlink.
      type: list
      elements: str
    service:
      description: The C(systemctl) arguments, one action per item.
      type: list
      elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._route import ARGUMENT_SPEC, run


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
