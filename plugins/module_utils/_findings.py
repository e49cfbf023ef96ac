# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The multicast pitfalls of a host, found in a facts snapshot (private to this collection).

Pure functions: :func:`evaluate` takes the ``ansible_facts.mcast`` dictionary that
``mcast.linux.facts`` gathers (without ``findings``) and returns the findings, each a dict with
``id``, ``severity`` (``error``: multicast is broken now; ``warning``: it breaks under
conditions the facts cannot rule out), ``subject``, ``summary``, ``evidence`` (sentences quoting
the facts) and ``fix``. The pitfalls are those of docs/DESIGN: IGMP dropped by the firewall,
rp_filter on a route's input, a multi-homed host without a dev-scoped multicast route, a
multicast route via a gateway, link-local groups in the route configuration, MLD dropped by the
firewall, a multi-homed IPv6 host without a multicast route in table local, routes (MFC entries
of either family, IPv6 configuration lines) for groups the kernel never forwards, routed flows
whose TTL or hop limit is too low to leave (from two counter readings), the VIF table near its
32 slots, another daemon holding the routing API, routes through an interface without
IFF_MULTICAST, and the IGMP querier pitfalls (no querier where routed multicast leaves, a
querier address implausible on its segment, a snooping bridge without querier), judged from
mcastd's querier table and the bridges' own querier state.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

from ansible_collections.mcast.linux.plugins.module_utils.mcastd.config import MAX_VIFS
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import (
    LINK_LOCAL_GROUPS_IPV4 as LINK_LOCAL_GROUPS_IPV4_TEXT, LOCAL_TABLE, name_matches)

VIF_WARNING = MAX_VIFS - 4
# The sentence mcastd's grammar gives a route for 224.0.0.0/24 (config.Parser._mroute).
LINK_LOCAL_SENTENCE = 'is link-local (224.0.0.0/24)'
LINK_LOCAL_IPV4 = ipaddress.ip_network('169.254.0.0/16')
LINK_LOCAL_GROUPS_IPV4 = ipaddress.ip_network(LINK_LOCAL_GROUPS_IPV4_TEXT)
# The group mcast.linux.facts looks up (multicast_egress) to show where IPv6 multicast leaves.
EGRESS_IPV6 = 'ff0e::1'


def finding(finding_id, severity, subject, summary, evidence, fix):
    return {'id': finding_id, 'severity': severity, 'subject': subject, 'summary': summary,
            'evidence': list(evidence), 'fix': fix}


def evaluate(facts, vif_warning=VIF_WARNING):
    """Every finding for the snapshot, in a stable order (check by check, subject by subject)."""
    found = []
    for check in (igmp_dropped, mld_dropped, rp_filter_on_route_input, multihomed_without_route,
                  multihomed_without_ipv6_route, route_via_gateway, link_local_in_config, link_local_group_routed,
                  ttl_too_low_to_route, vif_table_near_full, routing_api_held_by_other,
                  route_interface_without_multicast, no_querier_on_segment, querier_address_implausible,
                  bridge_snooping_without_querier):
        found.extend(check(facts, vif_warning) if check is vif_table_near_full else check(facts))
    return found


# --------------------------------------------------------------------------- which interfaces routes use

def _expand(pattern, interfaces):
    """Interface names an mcastd name or ``eth+`` wildcard stands for (a plain name even if absent)."""
    if not pattern.endswith('+'):
        return [pattern]
    return sorted(name for name in interfaces if name_matches(pattern, name))


def route_usage(facts):
    """``{interface: [(role, description)]}`` with role ``input`` or ``output`` for every multicast route.

    The routes of IPv6 groups (the IPv6 MFC, mcastd routes of IPv6 groups) use the roles ``input6``
    and ``output6``: rp_filter and the IGMP querier concern IPv4 only.

    Routes are the kernel's MFC entries, the mcastd configuration, the VIFs and the multicast
    routes of the unicast tables.
    """
    interfaces = facts.get('interfaces') or {}
    usage = {}

    def use(name, role, description):
        if name:
            usage.setdefault(name, []).append((role, description))

    for key, suffix in (('mfc', ''), ('mfc6', '6')):
        for row in facts.get(key) or []:
            entry = 'MFC entry (%s, %s)' % (row['source'], row['group'])
            use(row['iif'], 'input' + suffix, '%s arrives on it' % entry)
            for oif in row['oifs']:
                use(oif, 'output' + suffix, '%s leaves through it' % entry)
    for route in _config(facts).get('routes') or []:
        line = 'mcastd route at %s' % route['origin']
        suffix = '6' if ':' in route['group'] else ''
        for name in _expand(route['iif'], interfaces):
            use(name, 'input' + suffix, '%s takes its input from it' % line)
        for oif in route['oifs']:
            for name in _expand(oif, interfaces):
                use(name, 'output' + suffix, '%s forwards to it' % line)
    for vif in facts.get('vifs') or []:
        use(vif['interface'], 'output', 'VIF %d' % vif['index'])
    for route in facts.get('routes') or []:
        use(route.get('dev'), 'output', 'route %s dev %s' % (route['dest'], route.get('dev')))
    return usage


