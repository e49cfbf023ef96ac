"""Who gets the kernel's 32 VIFs when more interfaces want one: inputs, then outputs, then phyint-only interfaces
(routes.vif_demand), and a table that keeps its slots across reloads and link events (routes.plan_vifs)."""
import logging
import types

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import daemon as mcastd_daemon
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import nftrun, routes
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import Iface
from tests.unit.mcastd.test_mcastd_control_fuzz import FakeKernel

UP_MC = 0x1 | 0x1000
INPUT, OUTPUT, PHYINT = routes.INPUT, routes.OUTPUT, routes.PHYINT


def ifaces(*names):
    return {name: Iface(name, index, UP_MC) for index, name in enumerate(names, 2)}


def outs(first, last, stem="o"):
    return ["%s%d" % (stem, number) for number in range(first, last + 1)]


def route(iif, names, group="239.1.1.1", joined=False):
    return "mroute from %s group %s to %s%s\n" % (iif, group, " ".join(names), " if-joined" if joined else "")


def phyints(names, words="enable"):
    return "".join("phyint %s %s\n" % (name, words) for name in names)


def demand(text, *names, family=4):
    config = conf.parse_text(text, overflow=True)
    present = ifaces(*(names or sorted(set(config.vif_names(family)))))
    return routes.vif_demand(config, present, family)


def allocate(text, names, current=None, family=4):
    """(table, removals, additions, left_out) for ``text`` with ``names`` present, from the VIF table ``current``."""
    config = conf.parse_text(text, overflow=True)
    wanted, tiers = routes.vif_demand(config, ifaces(*names), family)
    return routes.plan_vifs(current or {}, wanted, tiers)


# -- the order: inputs, then outputs, then phyint-only interfaces ---------------------------------------------
ORDER_CASES = [
    # (what it shows, configuration, the order VIFs are given in)
    ("an input named last comes first",
     phyints(["p1", "p2"]) + route("a0", ["b0"], "239.1.1.1") + route("z0", ["b0"], "239.2.2.2"),
     ["a0", "z0", "b0", "p1", "p2"]),
    ("inputs by how many routes they feed, then by first mention",
     route("a0", ["x0"], "239.1.1.1") + route("b0", ["x0"], "239.2.2.2") + route("b0", ["x0"], "239.3.3.3"),
     ["b0", "a0", "x0"]),
    ("an interface that is an input and an output is an input",
     route("a0", ["b0"], "239.1.1.1") + route("b0", ["c0"], "239.2.2.2"),
     ["a0", "b0", "c0"]),
    ("outputs by how many routes use them",
     route("i0", ["o1", "o2"], "239.1.1.1") + route("i0", ["o2", "o3"], "239.2.2.2") + route("i0", ["o3"], "239.3.3.3")
     + route("i0", ["o2"], "239.4.4.4"),
     ["i0", "o2", "o3", "o1"]),
    ("outputs of if-joined routes before the others: they hear IGMPv1/v2 reports only with a VIF",
     route("i0", ["o1", "o2", "o3"], "239.1.1.1") + route("i0", ["o1", "o2"], "239.2.2.2")
     + route("i0", ["o3"], "239.3.3.3", joined=True),
     ["i0", "o3", "o1", "o2"]),
    ("phyint-only interfaces last, mrdisc and querier ones first among them",
     phyints(["p1"]) + phyints(["p2"], "mrdisc") + phyints(["p3"], "querier") + route("i0", ["o1"]),
     ["i0", "o1", "p2", "p3", "p1"]),
    ("a wildcard input makes every match an input, in ifindex order",
     route("o1", ["e+"], "239.1.1.1") + route("e+", ["o1"], "239.2.2.0/24") + route("e+", ["o1"], "239.3.3.0/24"),
     ["e1", "e2", "o1"]),
]


@pytest.mark.parametrize("text, order", [case[1:] for case in ORDER_CASES], ids=[case[0] for case in ORDER_CASES])
def test_vifs_are_given_in_order_of_tier(text, order):
    config = conf.parse_text(text, overflow=True)
    names = sorted(set(name for name in config.vif_names() if not name.endswith("+")) | set(order))
    wanted, tiers = routes.vif_demand(config, ifaces(*names))
    assert list(wanted) == order
    assert list(tiers) == order


