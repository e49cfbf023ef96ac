# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The code of mcast.linux.facts (private to this collection), so mcast.linux.settings can run it as a part.

``ARGUMENT_SPEC``, ``validate(module)`` and ``apply(module, validated)`` as the other modules' code in
module_utils; ``run(module)`` is the module's whole run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import glob
import ipaddress
import os
import socket
import struct
import time

from ansible_collections.mcast.linux.plugins.module_utils._bridge import bridge_facts
from ansible_collections.mcast.linux.plugins.module_utils._findings import VIF_WARNING, evaluate, querier_views
from ansible_collections.mcast.linux.plugins.module_utils._mcastd_client import (
    DEFAULT_CONFIG, DEFAULT_SOCKET, DaemonRefused, routing_api, snapshot)
from ansible_collections.mcast.linux.plugins.module_utils._netlink import (
    address_summaries, link_summaries, open_iproute, require_pyroute2, route_lookup, route_summaries)
from ansible_collections.mcast.linux.plugins.module_utils._nft import (
    CONTROL_HOOKS, FAMILIES_SEEING, NftError, drop_report, igmp_traffic, list_ruleset, mld_traffic)
from ansible_collections.mcast.linux.plugins.module_utils._platform import platform_facts
from ansible_collections.mcast.linux.plugins.module_utils._sysctl import (
    RP_FILTER_NAMES, conf_key, effective_rp_filter, read_value)
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as mcastd_config
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import kernel
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.config import MAX_VIFS
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import (
    LOCAL_TABLE, MULTICAST_PREFIXES, RTPROT_KERNEL)

# Interface flags from <linux/if.h>, in bit order, for the readable flag list.
IFF_NAMES = ('UP', 'BROADCAST', 'DEBUG', 'LOOPBACK', 'POINTOPOINT', 'NOTRAILERS', 'RUNNING', 'NOARP', 'PROMISC',
             'ALLMULTI', 'MASTER', 'SLAVE', 'MULTICAST', 'PORTSEL', 'AUTOMEDIA', 'DYNAMIC', 'LOWER_UP', 'DORMANT',
             'ECHO')
MULTICAST_NETWORKS = tuple(ipaddress.ip_network(prefix) for _version, prefix in sorted(MULTICAST_PREFIXES.items()))
PROC_IGMP = '/proc/net/igmp'
PROC_IGMP6 = '/proc/net/igmp6'
PROC_MCFILTER6 = '/proc/net/mcfilter6'
# IPv6 multicast routing: the kernel's own tables, readable with any pyroute2 (0.7 decodes none of family 129).
PROC_MIFS = kernel.PROC_MIFS  # the kernel's tables, named once in mcastd's kernel.py
PROC_MFC6 = kernel.PROC_MFC6
MAF_NOREPORT = 0x8  # linux/include/net/if_inet6.h: a group MLD never reports (ff02::1, interface-local scope)
ANY_SOURCE = ('0.0.0.0', '::')
# The groups whose route lookup tells which interface a sender without IP(V6)_MULTICAST_IF uses.
EGRESS_GROUPS = ('239.0.0.1', 'ff0e::1')
SUBSETS = ('multicast', 'platform')
SAMPLE_INTERVAL = 0.5
MAX_SAMPLE_INTERVAL = 10.0
MAX_INCLUDE_DEPTH = 8


def flag_names(flags):
    return [name for bit, name in enumerate(IFF_NAMES) if flags & (1 << bit)]


def parse_igmp(text):
    """``{ifindex: [group]}`` from /proc/net/igmp: a device line, then its groups (hex, host byte order)."""
    groups = {}
    index = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        if not line[0].isspace():
            index = int(fields[0])
            groups.setdefault(index, [])
        elif index is not None:
            groups[index].append(socket.inet_ntoa(struct.pack('=I', int(fields[0], 16))))
    return groups


def parse_igmp6(text):
    """``{ifindex: [group]}`` from /proc/net/igmp6: index, name, group (32 hex digits), users, flags, timer."""
    groups = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            groups.setdefault(int(fields[0]), []).append(str(ipaddress.IPv6Address(bytes.fromhex(fields[2]))))
    return groups