def _config(facts):
    return (facts.get('mcastd') or {}).get('config') or {}


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


# --------------------------------------------------------------------------- the checks

def _dropped_by_firewall(facts, key, finding_id, protocol, fix):
    """One finding per base chain that drops ``protocol`` (facts[key]['drops']); ``fix`` takes the chain name."""
    found = []
    for drop in (facts.get(key) or {}).get('drops') or []:
        chain = '%s %s %s' % (drop['family'], drop['table'], drop['chain'])
        verb = 'drops' if drop.get('certain', True) else 'may drop'
        evidence = ['base chain %s (hook %s, priority %s, policy %s) %s %s: %s' % (
            chain, drop['hook'], drop.get('priority'), drop.get('policy'), verb, protocol, drop.get('reason'))]
        found.append(finding(
            finding_id, 'error' if drop.get('certain', True) else 'warning', chain,
            'nftables %s %s in %s at hook %s' % (verb, protocol, chain, drop['hook']), evidence, fix % chain))
    return found


def igmp_dropped(facts):
    """A base chain that drops IGMP at some hook: the host stops answering membership queries."""
    return _dropped_by_firewall(
        facts, 'igmp', 'igmp-dropped-by-firewall', 'IGMP',
        'Accept IGMP before the drop: run mcast.linux.nftables (it inserts "ip protocol igmp accept" at the top '
        'of every base chain that would drop it), or add that rule at the top of %s yourself. An accept in '
        'another table does not help. Without it the host stops answering membership queries and snooping '
        'switches cut its groups after a few minutes.')


def mld_dropped(facts):
    """A base chain that drops MLD (ICMPv6 130, 131, 132, 143) at some hook: IGMP's twin for IPv6 groups."""
    return _dropped_by_firewall(
        facts, 'mld', 'mld-dropped-by-firewall', 'MLD',
        'Accept MLD before the drop: run mcast.linux.nftables with mld: true (it inserts an accept for the MLD '
        'types at the top of every base chain that would drop them), or add "icmpv6 type { mld-listener-query, '
        'mld-listener-report, mld-listener-done, mld2-listener-report } accept" at the top of %s yourself. An '
        'accept in another table does not help. Without it the host stops answering MLD queries (a router hears '
        'no reports) and snooping switches cut its IPv6 groups after a few minutes.')


def _known_sources(facts, name):
    """Unicast sources known to arrive on ``name``: MFC entries and (S,G) routes of the configuration."""
    interfaces = facts.get('interfaces') or {}
    sources = [row['source'] for row in facts.get('mfc') or [] if row['iif'] == name and row['source'] != '0.0.0.0']
    sources += [route['source'] for route in _config(facts).get('routes') or []
                if route.get('source') and '/' not in route['source'] and ':' not in route['source']
                and name in _expand(route['iif'], interfaces)]
    return _unique(sources)


def _reverse_path_checks(facts, name, mode):
    """``[(passes, sentence)]`` for the known sources on ``name`` under rp_filter ``mode``."""
    checks = []
    for source in _known_sources(facts, name):
        back = (facts.get('reverse_paths') or {}).get(source)
        if back is None:
            checks.append((False, 'source %s: no route back to it, so %s rp_filter drops its packets' % (source, mode)))
        elif mode == 'strict' and back != name:
            checks.append((False, 'source %s: the route back to it leaves through %s, not %s, so strict rp_filter '
                                  'drops its packets' % (source, back, name)))
        else:
            checks.append((True, 'source %s: the route back to it leaves through %s, so it passes' % (source, back)))
    return checks


