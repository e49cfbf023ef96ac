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

import ipaddress
import re
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils import _route_keeper as route_keeper
from ansible_collections.mcast.linux.plugins.module_utils._files import read_text, text_diff
from ansible_collections.mcast.linux.plugins.module_utils._keeper_deploy import (
    KeeperDeployment, keeper_script, render_unit as render_keeper_unit)
from ansible_collections.mcast.linux.plugins.module_utils._netlink import (
    NetlinkError, interface_not_found_message, invalid_name_message, link_summaries, open_iproute,
    require_pyroute2, route_summaries)
from ansible_collections.mcast.linux.plugins.module_utils._sysctl import conf_key, read_value
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import (
    IFF_MULTICAST, IFF_UP, LOCAL_TABLE, MAX_U32, MULTICAST_PREFIXES, RTPROT_KERNEL, SHELL_WILDCARDS, is_pattern)

MULTICAST_NETWORKS = dict((version, ipaddress.ip_network(prefix)) for version, prefix in MULTICAST_PREFIXES.items())
FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}
# IPv6: just below the kernel's own ff00::/8 routes in table local, so that even a route for all of ff00::/8 wins.
DEFAULT_METRIC = {4: 0, 6: route_keeper.KERNEL_MULTICAST_METRIC - 1}
TABLE_NAMES = {'main': 254, 'default': 253}
# The scope of an IPv6 multicast address is the low nibble of its second byte (RFC 4291, 2.7).
REFUSED_IPV6_SCOPES = {
    1: 'interface-local scope (ffx1): its groups never leave the host, so no route sends them out of an interface',
    2: 'link-local scope (ffx2): each link has its own groups of that scope, and NDP, MLD and careful programs '
       'name the link themselves (a scope ID such as ff02::fb%eth1, or IPV6_MULTICAST_IF), so a route would only '
       'redirect the programs that do not',
}
IPV6_TABLE_IGNORED = (
    "table '%s' is refused for the IPv6 prefix %s: the kernel would ignore the route there. Its rule 0 looks up "
    "table local first, where every interface has the kernel's own route 'multicast ff00::/8 dev IFACE metric 256', "
    "so an IPv6 multicast lookup never reaches another table. Leave table out (IPv6 routes go to table local), or "
    "write table: local.")
RT_SCOPE_LINK = 253
# For a delete, scope RT_SCOPE_NOWHERE and protocol 0 mean "any" to the kernel (what `ip route del` sends);
# pyroute2's defaults would only match routes of scope universe and protocol static.
MATCH_ANY = {'scope': 255, 'proto': 0}
KEEPER_HEADER = ('# Deployed by mcast.linux.route (its module_utils/mcastd/linux.py, _keeper_runtime.py, '
                 'then _route_keeper.py). '
                 'Edits are overwritten.\n')