def _hex6(text):
    """An IPv6 address the kernel prints as 32 hex digits (%pi6), or in full with colons (%pI6)."""
    return str(ipaddress.IPv6Address(bytes.fromhex(text) if ':' not in text else text))


def parse_mcfilter6(text):
    """``{(ifindex, group): [{'source', 'include', 'exclude'}]}`` from /proc/net/mcfilter6 (header, then one
    line per source filter: index, name cut to 6 characters, group, source, sockets including, excluding)."""
    filters = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 6:
            filters.setdefault((int(fields[0]), _hex6(fields[2])), []).append(
                {'source': _hex6(fields[3]), 'include': int(fields[4]), 'exclude': int(fields[5])})
    return filters


def parse_mld_memberships(igmp6_text, mcfilter6_text=''):
    """``{ifindex: [{'group', 'users', 'reported', 'sources'}]}`` from /proc/net/igmp6 and /proc/net/mcfilter6.

    ``reported`` is false for the groups MLD never reports (the kernel's MAF_NOREPORT: ff02::1 and the
    interface-local ones); ``sources`` are the group's source filters (an SSM join includes its source).
    """
    filters = parse_mcfilter6(mcfilter6_text)
    memberships = {}
    for line in igmp6_text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        index, group = int(fields[0]), _hex6(fields[2])
        memberships.setdefault(index, []).append({
            'group': group, 'users': int(fields[3]), 'reported': not int(fields[4], 16) & MAF_NOREPORT,
            'sources': filters.get((index, group), [])})
    return memberships


def parse_mfc6(text, mif_names):
    """The IPv6 MFC from /proc/net/ip6_mr_cache, in the shape of the IPv4 ``mfc`` facts.

    Each line: group and origin (%pI6), the parent MIF, packets, bytes, wrong interface, then ``MIF:TTL``
    for every output. ``mif_names`` maps MIF indexes to interface names; an unresolved entry (parent -1,
    waiting for the daemon's answer to its upcall) has no input and no outputs.
    """
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        parent = int(fields[2])
        rows.append({'source': _hex6(fields[1]), 'group': _hex6(fields[0]),
                     'iif': mif_names.get(parent) if parent >= 0 else None,
                     'oifs': [mif_names.get(mif, mif) for mif in (int(item.split(':')[0]) for item in fields[6:])],
                     'packets': int(fields[3]), 'bytes': int(fields[4]), 'wrong_if': int(fields[5])})
    return rows


def read_text(path):
    """The text of a /proc table, or '' when the kernel has none (no IPv6, no multicast routing)."""
    try:
        with open(path, encoding='ascii') as stream:
            return stream.read()
    except (IOError, OSError):
        return ''


def read_memberships():
    memberships = {}
    for path, parse in ((PROC_IGMP, parse_igmp), (PROC_IGMP6, parse_igmp6)):
        try:
            with open(path, encoding='ascii') as stream:
                text = stream.read()
        except (IOError, OSError):  # no IPv6, or no multicast at all
            continue
        for index, groups in parse(text).items():
            memberships.setdefault(index, []).extend(groups)
    return memberships


def is_multicast_route(route):
    """A route inside 224.0.0.0/4 or ff00::/8, except the kernel's own in table local (ff00::/8 on every link).

    A route added to table local is kept: rule 0 looks that table up first, so for IPv6 it is the
    one place where a multicast route takes effect.
    """
    network = ipaddress.ip_network(route['dest'])
    if route['table'] == LOCAL_TABLE and route.get('proto', RTPROT_KERNEL) == RTPROT_KERNEL:
        return False
    return any(network.version == multicast.version and network.subnet_of(multicast)
               for multicast in MULTICAST_NETWORKS)


def hook_acceptance(drops, version='ipv4'):
    """``{hook: {'accepted', 'dropped_by'}}`` for every hook control traffic of ``version`` (ipv4, ipv6) passes."""
    hooks = {}
    for family in FAMILIES_SEEING[version]:
        for hook in CONTROL_HOOKS[family]:
            hooks.setdefault(hook, {'accepted': True, 'dropped_by': []})
    for drop in drops:
        entry = hooks.setdefault(drop['hook'], {'accepted': True, 'dropped_by': []})
        entry['accepted'] = False
        entry['dropped_by'].append('%s %s %s' % (drop['family'], drop['table'], drop['chain']))
    return hooks