def rp_filter_on_route_input(facts):
    """rp_filter strict or loose where multicast enters to be routed: sources without a route back are dropped."""
    found = []
    interfaces = facts.get('interfaces') or {}
    all_value = (facts.get('rp_filter') or {}).get('all')
    for name, uses in sorted(route_usage(facts).items()):
        rp_filter = (interfaces.get(name) or {}).get('rp_filter')
        if not rp_filter or not rp_filter['effective'] or not any(role == 'input' for role, _text in uses):
            continue
        mode = rp_filter['mode']
        checks = _reverse_path_checks(facts, name, mode)
        evidence = ['rp_filter on %s is %s: effective value %d = max(conf/all %s, conf/%s %d)'
                    % (name, mode, rp_filter['effective'], all_value, name, rp_filter['value'])]
        evidence += _unique(text for role, text in uses if role == 'input')
        evidence += [sentence for _passes, sentence in checks]
        if not checks:
            evidence.append('the sources are not known yet ((*,G) routes): any source without a route back '
                            'through %s is dropped without an upcall' % name if mode == 'strict' else
                            'the sources are not known yet ((*,G) routes): any source without a route back is '
                            'dropped without an upcall')
        failing = any(not passes for passes, _sentence in checks)
        found.append(finding(
            'rp-filter-on-route-input', 'error' if failing else 'warning', name,
            '%s rp_filter on %s, where routed multicast enters' % (mode, name), evidence,
            'Turn reverse-path filtering off where multicast enters: mcast.linux.rp_filter with interfaces: [%s] '
            'and mode: off (it lowers conf/all if needed without changing other interfaces). Or keep it and add '
            'unicast routes back to every source through %s.' % (name, name)))
    return found


def _ipv4_addresses(interface):
    addresses = []
    for address in interface.get('addresses') or []:
        network = ipaddress.ip_interface(address)
        if network.version == 4 and network.ip not in LINK_LOCAL_IPV4:
            addresses.append(address)
    return addresses


def multihomed_without_route(facts):
    """Several interfaces with IPv4 addresses and no dev-scoped multicast route: multicast follows the default route.

    A multicast router (VIFs installed) is multi-homed by design and forwards by its MFC entries, not
    by the unicast table, so it is not reported: the finding is about hosts that send.
    """
    if facts.get('vifs'):
        return []
    homes = [(name, _ipv4_addresses(interface)) for name, interface in sorted((facts.get('interfaces') or {}).items())
             if interface.get('up') and not interface.get('loopback') and _ipv4_addresses(interface)]
    if len(homes) < 2:
        return []
    dev_routes = [route for route in facts.get('routes') or []
                  if route['family'] == 'ipv4' and route.get('dev') and not route.get('gateway')]
    if dev_routes:
        return []
    evidence = ['%d interfaces are up with IPv4 addresses: %s'
                % (len(homes), ', '.join('%s (%s)' % (name, ', '.join(addresses)) for name, addresses in homes)),
                'no table has a route for 224.0.0.0/4 (or a narrower multicast prefix) with a dev and no gateway']
    return [finding(
        'multihomed-without-multicast-route', 'warning', 'host',
        'multi-homed host without a dev-scoped multicast route', evidence,
        'Say which interface multicast leaves through: mcast.linux.route with dev: IFACE (ip route add 224.0.0.0/4 '
        'dev IFACE), or set IP_MULTICAST_IF in the sending application. Otherwise groups are sent out of the '
        'interface of the default route.')]


def _ipv6_addresses(interface):
    """Global and ULA IPv6 addresses: every one but link-local (fe80::/10) and loopback."""
    addresses = []
    for address in interface.get('addresses') or []:
        network = ipaddress.ip_interface(address)
        if network.version == 6 and not (network.ip.is_link_local or network.ip.is_loopback):
            addresses.append(address)
    return addresses