UNIT_HEADER = """# Managed by mcast.linux.route: keeps the multicast routes of %s in the kernel,
# also when their interface appears after boot or goes down and up. Edits are overwritten.
"""
# The unit of mcast.linux.route up to 0.1: a oneshot with one line per route, read once to migrate.
LEGACY_UNIT_LINE = re.compile(
    r'^ExecStart=-\S+ -(?P<family>[46]) route replace (?P<dest>\S+) dev (?P<dev>\S+) '
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


def refuse_unroutable_scope(network):
    """InvalidRoute for an IPv6 prefix of interface-local or link-local scope."""
    scope = ipv6_scope(network)
    if scope in REFUSED_IPV6_SCOPES:
        raise InvalidRoute("dest '%s' has %s. Name the interface in the program, or route a wider scope, such as "
                           "ff05::/16 (site) or ff0e::/16 (global)." % (network, REFUSED_IPV6_SCOPES[scope]))


def ipv6_scope(network):
    """The scope shared by every group of an IPv6 prefix, or None (IPv4, or a prefix shorter than /16)."""
    if network.version != 6 or network.prefixlen < 16:
        return None
    return network.network_address.packed[1] & 0x0f


def parse_table(text, network=None, state='present'):
    """The table number for a name or number (None: the default of the family of ``network``), or InvalidRoute."""
    if network is not None and network.version == 6:
        return parse_ipv6_table(text, network, state)
    text = str(text if text is not None else 'main').strip()
    if text in TABLE_NAMES:
        return TABLE_NAMES[text]
    if text == 'local' or text == str(LOCAL_TABLE):
        raise InvalidRoute("table 'local' (255) belongs to the kernel's own addresses; use main or a table number.")
    if not text.isdigit() or not 1 <= int(text) <= MAX_U32:
        raise InvalidRoute("table '%s' is not a routing table: use main, default or a number from 1 to %d."
                           % (text, MAX_U32))
    return int(text)


def parse_ipv6_table(text, network, state):
    """Table local for IPv6; another table only to remove a route from it (older versions put routes in main)."""
    text = str(text if text is not None else 'local').strip()
    if text in ('local', str(LOCAL_TABLE)):
        return LOCAL_TABLE
    if text not in TABLE_NAMES and (not text.isdigit() or not 1 <= int(text) <= MAX_U32):
        raise InvalidRoute("table '%s' is not a routing table: for IPv6 leave table out (table local is used)."
                           % text)
    if state == 'present':
        raise InvalidRoute(IPV6_TABLE_IGNORED % (text, network))
    return TABLE_NAMES.get(text) or int(text)


def desired_route(params):
    """Validate the options into ``{'dest', 'version', 'dev', 'table', 'metric'}`` (no kernel access)."""
    if params['via']:
        raise InvalidRoute(
            "via %s is refused for a multicast prefix: with a gateway the kernel sends multicast inside unicast "
            "frames addressed to the gateway, and receivers never see it. Remove via and give only dev, the "
            "interface the groups leave through." % params['via'])
    network = parse_destination(params['dest'])
    if params['state'] == 'present':  # absent still removes what an older version of the module added
        refuse_unroutable_scope(network)
    dev = params['dev']
    if params['state'] == 'present' and not dev:
        raise InvalidRoute('dev is required with state: present: name the interface multicast for %s leaves through.'
                           % network)
    if dev:
        if is_pattern(dev) or SHELL_WILDCARDS.intersection(dev):
            raise InvalidRoute("dev '%s' is a pattern; a route has exactly one interface, so give its name." % dev)
        message = invalid_name_message(dev)
        if message:
            raise InvalidRoute(message)
    metric = params['metric'] if params['metric'] is not None else DEFAULT_METRIC[network.version]
    if not 0 <= metric <= MAX_U32:
        raise InvalidRoute('metric %d is out of range: use a number from 0 to %d.' % (metric, MAX_U32))
    table = parse_table(params['table'], network, params['state'])
    clash = route_keeper.kernel_route_clash(network.version, network, table, metric)
    if clash:
        raise InvalidRoute('%s, or leave metric out (%d).' % (clash, DEFAULT_METRIC[6]))
    return {'dest': str(network), 'version': network.version, 'dev': dev, 'table': table, 'metric': metric}


def managed_candidates(existing, version):
    """The routes the module may replace or remove: for IPv6 never the kernel's own (its ff00::/8 of table local)."""
    if version != 6:
        return existing
    return [route for route in existing if route.get('proto') != RTPROT_KERNEL]


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


def legacy_unit_routes(text):
    """The routes of a oneshot unit written by an older mcast.linux.route, in the routes-file format."""
    routes = []
    for line in (text or '').splitlines():
        match = LEGACY_UNIT_LINE.match(line.strip())
        if match:
            fields = match.groupdict()
            routes.append({'dest': fields['dest'], 'dev': fields['dev'], 'table': int(fields['table']),
                           'metric': int(fields['metric']), 'family': int(fields['family'])})
    return routes


def render_unit(keeper_file, routes_file):
    return render_keeper_unit(UNIT_HEADER % routes_file, 'Multicast routes managed by mcast.linux (route keeper)',
                              keeper_file, routes_file, 'routes file')


def updated_routes(routes, wanted, state):
    """The persisted routes after this task: the wanted one added (replacing its identity) or removed."""
    entry = {'dest': wanted['dest'], 'dev': wanted['dev'], 'table': wanted['table'], 'metric': wanted['metric'],
             'family': wanted['version']}
    others = [route for route in routes if route_keeper.route_key(route) != route_keeper.route_key(entry)]
    if state == 'present':
        return others + [entry]
    if wanted['dev']:  # absent through one interface leaves the route through another one
        return others + [route for route in routes if route not in others and route['dev'] != wanted['dev']]
    return others


def keeper_source():
    """The keeper script: the runtime's source and the route keeper's, as one file."""
    return keeper_script(KEEPER_HEADER, route_keeper)


def ipv6_disabled(dev):
    """True when the kernel has IPv6 off on ``dev`` (or everywhere: then the conf directory is missing)."""
    try:
        return read_value(conf_key(dev, 'disable_ipv6', 'ipv6')) != '0'
    except (IOError, OSError):
        return True


def describe(route, names):
    via = ' via %s' % route['gateway'] if route['gateway'] else ''
    dev = ' (multipath)' if route['multipath'] else ' dev %s' % names.get(route['oif'], route['oif'])
    return '%s%s%s table %d metric %d' % (route['dest'], via, dev, route['table'], route['metric'])


def public(route, names):
    return {'dest': route['dest'], 'dev': names.get(route['oif']), 'gateway': route['gateway'],
            'table': route['table'], 'metric': route['metric']}


class Route(object):
    """Read the routes, plan, then change the kernel and the persisted routes (outside check mode)."""

    def __init__(self, module, wanted):
        self.module = module
        self.params = module.params
        self.wanted = wanted
        self.persistence = Persistence(module, wanted) if self.params['persist'] else None
        self.result = {'changed': False, 'before': [], 'after': [],
                       'route': dict((key, wanted[key]) for key in ('dest', 'dev', 'table', 'metric')),
                       'persistence': {'files': [], 'service': []}}
        self.diff = []

    def run(self):
        with open_iproute() as ipr:
            links = link_summaries()
            names = dict((link['index'], link['name']) for link in links)
            dev_index = self.check_dev(links)
            existing = managed_candidates(route_summaries(ipr, FAMILIES[self.wanted['version']],
                                                          self.wanted['table']), self.wanted['version'])
            before, add, to_delete = plan_route(existing, self.wanted, dev_index, self.params['state'])
            after = self.planned_after(before, add, to_delete, dev_index)
            if self.persistence:
                self.result['persistence'] = self.persistence.plan()
            self.result.update(before=[public(route, names) for route in before],
                               after=[public(route, names) for route in after],
                               changed=bool(add or to_delete or self.result['persistence']['files']
                                            or self.result['persistence']['service']))
            if add or to_delete:
                self.diff.append(text_diff('multicast routes (running kernel)', [describe(r, names) for r in before],
                                           [describe(r, names) for r in after]))
            if self.persistence:
                self.diff.extend(self.persistence.diff())
            self.warn_about_winners(existing, names)
            if not self.module.check_mode:
                self.apply(ipr, add, before, to_delete, dev_index)
                if self.persistence:
                    self.persistence.apply()
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
        if self.params['state'] == 'present' and self.wanted['version'] == 6 and ipv6_disabled(dev):
            self.module.fail_json(msg="interface '%s' has IPv6 disabled (net.ipv6.conf.%s.disable_ipv6 is 1, or this "
                                      "host has no IPv6), and the kernel refuses IPv6 routes through it: enable IPv6 "
                                      "on it first (for example in its network configuration)." % (dev, dev))
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
                          **dict(common, **delete_match(route, wanted['version'])))
        except NetlinkError as error:
            self.module.fail_json(msg='the kernel refused the route change: %s. Run as root (become: true) and check '
                                      'that the interface is up.' % error, **self.result)