def config_facts(path):
    """The mcastd configuration as the daemon's grammar reads it."""
    facts = {'path': path, 'exists': os.path.exists(path), 'valid': False, 'errors': [], 'warnings': [],
             'routes': [], 'mgroups': [], 'link_local_routes': []}
    if not facts['exists']:
        return facts
    facts['link_local_routes'] = link_local_route_lines(path)
    try:
        loaded = mcastd_config.load(path)
    except mcastd_config.ConfigError as error:
        facts.update(errors=error.errors, warnings=error.warnings)
        return facts
    facts.update(valid=True, warnings=loaded.warnings)
    facts['routes'] = [{'iif': route.iif, 'source': str(route.source) if route.source else None,
                        'group': str(route.group), 'oifs': list(route.oifs), 'origin': str(route.origin)}
                       for route in loaded.mroutes]
    facts['mgroups'] = [{'iif': mgroup.ifname, 'source': str(mgroup.source) if mgroup.source else None,
                         'group': str(mgroup.group), 'origin': str(mgroup.origin)} for mgroup in loaded.mgroups]
    return facts


def link_local_scope_group(word):
    """The IPv6 group (text) a word names when it is of interface- or link-local scope (ffx1, ffx2), else None."""
    try:
        network = ipaddress.ip_network(word, strict=False)
    except ValueError:
        return None
    address = network.network_address
    if network.version != 6 or network.prefixlen < 16 or not address.is_multicast:
        return None
    if address.packed[1] & 0xf not in (1, 2):  # the scope nibble: 1 interface-local, 2 link-local
        return None
    return str(address) if network.prefixlen == network.max_prefixlen else str(network)


def link_local_route_lines(path, depth=0, seen=None):
    """``[{'origin', 'group', 'line'}]``: mroute lines for an IPv6 group of scope 1 or 2, in ``path`` and its includes.

    A plain reading of the words, whatever a grammar makes of the line: smcroute installs such a route
    (the kernel accepts it and never forwards it), an mcastd without IPv6 skips the line, one with IPv6
    refuses it.
    """
    seen = set() if seen is None else seen
    real = os.path.realpath(path)
    if depth > MAX_INCLUDE_DEPTH or real in seen:
        return []
    seen.add(real)
    try:
        with open(path, encoding='utf-8') as stream:
            lines = stream.read().splitlines()
    except (IOError, OSError, ValueError):
        return []
    found = []
    for number, raw in enumerate(lines, 1):
        words = raw.split('#', 1)[0].split()
        if len(words) > 1 and words[0] == 'include':
            pattern = words[1] if os.path.isabs(words[1]) else os.path.join(os.path.dirname(path), words[1])
            for included in sorted(glob.glob(pattern)):
                found.extend(link_local_route_lines(included, depth + 1, seen))
        elif words and words[0].startswith('mroute'):  # smcroute reads any word that begins with a keyword as it
            for group in filter(None, (link_local_scope_group(word) for word in words[1:])):
                found.append({'origin': '%s:%d' % (path, number), 'group': group, 'line': raw.strip()})
    return found


def outputs_of(row):
    """Where an MFC entry forwards to: a (*,G) entry never sends a datagram back out of its input."""
    if row['source'] in ANY_SOURCE:
        return [oif for oif in row['oifs'] if oif != row['iif']]
    return list(row['oifs'])


def _out_delta(before, after, name):
    if name not in before or name not in after:
        return None
    return after[name]['packets_out'] - before[name]['packets_out']