def multihomed_without_ipv6_route(facts):
    """Global/ULA IPv6 addresses on several interfaces and no multicast route of its own in table local.

    Rule 0 looks up table local first, and there the kernel has ff00::/8 on every interface: IPv6
    multicast leaves through whichever comes first, and a route in table main is never consulted.
    A multicast router (MIFs installed) forwards by its MFC entries and is not reported.
    """
    if facts.get('mifs'):
        return []
    homes = [(name, _ipv6_addresses(interface)) for name, interface in sorted((facts.get('interfaces') or {}).items())
             if interface.get('up') and not interface.get('loopback') and _ipv6_addresses(interface)]
    if len(homes) < 2:
        return []
    routes = [route for route in facts.get('routes') or []
              if route['family'] == 'ipv6' and route.get('dev') and not route.get('gateway')]
    if any(route['table'] == LOCAL_TABLE for route in routes):
        return []
    evidence = ['%d interfaces are up with global or ULA IPv6 addresses: %s'
                % (len(homes), ', '.join('%s (%s)' % (name, ', '.join(addresses)) for name, addresses in homes)),
                'table local, which rule 0 looks up first, has no IPv6 multicast route besides the kernel\'s '
                'own ff00::/8 on every interface (proto kernel)']
    egress = (facts.get('multicast_egress') or {}).get(EGRESS_IPV6)
    if egress:
        evidence.append('ip -6 route get %s answers dev %s: the first of those kernel routes, not a choice'
                        % (EGRESS_IPV6, egress))
    evidence += ['route %s dev %s in table %s is ignored: table local answers for multicast before it'
                 % (route['dest'], route['dev'], route['table']) for route in routes]
    return [finding(
        'multihomed-without-ipv6-multicast-route', 'warning', 'host',
        'multi-homed host without an IPv6 multicast route in table local', evidence,
        'Say which interface IPv6 multicast leaves through: mcast.linux.route with an IPv6 dest (for example '
        'dest: ff0e::/16, or ff00::/8, and dev: IFACE), which puts the route in table local, where it takes '
        'effect; by hand "ip -6 route add multicast ff00::/8 dev IFACE table local metric 10" (gone when the '
        'link goes down). Or set IPV6_MULTICAST_IF in the sending application. A route in table main is '
        'ignored for multicast.')]


def route_via_gateway(facts):
    """A multicast prefix routed via a gateway: the kernel puts multicast into unicast frames for it."""
    found = []
    for route in facts.get('routes') or []:
        if not route.get('gateway'):
            continue
        text = '%s via %s dev %s table %s metric %s' % (
            route['dest'], route['gateway'], route.get('dev'), route['table'], route['metric'])
        found.append(finding(
            'multicast-route-via-gateway', 'error', route['dest'], 'multicast route %s via a gateway' % route['dest'],
            ['route %s' % text],
            'Delete the via route and route the prefix by interface only: mcast.linux.route with dest: %s and '
            'dev: %s (it refuses via). With a gateway the kernel sends multicast inside unicast frames to %s, and '
            'receivers never see it.' % (route['dest'], route.get('dev') or 'IFACE', route['gateway'])))
    return found


def link_local_in_config(facts):
    """A route for a group in 224.0.0.0/24: the kernel never forwards these, and mcastd refuses the file."""
    config = _config(facts)
    found = []
    for error in config.get('errors') or []:
        if LINK_LOCAL_SENTENCE not in error:
            continue
        origin = error.split(': ', 1)[0]
        found.append(finding(
            'link-local-group-in-config', 'error', origin, 'route for a link-local group at %s' % origin,
            [error, 'mcastd refuses the whole configuration %s while this line is in it' % config.get('path')],
            'Remove the route: groups in 224.0.0.0/24 (OSPF, VRRP, mDNS, IGMP itself, ...) stay on their segment '
            'whatever route is set. To carry a stream across the router, send it to a routable group such as one '
            'in 239.0.0.0/8, with a TTL above 1.'))
    return found


def never_forwarded(group):
    """Why the kernel never forwards ``group`` (text, a group or prefix), or None."""
    network = ipaddress.ip_network(group, strict=False)
    if network.version == 4:
        return '%s is link-local (224.0.0.0/24)' % group if network.subnet_of(LINK_LOCAL_GROUPS_IPV4) else None
    address = network.network_address
    if network.prefixlen >= 16 and address.is_multicast and address.packed[1] & 0xf in (1, 2):
        scope = address.packed[1] & 0xf
        return '%s has %s scope (scope %d, as ff0%d::/16 and ffx%d with any flags)' % (
            group, 'interface-local' if scope == 1 else 'link-local', scope, scope, scope)
    return None


