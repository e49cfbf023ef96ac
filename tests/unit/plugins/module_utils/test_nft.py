"""Planning of mcast.linux.nftables on recorded ``nft -j list ruleset`` documents (no kernel access).

The JSON files in ``data/nft`` were recorded from real namespaces by ``data/nft/record.py`` from
the ``.nft`` sources next to them; each source says what it models.
"""
import ipaddress
import json
from pathlib import Path

import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _nft

DATA = Path(__file__).resolve().parent / "data" / "nft"
IGMP_TAG = "mcast.linux:igmp:d795f203a198"


def ruleset(name):
    return _nft.Ruleset(json.loads((DATA / (name + ".json")).read_text(encoding="utf-8")))


def labels(entries):
    return sorted("%s %s %s" % (entry["family"], entry["table"], entry["chain"]) for entry in entries)


def drops(name, **kinds):
    return _nft.drop_report(ruleset(name), _nft.build_traffic(**kinds))


def forward(group, ports=()):
    return _nft.parse_forward([{"group": group, "ports": list(ports)}])


# --------------------------------------------------------------------------- which chains drop

def test_debian_default_ruleset_drops_nothing_and_needs_no_rule():
    assert drops("debian_default", pim=True, mld=True) == {"igmp": [], "mld": [], "pim": []}
    plan = _nft.plan(ruleset("debian_default"), _nft.build_traffic(pim=True, mld=True))
    assert not plan.changed and plan.commands() == []


def test_host_firewall_drops_igmp_by_policy_despite_conntrack_and_interface_accepts():
    report = drops("host_drop")["igmp"]
    assert labels(report) == ["inet filter input"]
    entry = report[0]
    assert (entry["certain"], entry["reason"], entry["policy"], entry["hook"]) == (True, "policy drop", "drop", "input")
    # `iifname "lo" accept` may accept some IGMP; `ct state ...` never applies to it (state new).
    lo_accept = [r for r in ruleset("host_drop").chains[("inet", "filter", "input")].rules
                 if r["expr"][0]["match"]["left"] == {"meta": {"key": "iifname"}}][0]
    assert entry["unsure_accepts"] == [lo_accept["handle"]]


def test_an_accept_in_one_table_does_not_hide_drops_in_other_tables_at_the_same_hook():
    report = drops("two_tables", mld=True)
    # inet filter input accepts IGMP itself; ip guard in (policy drop) and ip guard pre (drop by
    # source address, which the planner cannot evaluate) still drop it.
    assert labels(report["igmp"]) == ["ip guard in", "ip guard pre"]
    certainty = dict((entry["chain"], entry["certain"]) for entry in report["igmp"])
    assert certainty == {"in": True, "pre": False}
    # The netdev chain drops only UDP; MLD is dropped by the IPv6 chains and by inet filter input.
    assert labels(report["mld"]) == ["inet filter input", "ip6 guard6 in"]


def test_drops_behind_jumps_gotos_and_verdict_maps_are_found():
    report = drops("jumps", pim=True)
    igmp = dict((entry["chain"], entry) for entry in report["igmp"])
    assert sorted(igmp) == ["input", "output"]
    assert igmp["input"]["reason"].startswith("jump igmp_in")
    # The conditional return in igmp_in lets some IGMP skip the drop: an unsure accept.
    assert igmp["input"]["unsure_accepts"] == [16]
    assert igmp["output"]["reason"] == "policy drop"
    pim = dict((entry["chain"], entry) for entry in report["pim"])
    assert pim["input"]["reason"].startswith("jump common") and pim["input"]["certain"]


def test_goto_that_falls_through_ends_the_base_chain_so_the_rule_must_come_before_it():
    chain = ruleset("jumps").chains[("inet", "filter", "output")]
    outcome = _nft.evaluate_chain(ruleset("jumps"), chain, _nft.igmp_traffic().probes[0])
    assert (outcome.verdict, outcome.index) == ("drop", 1)


def test_verdict_map_keyed_on_the_protocol_does_not_apply_to_igmp_but_to_udp():
    rules = ruleset("jumps")
    rule = rules.chains[("inet", "filter", "input")].rules[0]
    assert _nft.rule_effect(rule, _nft.igmp_traffic().probes[0], "inet") == (False, None)
    udp = _nft.forward_traffic(ipaddress.ip_network("239.1.1.0/24"), [(5004, 5004)]).probes[0]
    assert _nft.rule_effect(rule, udp, "inet") == (True, ("jump", "udp_in"))


