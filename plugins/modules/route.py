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
  - With O(persist=true) the route is also written to a systemd oneshot unit (O(unit_file)),
    enabled for C(multi-user.target), which re-adds the module's routes at boot after
    C(network-online.target).
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
      - Routing table, V(main), V(default) or a number from 1 to 4294967295 other than 255 (C(local)).
    type: str
    default: main
  metric:
    description:
      - Route priority (lower wins). Defaults to the kernel's default for the family, C(0) for
        IPv4 and C(1024) for IPv6, so that the route reads back the same.
    type: int
  state:
    description:
      - V(present) makes sure the route exists, V(absent) that it does not.
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - Also keep the route in O(unit_file) so that it is re-added at boot. With V(false) only the
        running kernel is changed and the unit is left as it is.
    type: bool
    default: true
  unit_file:
    description:
      - The systemd unit the module owns. It is enabled by a symlink in the
        C(multi-user.target.wants) directory next to it, and removed with the symlink when it
        holds no route any more.
    type: path
    default: /etc/systemd/system/mcast-linux-routes.service
notes:
  - The kernel removes routes from an interface that goes down. The unit re-adds them at boot;
    for an interface that goes down and up while the system runs, run the module again or add
    the route to the interface's own network configuration as well.
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

- name: IPv6 site-local multicast out of eth1
  mcast.linux.route:
    dest: ff05::/16
    dev: eth1

- name: Remove the route again, at once and from the boot unit
  mcast.linux.route:
    dest: 239.10.0.0/16
    table: 100
    metric: 10
    state: absent
'''

RETURN = r'''
route:
  description: The route the module manages (table and metric as numbers).
  returned: always
  type: dict
  sample: {"dest": "224.0.0.0/4", "dev": "eth1", "table": 254, "metric": 0}
before:
  description: Routes with the same destination, table and metric before the run.
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
unit_file:
  description: The boot unit, and whether it was (or would be) changed.
  returned: always
  type: dict
  sample: {"path": "/etc/systemd/system/mcast-linux-routes.service", "changed": true}