def link_local_group_routed(facts):
    """An MFC entry, or an IPv6 mroute line, for a group the kernel never forwards: it accepts them all the same.

    IPv4 lines of the mcastd configuration are link-local-group-in-config: mcastd refuses them, and
    that finding is about the refused file. Here: routes that exist (the kernel's MFC, for instance
    installed by smcroute) and IPv6 lines, which smcroute installs and an mcastd without IPv6 skips.
    """
    found = []
    for key, family in (('mfc', 'IPv4'), ('mfc6', 'IPv6')):
        for row in facts.get(key) or []:
            reason = never_forwarded(row['group'])
            if reason is None:
                continue
            entry = '(%s, %s)' % (row['source'], row['group'])
            found.append(finding(
                'link-local-group-routed', 'error', entry, '%s MFC entry %s routes a group the kernel never forwards'
                % (family, entry),
                ['%s MFC entry %s from %s to %s: %d packets so far' % (
                    family, entry, row['iif'], ', '.join(str(oif) for oif in row['oifs']) or 'no output',
                    row['packets']),
                 '%s: the kernel accepts the entry and never forwards a datagram of that group' % reason],
                _LINK_LOCAL_FIX))
    config = _config(facts)
    for line in config.get('link_local_routes') or []:
        evidence = ['%s: %s' % (line['origin'], line['line']), '%s: smcroute installs the route, the kernel '
                    'accepts it and never forwards a datagram of that group' % never_forwarded(line['group'])]
        evidence += [error for error in config.get('errors') or [] if error.startswith(line['origin'] + ':')]
        if len(evidence) > 2:
            evidence.append('mcastd refuses the whole configuration %s while this line is in it' % config.get('path'))
        found.append(finding(
            'link-local-group-routed', 'error', line['origin'], 'route for the link-local-scope group %s at %s'
            % (line['group'], line['origin']), evidence, _LINK_LOCAL_FIX))
    return found


_LINK_LOCAL_FIX = (
    'Remove the route: groups of link-local scope (224.0.0.0/24; ff02::/16 and ff01::/16 and any ffx2 or ffx1 '
    'group: mDNS ff02::fb, all-nodes, OSPF, ...) stay on their segment whatever route is set. To carry a stream '
    'across the router, send it to a group of wider scope (239.0.0.0/8; ff05::/16 site-local or ff0e::/16 '
    'global, or ff3e:: for SSM) with a TTL or hop limit above 1.')


_TTL_OPTIONS = {
    'ipv4': 'the IP_MULTICAST_TTL socket option (for example socat ...,ip-multicast-ttl=8, iperf -T 8, VLC --ttl 8, '
            'GStreamer udpsink ttl-mc=8)',
    'ipv6': 'the IPV6_MULTICAST_HOPS socket option (most tools call it the TTL: iperf -V -T 8, VLC --ttl 8, '
            'GStreamer udpsink ttl-mc=8)'}


def ttl_too_low_to_route(facts):
    """A routed flow whose datagrams arrive but never leave: its TTL (hop limit) is 1, or at most the threshold.

    The kernel counts a datagram for its MFC entry before it compares the TTL with each output's
    threshold (at least 1), so the entry's counter grows while no output's out-packets do. An
    output that is down explains silence as well: not reported then.
    """
    deltas = facts.get('mfc_deltas') or {}
    interfaces = facts.get('interfaces') or {}
    found = []
    for entry in deltas.get('entries') or []:
        arrived = entry['packets'] - entry['wrong_if']
        outputs = entry['outputs']
        if arrived <= 0 or not outputs or any(output['packets_out'] is None or output['packets_out'] > 0 or
                                              not (interfaces.get(output['interface']) or {}).get('up')
                                              for output in outputs):
            continue
        ipv6 = entry['family'] == 'ipv6'
        ttl, vif = ('hop limit', 'MIF') if ipv6 else ('TTL', 'VIF')
        flow = '(%s, %s)' % (entry['source'], entry['group'])
        evidence = [
            '%s MFC entry %s arriving on %s: its packet counter grew by %d in %s s (%d of them on a wrong interface)'
            % ('IPv6' if ipv6 else 'IPv4', flow, entry['iif'], entry['packets'], deltas.get('interval'),
               entry['wrong_if']),
            'out-packets of its outputs did not grow meanwhile: %s' % ', '.join(
                '%s (%s %s) +%d' % (output['interface'], vif, output['vif'], output['packets_out'])
                for output in outputs),
            'the kernel counts each datagram for the entry, then forwards it only where its %s exceeds the '
            "output's threshold (at least 1): these datagrams arrive with %s 1%s" % (
                ttl, ttl, '' if ipv6 else ' (or at most the ttl-threshold)')]
        found.append(finding(
            'ttl-too-low-to-route', 'error', flow, 'routed flow %s arrives on %s but never leaves: %s too low'
            % (flow, entry['iif'], ttl), evidence,
            'Make the sender send with a %s above the number of routers to cross: %s. Most applications send '
            'multicast with 1, the socket default, which never crosses a router.%s' % (
                ttl, _TTL_OPTIONS[entry['family']],
                '' if ipv6 else ' If it already does, lower the ttl-threshold of the outputs in the mcastd '
                'configuration.')))
    return found