def test_tiers_name_what_each_interface_is_wanted_for():
    _wanted, tiers = demand(phyints(["p1"]) + route("a0", ["b0"]))
    assert tiers == {"a0": INPUT, "b0": OUTPUT, "p1": PHYINT}


def test_the_order_is_per_family():
    text = route("a0", ["b0"], "239.1.1.1") + route("b0", ["a0"], "ff0e::1") + phyints(["p1"])
    assert list(demand(text, "a0", "b0", "p1", family=4)[0]) == ["a0", "b0", "p1"]
    assert list(demand(text, "a0", "b0", "p1", family=6)[0]) == ["b0", "a0", "p1"]


def test_a_disabled_interface_is_wanted_by_no_wildcard():
    wanted, _tiers = demand("phyint e2 disable\n" + route("i0", ["e+"]), "i0", "e1", "e2")
    assert list(wanted) == ["i0", "e1"]


def test_the_order_does_not_change_what_is_wanted():
    text = phyints(["c0"], "enable ttl-threshold 4") + route("a0", ["b0"])
    assert demand(text, "a0", "b0", "c0", "unused0")[0] == {"a0": (2, 1), "b0": (3, 1), "c0": (4, 4)}


# -- a fresh table ------------------------------------------------------------------------------------------
def test_an_input_mentioned_after_35_phyint_lines_gets_a_vif_and_31_outputs_the_rest():
    text = phyints(outs(1, 35, "p")) + route("p1", outs(2, 39, "p")) + route("late0", outs(1, 39, "p"), "239.2.2.2")
    names = outs(1, 39, "p") + ["late0"]
    table, removals, additions, left_out = allocate(text, names)
    assert "late0" in table and "p1" in table  # both inputs
    assert len(table) == len(additions) == 32 and not removals
    # p2..p39 are outputs of both routes: p2..p31 come first by mention (ties); p1 was an input already
    assert sorted(table, key=lambda name: table[name].index)[:3] == ["p1", "late0", "p2"]
    assert left_out == outs(32, 39, "p")


def test_more_inputs_than_vifs_leave_the_last_inputs_and_every_output_out():
    text = "".join(route("i%d" % number, ["x0"], "239.1.1.%d" % number) for number in range(1, 35))
    table, _removals, _additions, left_out = allocate(text, outs(1, 34, "i") + ["x0"])
    assert sorted(table) == sorted(outs(1, 32, "i")) and left_out == ["i33", "i34", "x0"]


# -- stability: a VIF that exists keeps its slot, only a better tier takes one --------------------------------
def full_of_outputs():
    """A table of 32 VIFs: i0 (the input) and 31 outputs of 40, the other 9 left out."""
    text = route("i0", outs(1, 40))
    table, _removals, _additions, left_out = allocate(text, ["i0"] + outs(1, 40))
    assert left_out == outs(32, 40)
    return text, table


def test_the_same_configuration_changes_nothing():
    text, table = full_of_outputs()
    again, removals, additions, left_out = allocate(text, ["i0"] + outs(1, 40), table)
    assert again == table and not removals and not additions and left_out == outs(32, 40)


def test_an_output_left_out_does_not_take_a_slot_from_a_less_used_output():
    text, table = full_of_outputs()
    busier = text + route("i0", ["o40"], "239.2.2.2") + route("i0", ["o40"], "239.3.3.3")
    again, removals, additions, left_out = allocate(busier, ["i0"] + outs(1, 40), table)
    assert again == table and not removals and not additions and "o40" in left_out


def test_an_input_that_appears_takes_the_slot_of_the_last_ranked_output():
    text, table = full_of_outputs()
    text += route("late0", ["o1"], "239.2.2.2")
    again, removals, additions, left_out = allocate(text, ["i0"] + outs(1, 40) + ["late0"], table)
    # o2..o31 are used by one route each, o1 by two: o31 is the last of the holders
    assert removals == [table["o31"]]
    assert additions == [routes.Vif(table["o31"].index, "late0", 43, 1)]
    assert set(again) == set(table) - {"o31"} | {"late0"}
    assert all(again[name] is table[name] for name in again if name != "late0")
    assert left_out == outs(31, 40)