def test_router_forward_rules_of_the_user_cover_some_groups_and_not_others():
    rules = ruleset("router")

    def dropped(group, ports=()):
        return labels(_nft.drop_report(rules, _nft.build_traffic(forward=forward(group, ports)))["forward"])

    assert dropped("239.1.0.0/16", ["5004"]) == []
    assert dropped("239.1.2.0/24", ["5004"]) == []
    assert dropped("239.9.9.9") == []
    assert dropped("239.2.0.0/16", ["5004"]) == ["inet filter forward"]
    # Ports 5004-5006 are only partly accepted: the chain still drops 5005 and 5006.
    assert dropped("239.1.0.0/16", ["5004-5006"]) == ["inet filter forward"]
    # IGMP and PIM are accepted by the user's own rules; the nat chain never drops.
    assert drops("router", pim=True) == {"igmp": [], "pim": []}


def test_routed_traffic_is_only_checked_at_the_hooks_it_passes():
    traffic = _nft.forward_traffic(ipaddress.ip_network("239.2.0.0/16"), [])
    hooks = dict((chain.name, traffic.applies_to(chain)) for chain in ruleset("host_drop").base_chains())
    assert hooks == {"input": False, "forward": True, "output": False}


@pytest.mark.parametrize("match, expected", [
    ({"op": "!=", "left": {"payload": {"protocol": "ip", "field": "protocol"}}, "right": "igmp"}, False),
    ({"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}, False),
    ({"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
      "right": {"prefix": {"addr": "224.0.0.0", "len": 4}}}, True),
    ({"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "@blocked"}, None),
    ({"op": "==", "left": {"payload": {"protocol": "ip", "field": "protocol"}}, "right": {"set": ["tcp", "igmp"]}}, True),
    ({"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}, False),
    ({"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": "ff02::1"}, False),
    ({"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}, False),
    ({"op": "==", "left": {"ct": {"key": "state"}}, "right": "new"}, True),
    ({"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}, None),
    ({"op": "==", "left": {"meta": {"key": "protocol"}}, "right": "ip"}, True),
])
def test_matches_on_igmp(match, expected):
    assert _nft.evaluate_match(match, _nft.igmp_traffic().probes[0], "inet") is expected


def test_mld_probe_is_untracked_and_matches_only_its_own_icmpv6_types():
    probe = _nft.mld_traffic().probes[0]
    icmpv6_type = {"payload": {"protocol": "icmpv6", "field": "type"}}
    assert _nft.evaluate_match({"op": "==", "left": icmpv6_type, "right": "echo-request"}, probe, "ip6") is False
    assert _nft.evaluate_match({"op": "==", "left": icmpv6_type, "right": "mld-listener-query"}, probe, "ip6") is None
    assert _nft.evaluate_match({"op": "==", "left": icmpv6_type, "right": {"range": [130, 143]}}, probe, "ip6") is True
    assert _nft.evaluate_match({"op": "==", "left": {"ct": {"key": "state"}}, "right": "untracked"}, probe, "ip6") is True


# --------------------------------------------------------------------------- planning the batch

def test_host_firewall_plan_is_one_insert_at_the_top_of_input_with_the_tag():
    plan = _nft.plan(ruleset("host_drop"), _nft.build_traffic())
    assert plan.commands() == [{"insert": {"rule": {
        "family": "inet", "table": "filter", "chain": "input", "comment": IGMP_TAG,
        "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "protocol"}}, "right": 2}},
                 {"accept": None}]}}}]


def test_inserts_are_reversed_so_each_chain_ends_up_in_igmp_mld_pim_order():
    plan = _nft.plan(ruleset("host_drop"), _nft.build_traffic(pim=True, mld=True))
    kinds = [command["insert"]["rule"]["comment"].split(":")[1] for command in plan.commands()]
    assert kinds == ["pim", "mld", "igmp"]


def test_managed_rules_kept_deleted_and_moved():
    rules = ruleset("managed")
    plan = _nft.plan(rules, _nft.build_traffic())
    kept = [(chain.label, index) for chain, index, _rule in plan.keep]
    assert kept == [("inet filter input", 1)]
    deleted = sorted((chain.label, rule["comment"]) for chain, _index, rule in plan.delete)
    assert deleted == [
        ("inet filter input", "mcast.linux:igmp:000000000000"),   # older format
        ("inet filter input", IGMP_TAG),                           # duplicate
        ("inet filter output", IGMP_TAG),                          # policy accept: not needed
        ("ip raw pre", IGMP_TAG),                                  # below the drop: moved
    ]
    assert [p.chain.label for p in plan.insert] == ["ip raw pre"]
    commands = plan.commands()
    assert [next(iter(command)) for command in commands] == ["delete"] * 4 + ["insert"]
    # The user's own commented rule is never touched.
    untouched = [r for r in rules.chains[("inet", "filter", "input")].rules if r.get("comment") == "dns, not ours"][0]
    assert all(command.get("delete", {}).get("rule", {}).get("handle") != untouched["handle"] for command in commands)


def test_state_absent_deletes_every_tagged_rule_and_nothing_else():
    plan = _nft.plan(ruleset("managed"), [])
    assert len(plan.delete) == 5 and plan.insert == []
    assert all(_nft.is_managed(rule) for _chain, _index, rule in plan.delete)


def test_plan_after_applying_is_empty():
    """Simulate the batch on the recorded JSON: the second plan must keep everything."""
    document = json.loads((DATA / "two_tables.json").read_text(encoding="utf-8"))
    traffics = _nft.build_traffic(pim=True, mld=True)
    plan = _nft.plan(_nft.Ruleset(document), traffics)
    items = document["nftables"]
    for handle, command in enumerate(plan.commands(), start=1000):
        rule = dict(command["insert"]["rule"], handle=handle)
        key = (rule["family"], rule["table"], rule["chain"])
        # Right after its chain's own entry: the first rule of that chain, as an insert makes it.
        position = next(i for i, item in enumerate(items) if "chain" in item and
                        (item["chain"]["family"], item["chain"]["table"], item["chain"]["name"]) == key)
        items.insert(position + 1, {"rule": rule})
    second = _nft.plan(_nft.Ruleset(document), traffics)
    assert not second.changed
    assert len(second.keep) == len(plan.insert)
    assert _nft.drop_report(_nft.Ruleset(document), traffics, skip=lambda rule: False) == \
        {"igmp": [], "mld": [], "pim": []}


def test_tags_depend_on_the_traffic_not_on_handles():
    first = _nft.forward_traffic(ipaddress.ip_network("239.1.1.0/24"), [(5004, 5004)])
    again = _nft.forward_traffic(ipaddress.ip_network("239.1.1.0/24"), [(5004, 5004)])
    other = _nft.forward_traffic(ipaddress.ip_network("239.1.1.0/24"), [(5006, 5006)])
    assert first.tag == again.tag != other.tag
    assert first.tag.startswith("mcast.linux:forward:") and len(first.tag) < 128


def test_rule_text_is_nft_syntax():
    traffic = _nft.forward_traffic(ipaddress.ip_network("239.1.0.0/16"), [(5004, 5004), (6000, 6010)])
    assert traffic.text == "ip daddr 239.1.0.0/16 udp dport { 5004, 6000-6010 } accept"
    assert _nft.forward_traffic(ipaddress.ip_network("ff3e::1234/128"), []).text == "ip6 daddr ff3e::1234 accept"
    assert _nft.mld_traffic().text == ("ip6 saddr { ::, fe80::/10 } icmpv6 type { mld-listener-query, "
                                       "mld-listener-report, mld-listener-done, mld2-listener-report } accept")
    assert _nft.RpfRule().text == ("ip6 daddr & ff0f:: > ff02:: ip6 saddr != { ::, fe80::/10 } fib saddr . iif "
                                   "oif missing drop")


# --------------------------------------------------------------------------- owners of the ruleset

def test_firewalld_owns_the_ruleset():
    message = _nft.foreign_owner(ruleset("firewalld"))
    assert "firewalld" in message and "firewall-cmd --permanent --add-protocol=igmp" in message


def test_iptables_nft_tables_are_recognised_by_xtables_expressions():
    document = {"nftables": [
        {"table": {"family": "ip", "name": "filter", "handle": 1}},
        {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter",
                   "hook": "input", "prio": 0, "policy": "drop"}},
        {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 2,
                  "expr": [{"xt": {"type": "match", "name": "conntrack"}}, {"accept": None}]}}]}
    assert "iptables -I INPUT -p igmp -j ACCEPT" in _nft.foreign_owner(_nft.Ruleset(document))


def test_table_with_owner_flag_is_foreign_and_plain_rulesets_are_not():
    document = {"nftables": [{"table": {"family": "inet", "name": "daemon", "handle": 1, "flags": ["owner"]}}]}
    assert "owned by another process" in _nft.foreign_owner(_nft.Ruleset(document))
    assert _nft.foreign_owner(ruleset("host_drop")) is None


def test_output_that_is_not_an_nft_document_is_an_error():
    with pytest.raises(_nft.NftError):
        _nft.Ruleset({"something": []})


def test_list_and_apply_run_nft_with_argv_lists():
    calls = []

    def run_command(argv, data=None, binary_data=False):
        calls.append((argv, data, binary_data))
        return 0, (DATA / "host_drop.json").read_text(encoding="utf-8"), ""

    rules = _nft.list_ruleset(run_command, "/usr/sbin/nft")
    _nft.apply_batch(run_command, "/usr/sbin/nft", _nft.plan(rules, _nft.build_traffic()).commands())
    _nft.apply_batch(run_command, "/usr/sbin/nft", [])
    assert [call[0] for call in calls] == [["/usr/sbin/nft", "-j", "list", "ruleset"], ["/usr/sbin/nft", "-j", "-f", "-"]]
    assert json.loads(calls[1][1])["nftables"][0]["insert"]["rule"]["comment"] == IGMP_TAG


def test_nft_failure_carries_its_message():
    with pytest.raises(_nft.NftError, match="Operation not permitted"):
        _nft.list_ruleset(lambda argv: (1, "", "Operation not permitted"), "nft")


# --------------------------------------------------------------------------- validating forward

@pytest.mark.parametrize("entry, message", [
    ({"group": "10.1.2.0/24"}, "is not multicast"),
    ({"group": "224.0.0.251"}, "link-local"),
    ({"group": "ff02::fb"}, "link-local scope"),
    ({"group": "239.1.1.1/24"}, "host bits set; write the prefix as 239.1.1.0/24"),
    ({"group": "239.1.1"}, "is not an IP address"),
    ({"group": ""}, "has no group"),
    ({"group": "239.1.1.1", "ports": ["0"]}, "out of range"),
    ({"group": "239.1.1.1", "ports": ["70000"]}, "out of range"),
    ({"group": "239.1.1.1", "ports": ["5010-5000"]}, "out of range"),
    ({"group": "239.1.1.1", "ports": ["rtp"]}, "not a port number"),
])
def test_bad_forward_entries_are_refused_with_the_fix(entry, message):
    with pytest.raises(ValueError, match=message):
        _nft.parse_forward([entry])


def test_duplicate_forward_entries_are_refused():
    with pytest.raises(ValueError, match="twice"):
        _nft.parse_forward([{"group": "239.1.1.1", "ports": ["5004"]}, {"group": "239.1.1.1/32", "ports": ["5004"]}])


def test_forward_ports_are_merged_and_ipv6_groups_of_wide_scope_are_fine():
    parsed = _nft.parse_forward([{"group": "239.1.1.1", "ports": ["5006", "5004", "5005", "6000-6010", "6005"]},
                                 {"group": "ff3e::/16", "ports": []}])
    assert parsed[0]["ports"] == [(5004, 5006), (6000, 6010)]
    assert parsed[1]["group"] == ipaddress.ip_network("ff3e::/16")


# --------------------------------------------------------------------------- persistence text

def test_include_declares_chains_then_inserts_each_rule_at_the_top():
    plan = _nft.plan(ruleset("two_tables"), _nft.build_traffic(pim=True))
    text, unwritable = _nft.render_include(plan.wanted)
    assert unwritable == []
    assert "table ip guard {\n\tchain in {\n\t}\n\tchain pre {\n\t}\n}\n" in text
    inserts = [line for line in text.splitlines() if line.startswith("insert rule ip guard in ")]
    assert inserts == ['insert rule ip guard in meta l4proto 103 accept comment "mcast.linux:pim:f4a1a6b5339f"',
                       'insert rule ip guard in ip protocol 2 accept comment "%s"' % IGMP_TAG]


def test_chains_nft_syntax_cannot_name_are_left_out_of_the_include():
    document = {"nftables": [
        {"table": {"family": "inet", "name": "1st", "handle": 1}},
        {"chain": {"family": "inet", "table": "1st", "name": "in put", "handle": 1, "type": "filter",
                   "hook": "input", "prio": 0, "policy": "drop"}}]}
    plan = _nft.plan(_nft.Ruleset(document), _nft.build_traffic())
    text, unwritable = _nft.render_include(plan.wanted)
    assert unwritable == ["inet 1st in put"] and "insert rule" not in text


CONF = "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n}\n"


def test_include_is_appended_once_and_kept_last():
    path = "/etc/nftables.d/mcast-linux.nft"
    once = _nft.ensure_include(CONF, path)
    assert once.endswith('\ninclude "%s"\n' % path)
    assert _nft.ensure_include(once, path) == once
    with_comment_after = once + "# a trailing comment\n"
    assert _nft.ensure_include(with_comment_after, path) == with_comment_after
    moved = _nft.ensure_include(once + "table ip extra {\n}\n", path)
    assert moved.count('include "%s"' % path) == 1 and moved.endswith('include "%s"\n' % path)
    assert _nft.remove_include(once, path) == CONF.rstrip("\n") + "\n"
    assert _nft.remove_include(CONF, path) == CONF
    assert _nft.remove_include(None, path) is None


def test_a_tagged_rule_of_an_unknown_shape_is_shown_by_its_handle():
    rule = {"handle": 42, "comment": IGMP_TAG, "expr": [{"match": {"op": "==", "left": {"fib": {"result": "type"}},
                                                                   "right": "local"}}, {"accept": None}]}
    assert _nft.rule_text(rule) == "(rule handle 42)"


# --------------------------------------------------------------------------- mcastd's own table (issue 12)

def test_mcastd_table_is_left_to_mcastd_and_a_tagged_rule_found_there_is_removed():
    """mcastd's prerouting chain (dup copies behind verdict maps, policy accept) drops nothing: IGMP and the routed
    group are accepted in the firewall's own chains only, and the forward rule an earlier version inserted at
    the top of mcastd's chain (where it ended the chain before the copies) is deleted."""
    from ansible_collections.mcast.linux.plugins.module_utils.mcastd import overflow
    assert ("ip", overflow.DEFAULT_TABLE) in _nft.MCASTD_TABLES and ("ip6", overflow.DEFAULT_TABLE) in _nft.MCASTD_TABLES
    rules = ruleset("mcastd_overflow")
    traffic = _nft.build_traffic(forward=forward("239.5.5.5", ["5005"]))
    report = _nft.drop_report(rules, traffic)
    assert labels(report["igmp"]) == ["inet filter input"]
    assert labels(report["forward"]) == ["inet filter forward"]
    plan = _nft.plan(rules, traffic)
    assert sorted("%s %s %s" % placement.chain.key for placement in plan.wanted) == [
        "inet filter forward", "inet filter input"]
    assert [(chain.key, rule["comment"]) for chain, _index, rule in plan.delete] == [
        (("ip", "mcastd", "prerouting"), "mcast.linux:forward:db7b66dcd8bf")]


def test_a_table_named_mcastd_that_drops_by_policy_is_judged_as_any_other():
    document = json.loads((DATA / "mcastd_overflow.json").read_text(encoding="utf-8"))
    for item in document["nftables"]:
        if "chain" in item and item["chain"]["table"] == "mcastd" and item["chain"]["name"] == "prerouting":
            item["chain"]["policy"] = "drop"
    report = _nft.drop_report(_nft.Ruleset(document), _nft.build_traffic())
    assert labels(report["igmp"]) == ["inet filter input", "ip mcastd prerouting"]