def mfc_deltas(before, after):
    """How each MFC entry with outputs and its outputs' out-packet counters grew between two readings.

    A reading is ``{'ipv4': {'mfc', 'vifs'}, 'ipv6': {'mfc', 'vifs'}}`` in the facts' shape (for IPv6 the
    ``vifs`` are the MIFs). Entries present in both readings only.
    """
    entries = []
    for family in ('ipv4', 'ipv6'):
        first = dict(((row['source'], row['group'], row['iif']), row) for row in before[family]['mfc'])
        vifs_before = dict((vif['interface'], vif) for vif in before[family]['vifs'])
        vifs_after = dict((vif['interface'], vif) for vif in after[family]['vifs'])
        for row in after[family]['mfc']:
            old = first.get((row['source'], row['group'], row['iif']))
            if old is None or not outputs_of(row):
                continue
            entries.append({
                'family': family, 'source': row['source'], 'group': row['group'], 'iif': row['iif'],
                'packets': row['packets'] - old['packets'], 'bytes': row['bytes'] - old['bytes'],
                'wrong_if': row['wrong_if'] - old['wrong_if'],
                'outputs': [{'interface': name, 'vif': (vifs_after.get(name) or {}).get('index'),
                             'packets_out': _out_delta(vifs_before, vifs_after, name)} for name in outputs_of(row)]})
    return entries


def bridge_querier(bridge):
    """The IPv4 querier a bridge knows: ``{'address', 'own', 'port', 'other_querier_expires_in'}``, or None."""
    state = (bridge.get('querier_state') or {}).get('ipv4')
    if not state:
        return None
    # The kernel adds the other-querier timer only for a querier heard from elsewhere.
    own = state['other_querier_expires_in'] is None
    return {'address': state['address'], 'own': own, 'port': state.get('port'),
            'other_querier_expires_in': state['other_querier_expires_in']}


def queriers_heard(mcastd, bridges):
    """``{interface: {'mcastd': row, 'bridge': querier or None}}``: each view present only where it exists.

    Only mcastd's IGMP rows: a daemon with the MLD querier also lists MLD rows (``protocol`` MLD) for
    the same interfaces, and a daemon without it rows without ``protocol``.
    """
    heard = {}
    for row in mcastd.get('queriers') or []:
        if row.get('protocol', 'IGMP') != 'IGMP':
            continue
        heard.setdefault(row['interface'], {})['mcastd'] = row
    for name, bridge in bridges.items():
        heard.setdefault(name, {})['bridge'] = bridge_querier(bridge)
    return heard