def test_an_input_takes_a_slot_that_only_a_phyint_line_holds_before_one_of_an_output():
    text = phyints(["p1", "p2"]) + route("i0", outs(1, 29))
    names = ["i0", "p1", "p2"] + outs(1, 29)
    table, _removals, _additions, left_out = allocate(text, names)
    assert len(table) == 32 and not left_out
    text += route("late0", ["o1"], "239.2.2.2") + route("late1", ["o1"], "239.3.3.3")
    again, removals, additions, left_out = allocate(text, names + ["late0", "late1"], table)
    assert removals == [table["p2"], table["p1"]]
    assert [vif.ifname for vif in additions] == ["late0", "late1"]
    assert [vif.index for vif in additions] == sorted([table["p1"].index, table["p2"].index])
    assert left_out == ["p1", "p2"]


def test_an_output_takes_the_slot_of_a_phyint_only_interface():
    text = phyints(outs(1, 31, "p")) + route("i0", [], "239.1.1.1").replace(" to \n", "\n")
    names = ["i0"] + outs(1, 31, "p") + ["o1"]
    table, _removals, _additions, _left_out = allocate(text, names)
    assert len(table) == 32
    text += route("i0", ["o1"], "239.2.2.2")
    again, removals, additions, left_out = allocate(text, names, table)
    assert removals == [table["p31"]] and additions == [routes.Vif(table["p31"].index, "o1", names.index("o1") + 2, 1)]
    assert left_out == ["p31"] and "o1" in again


def test_more_claimants_than_holders_of_a_worse_tier():
    text = "".join(route("i%d" % number, ["x0", "x1"], "239.1.1.%d" % number) for number in range(1, 31))
    names = outs(1, 33, "i") + ["x0", "x1"]
    table, _removals, _additions, left_out = allocate(text, names)
    assert sorted(table) == sorted(outs(1, 30, "i") + ["x0", "x1"])
    text += "".join(route("i%d" % number, ["x0"], "239.1.1.%d" % number) for number in range(31, 34))
    again, removals, _additions, left_out = allocate(text, names, table)
    assert sorted(vif.ifname for vif in removals) == ["x0", "x1"]
    assert "i31" in again and "i32" in again and left_out == ["i33", "x0", "x1"]


def test_a_recreated_interface_keeps_its_slot_though_a_better_ranked_one_waits():
    text, table = full_of_outputs()
    names = ["i0"] + outs(1, 40)
    present = ifaces(*names)
    present["o5"] = Iface("o5", 99, UP_MC)
    wanted, tiers = routes.vif_demand(conf.parse_text(text, overflow=True), present)
    again, removals, additions, left_out = routes.plan_vifs(table, wanted, tiers)
    assert removals == [table["o5"]] and additions == [routes.Vif(table["o5"].index, "o5", 99, 1)]
    assert again["o5"].index == table["o5"].index and left_out == outs(32, 40)


def test_without_tiers_nothing_is_taken():
    _text, table = full_of_outputs()
    wanted = dict((name, (vif.ifindex, vif.threshold)) for name, vif in table.items())
    wanted = dict([("late0", (99, 1))] + list(wanted.items()))
    again, removals, additions, left_out = routes.plan_vifs(table, wanted)
    assert again == table and not removals and not additions and left_out == ["late0"]


def test_left_out_text_names_them_by_tier():
    tiers = {"a0": INPUT, "o1": OUTPUT, "o2": OUTPUT, "p1": PHYINT}
    assert routes.left_out_text(["o1", "a0", "o2", "p1"], tiers) == "inputs a0; outputs o1, o2; phyint only p1"
    assert routes.left_out_text(["o1"], tiers) == "outputs o1"


