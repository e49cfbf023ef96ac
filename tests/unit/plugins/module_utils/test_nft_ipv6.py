"""mcast.linux.nftables for IPv6: MLD from link-local sources (and ::), routed IPv6 groups, the IPv6
reverse-path table (no kernel access).

``data/nft/ipv6.json`` was recorded from ``ipv6.nft`` in a real namespace (as ``record.py`` does);
the reverse-path table's states are built from the very commands the planner sends.
"""
import copy
import ipaddress
import json
from pathlib import Path

import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _nft

DATA = Path(__file__).resolve().parent / "data" / "nft"
MLD_TYPES = "{ mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report }"
MLD_RULE = "ip6 saddr { ::, fe80::/10 } icmpv6 type %s accept" % MLD_TYPES
RPF_RULE = "ip6 daddr & ff0f:: > ff02:: ip6 saddr != { ::, fe80::/10 } fib saddr . iif oif missing drop"


def document(name="ipv6"):
    return json.loads((DATA / (name + ".json")).read_text(encoding="utf-8"))


def ruleset(name="ipv6"):
    return _nft.Ruleset(document(name))


def labels(entries):
    return sorted("%s %s %s" % (entry["family"], entry["table"], entry["chain"]) for entry in entries)


def traffic(mld=False, forward=()):
    return _nft.build_traffic(mld=mld, forward=_nft.parse_forward(
        [{"group": group, "ports": list(ports)} for group, ports in forward]))


def applied(doc, plan):
    """``doc`` after ``plan``'s batch, as ``nft -j list ruleset`` would print it (handles from 1000)."""
    doc = copy.deepcopy(doc)
    items = doc["nftables"]
    handles = iter(range(1000, 2000))
    for command in plan.commands():
        verb, body = next(iter(command.items()))
        kind, spec = next(iter(body.items()))
        if verb == "delete" and kind == "rule":
            items[:] = [item for item in items if item.get("rule", {}).get("handle") != spec["handle"]]
        elif verb == "delete" and kind == "table":
            key = (spec["family"], spec["name"])
            items[:] = [item for item in items if not _in_table(item, key)]
        elif verb == "insert":
            key = (spec["family"], spec["table"], spec["chain"])
            position = next(i for i, item in enumerate(items) if "chain" in item and
                            (item["chain"]["family"], item["chain"]["table"], item["chain"]["name"]) == key)
            items.insert(position + 1, {"rule": dict(spec, handle=next(handles))})
        else:
            items.append({kind: dict(spec, handle=next(handles))})
    return doc


def _in_table(item, key):
    kind, spec = next(iter(item.items()))
    if kind == "table":
        return (spec["family"], spec["name"]) == key
    return kind in ("chain", "rule") and (spec["family"], spec["table"]) == key


# --------------------------------------------------------------------------- which chains drop

# (options, {kind: chains that could drop it}) on the recorded dual-stack ruleset.
DROPS = [
    # input accepts `ip6 saddr fe80::/10`: that is MLD accepted there. output accepts the same, but
    # the host's own reports from :: (DAD) leave through output: still dropped. guard6 pre drops
    # only non-link-local MLD: not a drop of MLD. guard6 in drops queries (only some MLD types:
    # uncertain). The bridge accepts link-local MLD, not reports from ::, which it must switch.
    # netdev ingress accepts link-local sources; :: is not judged where MLD arrives.
    ({"mld": True}, {"igmp": ["inet filter input", "inet filter output"],
                     "mld": ["bridge sw bridged", "inet filter output", "ip6 guard6 in"]}),
    # Accepted by inet filter forward (group and port) and by netdev ingress; guard6 fwd6 accepts
    # only ff0e::/16; ip legacy fwd4 never sees IPv6.
    ({"forward": [("ff3e::/16", ["5004"])]}, {"forward": ["ip6 guard6 fwd6"]}),
    ({"forward": [("ff05::/16", ["5004"])]}, {"forward": ["inet filter forward", "ip6 guard6 fwd6"]}),
    # Any protocol to ff0e::1234: inet filter forward drops it; guard6 pre's drop of ICMPv6 from
    # non-link-local sources could apply (the protocol and source are unknown).
    ({"forward": [("ff0e::1234", [])]}, {"forward": ["inet filter forward", "ip6 guard6 pre"]}),
    # An IPv4 group is judged by the IPv4 chains only.
    ({"forward": [("239.1.1.1", [])]}, {"forward": ["ip legacy fwd4", "netdev edge ingress_lo"]}),
]