def vif_table_near_full(facts, vif_warning=VIF_WARNING):
    """The kernel offers 32 VIFs per table. Where mcastd can run nft, it copies the outputs without a VIF with
    nftables (issue 12): a full table then costs CPU per copy, not routes (a warning); without nft the
    interfaces left out are not routed (an error)."""
    vifs = facts.get('vifs') or []
    status = (facts.get('mcastd') or {}).get('status') or {}
    left_out = status.get('vifs_left_out') or []
    if not left_out and len(vifs) < vif_warning:
        return []
    copies = (status.get('nftables') or {})
    in_use = ', '.join(vif['interface'] for vif in vifs)
    evidence = ["%d of the kernel's %d VIFs are in use: %s" % (len(vifs), MAX_VIFS, in_use)]
    if left_out:
        evidence.append('mcastd left out for lack of a VIF: %s' % ', '.join(left_out))
    if copies.get('nft'):
        copied = copies.get('ipv4') or {}
        evidence.append('mcastd copies the outputs without a VIF with nftables (%s, table ip %s): %d flows, %d '
                        'outputs now' % (copies['nft'], copies.get('table'), copied.get('flows', 0),
                                         copied.get('outputs', 0)))
        return [finding(
            'vif-table-near-full', 'warning', 'vifs',
            'VIF table %s (%d of %d); nftables copies the rest' % ('full' if left_out else 'nearly full', len(vifs),
                                                                   MAX_VIFS), evidence,
            'Routes still reach every output: mcastd copies to the outputs without a VIF with nftables, which costs '
            'about 1.5 microseconds of CPU per copy instead of the kernel\'s routing. To keep the busiest outputs in '
            'the kernel, narrow wildcard names (eth+) in the mcastd configuration or exclude unused interfaces with '
            '"phyint IFACE disable".')]
    return [finding(
        'vif-table-near-full', 'error' if left_out else 'warning', 'vifs',
        'VIF table %s (%d of %d)' % ('full' if left_out else 'nearly full', len(vifs), MAX_VIFS), evidence,
        'Route fewer interfaces: narrow wildcard names (eth+) in the mcastd configuration, or exclude unused '
        'interfaces with "phyint IFACE disable". Or install nftables (nft): mcastd then copies to the outputs '
        'without a VIF itself, past the kernel\'s %d.' % MAX_VIFS)]


def _holders_text(holders):
    return ', '.join('%s (pid %d: %s)' % (holder['name'], holder['pid'], holder['command']) for holder in holders)


def routing_api_held_by_other(facts):
    """A routing socket is open but mcastd does not answer: another daemon holds the API, and mcastd cannot start."""
    api = facts.get('routing_api') or {}
    mcastd = facts.get('mcastd') or {}
    if not api.get('held') or mcastd.get('running'):
        return []
    evidence = ['net.ipv4.conf.all.mc_forwarding is 1: a process holds the multicast routing API (MRT_INIT) in '
                'this network namespace',
                'mcastd does not answer on %s' % mcastd.get('socket')]
    if api.get('holders'):
        evidence.append('processes with a raw IGMP socket here: %s' % _holders_text(api['holders']))
    else:
        evidence.append('no process with a raw IGMP socket is visible (it runs in another PID namespace)')
    configured = _config(facts).get('exists')
    if configured:
        evidence.append('mcastd is configured (%s) but cannot start while the API is held: it exits with '
                        'EADDRINUSE (exit code 69, EX_UNAVAILABLE)' % _config(facts).get('path'))
    return [finding(
        'routing-api-held-by-other', 'error' if configured else 'warning', 'routing-api',
        'another multicast routing daemon holds the kernel API', evidence,
        'Only one multicast routing daemon can run per network namespace. If mcastd should route, stop and '
        'disable the other one (smcroute: systemctl disable --now smcroute; likewise pimd, igmpproxy, mrouted, '
        'FRR pimd). If the other daemon is meant to route, remove the mcastd configuration.')]


