"""Planning and validation of mcast.linux.bridge (no kernel access)."""
import pytest

from ansible_collections.mcast.linux.plugins.modules import bridge
from tests.unit.plugins.fake_module import FakeModule, ModuleFailed

KERNEL_DEFAULTS = {"snooping": 1, "querier": 0, "igmp_version": 2, "mld_version": 1, "query_interval": 12500,
                   "query_response_interval": 1000, "membership_interval": 26000, "querier_interval": 25500,
                   "last_member_interval": 100, "startup_query_interval": 3124, "query_use_ifaddr": 0}
NO_OPTIONS = dict((option, None) for option, _attribute, _keyword, _kind in bridge.BRIDGE_OPTIONS)


def params(**given):
    values = dict(NO_OPTIONS, name="br0", ports=[])
    values.update(given)
    return values


# Every bridge option: the module value, what the kernel stores, and how it is shown back.
OPTION_CASES = [
    ("snooping", False, 0, False),
    ("querier", True, 1, True),
    ("igmp_version", 3, 3, 3),
    ("mld_version", 2, 2, 2),
    ("query_interval", 20, 2000, 20.0),
    ("query_response_interval", 2.5, 250, 2.5),
    ("membership_interval", 42.5, 4250, 42.5),
    ("querier_interval", 41, 4100, 41.0),
    ("last_member_interval", 0.1, 10, 0.1),
    ("startup_query_interval", 30.5, 3050, 30.5),
    ("query_use_ifaddr", True, 1, True),
]


@pytest.mark.parametrize("option, value, kernel, shown", OPTION_CASES, ids=[case[0] for case in OPTION_CASES])
def test_every_option_is_planned_in_kernel_units_and_shown_in_module_units(option, value, kernel, shown):
    wanted = bridge.wanted_bridge(params(**{option: value}))
    assert wanted == {option: kernel}
    changes = bridge.plan_changes(bridge.BRIDGE_OPTIONS, KERNEL_DEFAULTS, wanted)
    assert changes == {option: (KERNEL_DEFAULTS[option], kernel)}
    record, = bridge.change_records("br0", bridge.BRIDGE_OPTIONS, changes)
    assert record["after"] == shown and record["interface"] == "br0" and record["option"] == option
    assert bridge.plan_changes(bridge.BRIDGE_OPTIONS, dict(KERNEL_DEFAULTS, **wanted), wanted) == {}


def test_every_option_has_an_attribute_both_pyroute2_versions_know():
    keywords = [bridge.netlink_keyword(attribute, "IFLA_") for _option, attribute, _keyword, _kind in bridge.BRIDGE_OPTIONS]
    assert "br_mcast_query_intvl" in keywords and "br_mcast_querier" in keywords
    assert len(keywords) == 11
    assert [bridge.netlink_keyword(attribute, "IFLA_BRPORT_") for _o, attribute, _w, _k in bridge.PORT_OPTIONS] == [
        "mcast_flood", "multicast_router"]


def test_unchanged_defaults_plan_nothing():
    wanted = bridge.wanted_bridge(params(snooping=True, querier=False, query_interval=125, startup_query_interval=31.24))
    assert bridge.plan_changes(bridge.BRIDGE_OPTIONS, KERNEL_DEFAULTS, wanted) == {}


@pytest.mark.parametrize("current, wanted, same", [
    (100, 101, True),    # CONFIG_HZ=250: 1.01 s reads back as 1.00 s
    (332, 333, True),
    (100, 102, False),
    (100, 50, False),    # the clamp of a query interval below 1 s
    (None, 100, False),
])
def test_intervals_tolerate_one_centisecond_of_jiffy_rounding(current, wanted, same):
    assert bridge.same_value("interval", current, wanted) is same


def test_bools_and_versions_compare_exactly():
    assert bridge.same_value("bool", 1, 1) and not bridge.same_value("bool", 0, 1)
    assert not bridge.same_value("int", 2, 3)


def test_ports_are_planned_per_port():
    wanted = bridge.wanted_ports([{"name": "swp1", "mcast_flood": False, "mcast_router": None},
                                  {"name": "swp2", "mcast_flood": None, "mcast_router": 2}])
    assert wanted == {"swp1": {"mcast_flood": 0}, "swp2": {"mcast_router": 2}}
    current = {"mcast_flood": 1, "mcast_router": 1}
    assert bridge.plan_changes(bridge.PORT_OPTIONS, current, wanted["swp1"]) == {"mcast_flood": (1, 0)}
    assert bridge.plan_changes(bridge.PORT_OPTIONS, current, wanted["swp2"]) == {"mcast_router": (1, 2)}
    assert bridge.plan_changes(bridge.PORT_OPTIONS, {"mcast_flood": 0, "mcast_router": 2}, wanted["swp2"]) == {}
    assert bridge.change_records("swp1", bridge.PORT_OPTIONS, {"mcast_flood": (1, 0)}) == [
        {"interface": "swp1", "option": "mcast_flood", "before": True, "after": False}]


