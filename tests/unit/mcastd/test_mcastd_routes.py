"""Route logic: VIF planning, desired entries, the reload diff, learning, expiry, pending."""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import routes
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import Iface

A = conf.aton
UP_MC = 0x1 | 0x1000


def ifaces(*names):
    return {name: Iface(name, index, UP_MC) for index, name in enumerate(names, 2)}


def table_of(text):
    return routes.RouteTable(conf.parse_text(text))


def vifs_for(config, present):
    table, _removals, _additions, _left = routes.plan_vifs({}, routes.wanted_vifs(config, present))
    return table


def ttl_outputs(entry):
    return [index for index, ttl in enumerate(entry.ttls) if ttl]


# -- VIFs ---------------------------------------------------------------------------------------
def test_vifs_only_for_interfaces_that_routes_or_phyint_name():
    config = conf.parse_text("phyint c0 enable ttl-threshold 4\nmroute from a0 group 225.1.1.1 to b0\n")
    wanted = routes.wanted_vifs(config, ifaces("a0", "b0", "c0", "unused0"))
    assert wanted == {"c0": (4, 4), "a0": (2, 1), "b0": (3, 1)}


def test_wildcards_pull_in_matching_interfaces_but_not_disabled_ones():
    config = conf.parse_text("phyint eth2 disable\nmroute from eth+ group 225.1.1.1 to br0\n")
    wanted = routes.wanted_vifs(config, ifaces("eth0", "eth1", "eth2", "br0", "wlan0"))
    assert sorted(wanted) == ["br0", "eth0", "eth1"]


def test_plan_keeps_unchanged_vifs_and_reuses_the_slot_of_a_recreated_interface():
    current = {"a0": routes.Vif(0, "a0", 2, 1), "b0": routes.Vif(1, "b0", 3, 1)}
    table, removals, additions, left_out = routes.plan_vifs(current, {"a0": (2, 1), "b0": (9, 1), "c0": (4, 1)})
    assert table["a0"] is current["a0"]
    assert removals == [current["b0"]]
    assert additions == [routes.Vif(1, "b0", 9, 1), routes.Vif(2, "c0", 4, 1)]
    assert not left_out


def test_plan_frees_slots_of_vanished_interfaces():
    current = {"a0": routes.Vif(0, "a0", 2, 1), "b0": routes.Vif(1, "b0", 3, 1)}
    table, removals, additions, _left_out = routes.plan_vifs(current, {"b0": (3, 1)})
    assert list(table) == ["b0"] and removals == [current["a0"]] and not additions


def test_plan_reports_interfaces_beyond_32_vifs():
    wanted = {"if%d" % index: (index + 2, 1) for index in range(34)}
    table, _removals, additions, left_out = routes.plan_vifs({}, wanted)
    assert len(table) == len(additions) == 32
    assert left_out == ["if32", "if33"]


# -- desired entries and the diff --------------------------------------------------------------------
def test_static_route_entry_uses_thresholds_as_ttls():
    config = conf.parse_text("phyint c0 enable ttl-threshold 7\nmroute from a0 source 10.0.0.1 group 225.1.1.1 to b0 c0\n")
    vifs = vifs_for(config, ifaces("a0", "b0", "c0"))
    entries = routes.desired_entries(routes.RouteTable(config), vifs, {})
    entry = entries[(A("10.0.0.1"), A("225.1.1.1"))]
    assert entry.parent == vifs["a0"].index
    assert entry.ttls[vifs["b0"].index] == 1 and entry.ttls[vifs["c0"].index] == 7
    assert len(entry.ttls) == 32


