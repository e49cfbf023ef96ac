"""The pure parts of mcast.linux.facts: /proc tables, routes, hooks and the mcastd configuration."""
from ansible_collections.mcast.linux.plugins.modules import facts

# Recorded in a namespace after joining 239.1.2.3 on a.10 (tabs and spaces as the kernel prints them).
PROC_IGMP = (
    "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n"
    "1\tlo        :     1      V3\n"
    "\t\t\t\t010000E0     1 0:00000000\t\t0\n"
    "3\ta.10      :     2      V3\n"
    "\t\t\t\t030201EF     1 0:00000000\t\t0\n"
    "\t\t\t\t010000E0     1 0:00000000\t\t0\n"
)
PROC_IGMP6 = (
    "1    lo              ff020000000000000000000000000001     1 0000000C 0\n"
    "3    a.10            ff0200000000000000000001ff9dfb8e     1 00000004 0\n"
)


def test_igmp_memberships_by_ifindex():
    assert facts.parse_igmp(PROC_IGMP) == {1: ["224.0.0.1"], 3: ["239.1.2.3", "224.0.0.1"]}


def test_igmp6_memberships_by_ifindex():
    assert facts.parse_igmp6(PROC_IGMP6) == {1: ["ff02::1"], 3: ["ff02::1:ff9d:fb8e"]}


def test_flag_names_in_bit_order():
    assert facts.flag_names(0x1 | 0x40 | 0x1000 | 0x10000) == ["UP", "RUNNING", "MULTICAST", "LOWER_UP"]


def route(dest, table=254):
    return {"dest": dest, "table": table}


def test_multicast_routes_are_inside_the_multicast_ranges_and_not_in_table_local():
    assert facts.is_multicast_route(route("224.0.0.0/4"))
    assert facts.is_multicast_route(route("239.1.0.0/16", table=100))
    assert facts.is_multicast_route(route("ff05::/16"))
    assert not facts.is_multicast_route(route("0.0.0.0/0"))
    assert not facts.is_multicast_route(route("192.0.2.0/24"))
    assert not facts.is_multicast_route(route("ff00::/8", table=255))


def test_every_hook_is_reported_and_the_dropping_chains_are_named():
    drops = [{"family": "inet", "table": "filter", "chain": "input", "hook": "input"},
             {"family": "ip", "table": "other", "chain": "in", "hook": "input"}]
    hooks = facts.hook_acceptance(drops)
    assert set(hooks) == {"ingress", "prerouting", "input", "forward", "output", "postrouting", "egress"}
    assert hooks["input"] == {"accepted": False, "dropped_by": ["inet filter input", "ip other in"]}
    assert hooks["output"] == {"accepted": True, "dropped_by": []}


def test_config_facts_valid_invalid_and_absent(tmp_path):
    path = tmp_path / "mcastd.conf"
    assert facts.config_facts(str(path))["exists"] is False
    path.write_text("mroute from trunk.10 group 239.1.0.0/16 to trunk.20\nmgroup from trunk.10 group 239.1.1.1\n")
    valid = facts.config_facts(str(path))
    assert valid["valid"] is True
    assert valid["routes"] == [{"iif": "trunk.10", "source": None, "group": "239.1.0.0/16", "oifs": ["trunk.20"],
                                "origin": "%s:1" % path}]
    assert valid["mgroups"][0]["group"] == "239.1.1.1"
    path.write_text("mroute from trunk.10 group 224.0.0.9 to trunk.20\n")
    invalid = facts.config_facts(str(path))
    assert invalid["valid"] is False and "link-local" in invalid["errors"][0] and invalid["routes"] == []


def test_queriers_heard_joins_mcastd_rows_and_bridge_states():
    row = {"interface": "trunk.20", "ifindex": 5, "role": "non-querier", "querier": "198.51.100.0", "is_us": False}
    bridges = {"br0": {"querier_state": {"ipv4": {"address": "192.0.2.2", "port_index": 5, "port": "swp1",
                                                  "other_querier_expires_in": 243.1}, "ipv6": None}},
               "br1": {"querier_state": {"ipv4": {"address": "0.0.0.0", "port_index": None, "port": None,
                                                  "other_querier_expires_in": None}, "ipv6": None}},
               "br2": {"querier_state": {"ipv4": None, "ipv6": None}}}
    heard = facts.queriers_heard({"queriers": [row]}, bridges)
    assert heard == {
        "trunk.20": {"mcastd": row},
        "br0": {"bridge": {"address": "192.0.2.2", "own": False, "port": "swp1", "other_querier_expires_in": 243.1}},
        "br1": {"bridge": {"address": "0.0.0.0", "own": True, "port": None, "other_querier_expires_in": None}},
        "br2": {"bridge": None}}
    assert facts.querier_views(heard["trunk.20"]) == [("mcastd", "198.51.100.0")]
    assert facts.querier_views(heard["br0"]) == [("bridge", "192.0.2.2")] and facts.querier_views(heard["br2"]) == []
    assert facts.queriers_heard({"queriers": []}, {}) == {}