class McastFacts(object):
    """Read everything once; the findings are computed from what was read."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.names = {}

    def run(self):
        facts = {}
        with open_iproute() as ipr:
            links = link_summaries()
            self.names = dict((link['index'], link['name']) for link in links)
            facts['vifs'] = self.vifs()
            facts['mifs'] = self.mifs()
            facts['interfaces'] = self.interfaces(ipr, links, facts['vifs'])
            facts['mld_memberships'] = self.mld_memberships()
            facts['rp_filter'] = dict((name, int(read_value(conf_key(name, 'rp_filter')))) for name in ('all', 'default'))
            facts['routes'] = self.routes(ipr)
            facts['multicast_egress'] = dict((group, self.names.get(route_lookup(ipr, group)))
                                             for group in EGRESS_GROUPS)
            facts['mfc'] = self.mfc()
            facts['mfc6'] = self.mfc6(facts['mifs'])
            facts['igmp'], facts['mld'] = self.firewall()
            facts['routing_api'] = routing_api()
            facts['mcastd'] = self.mcastd()
            facts['bridges'] = bridge_facts(ipr, self.names)
            facts['queriers'] = queriers_heard(facts['mcastd'], facts['bridges'])
            facts['reverse_paths'] = self.reverse_paths(ipr, facts)
        facts['mfc_deltas'] = self.sample_counters(facts)
        facts['findings'] = evaluate(facts, self.params['vif_warning'])
        return {'changed': False, 'ansible_facts': {'mcast': facts}}

    def interfaces(self, ipr, links, vifs):
        addresses = {}
        for address in address_summaries(ipr):
            addresses.setdefault(address['index'], []).append(address['address'])
        memberships = read_memberships()
        vif_by_name = dict((vif['interface'], vif['index']) for vif in vifs)
        all_rp_filter = read_value(conf_key('all', 'rp_filter'))
        interfaces = {}
        for link in links:
            names = flag_names(link['flags'])
            interfaces[link['name']] = {
                'index': link['index'], 'flags': names, 'up': 'UP' in names, 'multicast': 'MULTICAST' in names,
                'allmulti': 'ALLMULTI' in names, 'loopback': 'LOOPBACK' in names,
                'addresses': addresses.get(link['index'], []), 'groups': memberships.get(link['index'], []),
                'rp_filter': self.rp_filter(link['name'], all_rp_filter),
                'mc_forwarding': self.conf_value(link['name'], 'mc_forwarding'),
                'vif': vif_by_name.get(link['name'])}
        return interfaces

    @staticmethod
    def conf_value(name, setting):
        try:
            return int(read_value(conf_key(name, setting)))
        except (IOError, OSError):  # an interface without IPv4 configuration, or one that just vanished
            return None

    def rp_filter(self, name, all_value):
        value = self.conf_value(name, 'rp_filter')
        if value is None:
            return None
        effective = effective_rp_filter(all_value, value)
        return {'value': value, 'effective': effective, 'mode': RP_FILTER_NAMES.get(effective, str(effective))}

    def routes(self, ipr):
        routes = []
        for family, name in ((socket.AF_INET, 'ipv4'), (socket.AF_INET6, 'ipv6')):
            for route in route_summaries(ipr, family):
                if is_multicast_route(route):
                    routes.append({'dest': route['dest'], 'family': name, 'dev': self.names.get(route['oif']),
                                   'gateway': route['gateway'], 'table': route['table'], 'metric': route['metric'],
                                   'multipath': route['multipath']})
        return routes

    def mld_memberships(self):
        memberships = parse_mld_memberships(read_text(PROC_IGMP6), read_text(PROC_MCFILTER6))
        return dict((self.names.get(index, str(index)), groups) for index, groups in sorted(memberships.items()))

    def mfc(self, warn=True):
        try:
            rows = kernel.read_mfc()
        except (kernel.KernelError, OSError) as error:
            if warn:
                self.module.warn('cannot read the multicast forwarding cache: %s' % error)
            return []
        return [{'source': mcastd_config.ntoa(row.source), 'group': mcastd_config.ntoa(row.group),
                 'iif': self.names.get(row.iif), 'oifs': [self.names.get(oif, oif) for oif in row.oifs],
                 'packets': row.packets, 'bytes': row.bytes, 'wrong_if': row.wrong_if} for row in rows]

    @staticmethod
    def mfc6(mifs):
        return parse_mfc6(read_text(PROC_MFC6), dict((mif['index'], mif['interface']) for mif in mifs))

    @staticmethod
    def vifs(path=kernel.PROC_VIFS):
        """The VIFs, or with ``path`` PROC_MIFS the IPv6 MIFs: both tables have the same columns."""
        return [{'index': row.index, 'interface': row.ifname, 'bytes_in': row.bytes_in, 'packets_in': row.packets_in,
                 'bytes_out': row.bytes_out, 'packets_out': row.packets_out, 'flags': row.flags}
                for row in kernel.read_vifs(path)]

    def mifs(self):
        return self.vifs(PROC_MIFS)

    def counters(self):
        """One reading of both families' MFC and VIF/MIF counters, as close together as they can be read."""
        vifs, mifs = self.vifs(), self.mifs()
        return {'ipv4': {'mfc': self.mfc(warn=False), 'vifs': vifs}, 'ipv6': {'mfc': self.mfc6(mifs), 'vifs': mifs}}

    def sample_counters(self, facts):
        """Two readings ``sample_interval`` apart, only where an MFC entry has outputs: a host pays nothing."""
        interval = self.params['sample_interval']
        if not interval or not any(outputs_of(row) for row in facts['mfc'] + facts['mfc6']):
            return {'sampled': False, 'interval': interval, 'entries': []}
        before = self.counters()
        time.sleep(interval)
        return {'sampled': True, 'interval': interval, 'entries': mfc_deltas(before, self.counters())}

    def firewall(self):
        """``(igmp, mld)``: whether nftables accepts each, from one listing of the ruleset."""
        nft = self.module.get_bin_path('nft')
        if nft is None:
            reason = 'nft is not installed (Debian: apt install nftables)'
            return {'checked': False, 'reason': reason}, {'checked': False, 'reason': reason}
        try:
            ruleset = list_ruleset(self.module.run_command, nft)
        except NftError as error:
            return {'checked': False, 'reason': str(error)}, {'checked': False, 'reason': str(error)}
        report = drop_report(ruleset, [igmp_traffic(), mld_traffic()], skip=lambda rule: False)
        return tuple({'checked': True, 'accepted': not report[kind], 'hooks': hook_acceptance(report[kind], family),
                      'drops': report[kind]} for kind, family in (('igmp', 'ipv4'), ('mld', 'ipv6')))

    def mcastd(self):
        path = self.params['mcastd_socket']
        try:
            state = snapshot(path)
        except DaemonRefused as error:
            self.module.warn('mcastd on %s refused a query: %s' % (path, error))
            state = None
        status = state['status'] if state else None
        config_path = self.params['mcastd_config'] or (status or {}).get('config') or DEFAULT_CONFIG
        # queriers and members: the tables of mcastd's IGMP querier (show queriers, show members).
        # routes: mcastctl show routes, each output with where it is served (the kernel, or nftables' copies).
        return {'running': state is not None, 'socket': path, 'status': status,
                'pending': state['pending'] if state else [], 'routes': (state or {}).get('routes') or [],
                'queriers': (state or {}).get('queriers') or [],
                'members': (state or {}).get('members') or [], 'config': config_facts(config_path)}

    def reverse_paths(self, ipr, facts):
        """Where the route back to each known source leaves: what rp_filter checks."""
        sources = set(row['source'] for row in facts['mfc'] if row['source'] != '0.0.0.0')
        sources.update(route['source'] for route in facts['mcastd']['config']['routes']
                       if route['source'] and '/' not in route['source'] and ':' not in route['source'])
        # rp_filter judges a querier's queries like any other source.
        sources.update(address for heard in facts['queriers'].values() for _view, address in querier_views(heard)
                       if address != '0.0.0.0')
        return dict((source, self.names.get(route_lookup(ipr, source))) for source in sorted(sources))


