# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Route keeper of mcast.linux.route: keeps persisted multicast routes in the kernel.

The kernel forgets a route when its interface goes down or is deleted, and an interface created
after boot (a late VLAN, a re-created veth) never gets it. This keeper adds every route of the
routes file whose interface exists and is up, then listens to rtnetlink link and route events
and adds again whatever is missing. Only the standard library: the module deploys it as one file
(``/usr/lib/mcast-linux/route_keeper.py``: the shared ``_keeper_runtime.py``, then this file), run
by ``/usr/bin/python3`` under systemd (Type=notify, SIGHUP re-reads the file). The module imports
the file-format helpers from here, so this is the only place that knows the format:

    [{"dest": "224.0.0.0/4", "dev": "eth1", "table": 254, "metric": 0, "family": 4}, ...]

IPv6 routes are kept in table local (255), where the kernel looks them up (rule 0, before main)
and where it has a ``multicast ff00::/8 dev X proto kernel metric 256`` route of its own for every
interface: those are never replaced, because a file entry that would replace one is refused.
Kernel state is read as JSON from ``ip -j``; netlink messages are only a trigger.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import subprocess

# runtime import: left out of the deployed script, where linux.py's and the runtime's source stand above this file's.
try:
    from ansible_collections.mcast.linux.plugins.module_utils._keeper_runtime import (
        KeeperFileError, command_line, ip_json, load_file, log, run_keeper)
    from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import (
        LOCAL_TABLE, MAX_U32, MULTICAST_PREFIXES, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE, RTMGRP_LINK,
        interface_name_problem, interfaces)
except ImportError:  # run as a script from a checkout: the runtime is the file next to this one
    from _keeper_runtime import KeeperFileError, command_line, ip_json, load_file, log, run_keeper
    from mcastd.linux import (
        LOCAL_TABLE, MAX_U32, MULTICAST_PREFIXES, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE, RTMGRP_LINK,
        interface_name_problem, interfaces)
# end of the runtime import

DEFAULT_ROUTES_FILE = '/etc/mcast-linux/routes.json'
FIELDS = ('dest', 'dev', 'table', 'metric', 'family')
MULTICAST = dict((version, ipaddress.ip_network(prefix)) for version, prefix in MULTICAST_PREFIXES.items())
# The metric of the kernel's own `multicast ff00::/8 dev X proto kernel` route of each interface in table local.
KERNEL_MULTICAST_METRIC = 256
# `ip -j route` leaves out an IPv4 metric of 0; IPv6 routes always carry theirs.
IMPLICIT_METRIC = 0
EVENTS = RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE


class RoutesFileError(KeeperFileError):
    """The routes file cannot be used; the message names the entry and what is wrong."""


def route_key(route):
    """The kernel's identity of a route within a family: destination, table, metric."""
    return (route['family'], route['dest'], route['table'], route['metric'])


def kernel_route_clash(family, network, table, metric):
    """Why a route would collide with the kernel's own ff00::/8 routes in table local, or None.

    At the kernel's metric, ``ip route replace`` would overwrite the route of another interface (and
    a delete would remove it); above it, the kernel's routes keep winning. A longer prefix never
    collides: it wins by its length whatever its metric.
    """
    if family != 6 or table != LOCAL_TABLE or network.prefixlen != MULTICAST[6].prefixlen \
            or metric < KERNEL_MULTICAST_METRIC:
        return None
    return ('%s in table local with metric %d meets the kernel\'s own "multicast %s dev IFACE metric %d" route of '
            'every interface: at metric %d it would replace one of them, above it they keep winning. Use a '
            'metric below %d' % (network, metric, network, KERNEL_MULTICAST_METRIC, KERNEL_MULTICAST_METRIC,
                                 KERNEL_MULTICAST_METRIC))


def _checked_number(entry, field):
    value = entry.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_U32:
        raise RoutesFileError('%s must be a number from 0 to %d, not %r' % (field, MAX_U32, value))
    return value


def validate_route(entry):
    """One routes-file entry as a normalized dict, or RoutesFileError."""
    if not isinstance(entry, dict) or set(entry) != set(FIELDS):
        raise RoutesFileError('an entry must have exactly the keys %s: %r' % (', '.join(FIELDS), entry))
    try:
        network = ipaddress.ip_network(str(entry['dest']))
    except ValueError:
        raise RoutesFileError('dest %r is not a prefix' % entry['dest'])
    if entry['family'] != network.version or not network.subnet_of(MULTICAST[network.version]):
        raise RoutesFileError('dest %s is not a multicast prefix of family %r' % (network, entry['family']))
    dev = entry['dev']
    problem = interface_name_problem(dev)
    if problem:
        raise RoutesFileError('dev: %s' % problem)
    table, metric = _checked_number(entry, 'table'), _checked_number(entry, 'metric')
    clash = kernel_route_clash(network.version, network, table, metric)
    if clash:
        raise RoutesFileError(clash)
    return {'dest': str(network), 'dev': dev, 'table': table, 'metric': metric, 'family': network.version}


