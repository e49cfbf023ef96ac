# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The outputs the kernel's multicast routing table cannot hold, copied by nftables instead (pure).

The kernel has 32 VIFs per table (MAXVIFS), so a route has at most 31 outputs in its MFC entry.
mcastd copies a flow to every output beyond that with nftables' ``dup to GROUP device OUT`` in a
table of its own (``table ip mcastd``, ``table ip6 mcastd``), at prerouting before conntrack
(priority raw, -300). A copy made there is routed: its TTL (hop limit) is decremented once, it
leaves with the output's own source MAC and a valid checksum, which makes the guard ``ttl > 1``
mandatory (a TTL-1 datagram would leave with TTL 0).

Layout, one transaction per change, never touching another table:

- base chain ``prerouting``: multicast destination and ``ttl > 1`` (``hoplimit > 1``), then a
  verdict map per key kind: ``sg`` (input name . source . group) first, ``g`` (input name .
  group) for routes of any source. A map reaches a flow's chain without scanning every rule, and
  ``goto`` (not ``jump``) makes a flow that matched ``sg`` never reach ``g`` too;
- one chain per flow, named from its key (stable across restarts, so a re-render touches only the
  chains whose outputs changed), holding rules of at most DUPS_PER_RULE ``dup`` statements, each
  with its counter.

nftables resolves ``device OUT`` to an ifindex when the rule is loaded: after an output is deleted
and created again the rule copies to nothing, so a flow whose outputs' ifindexes changed is
rendered again (``plan`` compares ifindexes, not only names).

This file only computes: ``plan`` turns the flows wanted now and those rendered before into the
``nft -j`` commands of one transaction; the daemon runs it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import json
from collections import namedtuple

DEFAULT_TABLE = "mcastd"
BASE_CHAIN = "prerouting"
PRIORITY_RAW = -300
# nftables allows 128 expressions per rule; one dup is 3 (two immediates and the dup), so 41 dups
# are refused (EINVAL, measured). 30 leaves room for the counter.
DUPS_PER_RULE = 30
SG_MAP, G_MAP = "sg", "g"


class Family(namedtuple("Family", "name address_type multicast ttl_field")):
    """What differs between the ip and ip6 tables."""


FAMILIES = {
    4: Family("ip", "ipv4_addr", ("224.0.0.0", 4), "ttl"),
    6: Family("ip6", "ipv6_addr", ("ff00::", 8), "hoplimit"),
}


class Flow(namedtuple("Flow", "iif source group")):
    """A flow's key: input interface name, source address text (None: any source), group address text."""


class Output(namedtuple("Output", "name ifindex")):
    """An output copied by nftables, with the ifindex the rule resolves its name to."""


def chain_name(flow):
    """The chain of ``flow``: the same name for the same key, whatever else changes."""
    # Imported here, not at the top: hashlib loads OpenSSL (3.7 MB of RSS, measured), which a daemon
    # whose routes all fit the kernel's VIFs never needs.
    import hashlib  # pylint: disable=import-outside-toplevel
    key = "%s %s %s" % (flow.iif, flow.source or "*", flow.group)
    return "flow-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def flow_order(flow):
    """The order flows are rendered and listed in: input, source (any source first), group."""
    return (flow.iif, flow.source or "", flow.group)


def chunks(outputs, size=DUPS_PER_RULE):
    return [outputs[start:start + size] for start in range(0, len(outputs), size)]


def _payload(family, field):
    return {"payload": {"protocol": family.name, "field": field}}


def _iifname():
    return {"meta": {"key": "iifname"}}


def _flow_key(flow):
    return [flow.iif, flow.group] if flow.source is None else [flow.iif, flow.source, flow.group]


def _map_of(flow):
    return G_MAP if flow.source is None else SG_MAP