# -- the daemon: the kernel's table and the log --------------------------------------------------------------
def running(text, names):
    options = types.SimpleNamespace(config="m.conf", socket="unused", cache_timeout=60.0)
    mcastd = mcastd_daemon.Daemon(options, log=logging.getLogger("mcastd-test-vifs"))
    mcastd.overflow = nftrun.OverflowTable("/usr/sbin/nft", runner=lambda _nft, _document: "")
    mcastd.mroute = FakeKernel()
    mcastd.ifaces = ifaces(*names)
    config = conf.parse_text(text, overflow=True)
    mcastd.config = mcastd.file_config = config
    mcastd.table = routes.RouteTable(config)
    mcastd.apply()
    return mcastd


def test_an_input_that_appears_late_takes_a_vif_from_an_output_and_gets_its_entry(caplog):
    text = route("i0", outs(1, 40)) + "mroute from late0 source 10.9.9.9 group 239.2.2.2 to " + " ".join(
        outs(1, 40)) + "\n"
    caplog.set_level(logging.INFO, logger="mcastd-test-vifs")
    mcastd = running(text, ["i0"] + outs(1, 40))
    assert "late0" not in mcastd.vifs and len(mcastd.vifs) == 32
    assert [record.levelname for record in caplog.records if "all in use" in record.getMessage()] == ["INFO"]
    caplog.clear()
    mcastd.ifaces = ifaces(*(["i0"] + outs(1, 40) + ["late0"]))
    mcastd.apply()
    assert "late0" in mcastd.vifs and "o31" not in mcastd.vifs
    assert mcastd.mroute.vifs[mcastd.vifs["late0"].index].ifname == "late0"
    [entry] = [entry for key, entry in mcastd.mroute.mfc.items() if key[1] == conf.aton("239.2.2.2")]
    assert entry.parent == mcastd.vifs["late0"].index and sum(1 for ttl in entry.ttls if ttl) == 30
    messages = [record.getMessage() for record in caplog.records]
    assert "VIF %d goes from o31 (output) to late0 (input)" % mcastd.vifs["late0"].index in " ".join(messages)
    assert any(message.endswith("without one: outputs " + ", ".join(outs(31, 40))
                                + " (nftables copies to the outputs among them)") for message in messages)


def test_an_input_left_out_is_a_warning(caplog):
    text = "".join(route("i%d" % number, ["x0"], "239.1.1.%d" % number) for number in range(1, 34))
    caplog.set_level(logging.INFO, logger="mcastd-test-vifs")
    mcastd = running(text, outs(1, 33, "i") + ["x0"])
    assert "i33" not in mcastd.vifs
    [record] = [record for record in caplog.records if "all in use" in record.getMessage()]
    assert record.levelname == "WARNING" and "without one: inputs i33; outputs x0 (" in record.getMessage()


class CallOrder(FakeKernel):
    """FakeKernel that also records the order of its calls: ("add_vif", name) and ("add_mfc", group)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def add_vif(self, vif):
        self.calls.append(("add_vif", vif.ifname))
        super().add_vif(vif)

    def add_mfc(self, source, group, entry):
        self.calls.append(("add_mfc", conf.ntoa(group)))
        super().add_mfc(source, group, entry)


def test_entries_stop_using_a_slot_before_it_changes_hands():
    text = "mroute from i0 source 10.1.1.1 group 239.1.1.1 to %s\n" % " ".join(outs(1, 40))
    text += "mroute from late0 source 10.9.9.9 group 239.2.2.2 to o1\n"
    mcastd = running(text, ["i0"] + outs(1, 40))
    mcastd.mroute = mcastd.v4.sock = CallOrder()
    slot = mcastd.vifs["o31"].index
    mcastd.ifaces = ifaces(*(["i0"] + outs(1, 40) + ["late0"]))
    mcastd.apply()
    assert mcastd.vifs["late0"].index == slot
    # The entry from i0 loses o31 before late0 gets o31's slot: it never sends a copy out of late0.
    assert mcastd.mroute.calls == [("add_mfc", "239.1.1.1"), ("add_vif", "late0"), ("add_mfc", "239.2.2.2")]
    assert not mcastd.mroute.mfc[(conf.aton("10.1.1.1"), conf.aton("239.1.1.1"))].ttls[slot]