@pytest.mark.parametrize("options, expected", DROPS, ids=[str(options) for options, _expected in DROPS])
def test_chains_that_drop_ipv6_traffic(options, expected):
    report = _nft.drop_report(ruleset(), traffic(**options))
    assert dict((kind, labels(report[kind])) for kind in expected) == expected


def test_the_planner_inserts_the_mld_rule_exactly_where_mld_could_be_dropped():
    plan = _nft.plan(ruleset(), traffic(mld=True))
    placed = sorted((p.chain.label, p.traffic.text) for p in plan.insert if p.traffic.kind == "mld")
    assert placed == [("bridge sw bridged", MLD_RULE), ("inet filter output", MLD_RULE), ("ip6 guard6 in", MLD_RULE)]


def test_routed_ipv6_groups_go_to_the_ip6_and_inet_forward_chains_that_drop_them():
    plan = _nft.plan(ruleset(), traffic(forward=[("ff05::/16", ["5004"]), ("ff3e::/16", ["5004"])]))
    placed = sorted((p.chain.label, p.chain.hook, p.traffic.text) for p in plan.insert if p.traffic.kind == "forward")
    assert placed == [("inet filter forward", "forward", "ip6 daddr ff05::/16 udp dport 5004 accept"),
                      ("ip6 guard6 fwd6", "forward", "ip6 daddr ff05::/16 udp dport 5004 accept"),
                      ("ip6 guard6 fwd6", "forward", "ip6 daddr ff3e::/16 udp dport 5004 accept")]


def test_after_the_batch_nothing_drops_and_a_second_plan_keeps_everything():
    traffics = traffic(mld=True, forward=[("ff05::/16", ["5004"]), ("ff0e::1234", [])])
    first = _nft.plan(ruleset(), traffics, ipv6_rpf=True)
    after = _nft.Ruleset(applied(document(), first))
    assert _nft.drop_report(after, traffics, skip=lambda rule: False) == {"igmp": [], "mld": [], "forward": []}
    second = _nft.plan(after, traffics, ipv6_rpf=True)
    assert not second.changed and second.commands() == []
    assert len(second.keep) == len(first.insert)


# --------------------------------------------------------------------------- the MLD probes

@pytest.mark.parametrize("family, hook, sources", [
    ("inet", "input", ["fe80::/10"]),
    ("ip6", "prerouting", ["fe80::/10"]),
    ("netdev", "ingress", ["fe80::/10"]),
    ("inet", "output", ["fe80::/10", "::/128"]),
    ("ip6", "postrouting", ["fe80::/10", "::/128"]),
    ("netdev", "egress", ["fe80::/10", "::/128"]),
    ("bridge", "forward", ["fe80::/10", "::/128"]),
    ("bridge", "input", ["fe80::/10", "::/128"]),
    ("ip", "input", []),
])
def test_reports_from_the_unspecified_address_are_judged_where_they_leave_or_are_bridged(family, hook, sources):
    probes = _nft.mld_traffic().probes_for(family, hook)
    assert [str(probe.saddr) for probe in probes] == sources


@pytest.mark.parametrize("right, op, link_local, unspecified", [
    ({"prefix": {"addr": "fe80::", "len": 10}}, "==", True, False),
    ({"prefix": {"addr": "fe80::", "len": 10}}, "!=", False, True),
    ({"prefix": {"addr": "fe80::", "len": 64}}, "==", None, False),
    ({"prefix": {"addr": "2000::", "len": 3}}, "==", False, False),
    ({"set": ["::", {"prefix": {"addr": "fe80::", "len": 10}}]}, "==", True, True),
    ("@trusted", "==", None, None),
])
def test_the_mld_probes_know_their_source(right, op, link_local, unspecified):
    match = {"op": op, "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": right}
    probes = _nft.mld_traffic().probes
    assert [_nft.evaluate_match(match, probe, "inet") for probe in probes] == [link_local, unspecified]


