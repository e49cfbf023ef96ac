# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nftables for the mcast.linux modules: ``nft -j`` JSON only (private to this collection).

The ruleset is read with ``nft -j list ruleset`` and changed with one ``nft -j -f -`` batch, which
the kernel applies atomically. In nftables every base chain registered at a hook sees the packet,
whatever table or family it belongs to, and an accept only ends the chain it is in: an accept in
``inet filter input`` does not stop a drop in ``ip raw prerouting`` or in another table's input
chain. So the planner looks at every base chain, in every table and family, that the traffic
passes, works out whether that chain could drop it, and places an accept rule at the top of each
chain that could. Its own rules carry a comment tag (``mcast.linux:KIND:DIGEST``) and are found by
that tag, never by handle, so a rule added by anyone else is never changed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import ipaddress
import json
import re

from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import LINK_LOCAL_GROUPS_IPV4

TAG_PREFIX = 'mcast.linux:'
# Bump when the rule expressions change, so rules written by an older release get replaced.
RULE_FORMAT = '1'

CONTROL_HOOKS = {
    'ip': ('prerouting', 'input', 'output', 'postrouting'),
    'ip6': ('prerouting', 'input', 'output', 'postrouting'),
    'inet': ('ingress', 'prerouting', 'input', 'output', 'postrouting'),
    'netdev': ('ingress', 'egress'),
    'bridge': ('prerouting', 'input', 'forward', 'output', 'postrouting'),
}
# Routed multicast enters, is forwarded by the multicast routing code, and leaves: it never
# passes input or output.
ROUTED_HOOKS = {
    'ip': ('prerouting', 'forward', 'postrouting'),
    'ip6': ('prerouting', 'forward', 'postrouting'),
    'inet': ('ingress', 'prerouting', 'forward', 'postrouting'),
    'netdev': ('ingress', 'egress'),
}
FAMILIES_SEEING = {
    'ipv4': ('ip', 'inet', 'netdev', 'bridge'),
    'ipv6': ('ip6', 'inet', 'netdev', 'bridge'),
}

L4PROTO_NUMBERS = {
    'hopopt': 0, 'icmp': 1, 'igmp': 2, 'ipip': 4, 'tcp': 6, 'egp': 8, 'udp': 17, 'ipv6': 41,
    'ipv6-route': 43, 'ipv6-frag': 44, 'gre': 47, 'esp': 50, 'ah': 51, 'ipv6-icmp': 58,
    'icmpv6': 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60, 'ospf': 89, 'pim': 103, 'vrrp': 112,
    'sctp': 132, 'udplite': 136, 'dccp': 33, 'comp': 108, 'mptcp': 262,
}
ICMPV6_TYPES = {
    'destination-unreachable': 1, 'packet-too-big': 2, 'time-exceeded': 3, 'parameter-problem': 4,
    'echo-request': 128, 'echo-reply': 129, 'mld-listener-query': 130, 'mld-listener-report': 131,
    'mld-listener-done': 132, 'mld-listener-reduction': 132, 'nd-router-solicit': 133,
    'nd-router-advert': 134, 'nd-neighbor-solicit': 135, 'nd-neighbor-advert': 136, 'nd-redirect': 137,
    'router-renumbering': 138, 'ind-neighbor-solicit': 141, 'ind-neighbor-advert': 142,
    'mld2-listener-report': 143,
}
MLD_TYPE_NAMES = ('mld-listener-query', 'mld-listener-report', 'mld-listener-done', 'mld2-listener-report')
# Transport protocols whose header fields nft matches as ``payload`` with this ``protocol``.
TRANSPORT_PAYLOADS = {'tcp': 6, 'udp': 17, 'udplite': 136, 'sctp': 132, 'dccp': 33, 'icmp': 1,
                      'icmpv6': 58, 'igmp': 2, 'ah': 51, 'esp': 50, 'comp': 108}
ETHER_TYPES = {'ipv4': ('ip', 0x0800), 'ipv6': ('ip6', 0x86dd)}

VERDICT_KEYS = ('accept', 'drop', 'reject', 'queue', 'jump', 'goto', 'return', 'continue')
# Statements that end a rule the way an accept does (nat verdicts) or that do not decide anything.
ACCEPTING_STATEMENTS = ('snat', 'dnat', 'masquerade', 'redirect')
NEUTRAL_STATEMENTS = ('counter', 'log', 'mangle', 'notrack', 'set', 'map', 'ct helper', 'ct timeout',
                      'ct expectation', 'ct count', 'tproxy', 'dup', 'secmark', 'flow', 'last')
MAX_JUMP_DEPTH = 16
# Table and chain names that nft's own syntax can write (it has no quoting for names).
NAME_RE = re.compile(r'^[A-Za-z_.][A-Za-z0-9_./-]*$')


class NftError(Exception):
    """``nft`` failed or printed something this module cannot read; the message says which."""


# --------------------------------------------------------------------------- running nft

def run_nft(run_command, nft_bin, args, data=None):
    """Run ``nft ARGS`` (argv list) and return its stdout; raise NftError on a non-zero exit."""
    argv = [nft_bin] + list(args)
    if data is None:
        rc, out, err = run_command(argv)
    else:
        rc, out, err = run_command(argv, data=data, binary_data=True)
    if rc != 0:
        raise NftError('`%s` failed (exit %d): %s' % (' '.join(argv), rc, (err or out).strip()))
    return out


def list_ruleset(run_command, nft_bin):
    """The live ruleset as a :class:`Ruleset`, read with ``nft -j list ruleset``."""
    out = run_nft(run_command, nft_bin, ['-j', 'list', 'ruleset'])
    try:
        document = json.loads(out)
    except ValueError as error:
        raise NftError('`nft -j list ruleset` did not print JSON (%s); is this nft built with JSON support?' % error)
    return Ruleset(document)


def apply_batch(run_command, nft_bin, commands):
    """Apply ``commands`` (nft JSON commands) as one atomic transaction: all of them or none."""
    if commands:
        run_nft(run_command, nft_bin, ['-j', '-f', '-'], data=json.dumps({'nftables': commands}))


# --------------------------------------------------------------------------- the ruleset

