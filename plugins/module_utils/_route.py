# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The code of mcast.linux.route: its options, their checks and the run (private to this collection).

The module file holds the documentation and main(); mcast.linux.settings runs the same code for its
``routes`` part, in one module run with the others.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import ipaddress
import re
import socket

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


ARGUMENT_SPEC = dict(
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
)


def validate(module):
    """Check every option (and that pyroute2 is there) before anything is read or changed; the wanted route."""
    try:
        wanted = desired_route(module.params)
    except InvalidRoute as error:
        module.fail_json(msg=str(error))
    require_pyroute2(module)
    return wanted


def apply(module, wanted):
    """Read, plan and (outside check mode) apply the route that validate() returned; the module's result."""
    return Route(module, wanted).run()


def run(module):
    """Check the options, then read, plan and (outside check mode) apply; the module's result."""
    return apply(module, validate(module))