def test_the_mld_rule_matches_ipv6_only_and_its_tag_changed_with_its_shape():
    mld = _nft.mld_traffic()
    assert mld.expr[0] == {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}},
                                     "right": {"set": ["::", {"prefix": {"addr": "fe80::", "len": 10}}]}}}
    # An IPv4 packet never matches a rule that starts with an ip6 match, in any family.
    assert _nft.rule_effect({"expr": mld.expr}, _nft.igmp_traffic().probes[0], "inet") == (False, None)
    # Rules of the release that accepted MLD from any source carry another tag and get replaced.
    assert mld.tag != _nft.rule_tag("mld", "mld")


def test_facts_api_reports_mld_drops_with_the_ruleset_as_it_is():
    """facts calls drop_report(ruleset, [mld_traffic()], skip=...) for its MLD finding."""
    report = _nft.drop_report(ruleset(), [_nft.mld_traffic()], skip=lambda rule: False)
    assert list(report) == ["mld"]
    assert labels(report["mld"]) == ["bridge sw bridged", "inet filter output", "ip6 guard6 in"]
    assert set(report["mld"][0]) >= {"family", "table", "chain", "hook", "certain", "reason", "unsure_accepts"}
    # A chain that drops only the reports from :: says so.
    reasons = dict((entry["chain"], entry["reason"]) for entry in report["mld"])
    assert reasons["output"] == "policy drop (reports from ::, sent during duplicate address detection)"
    assert reasons["in"].startswith("drop by rule handle")


# --------------------------------------------------------------------------- the reverse-path table

def rpf_state(state):
    """The recorded ruleset plus the own table: absent, as wanted, or changed by hand."""
    doc = document()
    if state == "absent":
        return doc
    doc = applied(doc, _nft.plan(_nft.Ruleset(doc), [], ipv6_rpf=True))
    if state == "stale":
        for item in doc["nftables"]:
            if "chain" in item and item["chain"]["table"] == _nft.RPF_TABLE:
                item["chain"]["prio"] = 0
    if state == "extra":
        doc["nftables"].append({"rule": {"family": "ip6", "table": _nft.RPF_TABLE, "chain": "prerouting",
                                         "handle": 77, "expr": [{"counter": None}]}})
    if state == "empty":
        doc["nftables"] = [item for item in doc["nftables"] if not _in_table(item, ("ip6", _nft.RPF_TABLE))]
        doc["nftables"].append({"table": {"family": "ip6", "name": _nft.RPF_TABLE, "handle": 99}})
    return doc


# (state found, ipv6_rpf wanted, commands on the own table, rules reported removed)
RPF_CASES = [
    ("absent", True, ["add table", "add chain", "add rule"], 0),
    ("wanted", True, [], 0),
    ("stale", True, ["delete table", "add table", "add chain", "add rule"], 1),
    ("extra", True, ["delete table", "add table", "add chain", "add rule"], 2),
    ("empty", True, ["delete table", "add table", "add chain", "add rule"], 0),
    ("wanted", False, ["delete table"], 1),
    ("empty", False, ["delete table"], 0),
    ("absent", False, [], 0),
]


@pytest.mark.parametrize("state, wanted, commands, removed", RPF_CASES,
                         ids=["%s-%s" % (state, wanted) for state, wanted, _c, _r in RPF_CASES])
def test_the_reverse_path_table_is_kept_exactly_or_replaced_whole(state, wanted, commands, removed):
    plan = _nft.plan(_nft.Ruleset(rpf_state(state)), [], ipv6_rpf=wanted)
    own = [command for command in plan.commands() if "rule" not in next(iter(command.values())) or
           next(iter(command.values()))["rule"].get("table") == _nft.RPF_TABLE]
    assert ["%s %s" % (verb, next(iter(body))) for command in own for verb, body in command.items()] == commands
    assert len(plan.rpf_delete) == removed
    assert plan.changed is bool(commands)
    assert [p.traffic.kind for p in plan.all_wanted()] == (["rpf6"] if wanted else [])