def route_interface_without_multicast(facts):
    """An interface multicast routes use but that has IFF_MULTICAST off: nothing is sent or joined there."""
    found = []
    interfaces = facts.get('interfaces') or {}
    for name, uses in sorted(route_usage(facts).items()):
        interface = interfaces.get(name)
        if interface is None or interface.get('multicast'):
            continue
        evidence = ['%s has no MULTICAST flag (flags: %s)' % (name, ', '.join(interface.get('flags') or []) or 'none')]
        evidence += _unique(text for _role, text in uses)
        found.append(finding(
            'route-interface-without-multicast', 'error', name, 'multicast routes use %s, which has multicast off'
            % name, evidence,
            'Turn the flag on: mcast.linux.link with interfaces: [%s] (flags: [multicast], persisted by its udev '
            'rule), or ip link set %s multicast on for the running kernel only.' % (name, name)))
    return found


# --------------------------------------------------------------------------- queriers (mcastd's view, bridges' view)

def _mcastd_knows_querier(row):
    """Whether mcastd's row for an interface names a querier (itself or one it heard)."""
    return row.get('role') != 'listener' or bool(row.get('querier'))


def _segment_without_querier(name, heard, bridge):
    """Sentences showing that no view of ``name`` knows a querier; empty when one does (or none can tell)."""
    evidence = []
    row = heard.get('mcastd')
    if row is not None:
        if _mcastd_knows_querier(row):
            return []
        evidence.append('mcastd only listens on %s (no "phyint %s querier" in its configuration) and has heard no '
                        'querier there' % (name, name))
    if 'bridge' in heard and bridge and bridge.get('snooping'):
        if heard['bridge'] is not None:
            return []
        evidence.append('bridge %s snoops (mcast_snooping 1, mcast_querier %d) and its querier state '
                        '(IFLA_BR_MCAST_QUERIER_STATE) names no IPv4 querier' % (name, int(bool(bridge.get('querier')))))
    return evidence


def no_querier_on_segment(facts):
    """Routed multicast leaves through an interface where no querier is known: snooping switches prune it."""
    found = []
    queriers = facts.get('queriers') or {}
    bridges = facts.get('bridges') or {}
    for name, uses in sorted(route_usage(facts).items()):
        # A VIF alone is no output: the input interface has one too, and multicast arrives there.
        outputs = _unique(text for role, text in uses if role == 'output' and not text.startswith('VIF '))
        evidence = _segment_without_querier(name, queriers.get(name) or {}, bridges.get(name)) if outputs else []
        if not evidence:
            continue
        found.append(finding(
            'no-querier-on-segment', 'warning', name, 'no IGMP querier known on %s, where routed multicast leaves'
            % name, evidence + outputs,
            'Give the segment a querier: "phyint %s querier" in the mcastd configuration (the router role\'s querier '
            'option does this for its routed interfaces), or mcast.linux.bridge with name: %s and querier: true when '
            '%s is a bridge. Without queries, hosts stop reporting and snooping switches prune the groups after '
            'the membership interval (260 s by default): the stream stops after a few minutes.' % (name, name, name)))
    return found


def _ipv4_networks(name, interfaces, extra=()):
    """The IPv4 interface addresses of ``name`` (and ``extra``, e.g. mcastd's subnets), as ip_interface objects."""
    networks = []
    for text in list((interfaces.get(name) or {}).get('addresses') or []) + list(extra):
        address = ipaddress.ip_interface(text)
        if address.version == 4 and address not in networks:
            networks.append(address)
    return networks


def implausible_querier_reason(address, networks):
    """Why a querier heard at ``address`` is implausible on an interface with ``networks``, or None."""
    if not networks:
        return None  # an interface without IPv4 addresses has nothing to compare with
    querier = ipaddress.ip_address(address)
    listed = ', '.join(str(network.network) for network in networks)
    real = [network for network in networks if network.ip not in LINK_LOCAL_IPV4]
    if querier == ipaddress.ip_address('0.0.0.0'):
        return ('the querier sends from 0.0.0.0 while the interface has an address (%s): hosts and switches do not '
                'elect it and some drop its queries' % listed)
    if querier in LINK_LOCAL_IPV4 and real:
        return ('the querier sends from link-local %s while the interface has a real address (%s)'
                % (address, ', '.join(str(network.network) for network in real)))
    if not any(querier in network.network for network in networks):
        return '%s is not within any IPv4 subnet of the interface (%s)' % (address, listed)
    return None