def test_missing_input_makes_a_route_pending_missing_output_is_skipped():
    config = conf.parse_text("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0 c0\n"
                             "mroute from x0 source 10.0.0.2 group 225.1.1.2 to b0\n")
    present = ifaces("a0", "b0")
    vifs = vifs_for(config, present)
    entries = routes.desired_entries(routes.RouteTable(config), vifs, {})
    assert list(entries) == [(A("10.0.0.1"), A("225.1.1.1"))]
    assert ttl_outputs(entries[(A("10.0.0.1"), A("225.1.1.1"))]) == [vifs["b0"].index]
    rows = routes.pending(config, present, {4: vifs, 6: {}})
    assert [(row["state"], row["missing"]) for row in rows] == [("partial", ["c0"]), ("inactive", ["x0"])]


def test_reload_changing_one_route_of_many_touches_only_that_route():
    lines = ["mroute from a0 source 10.0.%d.%d group 225.1.1.1 to b0" % (i >> 8, i & 255) for i in range(2000)]
    old_config = conf.parse_text("\n".join(lines))
    lines[700] = "mroute from a0 source 10.9.9.9 group 225.1.1.1 to b0"
    new_config = conf.parse_text("\n".join(lines))
    present = ifaces("a0", "b0")
    vifs = vifs_for(old_config, present)
    installed = routes.desired_entries(routes.RouteTable(old_config), vifs, {})
    changes, removals = routes.diff(installed, routes.desired_entries(routes.RouteTable(new_config), vifs, {}))
    assert [change[0] for change in changes] == [(A("10.9.9.9"), A("225.1.1.1"))]
    assert [removal[0] for removal in removals] == [(A("10.0.2.188"), A("225.1.1.1"))]


def test_changed_outputs_are_an_update_not_a_removal():
    present = ifaces("a0", "b0", "c0")
    old = conf.parse_text("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0\n")
    new = conf.parse_text("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0 c0\n")
    vifs = vifs_for(new, present)
    installed = routes.desired_entries(routes.RouteTable(old), vifs, {})
    changes, removals = routes.diff(installed, routes.desired_entries(routes.RouteTable(new), vifs, {}))
    assert len(changes) == 1 and not removals
    assert ttl_outputs(changes[0][1]) == [vifs["b0"].index, vifs["c0"].index]


# -- learning from upcalls -----------------------------------------------------------------------------
def test_most_specific_template_wins():
    table = table_of("mroute from a0 group 225.0.0.0/8 to b0\n"
                     "mroute from a0 group 225.1.1.0/24 to c0\n"
                     "mroute from a0 source 10.1.0.0/16 group 225.1.1.0/24 to d0\n")
    assert table.template_for("a0", A("10.1.2.3"), A("225.1.1.9")).oifs == ("d0",)
    assert table.template_for("a0", A("10.2.2.3"), A("225.1.1.9")).oifs == ("c0",)
    assert table.template_for("a0", A("10.2.2.3"), A("225.9.1.9")).oifs == ("b0",)
    assert table.template_for("b0", A("10.2.2.3"), A("225.9.1.9")) is None


def test_flow_matching_nothing_becomes_a_stop_entry():
    config = conf.parse_text("mroute from a0 group 225.1.1.1 to b0\n")
    vifs = vifs_for(config, ifaces("a0", "b0"))
    flow = routes.RouteTable(config).learn("a0", A("10.0.0.1"), A("226.6.6.6"), now=5.0)
    assert flow.kind == "stop"
    entry = routes.learned_entry(flow, vifs, routes.TtlCache(vifs))
    assert entry.is_stop and entry.parent == vifs["a0"].index


def test_learned_flow_forwards_to_the_template_outputs():
    config = conf.parse_text("mroute from a0 group 225.1.0.0/16 to b0 c0\n")
    vifs = vifs_for(config, ifaces("a0", "b0", "c0"))
    flow = routes.RouteTable(config).learn("a0", A("10.0.0.1"), A("225.1.7.7"), now=5.0)
    entry = routes.learned_entry(flow, vifs, routes.TtlCache(vifs))
    assert flow.kind == "learned" and ttl_outputs(entry) == [vifs["b0"].index, vifs["c0"].index]