def _base_rules(family, table):
    """The base chain's two rules: the guards, then the sg map, then the g map."""
    address, length = family.multicast
    guards = [{"match": {"op": "==", "left": _payload(family, "daddr"),
                         "right": {"prefix": {"addr": address, "len": length}}}},
              {"match": {"op": ">", "left": _payload(family, family.ttl_field), "right": 1}}]
    keys = {SG_MAP: [_iifname(), _payload(family, "saddr"), _payload(family, "daddr")],
            G_MAP: [_iifname(), _payload(family, "daddr")]}
    return [{"add": {"rule": {"family": family.name, "table": table, "chain": BASE_CHAIN,
                              "expr": guards + [{"vmap": {"key": {"concat": keys[name]}, "data": "@" + name}}]}}}
            for name in (SG_MAP, G_MAP)]


def _skeleton(family, table):
    """The table, its base chain, the two maps and the base rules, made anew (the old table goes in the same transaction)."""
    types = {SG_MAP: ["ifname", family.address_type, family.address_type], G_MAP: ["ifname", family.address_type]}
    commands = [{"add": {"table": {"family": family.name, "name": table}}},
                {"delete": {"table": {"family": family.name, "name": table}}},
                {"add": {"table": {"family": family.name, "name": table}}},
                {"add": {"chain": {"family": family.name, "table": table, "name": BASE_CHAIN, "type": "filter",
                                   "hook": "prerouting", "prio": PRIORITY_RAW, "policy": "accept"}}}]
    commands += [{"add": {"map": {"family": family.name, "table": table, "name": name, "type": types[name],
                                  "map": "verdict"}}} for name in (SG_MAP, G_MAP)]
    return commands + _base_rules(family, table)


def _flow_rules(family, table, flow, outputs):
    chain = chain_name(flow)
    return [{"add": {"rule": {"family": family.name, "table": table, "chain": chain,
                              "expr": [{"counter": None}] + [{"dup": {"addr": flow.group, "dev": output.name}}
                                                             for output in part]}}}
            for part in chunks(list(outputs))]


def _element(family, table, flow, verdict=True):
    key = {"concat": _flow_key(flow)}
    elem = [key, {"goto": {"target": chain_name(flow)}}] if verdict else key
    return {"family": family.name, "table": table, "name": _map_of(flow), "elem": [elem]}


def plan(wanted, rendered, family=4, table=DEFAULT_TABLE):
    """The commands of one ``nft -j -f`` transaction that turn ``rendered`` into ``wanted``.

    Both map a Flow to its tuple of Output. ``rendered`` None: what is in the kernel is not known
    (a start, or a failed transaction), so the table is made anew. Otherwise only the flows whose
    outputs (names or ifindexes) changed are touched: their chain is flushed and refilled, and a
    flow that came or went adds or deletes its map element and chain. Returns [] when nothing changes.
    """
    spec = FAMILIES[family]
    wanted = dict((flow, tuple(outputs)) for flow, outputs in wanted.items() if outputs)
    commands = []
    if rendered is None:
        commands += _skeleton(spec, table)
        rendered = {}
    for flow in sorted(set(rendered) - set(wanted), key=flow_order):
        chain = {"family": spec.name, "table": table, "name": chain_name(flow)}
        commands += [{"delete": {"element": _element(spec, table, flow, verdict=False)}},
                     {"flush": {"chain": chain}}, {"delete": {"chain": chain}}]
    for flow in sorted(wanted, key=flow_order):
        outputs = wanted[flow]
        if rendered.get(flow) == outputs:
            continue
        chain = {"family": spec.name, "table": table, "name": chain_name(flow)}
        if flow in rendered:
            commands.append({"flush": {"chain": chain}})
        else:
            commands.append({"add": {"chain": chain}})
        commands += _flow_rules(spec, table, flow, outputs)
        if flow not in rendered:
            commands.append({"add": {"element": _element(spec, table, flow)}})
    return commands


def teardown(family=4, table=DEFAULT_TABLE):
    """The commands that remove mcastd's table of ``family`` (whether or not it exists), and nothing else."""
    spec = FAMILIES[family]
    return [{"add": {"table": {"family": spec.name, "name": table}}},
            {"delete": {"table": {"family": spec.name, "name": table}}}]


def document(commands):
    """The ``nft -j -f -`` input for ``commands``."""
    return json.dumps({"nftables": commands})