def test_clamp_errors_say_what_the_kernel_kept_and_what_to_write():
    messages = bridge.clamp_errors("br0", bridge.BRIDGE_OPTIONS, {"query_interval": 50, "querier": 1},
                                   {"query_interval": 100, "querier": 1})
    assert messages == ["the kernel kept query_interval of br0 at 1.0 instead of 0.5 (it clamps values outside "
                        "its range); write query_interval: 1.0 instead."]
    assert bridge.clamp_errors("br0", bridge.BRIDGE_OPTIONS, {"query_interval": 101}, {"query_interval": 100}) == []
    assert bridge.clamp_errors("swp1", bridge.PORT_OPTIONS, {"mcast_router": 2}, {"mcast_router": 1}) == [
        "the kernel kept mcast_router of swp1 at 1 instead of 2 (it clamps values outside its range); "
        "write mcast_router: 1 instead."]


@pytest.mark.parametrize("current, wanted, fragment", [
    ({}, {"query_interval": 1000, "query_response_interval": 1000},
     "query_response_interval (10.0 s) must be shorter than query_interval (10.0 s)"),
    (KERNEL_DEFAULTS, {"query_interval": 500}, "query_response_interval (10.0 s) must be shorter than query_interval (5.0 s)"),
    (KERNEL_DEFAULTS, {"query_response_interval": 13000}, "Lower query_response_interval or raise query_interval"),
])
def test_relation_error_uses_the_values_after_the_change(current, wanted, fragment):
    assert fragment in bridge.relation_error(current, wanted)


def test_relation_fine_when_response_shorter():
    assert bridge.relation_error(KERNEL_DEFAULTS, {"query_interval": 200, "query_response_interval": 100}) is None
    assert bridge.relation_error(KERNEL_DEFAULTS, {}) is None


LINKS = {"br0": {"index": 5, "master": None}, "swp1": {"index": 6, "master": 5},
         "swp3": {"index": 8, "master": None}, "swp4": {"index": 9, "master": 7}}


@pytest.mark.parametrize("ports, fragment", [
    ({"swp1": {}}, None),
    ({"swp3": {}}, "swp3 is not a port of bridge br0; enslave it first (ip link set dev swp3 master br0)"),
    ({"swp4": {}}, "swp4 is not a port of bridge br0"),
    ({"swp9": {}}, "port swp9 does not exist on this host; existing interfaces: br0, swp1, swp3, swp4."),
])
def test_ports_must_be_enslaved_to_this_bridge(ports, fragment):
    message = bridge.membership_error("br0", 5, ports, LINKS)
    assert message == fragment if fragment is None else fragment in message


@pytest.mark.parametrize("given, fragment", [
    ({"membership_interval": 0}, "membership_interval is 0: the kernel would accept it"),
    ({"query_interval": 0}, "query_interval is 0"),
    ({"query_interval": -1}, "query_interval is -1: an interval cannot be negative"),
    ({"query_response_interval": -0.5}, "query_response_interval is -0.5"),
    ({"querier_interval": -2}, "querier_interval is -2"),
    ({"last_member_interval": -0.01}, "last_member_interval is -0.01"),
    ({"startup_query_interval": -3}, "startup_query_interval is -3"),
    ({"membership_interval": 26000}, None),
    ({"membership_interval": 86401}, "more than a day (86400 s) is no IGMP or MLD timer; give seconds, not centiseconds"),
    ({"last_member_interval": 0.005}, "round it to 0.01 s"),
    ({"startup_query_interval": 31.25}, None),
    ({"query_interval": 0.1}, None),  # not refused: the kernel clamps it, which the read-back reports
    ({"ports": [{"name": "swp1", "mcast_flood": True, "mcast_router": None},
                {"name": "swp1", "mcast_flood": None, "mcast_router": 2}]}, "ports lists swp1 more than once"),
    ({"ports": [{"name": "swp1", "mcast_flood": None, "mcast_router": None}]}, "port swp1 has no setting"),
    ({"name": "br0:1"}, "cannot be an interface name"),
    ({"ports": [{"name": "a-very-long-port-name", "mcast_flood": True, "mcast_router": None}]}, "longer than 15 bytes"),
])
def test_validate_explains_bad_input(given, fragment):
    module = FakeModule(params(**given))
    if fragment is None:
        bridge.validate(module)
        return
    with pytest.raises(ModuleFailed) as failure:
        bridge.validate(module)
    assert fragment in str(failure.value)


def test_seconds_convert_without_float_noise():
    assert bridge.to_kernel("interval", 0.1) == 10 and bridge.to_kernel("interval", 31.24) == 3124
    assert bridge.from_kernel("interval", 3124) == 31.24 and bridge.from_kernel("interval", None) is None
    assert bridge.to_kernel("bool", True) == 1 and bridge.from_kernel("bool", 0) is False