def parse_routes(text):
    """The routes of a routes file's text (sorted, one per identity), or RoutesFileError."""
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise RoutesFileError('not JSON: %s' % error)
    if not isinstance(entries, list):
        raise RoutesFileError('the file must hold a JSON list of routes')
    routes = dict((route_key(route), route) for route in (validate_route(entry) for entry in entries))
    if len(routes) != len(entries):
        raise RoutesFileError('two entries have the same destination, table and metric')
    return [routes[key] for key in sorted(routes)]


def dump_routes(routes):
    """The routes file's text for ``routes``: stable order and layout, so an unchanged set reads back the same."""
    ordered = sorted((validate_route(route) for route in routes), key=route_key)
    return json.dumps([dict((field, route[field]) for field in FIELDS) for route in ordered], indent=2) + '\n'


def load_routes(path):
    """The routes of the file at ``path``; no file means no routes."""
    return load_file(path, parse_routes, [])


def up_devices(table):
    """Names of the interfaces that are administratively up, from ``interfaces()``."""
    return set(name for name, iface in table.items() if iface.up)


def installed_routes(entries):
    """``(dest, dev, metric)`` of the dev-scoped routes in ``ip -j -4|-6 route show table T`` output."""
    installed = set()
    for entry in entries:
        if entry.get('gateway') or entry.get('nexthops') or 'dev' not in entry or entry.get('dst') == 'default':
            continue
        try:
            dest = str(ipaddress.ip_network(entry['dst']))
        except (KeyError, ValueError):
            continue
        installed.add((dest, entry['dev'], entry.get('metric', IMPLICIT_METRIC)))
    return installed


def missing_routes(routes, installed_by_table, up):
    """The routes to add: interface up, and no exact match in their family and table.

    ``installed_by_table`` maps ``(family, table)`` to the ``installed_routes`` of that table.
    """
    return [route for route in routes if route['dev'] in up
            and (route['dest'], route['dev'], route['metric'])
            not in installed_by_table.get((route['family'], route['table']), ())]


def replace_argv(ip, route):
    return [ip, '-%d' % route['family'], 'route', 'replace', route['dest'], 'dev', route['dev'],
            'table', str(route['table']), 'metric', str(route['metric'])]


def describe(route):
    return '%s dev %s table %d metric %d' % (route['dest'], route['dev'], route['table'], route['metric'])


class Keeper:
    """Reads the kernel with ``ip -j`` and adds the missing routes with ``ip route replace``."""

    def __init__(self, path, ip):
        self.path = path
        self.ip = ip
        self.routes = load_routes(path)

    def reload(self):
        """Read the file again; an unusable file keeps the routes already known."""
        try:
            self.routes = load_routes(self.path)
        except RoutesFileError as error:
            log.error('kept the %d routes known before: %s', len(self.routes), error)
            return
        log.info('%s: %d routes', self.path, len(self.routes))

    def status(self):
        return 'keeping %d routes' % len(self.routes)

    def installed(self):
        tables = set((route['family'], route['table']) for route in self.routes)
        return dict(((family, table), self.installed_in(family, table)) for family, table in tables)

    def installed_in(self, family, table):
        try:
            return installed_routes(ip_json(self.ip, '-%d' % family, 'route', 'show', 'table', str(table)))
        except OSError as error:
            # The kernel creates a table with its first route: until then it "does not exist".
            if 'table does not exist' in str(error):
                return set()
            raise

    def reconcile(self):
        """Add every missing route whose interface is up; return how many were added."""
        if not self.routes:
            return 0
        try:
            missing = missing_routes(self.routes, self.installed(), up_devices(interfaces()))
        except (OSError, ValueError) as error:
            log.error('cannot read the kernel state: %s', error)
            return 0
        added = 0
        for route in missing:
            done = subprocess.run(replace_argv(self.ip, route), capture_output=True, text=True, check=False)
            if done.returncode == 0:
                log.info('added %s', describe(route))
                added += 1
            else:  # the interface went away in between: its next event brings us back
                log.warning('could not add %s: %s', describe(route), done.stderr.strip())
        return added


def main(argv=None):
    path, once = command_line(argv, 'Keep the multicast routes of mcast.linux.route in the kernel.', 'routes_file',
                              DEFAULT_ROUTES_FILE, 'JSON list of routes (default %(default)s)',
                              'add what is missing once and exit')
    return run_keeper(Keeper, path, once, EVENTS)


if __name__ == '__main__':
    raise SystemExit(main())