ARGUMENT_SPEC = dict(
    gather_subset=dict(type='list', elements='str', choices=list(SUBSETS), default=['multicast']),
    packages=dict(type='list', elements='str', default=[]),
    mcastd_socket=dict(type='path', default=DEFAULT_SOCKET),
    mcastd_config=dict(type='path'),
    vif_warning=dict(type='int', default=VIF_WARNING),
    sample_interval=dict(type='float', default=SAMPLE_INTERVAL),
)


def validate(module):
    """The options, refused with what to change when they do not fit together or are out of range."""
    params = module.params
    subsets = params['gather_subset']
    if not subsets:
        module.fail_json(msg='gather_subset is empty: give multicast, platform or both.')
    if params['packages'] and 'platform' not in subsets:
        module.fail_json(msg='packages %s are only queried with platform in gather_subset: add platform to '
                         'gather_subset, or leave packages out.' % ', '.join(params['packages']))
    if not 1 <= params['vif_warning'] <= MAX_VIFS:
        module.fail_json(msg='vif_warning %d is out of range: use a number from 1 to %d (the kernel offers %d VIFs).'
                         % (params['vif_warning'], MAX_VIFS, MAX_VIFS))
    if not 0 <= params['sample_interval'] <= MAX_SAMPLE_INTERVAL:
        module.fail_json(msg='sample_interval %s is out of range: use a number of seconds from 0 (no second reading, '
                         'no ttl-too-low-to-route) to %d.' % (params['sample_interval'], MAX_SAMPLE_INTERVAL))
    return params


def apply(module, params):
    """The facts of the subsets asked for (nothing is changed): ``changed``, ``ansible_facts`` and, with
    ``platform``, ``packages`` and ``packages_checked``."""
    result = {'changed': False, 'ansible_facts': {}}
    if 'platform' in params['gather_subset']:
        facts, packages = platform_facts(module, params['packages'])
        result['ansible_facts'].update(facts)
        result.update(packages)
    if 'multicast' in params['gather_subset']:
        require_pyroute2(module)
        result['ansible_facts'].update(McastFacts(module).run()['ansible_facts'])
    return result


def run(module):
    return apply(module, validate(module))