class Chain(object):
    """One chain with its rules in evaluation order (dicts as ``nft -j`` prints them)."""

    def __init__(self, spec):
        self.family = spec['family']
        self.table = spec['table']
        self.name = spec['name']
        self.hook = spec.get('hook')
        self.priority = spec.get('prio')
        self.policy = spec.get('policy', 'accept')
        self.type = spec.get('type')
        self.device = spec.get('dev')
        self.rules = []

    @property
    def key(self):
        return (self.family, self.table, self.name)

    @property
    def is_base(self):
        return self.hook is not None

    @property
    def label(self):
        return '%s %s %s' % self.key

    def describe(self):
        """The chain as reported to the user."""
        description = {'family': self.family, 'table': self.table, 'chain': self.name, 'hook': self.hook,
                       'priority': self.priority, 'policy': self.policy, 'type': self.type}
        if self.device:
            description['device'] = self.device
        return description


class Ruleset(object):
    """The parsed output of ``nft -j list ruleset``."""

    def __init__(self, document):
        if not isinstance(document, dict) or not isinstance(document.get('nftables'), list):
            raise NftError('`nft -j list ruleset` printed JSON without the "nftables" list.')
        self.tables = []
        self.chains = {}
        for item in document['nftables']:
            if 'table' in item:
                self.tables.append(item['table'])
            elif 'chain' in item:
                chain = Chain(item['chain'])
                self.chains[chain.key] = chain
            elif 'rule' in item:
                rule = item['rule']
                self.chains[(rule['family'], rule['table'], rule['chain'])].rules.append(rule)

    def base_chains(self):
        """Base chains sorted as the kernel runs them at a hook: by priority (then by name)."""
        chains = [chain for chain in self.chains.values() if chain.is_base]
        return sorted(chains, key=lambda c: (c.family, c.hook, _number_or_zero(c.priority), c.table, c.name))

    def managed_rules(self):
        """``[(chain, index, rule)]`` for every rule carrying this module's tag, in any chain."""
        found = []
        for chain in self.chains.values():
            for index, rule in enumerate(chain.rules):
                if is_managed(rule):
                    found.append((chain, index, rule))
        return found