def test_the_reverse_path_rule_and_chain_as_sent_to_nft():
    plan = _nft.plan(ruleset(), [], ipv6_rpf=True)
    table, chain, rule = plan.commands()
    assert table == {"add": {"table": {"family": "ip6", "name": "mcast_linux_rpf"}}}
    assert chain == {"add": {"chain": {"family": "ip6", "table": "mcast_linux_rpf", "name": "prerouting",
                                       "type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}}}
    body = rule["add"]["rule"]
    assert body["comment"].startswith("mcast.linux:rpf6:") and _nft.expr_text(body["expr"]) == RPF_RULE
    assert [p.describe()["rule"] for p in plan.all_inserted()] == [RPF_RULE]


def test_the_own_table_never_gets_accept_rules_and_is_never_reported_as_dropping():
    doc = rpf_state("wanted")
    traffics = traffic(mld=True, forward=[("ff3e::/16", ["5004"])])
    # The drop rule's fib match cannot be evaluated: any other chain like it would get an accept.
    assert all(not _nft.is_own_chain(p.chain) for p in _nft.plan(_nft.Ruleset(doc), traffics, ipv6_rpf=True).wanted)
    report = _nft.drop_report(_nft.Ruleset(doc), traffics, skip=lambda rule: False)
    assert all(entry["table"] != _nft.RPF_TABLE for entries in report.values() for entry in entries)


def test_state_absent_deletes_the_accept_rules_and_the_own_table():
    doc = applied(document(), _nft.plan(ruleset(), traffic(mld=True), ipv6_rpf=True))
    plan = _nft.plan(_nft.Ruleset(doc), [])
    after = applied(doc, plan)
    assert len(plan.delete) == 5 and len(plan.rpf_delete) == 1  # IGMP in 2 chains, MLD in 3
    assert after == document()


def test_the_include_recreates_the_own_table_whole():
    plan = _nft.plan(ruleset(), traffic(mld=True), ipv6_rpf=True)
    text, unwritable = _nft.render_include(plan.wanted, plan.rpf)
    assert unwritable == []
    tail = text[text.index("add table ip6 mcast_linux_rpf"):]
    assert tail.splitlines() == [
        "add table ip6 mcast_linux_rpf", "delete table ip6 mcast_linux_rpf", "table ip6 mcast_linux_rpf {",
        "\tchain prerouting {", "\t\ttype filter hook prerouting priority -300; policy accept;",
        '\t\t%s comment "%s"' % (RPF_RULE, plan.rpf.traffic.tag), "\t}", "}"]
    assert 'insert rule inet filter output %s comment "mcast.linux:mld:' % MLD_RULE in text
    assert "mcast_linux_rpf" not in _nft.render_include(plan.wanted)[0]


def test_a_listed_fib_rule_reads_back_as_nft_syntax():
    listed = {"handle": 3, "comment": _nft.RpfRule().tag, "expr": [
        {"match": {"op": ">", "left": {"&": [{"payload": {"protocol": "ip6", "field": "daddr"}}, "ff0f::"]},
                   "right": "ff02::"}},
        {"match": {"op": "!=", "left": {"payload": {"protocol": "ip6", "field": "saddr"}},
                   "right": {"set": ["::", {"prefix": {"addr": "fe80::", "len": 10}}]}}},
        {"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr", "iif"]}}, "right": False}},
        {"drop": None}]}
    assert _nft.rule_text(listed) == RPF_RULE


def test_ipv6_groups_of_every_routable_scope_are_accepted_and_link_scope_is_refused():
    parsed = _nft.parse_forward([{"group": "ff05::1:3", "ports": []}, {"group": "ff38::/16", "ports": ["5004"]}])
    assert [entry["group"] for entry in parsed] == [ipaddress.ip_network("ff05::1:3/128"),
                                                    ipaddress.ip_network("ff38::/16")]
    for group in ("ff02::1:3", "ff12::1", "ff32::/16", "ff01::1"):
        with pytest.raises(ValueError, match="link-local scope"):
            _nft.parse_forward([{"group": group, "ports": []}])