def delete_match(route, version):
    """What a delete matches besides destination, table and metric.

    IPv6 keeps routes of one identity through several interfaces side by side, so the interface is
    named: only the planned route goes.
    """
    if version == 6 and route['oif']:
        return dict(MATCH_ANY, oif=route['oif'])
    return MATCH_ANY


class Persistence(KeeperDeployment):
    """The routes file, the keeper script, its unit and the symlink that enables it; and the running unit.

    A task changes one route of the routes file; the other three files follow from whether any route
    is left (none left: every file goes and the keeper stops).
    """

    def __init__(self, module, wanted):
        super(Persistence, self).__init__(module, 'route keeper', module.params['routes_file'])
        self.wanted = wanted

    def plan(self):
        """Decide the file changes and the systemctl actions; return them for the result."""
        # Without a routes file, the routes are those of a oneshot unit written by an older version (if any).
        current = self.read_kept_file(route_keeper.parse_routes, legacy_unit_routes(read_text(self.unit_file)))
        routes = updated_routes(current, self.wanted, self.module.params['state'])
        if not routes:
            return self.plan_files(None)
        return self.plan_files((route_keeper.dump_routes(routes), keeper_source(),
                                render_unit(self.keeper_file, self.kept_file)))


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            dest=dict(type='str', default='224.0.0.0/4'),
            dev=dict(type='str'),
            via=dict(type='str'),
            table=dict(type='str'),
            metric=dict(type='int'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            persist=dict(type='bool', default=True),
            routes_file=dict(type='path', default=route_keeper.DEFAULT_ROUTES_FILE),
            keeper_file=dict(type='path', default='/usr/lib/mcast-linux/route_keeper.py'),
            unit_file=dict(type='path', default='/etc/systemd/system/mcast-linux-routes.service'),
            service_control=dict(type='str', choices=['auto', 'never'], default='auto'),
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