'''

import ipaddress
import os
import re
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._files import (
    atomic_write, file_diff, read_text, remove_file, text_diff)
from ansible_collections.mcast.linux.plugins.module_utils._netlink import (
    IFF_MULTICAST, IFF_UP, NetlinkError, interface_not_found_message, invalid_name_message, is_pattern,
    link_summaries, open_iproute, require_pyroute2, route_summaries)

MULTICAST_NETWORKS = {4: ipaddress.ip_network('224.0.0.0/4'), 6: ipaddress.ip_network('ff00::/8')}
FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}
DEFAULT_METRIC = {4: 0, 6: 1024}
TABLE_NAMES = {'main': 254, 'default': 253}
LOCAL_TABLE = 255
MAX_U32 = 4294967295
RT_SCOPE_LINK = 253
# For a delete, scope RT_SCOPE_NOWHERE and protocol 0 mean "any" to the kernel (what `ip route del` sends);
# pyroute2's defaults would only match routes of scope universe and protocol static.
MATCH_ANY = {'scope': 255, 'proto': 0}
UNIT_HEADER = """# Managed by mcast.linux.route: multicast routes re-added at boot. Edits are overwritten.
[Unit]
Description=Multicast routes managed by mcast.linux
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
"""
UNIT_FOOTER = """
[Install]
WantedBy=multi-user.target
"""
# "-": one route failing at boot (interface missing) must not keep the others from being added.
UNIT_ROUTE_LINE = 'ExecStart=-%s -%d route replace %s dev %s table %d metric %d%s'
UNIT_ROUTE_PATTERN = re.compile(
    r'^ExecStart=-(?P<ip>\S+) -(?P<version>[46]) route replace (?P<dest>\S+) dev (?P<dev>\S+) '
    r'table (?P<table>\d+) metric (?P<metric>\d+)( scope link)?$')


class InvalidRoute(ValueError):
    """A user input that cannot describe a multicast route; the message says what to change."""


def parse_destination(text):
    """The multicast prefix as an ``ipaddress`` network, or InvalidRoute with what to change."""
    text = text.strip()
    try:
        network = ipaddress.ip_network(text)
    except ValueError:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InvalidRoute("dest '%s' is not a prefix; write it like 224.0.0.0/4 or 239.10.0.0/16." % text)
        raise InvalidRoute("dest '%s' has host bits set after the prefix length; did you mean %s?" % (text, network))
    if not network.subnet_of(MULTICAST_NETWORKS[network.version]):
        raise InvalidRoute(
            "dest '%s' is not a multicast prefix: it must lie inside 224.0.0.0/4 (IPv4) or ff00::/8 (IPv6). "
            "For unicast routes use ansible.builtin tools or your network configuration." % text)
    return network


def parse_table(text):
    """The table number for a name or number, or InvalidRoute."""
    text = str(text).strip()
    if text in TABLE_NAMES:
        return TABLE_NAMES[text]
    if text == 'local' or text == str(LOCAL_TABLE):
        raise InvalidRoute("table 'local' (255) belongs to the kernel's own addresses; use main or a table number.")
    if not text.isdigit() or not 1 <= int(text) <= MAX_U32:
        raise InvalidRoute("table '%s' is not a routing table: use main, default or a number from 1 to %d."
                           % (text, MAX_U32))
    return int(text)


def desired_route(params):
    """Validate the options into ``{'dest', 'version', 'dev', 'table', 'metric'}`` (no kernel access)."""
    if params['via']:
        raise InvalidRoute(
            "via %s is refused for a multicast prefix: with a gateway the kernel sends multicast inside unicast "
            "frames addressed to the gateway, and receivers never see it. Remove via and give only dev, the "
            "interface the groups leave through." % params['via'])
    network = parse_destination(params['dest'])
    dev = params['dev']
    if params['state'] == 'present' and not dev:
        raise InvalidRoute('dev is required with state: present: name the interface multicast for %s leaves through.'
                           % network)
    if dev:
        if is_pattern(dev):
            raise InvalidRoute("dev '%s' is a pattern; a route has exactly one interface, so give its name." % dev)
        message = invalid_name_message(dev)
        if message:
            raise InvalidRoute(message)
    metric = params['metric'] if params['metric'] is not None else DEFAULT_METRIC[network.version]
    if not 0 <= metric <= MAX_U32:
        raise InvalidRoute('metric %d is out of range: use a number from 0 to %d.' % (metric, MAX_U32))
    return {'dest': str(network), 'version': network.version, 'dev': dev,
            'table': parse_table(params['table']), 'metric': metric}


def same_identity(route, wanted):
    return route['dest'] == wanted['dest'] and route['table'] == wanted['table'] and route['metric'] == wanted['metric']


def route_matches(route, wanted, dev_index):
    """True when ``route`` is exactly the dev-scoped route wanted (no gateway, no multipath)."""
    return same_identity(route, wanted) and route['oif'] == dev_index and not route['gateway'] and not route['multipath']


def plan_route(existing, wanted, dev_index, state):
    """Return ``(before, after_is_wanted, to_delete)`` for the routes with the wanted identity.

    ``existing`` holds the route summaries of the family and table. For present, anything with the
    identity that is not exactly the wanted route is replaced; for absent, the routes with the
    identity (through ``dev_index`` if given) are deleted.
    """
    before = [route for route in existing if same_identity(route, wanted)]
    if state == 'present':
        satisfied = any(route_matches(route, wanted, dev_index) for route in before)
        return before, not satisfied, []
    to_delete = [route for route in before if dev_index is None or route['oif'] == dev_index]
    return before, False, to_delete


def unit_routes(text):
    """Map ``(dest, table, metric)`` to the unit's route line fields, for lines this module writes."""
    routes = {}
    for line in (text or '').splitlines():
        match = UNIT_ROUTE_PATTERN.match(line.strip())
        if match:
            fields = match.groupdict()
            routes[(fields['dest'], int(fields['table']), int(fields['metric']))] = {
                'ip': fields['ip'], 'version': int(fields['version']), 'dev': fields['dev']}
    return routes


def render_unit(routes):
    """The unit text for ``unit_routes``-shaped routes, sorted so the output is stable."""
    lines = []
    for (dest, table, metric), fields in sorted(routes.items()):
        scope = ' scope link' if fields['version'] == 4 else ''
        lines.append(UNIT_ROUTE_LINE % (fields['ip'], fields['version'], dest, fields['dev'], table, metric, scope))
    return UNIT_HEADER + ''.join(line + '\n' for line in lines) + UNIT_FOOTER


def describe(route, names):
    via = ' via %s' % route['gateway'] if route['gateway'] else ''
    dev = ' (multipath)' if route['multipath'] else ' dev %s' % names.get(route['oif'], route['oif'])
    return '%s%s%s table %d metric %d' % (route['dest'], via, dev, route['table'], route['metric'])


def public(route, names):
    return {'dest': route['dest'], 'dev': names.get(route['oif']), 'gateway': route['gateway'],
            'table': route['table'], 'metric': route['metric']}


class Route(object):
    """Read the routes, plan, then change the kernel (outside check mode) and the boot unit."""

    def __init__(self, module, wanted):
        self.module = module
        self.params = module.params
        self.wanted = wanted
        self.result = {'changed': False, 'before': [], 'after': [],
                       'route': dict((key, wanted[key]) for key in ('dest', 'dev', 'table', 'metric')),
                       'unit_file': {'path': self.params['unit_file'], 'changed': False}}
        self.diff = []

    def run(self):
        with open_iproute() as ipr:
            links = link_summaries(ipr)
            names = dict((link['index'], link['name']) for link in links)
            dev_index = self.check_dev(links)
            existing = route_summaries(ipr, FAMILIES[self.wanted['version']], self.wanted['table'])
            before, add, to_delete = plan_route(existing, self.wanted, dev_index, self.params['state'])
            after = self.planned_after(before, add, to_delete, dev_index)
            unit_text, new_unit_text = self.plan_unit()
            self.result.update(before=[public(route, names) for route in before],
                               after=[public(route, names) for route in after],
                               changed=add or bool(to_delete) or new_unit_text is not None)
            if add or to_delete:
                self.diff.append(text_diff('multicast routes (running kernel)', [describe(r, names) for r in before],
                                           [describe(r, names) for r in after]))
            if new_unit_text is not None:
                self.diff.append(file_diff(self.params['unit_file'], unit_text, new_unit_text or None))
            self.warn_about_winners(existing, names)
            if not self.module.check_mode:
                self.apply(ipr, add, before, to_delete, dev_index)
                self.write_unit(new_unit_text)
        if self.module._diff:
            self.result['diff'] = self.diff
        return self.result

    def check_dev(self, links):
        """Ifindex of ``dev`` (None without dev); fail on a missing, down or non-multicast interface."""
        dev = self.wanted['dev']
        if not dev:
            return None
        by_name = dict((link['name'], link) for link in links)
        if dev not in by_name:
            if self.params['state'] == 'absent':
                return -1  # nothing can route through an interface that does not exist
            self.module.fail_json(msg=interface_not_found_message([dev], [link['name'] for link in links]))
        link = by_name[dev]
        if self.params['state'] == 'present' and not link['flags'] & IFF_UP:
            self.module.fail_json(msg="interface '%s' is down, and the kernel keeps no route on a down interface: "
                                      "bring it up first (for example in its network configuration)." % dev)
        if self.params['state'] == 'present' and not link['flags'] & IFF_MULTICAST:
            self.module.fail_json(msg="interface '%s' has multicast disabled (no IFF_MULTICAST): enable it first "
                                      "with mcast.linux.link, then route multicast to it." % dev)
        return link['index']

    def planned_after(self, before, add, to_delete, dev_index):
        if add:
            route = {'dest': self.wanted['dest'], 'oif': dev_index, 'gateway': None, 'table': self.wanted['table'],
                     'metric': self.wanted['metric'], 'multipath': False}
            return [route]
        return [route for route in before if route not in to_delete]

    def warn_about_winners(self, existing, names):
        """Warn when a route for the same prefix with a lower metric will keep winning."""
        if self.params['state'] != 'present':
            return
        for route in existing:
            if route['dest'] == self.wanted['dest'] and route['metric'] < self.wanted['metric']:
                self.module.warn('the route %s has a lower metric and wins over the one this task manages; '
                                 'remove it or lower metric.' % describe(route, names))

    def plan_unit(self):
        """Return ``(current_text, new_text)``; new_text None: no change, '' : remove the unit."""
        if not self.params['persist']:
            return None, None
        current = read_text(self.params['unit_file'])
        routes = unit_routes(current)
        key = (self.wanted['dest'], self.wanted['table'], self.wanted['metric'])
        if self.params['state'] == 'present':
            entry = {'ip': self.ip_path(), 'version': self.wanted['version'], 'dev': self.wanted['dev']}
            if routes.get(key) == entry and self.unit_enabled(current):
                return current, None
            routes[key] = entry
        else:
            if key not in routes or (self.wanted['dev'] and routes[key]['dev'] != self.wanted['dev']):
                return current, None
            del routes[key]
        return current, render_unit(routes) if routes else ''

    def ip_path(self):
        path = self.module.get_bin_path('ip')
        if path is None:
            self.module.fail_json(msg="the boot unit runs 'ip', which is not installed: install iproute2, or use "
                                      "persist: false.")
        return path

    def wants_link(self):
        directory, name = os.path.split(self.params['unit_file'])
        return os.path.join(directory, 'multi-user.target.wants', name)

    def unit_enabled(self, current):
        return current is not None and os.path.islink(self.wants_link())

    def apply(self, ipr, add, before, to_delete, dev_index):
        wanted = self.wanted
        common = {'family': FAMILIES[wanted['version']], 'table': wanted['table'], 'priority': wanted['metric']}
        try:
            if add:
                network = ipaddress.ip_network(wanted['dest'])
                scope = {'scope': RT_SCOPE_LINK} if wanted['version'] == 4 else {}
                # replace swaps a route with the same identity (gateway, other device) in one step.
                ipr.route('replace', dst=str(network.network_address), dst_len=network.prefixlen, oif=dev_index,
                          **dict(common, **scope))
            for route in to_delete:
                network = ipaddress.ip_network(route['dest'])
                ipr.route('del', dst=str(network.network_address), dst_len=network.prefixlen,
                          **dict(common, **MATCH_ANY))
        except NetlinkError as error:
            self.module.fail_json(msg='the kernel refused the route change: %s. Run as root (become: true) and check '
                                      'that the interface is up.' % error, **self.result)

    def write_unit(self, new_unit_text):
        if new_unit_text is None:
            return
        link = self.wants_link()
        if new_unit_text:
            atomic_write(self.module, self.params['unit_file'], new_unit_text)
            if not os.path.islink(link):
                if not os.path.isdir(os.path.dirname(link)):
                    os.makedirs(os.path.dirname(link), mode=0o755)
                os.symlink(self.params['unit_file'], link)
        else:
            remove_file(link)
            remove_file(self.params['unit_file'])
        self.result['unit_file']['changed'] = True


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            dest=dict(type='str', default='224.0.0.0/4'),
            dev=dict(type='str'),
            via=dict(type='str'),
            table=dict(type='str', default='main'),
            metric=dict(type='int'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            persist=dict(type='bool', default=True),
            unit_file=dict(type='path', default='/etc/systemd/system/mcast-linux-routes.service'),
        ),
        supports_check_mode=True,
    )


def main():
    module = build_module()
    try:
        wanted = desired_route(module.params)
    except InvalidRoute as error:
        module.fail_json(msg=str(error))
    require_pyroute2(module)
    result = Route(module, wanted).run()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