def test_wildcard_output_never_includes_the_input():
    config = conf.parse_text("mroute from eth0 group 225.1.1.1 to eth+\n")
    vifs = vifs_for(config, ifaces("eth0", "eth1", "eth2"))
    flow = routes.RouteTable(config).learn("eth0", A("10.0.0.1"), A("225.1.1.1"), now=0)
    assert ttl_outputs(routes.learned_entry(flow, vifs, routes.TtlCache(vifs))) == [vifs["eth1"].index, vifs["eth2"].index]


def test_relearn_follows_changed_templates_and_stops_removed_ones():
    present = ifaces("a0", "b0", "c0")
    old = conf.parse_text("mroute from a0 group 225.1.1.1 to b0\nmroute from a0 group 225.2.2.2 to b0\n")
    new = conf.parse_text("mroute from a0 group 225.1.1.1 to c0\n")
    vifs = vifs_for(old, present)
    old_table = routes.RouteTable(old)
    learned = {(A("10.0.0.1"), A(group)): old_table.learn("a0", A("10.0.0.1"), A(group), 0) for group in ("225.1.1.1", "225.2.2.2")}
    kept = routes.relearn(routes.RouteTable(new), learned, vifs)
    assert kept[(A("10.0.0.1"), A("225.1.1.1"))].route.oifs == ("c0",)
    assert kept[(A("10.0.0.1"), A("225.2.2.2"))].kind == "stop"


def test_static_route_takes_over_a_learned_flow_once_its_input_exists():
    config = conf.parse_text("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0\n")
    table = routes.RouteTable(config)
    key = (A("10.0.0.1"), A("225.1.1.1"))
    learned = {key: table.learn("c0", key[0], key[1], 0)}  # came in elsewhere while a0 was missing
    assert learned[key].kind == "stop"
    without_a0 = vifs_for(config, ifaces("b0", "c0"))
    without_a0["c0"] = routes.Vif(5, "c0", 9, 1)
    assert routes.prune(table, learned, without_a0) == learned
    with_a0 = dict(without_a0, a0=routes.Vif(6, "a0", 2, 1))
    assert routes.prune(table, learned, with_a0) == {}


def test_flows_whose_input_lost_its_vif_are_forgotten():
    config = conf.parse_text("mroute from a0 group 225.1.1.1 to b0\n")
    table = routes.RouteTable(config)
    learned = {(1, A("225.1.1.1")): table.learn("a0", 1, A("225.1.1.1"), 0)}
    assert routes.prune(table, learned, vifs_for(config, ifaces("b0"))) == {}


# -- expiry ------------------------------------------------------------------------------------------
def test_idle_entries_expire_after_the_timeout_active_ones_stay():
    table = table_of("mroute from a0 group 225.1.1.1 to b0\n")
    learned = {("busy",): table.learn("a0", 1, A("225.1.1.1"), 0.0), ("idle",): table.learn("a0", 2, A("225.1.1.1"), 0.0),
               ("gone",): table.learn("a0", 3, A("225.1.1.1"), 0.0)}
    counters = {("busy",): 10, ("idle",): 0, ("gone",): None}
    assert routes.expired(learned, counters.get, now=1.0, timeout=2.0) == [("gone",)]
    counters[("busy",)] = 20
    assert routes.expired(learned, counters.get, now=2.5, timeout=2.0) == [("idle",), ("gone",)]
    assert learned[("busy",)].active == 2.5


@pytest.mark.parametrize("count", [10000])
def test_desired_entries_for_ten_thousand_routes_is_fast(count):
    import time  # pylint: disable=import-outside-toplevel
    text = "".join("mroute from a0 source 10.%d.%d.1 group 225.1.1.1 to b0 c0\n" % (i >> 8, i & 255) for i in range(count))
    config = conf.parse_text(text)
    vifs = vifs_for(config, ifaces("a0", "b0", "c0"))
    started = time.perf_counter()
    entries = routes.desired_entries(routes.RouteTable(config), vifs, {})
    changes, removals = routes.diff(entries, dict(entries))
    assert len(entries) == count and not changes and not removals
    assert time.perf_counter() - started < 0.5
