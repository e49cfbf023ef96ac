"""mcastd/overflow.py: the nftables transaction that copies a flow to the outputs beyond the kernel's VIFs."""
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import overflow as ov

VIDEO = ov.Flow("vlan1", "192.0.2.10", "239.1.1.1")
ANY = ov.Flow("vlan1", None, "239.2.2.2")


def outputs(count, first=1, shift=0):
    return tuple(ov.Output("o%d" % number, 100 + number + shift) for number in range(first, first + count))


def verbs(commands):
    """('add', 'rule', chain) and the like, one per command."""
    rows = []
    for command in commands:
        (verb, body), = command.items()
        (kind, spec), = body.items()
        rows.append((verb, kind, spec.get("chain") or spec.get("name")))
    return rows


def dups(command):
    return [expr["dup"]["dev"] for expr in command["add"]["rule"]["expr"] if "dup" in expr]


def test_a_start_makes_the_table_anew_with_guards_maps_and_one_chain_per_flow():
    commands = ov.plan({VIDEO: outputs(3), ANY: outputs(2)}, None)
    assert verbs(commands)[:3] == [("add", "table", "mcastd"), ("delete", "table", "mcastd"), ("add", "table", "mcastd")]
    base = [c["add"]["rule"] for c in commands if "add" in c and "rule" in c["add"] and c["add"]["rule"]["chain"] == "prerouting"]
    assert [rule["expr"][-1]["vmap"]["data"] for rule in base] == ["@sg", "@g"]  # a flow with a source wins
    for rule in base:
        assert rule["expr"][0]["match"]["right"] == {"prefix": {"addr": "224.0.0.0", "len": 4}}
        assert rule["expr"][1]["match"] == {"op": ">", "left": {"payload": {"protocol": "ip", "field": "ttl"}}, "right": 1}
    elements = [c["add"]["element"] for c in commands if "element" in c.get("add", {})]
    assert [(e["name"], e["elem"][0][0]["concat"], e["elem"][0][1]) for e in elements] == [
        ("g", ["vlan1", "239.2.2.2"], {"goto": {"target": ov.chain_name(ANY)}}),
        ("sg", ["vlan1", "192.0.2.10", "239.1.1.1"], {"goto": {"target": ov.chain_name(VIDEO)}})]


def test_outputs_are_split_into_rules_of_thirty_dups_each_with_a_counter():
    commands = ov.plan({VIDEO: outputs(61)}, {})
    rules = [c for c in commands if "rule" in c.get("add", {})]
    assert [len(dups(rule)) for rule in rules] == [30, 30, 1]
    assert all(rule["add"]["rule"]["expr"][0] == {"counter": None} for rule in rules)
    assert sum((dups(rule) for rule in rules), []) == ["o%d" % n for n in range(1, 62)]
    assert all(expr["dup"]["addr"] == "239.1.1.1" for rule in rules for expr in rule["add"]["rule"]["expr"][1:])


def test_nothing_changed_is_no_transaction():
    wanted = {VIDEO: outputs(40), ANY: outputs(3)}
    assert ov.plan(wanted, dict(wanted)) == []


def test_one_changed_output_flushes_and_refills_only_that_flow():
    before = {VIDEO: outputs(40), ANY: outputs(3)}
    after = dict(before)
    after[VIDEO] = outputs(39)
    chain = ov.chain_name(VIDEO)
    assert verbs(ov.plan(after, before)) == [("flush", "chain", chain), ("add", "rule", chain), ("add", "rule", chain)]


def test_an_output_created_again_with_a_new_ifindex_is_rendered_again():
    before = {VIDEO: outputs(3)}
    recreated = (outputs(1)[0]._replace(ifindex=999),) + outputs(2, first=2)
    assert verbs(ov.plan({VIDEO: recreated}, before))[0] == ("flush", "chain", ov.chain_name(VIDEO))


def test_a_flow_that_goes_loses_its_element_and_its_chain_and_one_without_outputs_has_none():
    commands = ov.plan({VIDEO: (), ANY: outputs(2)}, {VIDEO: outputs(2), ANY: outputs(2)})
    assert verbs(commands) == [("delete", "element", "sg"), ("flush", "chain", ov.chain_name(VIDEO)),
                               ("delete", "chain", ov.chain_name(VIDEO))]
    assert commands[0]["delete"]["element"]["elem"] == [{"concat": ["vlan1", "192.0.2.10", "239.1.1.1"]}]


def test_chain_names_follow_the_key_only():
    assert ov.chain_name(VIDEO) == ov.chain_name(ov.Flow("vlan1", "192.0.2.10", "239.1.1.1"))
    names = {ov.chain_name(flow) for flow in (VIDEO, ANY, VIDEO._replace(iif="vlan2"), VIDEO._replace(source=None))}
    assert len(names) == 4 and all(name.startswith("flow-") and len(name) <= 32 for name in names)


def test_ipv6_uses_the_ip6_table_the_hop_limit_and_ff00_8():
    flow = ov.Flow("vlan1", "2001:db8::10", "ff0e::1")
    commands = ov.plan({flow: outputs(2)}, None, family=6, table="routing")
    assert {c[next(iter(c))].get("table", {}).get("family") for c in commands[:3]} == {"ip6"}
    base = [c["add"]["rule"] for c in commands if c.get("add", {}).get("rule", {}).get("chain") == "prerouting"]
    assert base[0]["expr"][0]["match"]["right"] == {"prefix": {"addr": "ff00::", "len": 8}}
    assert base[0]["expr"][1]["match"]["left"] == {"payload": {"protocol": "ip6", "field": "hoplimit"}}
    maps = [c["add"]["map"] for c in commands if "map" in c.get("add", {})]
    assert maps[0]["type"] == ["ifname", "ipv6_addr", "ipv6_addr"] and maps[0]["table"] == "routing"


def test_teardown_removes_only_mcastds_table_even_when_it_is_absent():
    assert ov.teardown(6, "mcastd") == [{"add": {"table": {"family": "ip6", "name": "mcastd"}}},
                                        {"delete": {"table": {"family": "ip6", "name": "mcastd"}}}]