def _number_or_zero(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def is_managed(rule):
    return str(rule.get('comment', '')).startswith(TAG_PREFIX)


def foreign_owner(ruleset):
    """Return a sentence when another program owns the ruleset, else None.

    firewalld rebuilds its tables on every reload and iptables-nft cannot read native nft rules in
    its tables, so rules added there would be lost or would break the owner's own tools.
    """
    for table in ruleset.tables:
        if table['name'] == 'firewalld':
            return ("firewalld manages this host's firewall (table %s firewalld): it rewrites the ruleset on every "
                    "reload, so this module does not add rules. Let firewalld accept multicast control traffic "
                    "instead: firewall-cmd --permanent --add-protocol=igmp (and --add-protocol=pim for PIM; "
                    "MLD is ICMPv6 and accepted unless an icmp-block covers it), then firewall-cmd --reload; "
                    "or use ansible.posix.firewalld with protocol: igmp, permanent: true, immediate: true."
                    % table['family'])
        if 'owner' in (table.get('flags') or []):
            return ("table %s %s is owned by another process (nft flag 'owner'): the kernel refuses rules from "
                    "anyone else. Configure multicast acceptance in the program that owns it."
                    % (table['family'], table['name']))
    for chain in ruleset.chains.values():
        if chain.is_base and chain.family in ('ip', 'ip6') and chain.name.isupper() and \
                any('xt' in statement for rule in chain.rules for statement in rule.get('expr', [])):
            return ("table %s %s belongs to iptables-nft (chain %s uses xtables matches): native nft rules there "
                    "would make `iptables` unable to list it. Accept IGMP with iptables instead, for example "
                    "iptables -I INPUT -p igmp -j ACCEPT, and persist it with iptables-persistent."
                    % (chain.family, chain.table, chain.name))
    return None


# --------------------------------------------------------------------------- the traffic

class Probe(object):
    """What the planner knows about a class of packets: enough to evaluate common matches.

    A field that is None is unknown, and every match on it is unknown too. ``hooks`` limits the
    probe to some hooks (``{family: (hook, ...)}``); None: every hook its traffic passes.
    ``note`` names the part of the traffic in the reason of a drop, when it is not all of it.
    """

    def __init__(self, nfproto, l4proto, daddr=None, ct_state=None, icmpv6_types=None, dports=None, saddr=None,
                 hooks=None, note=None):
        self.nfproto = nfproto
        self.l4proto = l4proto
        self.daddr = ipaddress.ip_network(daddr) if daddr else None
        self.saddr = ipaddress.ip_network(saddr) if saddr else None
        self.ct_state = ct_state
        self.icmpv6_types = icmpv6_types
        self.dports = dports
        self.hooks = hooks
        self.note = note

    def passes(self, family, hook=None):
        """True if packets of this probe reach chains of ``family`` (at ``hook``, when given)."""
        if family not in FAMILIES_SEEING[self.nfproto]:
            return False
        return hook is None or self.hooks is None or hook in self.hooks.get(family, ())


def rule_tag(kind, identity):
    """The comment that marks a rule as this module's: kind and a digest of what the rule is for."""
    digest = hashlib.sha256(json.dumps([RULE_FORMAT, identity], sort_keys=True).encode()).hexdigest()[:12]
    return '%s%s:%s' % (TAG_PREFIX, kind, digest)


class Traffic(object):
    """One kind of multicast traffic, the hooks it passes and the accept rule that lets it pass."""

    def __init__(self, kind, description, probes, hooks, expr, identity):
        self.kind = kind
        self.description = description
        self.probes = probes
        self.hooks = hooks
        self.expr = expr
        self.text = expr_text(expr)
        self.tag = rule_tag(kind, identity)

    def probes_for(self, family, hook=None):
        return [probe for probe in self.probes if probe.passes(family, hook)]

    def applies_to(self, chain):
        return chain.hook in self.hooks.get(chain.family, ()) and bool(self.probes_for(chain.family, chain.hook))


def _match(left, right, op='=='):
    return {'match': {'op': op, 'left': left, 'right': right}}


def _payload(protocol, field):
    return {'payload': {'protocol': protocol, 'field': field}}


ACCEPT = {'accept': None}


def igmp_traffic():
    # IGMP packets are conntracked by the generic tracker and never answered: state new.
    probe = Probe('ipv4', 2, daddr='224.0.0.0/4', ct_state='new')
    return Traffic('igmp', 'IGMP (membership queries and reports)', [probe], CONTROL_HOOKS,
                   [_match(_payload('ip', 'protocol'), L4PROTO_NUMBERS['igmp']), ACCEPT], 'igmp')


# MLD is only valid from a link-local source (RFC 9777: "Source Addresses for Queries", and
# section 5.2.14 for reports), but a report may also come from the unspecified address :: while
# the sender has no valid link-local address yet, during duplicate address detection (DAD).
# Routers discard such reports (same section) and MLDv2 hosts ignore reports, so where MLD
# arrives they need no acceptance. But the host's own DAD-time reports must leave it, and a
# bridge on the host must switch (and snoop) those of its neighbours, or snooping switches never
# forward the neighbour solicitations of DAD to them. So the rule accepts :: too, and the
# planner judges :: reports only at the hooks of leaving and bridged traffic. Any other source
# is invalid MLD and stays dropped.
MLD_SOURCES = ('::', 'fe80::/10')
MLD_REPORT_TYPE_NAMES = ('mld-listener-report', 'mld2-listener-report')
UNSPECIFIED_SOURCE_HOOKS = {'ip6': ('output', 'postrouting'), 'inet': ('output', 'postrouting'),
                            'netdev': ('egress',), 'bridge': CONTROL_HOOKS['bridge']}


def mld_traffic():
    """MLD from link-local sources everywhere, and reports from :: where they leave or are bridged."""
    # The conntrack ICMPv6 tracker leaves MLD untracked.
    link_local = Probe('ipv6', 58, daddr='ff00::/8', saddr='fe80::/10', ct_state='untracked',
                       icmpv6_types=[ICMPV6_TYPES[name] for name in MLD_TYPE_NAMES])
    unspecified = Probe('ipv6', 58, daddr='ff00::/8', saddr='::/128', ct_state='untracked',
                        icmpv6_types=[ICMPV6_TYPES[name] for name in MLD_REPORT_TYPE_NAMES],
                        hooks=UNSPECIFIED_SOURCE_HOOKS, note='reports from ::, sent during duplicate address detection')
    sources = [_address_value(ipaddress.ip_network(source)) for source in MLD_SOURCES]
    # The ip6 saddr match also limits the rule to IPv6 in inet, netdev and bridge chains (nft adds
    # the protocol dependency itself).
    expr = [_match(_payload('ip6', 'saddr'), {'set': sources}),
            _match(_payload('icmpv6', 'type'), {'set': list(MLD_TYPE_NAMES)}), ACCEPT]
    return Traffic('mld', 'MLD (ICMPv6 types 130, 131, 132, 143) from link-local sources and ::',
                   [link_local, unspecified], CONTROL_HOOKS, expr, {'mld': list(MLD_SOURCES)})


def _address_value(network):
    """An address or prefix as nft JSON writes it: a string for one address, else a prefix."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return {'prefix': {'addr': str(network.network_address), 'len': network.prefixlen}}


def pim_traffic():
    # PIM hellos go to 224.0.0.13 / ff02::d, registers to a unicast address: destination unknown.
    probes = [Probe('ipv4', 103, ct_state='new'), Probe('ipv6', 103, ct_state='new')]
    return Traffic('pim', 'PIM (IPv4 and IPv6)', probes, CONTROL_HOOKS,
                   [_match({'meta': {'key': 'l4proto'}}, L4PROTO_NUMBERS['pim']), ACCEPT], 'pim')


def forward_traffic(group, ports):
    """Routed multicast to ``group`` (an ip_network), UDP ``ports`` (``[(low, high)]``, empty: all)."""
    version = 'ipv%d' % group.version
    address_protocol = 'ip' if group.version == 4 else 'ip6'
    expr = [_match(_payload(address_protocol, 'daddr'), _address_value(group))]
    description = 'routed multicast to %s' % group
    if ports:
        ports_value = [low if low == high else {'range': [low, high]} for low, high in ports]
        ports_value = ports_value[0] if len(ports_value) == 1 else {'set': ports_value}
        expr.append(_match(_payload('udp', 'dport'), ports_value))
        description += ', UDP ports %s' % _value_text(ports_value)
    expr.append(ACCEPT)
    probe = Probe(version, 17 if ports else None, daddr=str(group), ct_state='new', dports=ports or None)
    return Traffic('forward', description, [probe], ROUTED_HOOKS, expr, {'group': str(group), 'ports': ports})


def expr_text(expr):
    """nft syntax for the rule shapes this module writes (matches, fib, accept and drop).

    The include file and the diff use it; the live ruleset is only ever changed through JSON.
    """
    words = []
    for statement in expr:
        if 'match' in statement:
            match = statement['match']
            left = match['left']
            if 'payload' in left:
                words.append('%s %s' % (left['payload']['protocol'], left['payload']['field']))
            elif '&' in left:
                payload = left['&'][0]['payload']
                words.append('%s %s & %s' % (payload['protocol'], payload['field'], left['&'][1]))
            elif 'fib' in left:
                words.append('fib %s %s' % (' . '.join(left['fib']['flags']), left['fib']['result']))
            else:
                words.append('meta %s' % left['meta']['key'])
            if match.get('op', '==') != '==':
                words.append(match['op'])
            words.append(_value_text(match['right']))
        else:
            words.append(next(iter(statement)))
    return ' '.join(words)


def _value_text(value):
    if isinstance(value, bool):
        # A fib result compared with a boolean: whether a route exists.
        return 'exists' if value else 'missing'
    if isinstance(value, dict) and 'set' in value:
        return '{ %s }' % ', '.join(_value_text(element) for element in value['set'])
    if isinstance(value, dict) and 'range' in value:
        return '%s-%s' % tuple(value['range'])
    if isinstance(value, dict) and 'prefix' in value:
        return '%s/%s' % (value['prefix']['addr'], value['prefix']['len'])
    return str(value)


def build_traffic(pim=False, mld=False, forward=None):
    """The traffic kinds to accept: IGMP always, then MLD, PIM and the routed groups as asked."""
    traffic = [igmp_traffic()]
    if mld:
        traffic.append(mld_traffic())
    if pim:
        traffic.append(pim_traffic())
    for entry in forward or []:
        traffic.append(forward_traffic(entry['group'], entry['ports']))
    return traffic


# --------------------------------------------------------------------------- IPv6 reverse path

# IPv6 has no rp_filter. With ipv6_rpf, a table of this module's own drops multicast whose source
# has no route back through the interface it came in on, as rp_filter does for IPv4: a datagram
# from a spoofed or misrouted source never reaches the multicast routing code. The chain runs at
# priority raw, before conntrack would make an entry for such a datagram.
# Only what a router could forward is checked: groups of scope 3 (realm-local) and wider, whose
# scope nibble (ffXS::, S the low nibble of the second byte) exceeds 2, which is what
# ``ip6 daddr & ff0f:: > ff02::`` says for every flag value; unicast and interface- or link-local
# groups (neighbour discovery, MLD, mDNS) never are. Link-local and unspecified sources are
# exempt too, whatever a kernel's fib lookup answers for them: an MLDv1 report for a routed group
# goes to that group from a link-local source.
RPF_FAMILY = 'ip6'
RPF_TABLE = 'mcast_linux_rpf'
RPF_CHAIN = {'family': RPF_FAMILY, 'table': RPF_TABLE, 'name': 'prerouting', 'type': 'filter', 'hook': 'prerouting',
             'prio': -300, 'policy': 'accept'}


class RpfRule(object):
    """The IPv6 reverse-path drop: what a Placement needs of a Traffic (kind, text, tag, expr)."""

    kind = 'rpf6'

    def __init__(self):
        exempt = [_address_value(ipaddress.ip_network(source)) for source in MLD_SOURCES]
        self.expr = [_match({'&': [_payload('ip6', 'daddr'), 'ff0f::']}, 'ff02::', op='>'),
                     _match(_payload('ip6', 'saddr'), {'set': exempt}, op='!='),
                     _match({'fib': {'result': 'oif', 'flags': ['saddr', 'iif']}}, False),
                     {'drop': None}]
        self.text = expr_text(self.expr)
        self.tag = rule_tag(self.kind, {'rpf6': list(MLD_SOURCES)})


def is_own_chain(chain):
    """True for chains of the table this module owns whole (the IPv6 reverse-path table)."""
    return (chain.family, chain.table) == (RPF_FAMILY, RPF_TABLE)


# mcastd's own tables (issue 12): mcastd copies multicast to the outputs the kernel has no VIF for with
# `dup` at prerouting, in `table ip mcastd` and `table ip6 mcastd` (mcastd/overflow.py, DEFAULT_TABLE).
# Their chains only count and copy and their base chain's policy is accept, so they drop nothing; and
# mcastd renders them anew whenever its routes or links change, so a rule inserted there would be lost at
# the next render, and an accept before their verdict maps would stop the copies. They are never judged
# (a tagged rule found there, left by an earlier version, is removed). A base chain of such a name with
# another policy is not mcastd's, and is judged as any other.
MCASTD_TABLES = (('ip', 'mcastd'), ('ip6', 'mcastd'))


def is_mcastd_chain(chain):
    """True for chains of mcastd's own nftables tables (see MCASTD_TABLES)."""
    return (chain.family, chain.table) in MCASTD_TABLES and (not chain.is_base or chain.policy == 'accept')


def rpf_chain():
    return Chain(RPF_CHAIN)


def _rpf_table_found(ruleset):
    return any((table['family'], table['name']) == (RPF_FAMILY, RPF_TABLE) for table in ruleset.tables)


def _rpf_table_as_wanted(ruleset, rule):
    """True if the own table holds exactly the wanted chain with exactly the wanted rule."""
    chains = [chain for chain in ruleset.chains.values() if is_own_chain(chain)]
    if len(chains) != 1:
        return False
    chain, wanted = chains[0], rpf_chain()
    return (chain.name, chain.hook, chain.type, chain.priority, chain.policy) == \
        (wanted.name, wanted.hook, wanted.type, wanted.priority, wanted.policy) and \
        [found.get('comment') for found in chain.rules] == [rule.tag]


def rpf_table_commands(rule):
    """nft JSON commands that create the own table with its chain and ``rule``."""
    table = {'family': RPF_FAMILY, 'name': RPF_TABLE}
    chain = dict(RPF_CHAIN)
    return [{'add': {'table': table}}, {'add': {'chain': chain}},
            {'add': {'rule': {'family': RPF_FAMILY, 'table': RPF_TABLE, 'chain': chain['name'],
                              'expr': rule.expr, 'comment': rule.tag}}}]


def render_rpf_table(rule):
    """nft syntax of the own table; adding and deleting it first makes loading it twice harmless."""
    return ['add table %s %s' % (RPF_FAMILY, RPF_TABLE), 'delete table %s %s' % (RPF_FAMILY, RPF_TABLE),
            'table %s %s {' % (RPF_FAMILY, RPF_TABLE),
            '\tchain %s {' % RPF_CHAIN['name'],
            '\t\ttype %(type)s hook %(hook)s priority %(prio)d; policy %(policy)s;' % RPF_CHAIN,
            '\t\t%s comment "%s"' % (rule.text, rule.tag),
            '\t}', '}']


# --------------------------------------------------------------------------- validating input

def parse_forward(entries):
    """Validate the ``forward`` option; return ``[{'group': ip_network, 'ports': [(low, high)]}]``.

    Raises ValueError with a sentence that says what to change.
    """
    parsed = []
    seen = set()
    for entry in entries or []:
        group = parse_group(entry.get('group'))
        ports = parse_ports(entry.get('ports') or [], group)
        key = (group, tuple(ports))
        if key in seen:
            raise ValueError('forward lists group %s%s twice; remove one of the entries.'
                             % (group, ' with the same ports' if ports else ''))
        seen.add(key)
        parsed.append({'group': group, 'ports': ports})
    return parsed


def parse_group(text):
    if not text or not str(text).strip():
        raise ValueError('a forward entry has no group; give one such as group: 239.1.1.0/24 (or ff3e::/16 for IPv6).')
    text = str(text).strip()
    try:
        group = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError("forward group '%s' is not an IP address or prefix; write it like 239.1.1.1 or 239.1.0.0/16."
                         % text)
    if str(group) != text and str(group.network_address) != text:
        raise ValueError("forward group '%s' has host bits set; write the prefix as %s." % (text, group))
    if not group.is_multicast:
        raise ValueError("forward group '%s' is not multicast: routed groups lie within 224.0.0.0/4 (IPv4) or "
                         "ff00::/8 (IPv6); unicast traffic needs no rule from this module." % text)
    if group.version == 4 and group.subnet_of(ipaddress.ip_network(LINK_LOCAL_GROUPS_IPV4)):
        raise ValueError("forward group '%s' is link-local (224.0.0.0/24): it is never routed, so a forward rule "
                         "has no effect. IGMP and PIM to these groups are covered by the igmp and pim rules." % text)
    if group.version == 6 and group.prefixlen >= 16 and (int(group.network_address) >> 112) & 0xF in (1, 2):
        raise ValueError("forward group '%s' has interface- or link-local scope (ff01::/16, ff02::/16) and is never "
                         "routed; use a group of wider scope such as ff05:: or ff0e::." % text)
    return group


def parse_ports(values, group):
    """``["5000", "6000-6010"]`` as sorted, merged ``[(5000, 5000), (6000, 6010)]``."""
    ports = []
    for value in values:
        text = str(value).strip()
        match = re.match(r'^(\d+)(?:\s*-\s*(\d+))?$', text)
        if not match:
            raise ValueError("forward port '%s' for group %s is not a port number or a range such as 5000-5010."
                             % (value, group))
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not 1 <= low <= high <= 65535:
            raise ValueError("forward port '%s' for group %s is out of range: ports go from 1 to 65535 and a range "
                             "is written low-high." % (value, group))
        ports.append((low, high))
    return _merge_ranges(ports)


def _merge_ranges(ranges):
    merged = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


# --------------------------------------------------------------------------- evaluating a chain

class Outcome(object):
    """What a chain does with a probe: ``accept``, ``drop`` or ``continue`` (fell through / return).

    ``certain`` is False when the deciding drop rule has matches the planner cannot evaluate;
    ``index`` is the position in the evaluated base chain of the rule that decided (None for the
    policy); ``unsure_accepts`` lists handles of earlier accepts that may or may not apply.
    """

    def __init__(self, verdict, certain=True, index=None, reason='', unsure_accepts=()):
        self.verdict = verdict
        self.certain = certain
        self.index = index
        self.reason = reason
        self.unsure_accepts = list(unsure_accepts)


def evaluate_chain(ruleset, chain, probe, skip=is_managed, depth=0):
    """Follow ``probe`` through ``chain`` (and the chains it jumps to); return an :class:`Outcome`.

    Rules for which ``skip`` is true are ignored: the planner asks what the chain does without
    this module's own rules, so that placing them stays idempotent.
    """
    unsure_accepts = []
    for index, rule in enumerate(chain.rules):
        if skip(rule):
            continue
        matched, verdict = rule_effect(rule, probe, chain.family)
        if matched is False or verdict is None:
            continue
        outcome = _verdict_outcome(ruleset, chain, probe, rule, matched, verdict, skip, depth)
        if outcome is None:
            continue
        if outcome.verdict == 'accept' and not outcome.certain:
            unsure_accepts.append(rule.get('handle'))
            continue
        unsure_accepts += outcome.unsure_accepts
        if outcome.verdict == 'continue':
            # A return (or a goto that fell through): a base chain's policy decides from here on,
            # so this module's rule must come before this rule too.
            return _end_of_chain(chain, unsure_accepts, index)
        outcome.index = index
        outcome.unsure_accepts = unsure_accepts
        return outcome
    return _end_of_chain(chain, unsure_accepts, None)


def _end_of_chain(chain, unsure_accepts, index):
    if not chain.is_base:
        return Outcome('continue', unsure_accepts=unsure_accepts)
    if chain.policy == 'drop':
        return Outcome('drop', index=index, reason='policy drop', unsure_accepts=unsure_accepts)
    return Outcome('accept', index=index, reason='policy accept', unsure_accepts=unsure_accepts)


def _verdict_outcome(ruleset, chain, probe, rule, matched, verdict, skip, depth):
    """The outcome of one rule whose match is True or None (unknown); None means: go on."""
    handle = rule.get('handle')
    name = verdict[0]
    if name == 'accept':
        return Outcome('accept', certain=matched is True, reason='accepted by rule handle %s' % handle)
    if name == 'drop':
        return Outcome('drop', certain=matched is True,
                       reason='%s by rule handle %s%s' % (verdict[1] or 'drop', handle,
                                                          '' if matched else ' (its match is not evaluated here)'))
    if name == 'return':
        # A return that may apply lets some of the traffic skip the rest: like an unsure accept.
        return Outcome('continue') if matched is True else Outcome('accept', certain=False)
    if name in ('jump', 'goto'):
        return _jump_outcome(ruleset, chain, probe, rule, matched, verdict, skip, depth)
    return None


def _jump_outcome(ruleset, chain, probe, rule, matched, verdict, skip, depth):
    target = ruleset.chains.get((chain.family, chain.table, verdict[1]))
    handle = rule.get('handle')
    if target is None or depth >= MAX_JUMP_DEPTH:
        return Outcome('drop', certain=False, reason='%s to chain %s by rule handle %s could not be followed'
                       % (verdict[0], verdict[1], handle))
    inner = evaluate_chain(ruleset, target, probe, skip, depth + 1)
    via = '%s %s (rule handle %s): ' % (verdict[0], target.name, handle)
    if inner.verdict == 'continue':
        if verdict[0] == 'goto' and matched is True:
            return Outcome('continue', unsure_accepts=inner.unsure_accepts)
        return None if not inner.unsure_accepts else Outcome('accept', certain=False)
    return Outcome(inner.verdict, certain=inner.certain and matched is True, reason=via + inner.reason,
                   unsure_accepts=inner.unsure_accepts)


def rule_effect(rule, probe, family):
    """``(matched, verdict)`` of a rule for ``probe``.

    matched is True, False, or None (unknown); verdict is None (the rule decides nothing) or a
    tuple ``(name, detail)`` with name accept, drop (also reject, queue and anything this planner
    cannot follow), jump, goto or return.
    """
    matched = True
    for statement in rule.get('expr', []):
        if 'match' in statement:
            result = evaluate_match(statement['match'], probe, family)
            if result is False:
                return False, None
            if result is None:
                matched = None
            continue
        if 'vmap' in statement:
            element_matched, verdict = vmap_effect(statement['vmap'], probe, family)
            if element_matched is False:
                return False, None
            return (True if matched and element_matched else None), verdict
        verdict = statement_verdict(statement)
        if verdict == 'unknown-match':
            matched = None
        elif verdict is not None:
            return matched, verdict
    return matched, None


def statement_verdict(statement):
    """The verdict a statement gives: a tuple, None (no verdict) or 'unknown-match'."""
    key = next(iter(statement), None)
    if key in ('accept',) or key in ACCEPTING_STATEMENTS:
        return ('accept', key)
    if key in ('drop', 'reject', 'queue', 'synproxy', 'fwd'):
        return ('drop', key)
    if key in ('jump', 'goto'):
        return (key, statement[key].get('target'))
    if key == 'return':
        return ('return', None)
    if key == 'continue':
        return None
    if key == 'xt':
        return ('drop', 'xtables target')
    if key in NEUTRAL_STATEMENTS:
        return None
    # limit, quota and statements this planner does not know: they may stop the rule matching.
    return 'unknown-match'


def vmap_effect(vmap, probe, family):
    """``(matched, verdict)`` of a verdict map such as ``meta l4proto vmap { tcp : jump tcp_in }``.

    The map's key is evaluated like a match: the element the probe hits gives the verdict; with
    no element hit the rule does nothing. When the planner cannot tell which element applies,
    the map could drop if any of those elements drops or jumps.
    """
    key, data = vmap.get('key'), vmap.get('data')
    compare = _comparator(key, probe, family) if isinstance(key, dict) else None
    if compare is False:
        return False, None
    elements = data.get('set') if isinstance(data, dict) else None
    if not isinstance(elements, list):
        return None, ('drop', 'verdict map %s' % data)
    possible = []
    for element in elements:
        if not (isinstance(element, list) and len(element) == 2 and isinstance(element[1], dict)):
            return None, ('drop', 'verdict map')
        hit = compare(element[0]) if compare else None
        verdict = statement_verdict(element[1])
        if hit:
            return True, verdict
        if hit is None and verdict is not None:
            possible.append(verdict)
    if not possible:
        return False, None
    if all(verdict[0] == 'accept' for verdict in possible if verdict != 'unknown-match') and 'unknown-match' not in possible:
        return None, ('accept', 'verdict map')
    return None, ('drop', 'verdict map')


# --------------------------------------------------------------------------- evaluating a match

def evaluate_match(match, probe, family):
    """True, False or None (unknown) for one ``match`` expression and ``probe``."""
    left = match.get('left')
    op = match.get('op', '==')
    if not isinstance(left, dict):
        return None
    compare = _comparator(left, probe, family)
    if compare is None or compare is False:
        return compare
    result = compare(match.get('right'))
    if result is None or op in ('==', 'in'):
        return result
    if op == '!=':
        return not result
    return None


def _comparator(left, probe, family):
    """A function right -> True/False/None, or False (dependency fails) or None (unknown field)."""
    if 'payload' in left:
        return _payload_comparator(left['payload'], probe)
    if 'meta' in left:
        return _meta_comparator(left['meta'].get('key'), probe, family)
    if 'ct' in left and left['ct'].get('key') == 'state' and 'dir' not in left['ct'] and probe.ct_state:
        return lambda right: _symbols_contain(right, probe.ct_state)
    return None


def _payload_comparator(payload, probe):
    protocol = payload.get('protocol')
    field = payload.get('field')
    if protocol in ('ip', 'ip6'):
        if probe.nfproto != ('ipv4' if protocol == 'ip' else 'ipv6'):
            return False
        if field == 'daddr' and probe.daddr is not None:
            return lambda right: _network_compare(right, probe.daddr)
        if field == 'saddr' and probe.saddr is not None:
            return lambda right: _network_compare(right, probe.saddr)
        if field == 'protocol' and probe.l4proto is not None:
            return lambda right: _numbers_compare(right, [(probe.l4proto, probe.l4proto)], L4PROTO_NUMBERS)
        return None
    if protocol == 'arp':
        return False
    if protocol in TRANSPORT_PAYLOADS:
        if probe.l4proto is None:
            return None
        if TRANSPORT_PAYLOADS[protocol] != probe.l4proto:
            return False
        if protocol == 'icmpv6' and field == 'type' and probe.icmpv6_types:
            return lambda right: _numbers_compare(right, [(t, t) for t in probe.icmpv6_types], ICMPV6_TYPES)
        if field == 'dport' and probe.dports:
            return lambda right: _numbers_compare(right, probe.dports, {})
    return None


def _meta_comparator(key, probe, family):
    if key == 'l4proto' and probe.l4proto is not None:
        return lambda right: _numbers_compare(right, [(probe.l4proto, probe.l4proto)], L4PROTO_NUMBERS)
    if key == 'nfproto' and family in ('inet', 'ip', 'ip6'):
        return lambda right: _symbols_contain(right, probe.nfproto)
    if key == 'protocol':
        name, number = ETHER_TYPES[probe.nfproto]
        return lambda right: _numbers_compare(right, [(number, number)], {name: number})
    return None


def _values(right):
    """The elements of a right-hand side: a scalar, a list, or an anonymous set."""
    if isinstance(right, dict) and 'set' in right:
        right = right['set']
    return right if isinstance(right, list) else [right]


def _symbols_contain(right, symbol):
    values = _values(right)
    if any(not isinstance(value, str) or value.startswith('@') for value in values):
        return None
    return symbol in values


def _numbers_compare(right, probe_ranges, names):
    """True if every probe value lies in ``right``, False if none does, None otherwise."""
    ranges = []
    for value in _values(right):
        if isinstance(value, dict) and 'range' in value:
            low, high = (_number(v, names) for v in value['range'])
        else:
            low = high = _number(value, names)
        if low is None or high is None:
            return None
        ranges.append((low, high))
    inside = [any(low <= p_low and p_high <= high for low, high in ranges) for p_low, p_high in probe_ranges]
    overlap = [any(low <= p_high and p_low <= high for low, high in ranges) for p_low, p_high in probe_ranges]
    if all(inside):
        return True
    if not any(overlap):
        return False
    return None


def _number(value, names):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        return names.get(value)
    return None


def _network_compare(right, network):
    """True if ``network`` lies inside ``right``, False if it is disjoint, None otherwise."""
    networks = []
    for value in _values(right):
        parsed = _network(value)
        if parsed is None or parsed.version != network.version:
            return None
        networks.append(parsed)
    if any(network.subnet_of(candidate) for candidate in networks):
        return True
    if not any(network.overlaps(candidate) for candidate in networks):
        return False
    return None


def _network(value):
    try:
        if isinstance(value, dict) and 'prefix' in value:
            return ipaddress.ip_network('%s/%s' % (value['prefix']['addr'], value['prefix']['len']), strict=False)
        if isinstance(value, str) and not value.startswith('@'):
            return ipaddress.ip_network(value)
    except (ValueError, KeyError, TypeError):
        return None
    return None


# --------------------------------------------------------------------------- planning

class Placement(object):
    """One accept rule this module wants in one chain."""

    def __init__(self, chain, traffic, outcome):
        self.chain = chain
        self.traffic = traffic
        self.outcome = outcome

    def describe(self):
        return {'family': self.chain.family, 'table': self.chain.table, 'chain': self.chain.name,
                'hook': self.chain.hook, 'priority': self.chain.priority, 'kind': self.traffic.kind,
                'tag': self.traffic.tag, 'rule': self.traffic.text}


def chain_drops(ruleset, chain, traffic, skip=is_managed):
    """The first outcome in which ``chain`` could drop ``traffic`` (any of its probes), or None."""
    for probe in traffic.probes_for(chain.family, chain.hook):
        outcome = evaluate_chain(ruleset, chain, probe, skip)
        if outcome.verdict == 'drop':
            if probe.note:
                outcome.reason += ' (%s)' % probe.note
            return outcome
    return None


def dropping_chains(ruleset, traffics, skip=is_managed):
    """``(traffic, chain, outcome)`` for every base chain the traffic passes that could drop it."""
    for traffic in traffics:
        for chain in ruleset.base_chains():
            # The own table's drop is wanted, never something to accept around; mcastd's tables drop nothing.
            if traffic.applies_to(chain) and not is_own_chain(chain) and not is_mcastd_chain(chain):
                outcome = chain_drops(ruleset, chain, traffic, skip)
                if outcome is not None:
                    yield traffic, chain, outcome


def drop_report(ruleset, traffics, skip=is_managed):
    """``{kind: [chain report]}``: the base chains that could drop each kind of traffic.

    With ``skip=lambda rule: False`` this describes the ruleset as it is, this module's own rules
    included, which is what check mode reports as "drops IGMP today".
    """
    report = dict((traffic.kind, []) for traffic in traffics)
    for traffic, chain, outcome in dropping_chains(ruleset, traffics, skip):
        entry = chain.describe()
        entry.update({'certain': outcome.certain, 'reason': outcome.reason, 'unsure_accepts': outcome.unsure_accepts})
        if traffic.kind == 'forward':
            entry['traffic'] = traffic.description
        report[traffic.kind].append(entry)
    return report


class Plan(object):
    """The rules to keep, delete and insert, and the one nft batch that does it.

    ``rpf`` is the Placement of the IPv6 reverse-path rule when it is wanted, else None. The own
    table it lives in is deleted when found but not exactly as wanted, and created when wanted
    but not there as wanted; ``rpf_delete`` lists the rules that go with the old table.
    """

    def __init__(self, wanted, keep, delete, rpf=None, rpf_found=False, rpf_as_wanted=False, rpf_delete=()):
        self.wanted = wanted
        self.keep = keep
        self.delete = delete
        kept = set((chain.key, rule['comment']) for chain, _index, rule in keep)
        self.insert = [placement for placement in wanted if (placement.chain.key, placement.traffic.tag) not in kept]
        self.rpf = rpf
        self.rpf_drop_table = rpf_found and not rpf_as_wanted
        self.rpf_create_table = rpf is not None and not rpf_as_wanted
        self.rpf_delete = list(rpf_delete) if self.rpf_drop_table else []

    @property
    def changed(self):
        return bool(self.delete or self.insert or self.rpf_drop_table or self.rpf_create_table)

    def all_wanted(self):
        """Every rule of this module after the run: the accept rules, then the reverse-path rule."""
        return self.wanted + ([self.rpf] if self.rpf else [])

    def all_inserted(self):
        return self.insert + ([self.rpf] if self.rpf_create_table else [])

    def all_deleted(self):
        return self.delete + self.rpf_delete

    def commands(self):
        """nft JSON commands: deletions first, then insertions at the top of each chain.

        Inserting at the top places the accept before any rule of the chain that could drop.
        Insertions go in reverse so that, in each chain, the rules end up in the wanted order.
        """
        commands = [{'delete': {'rule': {'family': chain.family, 'table': chain.table, 'chain': chain.name,
                                         'handle': rule['handle']}}}
                    for chain, _index, rule in self.delete]
        for placement in reversed(self.insert):
            chain = placement.chain
            commands.append({'insert': {'rule': {'family': chain.family, 'table': chain.table, 'chain': chain.name,
                                                 'expr': placement.traffic.expr, 'comment': placement.traffic.tag}}})
        if self.rpf_drop_table:
            commands.append({'delete': {'table': {'family': RPF_FAMILY, 'name': RPF_TABLE}}})
        if self.rpf_create_table:
            commands += rpf_table_commands(self.rpf.traffic)
        return commands


def plan(ruleset, traffics, ipv6_rpf=False):
    """Decide which tagged rules to keep, delete and insert so that ``traffics`` pass every base chain.

    A tagged rule is kept when the chain (without this module's rules) could drop its traffic and
    the rule sits before the rule that would drop it; every other tagged rule is deleted, and
    missing ones are inserted. With ``traffics=[]`` (state absent) every tagged rule is deleted.
    With ``ipv6_rpf`` the own table holds exactly the reverse-path rule (it is rebuilt whole when
    it differs in any way); without, the own table is deleted if it exists.
    """
    wanted = [Placement(chain, traffic, outcome) for traffic, chain, outcome in dropping_chains(ruleset, traffics)]
    wanted_by_key = dict(((p.chain.key, p.traffic.tag), p) for p in wanted)
    keep, delete = [], []
    for chain, index, rule in ruleset.managed_rules():
        if is_own_chain(chain):
            continue
        placement = wanted_by_key.get((chain.key, rule['comment']))
        already = any(kept_chain.key == chain.key and kept['comment'] == rule['comment'] for kept_chain, _i, kept in keep)
        if placement is not None and not already and _placed_before_drop(chain, index, placement.outcome):
            keep.append((chain, index, rule))
        else:
            delete.append((chain, index, rule))
    rpf = Placement(rpf_chain(), RpfRule(), None) if ipv6_rpf else None
    found = _rpf_table_found(ruleset)
    as_wanted = rpf is not None and found and _rpf_table_as_wanted(ruleset, rpf.traffic)
    own_rules = [(chain, index, rule) for chain in ruleset.chains.values() if is_own_chain(chain)
                 for index, rule in enumerate(chain.rules)]
    return Plan(wanted, keep, delete, rpf, found, as_wanted, own_rules)


def _placed_before_drop(chain, index, outcome):
    """True if the rule at ``index`` comes before the rule that decides ``outcome``.

    ``outcome.index`` counts rules of the chain without this module's rules (they were skipped).
    """
    if outcome.index is None:
        return True
    position = -1
    for full_index, rule in enumerate(chain.rules):
        if not is_managed(rule):
            position += 1
            if position == outcome.index:
                return index < full_index
    return True


def rules_text(lines):
    """``[(chain label, rule text, tag)]`` as sorted lines ``family table chain: rule comment "tag"``."""
    return ''.join(sorted('%s: %s comment "%s"\n' % line for line in lines))


def current_rules_lines(ruleset):
    """(chain label, text, tag) of every tagged rule in the ruleset, for the diff."""
    return [(chain.label, rule_text(rule), rule['comment']) for chain, _index, rule in ruleset.managed_rules()]


def rule_text(rule):
    """nft syntax of a tagged rule, or its handle when it has a shape this release does not write."""
    try:
        return expr_text(rule.get('expr', []))
    except (KeyError, TypeError, StopIteration):
        return '(rule handle %s)' % rule.get('handle')


def wanted_rules_lines(wanted):
    return [(p.chain.label, p.traffic.text, p.traffic.tag) for p in wanted]


# --------------------------------------------------------------------------- persistence

def render_include(placements, rpf=None):
    """The include file's text and the labels of chains it cannot name: ``(text, unwritable)``.

    Each rule is inserted at the top of its chain. Every chain is declared (without type or hook)
    before rules go in: that leaves an existing base chain as it is, and if the main
    configuration no longer defines that chain, nft creates an empty regular chain, which no
    packet passes, instead of failing to load the whole firewall. Names that nft syntax cannot
    write (only JSON can create them) are left out and returned in ``unwritable``. ``rpf`` (the
    reverse-path Placement, or None) adds the own table as a whole.
    """
    lines = ['# Managed by the Ansible module mcast.linux.nftables: do not edit, changes are overwritten.',
             '# Included at the end of the nftables configuration; accepts multicast control traffic',
             '# (and routed groups) at the top of every base chain that would drop it.']
    unwritable = []
    tables = {}
    for placement in placements:
        chain = placement.chain
        tables.setdefault((chain.family, chain.table), {}).setdefault(chain.name, []).append(placement)
    for family, table in sorted(tables):
        chains = tables[(family, table)]
        unwritable += ['%s %s %s' % (family, table, name) for name in sorted(chains)
                       if not (NAME_RE.match(table) and NAME_RE.match(name))]
        names = sorted(name for name in chains if NAME_RE.match(table) and NAME_RE.match(name))
        if not names:
            continue
        lines += ['', 'table %s %s {' % (family, table)]
        for name in names:
            lines += ['\tchain %s {' % name, '\t}']
        lines.append('}')
        for name in names:
            for placement in reversed(chains[name]):
                lines.append('insert rule %s %s %s %s comment "%s"'
                             % (family, table, name, placement.traffic.text, placement.traffic.tag))
    if rpf is not None:
        lines += ['', '# The IPv6 reverse-path check (ipv6_rpf): a table of its own, replaced whole.']
        lines += render_rpf_table(rpf.traffic)
    return '\n'.join(lines) + '\n', unwritable


def include_statement(include_path):
    return 'include "%s"' % include_path


def _is_include_of(line, include_path):
    return re.match(r'^\s*include\s+"%s"\s*(#.*)?$' % re.escape(include_path), line) is not None


def ensure_include(conf_text, include_path):
    """``conf_text`` with ``include "PATH"`` as its last statement (it must come after the tables).

    An include elsewhere in the file is moved to the end: nft reads the file in order, and the
    rules can only go into chains that were defined before them.
    """
    lines = (conf_text or '').splitlines()
    statements = [index for index, line in enumerate(lines) if line.strip() and not line.strip().startswith('#')]
    if statements and _is_include_of(lines[statements[-1]], include_path) and \
            sum(1 for line in lines if _is_include_of(line, include_path)) == 1:
        return conf_text
    kept = [line for line in lines if not _is_include_of(line, include_path) and line != INCLUDE_COMMENT]
    while kept and not kept[-1].strip():
        kept.pop()
    return '\n'.join(kept + ['', INCLUDE_COMMENT, include_statement(include_path)]) + '\n'


INCLUDE_COMMENT = '# multicast accept rules of mcast.linux.nftables (keep this include last)'


def remove_include(conf_text, include_path):
    """``conf_text`` without this module's include line (and its comment)."""
    if conf_text is None:
        return None
    lines = conf_text.splitlines()
    kept = [line for line in lines if not _is_include_of(line, include_path) and line != INCLUDE_COMMENT]
    if len(kept) == len(lines):
        return conf_text
    while kept and not kept[-1].strip():
        kept.pop()
    return '\n'.join(kept) + '\n'