def querier_views(heard):
    """``[(view, address)]``: the querier addresses mcastd and the bridge report for one interface."""
    views = []
    row = heard.get('mcastd') or {}
    if row.get('querier'):
        views.append(('mcastd', row['querier']))
    if heard.get('bridge'):
        views.append(('bridge', heard['bridge']['address']))
    return views


def _view_sentence(view, name, address, heard):
    if view == 'mcastd':
        return 'mcastd reports %s as the querier on %s' % (address, name)
    whose = 'its own querier' if heard['bridge'].get('own') else 'the querier heard on port %s' % heard['bridge'].get('port')
    return "bridge %s's querier state (IFLA_BR_MCAST_QUERIER_STATE) names %s, %s" % (name, address, whose)


def _rp_filter_drops(facts, name, address):
    """A sentence when this host's own rp_filter drops queries from ``address`` on ``name``, or None."""
    rp_filter = ((facts.get('interfaces') or {}).get(name) or {}).get('rp_filter') or {}
    if address == '0.0.0.0' or not rp_filter.get('effective'):
        return None
    back = (facts.get('reverse_paths') or {}).get(address)
    if back is None:
        return 'this host has no route back to %s, so its %s rp_filter on %s drops the queries' % (
            address, rp_filter.get('mode'), name)
    if rp_filter.get('mode') == 'strict' and back != name:
        return 'the route back to %s leaves through %s, not %s, so strict rp_filter here drops the queries' % (
            address, back, name)
    return None


def querier_address_implausible(facts):
    """A querier heard from an address off the interface's subnets: hosts with rp_filter drop its queries."""
    found = []
    interfaces = facts.get('interfaces') or {}
    for name, heard in sorted((facts.get('queriers') or {}).items()):
        subnets = (heard.get('mcastd') or {}).get('subnets') or []
        networks = _ipv4_networks(name, interfaces, subnets)
        for view, address in querier_views(heard):
            reason = implausible_querier_reason(address, networks)
            if reason is None:
                continue
            source = _view_sentence(view, name, address, heard)
            dropped = _rp_filter_drops(facts, name, address)
            evidence = [source, reason] + ([dropped] if dropped else [])
            found.append(finding(
                'querier-address-implausible', 'error' if dropped else 'warning', name,
                'querier %s on %s is implausible on that segment' % (address, name), evidence,
                'Make the querier send from an address of the segment\'s subnet (%s): mcastd picks one of the '
                'interface\'s own addresses unless "phyint %s querier address A" says otherwise; a Linux bridge '
                'needs an address and mcast.linux.bridge query_use_ifaddr: true (else it sends from 0.0.0.0); '
                'for a switch or another router, fix its querier address. Hosts with rp_filter on (1 on RHEL, 2 where '
                'systemd\'s 50-default.conf applies) drop queries from a source they cannot route back to, '
                'stop reporting, and snooping switches prune their groups.'
                % (', '.join(str(network.network) for network in networks), name)))
    return found


def bridge_snooping_without_querier(facts):
    """A snooping bridge that is not querier and hears none: it floods now, and prunes once one comes and goes."""
    found = []
    queriers = facts.get('queriers') or {}
    for name, bridge in sorted((facts.get('bridges') or {}).items()):
        if not bridge.get('snooping') or bridge.get('querier') or (queriers.get(name) or {}).get('bridge'):
            continue
        evidence = ['bridge %s: mcast_snooping 1, mcast_querier 0' % name,
                    'its querier state (IFLA_BR_MCAST_QUERIER_STATE) names no other querier: no query was heard '
                    'within the other-querier-present interval (%s s)' % bridge.get('querier_interval')]
        found.append(finding(
            'bridge-snooping-without-querier', 'warning', name,
            'bridge %s snoops IGMP but no querier serves it' % name, evidence,
            'Enable the bridge\'s own querier: mcast.linux.bridge with name: %s, querier: true and '
            'query_use_ifaddr: true (give the bridge an address on the segment), or run a querier on the segment '
            '("phyint %s querier" in mcastd). Without one the bridge floods every group now, but after a querier '
            'appears and vanishes it prunes the groups after the membership interval (%s s).'
            % (name, name, bridge.get('membership_interval'))))
    return found
