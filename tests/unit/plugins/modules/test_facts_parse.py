"""The pure parts of mcast.linux.facts: /proc tables, routes, hooks and the mcastd configuration."""
from ansible_collections.mcast.linux.plugins.module_utils import _facts as facts

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


def test_routes_in_table_local_count_unless_the_kernel_added_them():
    assert not facts.is_multicast_route({"dest": "ff00::/8", "table": 255, "proto": 2})
    assert facts.is_multicast_route({"dest": "ff00::/8", "table": 255, "proto": 3})  # ip route add ... table local
    assert facts.is_multicast_route({"dest": "ff0e::/16", "table": 255, "proto": 4})
    assert not facts.is_multicast_route({"dest": "2001:db8::/64", "table": 255, "proto": 3})


# Recorded in a namespace: ff0e::1:2 joined (any source) and ff3e::1:3 from 2001:db8:1::10 on f6a.
PROC_IGMP6_JOINED = (
    "1    lo              ff020000000000000000000000000001     1 0000000C 0\n"
    "3    f6a             ff3e0000000000000000000000010003     1 00000004 0\n"
    "3    f6a             ff0e0000000000000000000000010002     2 00000004 0\n"
    "3    f6a             ff010000000000000000000000000001     1 00000008 0\n"
)
PROC_MCFILTER6 = (
    "Idx Device                Multicast Address                   Source Address    INC    EXC\n"
    "  3    f6a ff3e0000000000000000000000010003 20010db8000100000000000000000010      1      0\n"
)


def test_mld_memberships_with_users_reporting_and_source_filters():
    assert facts.parse_mld_memberships(PROC_IGMP6_JOINED, PROC_MCFILTER6) == {
        1: [{"group": "ff02::1", "users": 1, "reported": False, "sources": []}],
        3: [{"group": "ff3e::1:3", "users": 1, "reported": True,
             "sources": [{"source": "2001:db8:1::10", "include": 1, "exclude": 0}]},
            {"group": "ff0e::1:2", "users": 2, "reported": True, "sources": []},
            {"group": "ff01::1", "users": 1, "reported": False, "sources": []}]}
    assert facts.parse_mld_memberships("", "") == {}


# /proc/net/ip6_mr_cache as recorded in a namespace: an (S,G) entry, a (*,G) entry whose outputs include its
# input, one with a parent MIF that does not exist (accepted silently); and an unresolved one (parent -1).
PROC_MFC6 = (
    "Group                            Origin                           Iif      Pkts  Bytes     Wrong  Oifs\n"
    "ff0e:0000:0000:0000:0000:0000:0001:0005 2001:0db8:0010:0000:0000:0000:0000:0010 0         10      620        0"
    "  1:1  \n"
    "ff0e:0000:0000:0000:0000:0000:0001:0009 0000:0000:0000:0000:0000:0000:0000:0000 1          0        0        0"
    "  0:1    1:1  \n"
    "ff0e:0000:0000:0000:0000:0000:0001:000a 2001:0db8:0010:0000:0000:0000:0000:0010 7          0        0        0"
    "  1:1  \n"
    "ff0e:0000:0000:0000:0000:0000:0001:000b 2001:0db8:0010:0000:0000:0000:0000:0011 -1         0        0        0\n"
)


def test_ipv6_mfc_from_proc_with_mif_names():
    rows = facts.parse_mfc6(PROC_MFC6, {0: "trunk.10", 1: "trunk.20"})
    assert rows == [
        {"source": "2001:db8:10::10", "group": "ff0e::1:5", "iif": "trunk.10", "oifs": ["trunk.20"],
         "packets": 10, "bytes": 620, "wrong_if": 0},
        {"source": "::", "group": "ff0e::1:9", "iif": "trunk.20", "oifs": ["trunk.10", "trunk.20"],
         "packets": 0, "bytes": 0, "wrong_if": 0},
        {"source": "2001:db8:10::10", "group": "ff0e::1:a", "iif": None, "oifs": ["trunk.20"], "packets": 0,
         "bytes": 0, "wrong_if": 0},
        {"source": "2001:db8:10::11", "group": "ff0e::1:b", "iif": None, "oifs": [], "packets": 0, "bytes": 0,
         "wrong_if": 0}]
    assert facts.outputs_of(rows[0]) == ["trunk.20"]
    assert facts.outputs_of(rows[1]) == ["trunk.10"]  # a (*,G) flow never goes back out of its input
    assert facts.parse_mfc6("", {}) == []


def test_mld_hooks_are_those_ipv6_passes():
    hooks = facts.hook_acceptance([{"family": "ip6", "table": "f", "chain": "in", "hook": "input"}], "ipv6")
    assert set(hooks) == {"ingress", "prerouting", "input", "forward", "output", "postrouting", "egress"}
    assert hooks["input"] == {"accepted": False, "dropped_by": ["ip6 f in"]}


def vif(index, name, packets_out):
    return {"index": index, "interface": name, "packets_out": packets_out}


def reading(mfc4=(), vifs=(), mfc6=(), mifs=()):
    return {"ipv4": {"mfc": list(mfc4), "vifs": list(vifs)}, "ipv6": {"mfc": list(mfc6), "vifs": list(mifs)}}


def entry(source, group, packets, wrong_if=0, iif="trunk.10", oifs=("trunk.20",)):
    return {"source": source, "group": group, "iif": iif, "oifs": list(oifs), "packets": packets,
            "bytes": packets * 100, "wrong_if": wrong_if}


def test_mfc_deltas_of_both_families():
    before = reading([entry("192.0.2.10", "239.1.1.1", 10), entry("192.0.2.10", "239.1.1.2", 0, oifs=())],
                     [vif(0, "trunk.10", 0), vif(1, "trunk.20", 5)],
                     [entry("2001:db8::10", "ff0e::1", 3)], [vif(0, "trunk.10", 0), vif(1, "trunk.20", 0)])
    after = reading([entry("192.0.2.10", "239.1.1.1", 60, wrong_if=2), entry("192.0.2.10", "239.1.1.2", 9, oifs=()),
                     entry("192.0.2.11", "239.1.1.1", 5)],
                    [vif(0, "trunk.10", 0), vif(1, "trunk.20", 5)],
                    [entry("2001:db8::10", "ff0e::1", 4)], [vif(0, "trunk.10", 0), vif(1, "trunk.20", 1)])
    assert facts.mfc_deltas(before, after) == [
        {"family": "ipv4", "source": "192.0.2.10", "group": "239.1.1.1", "iif": "trunk.10", "packets": 50,
         "bytes": 5000, "wrong_if": 2, "outputs": [{"interface": "trunk.20", "vif": 1, "packets_out": 0}]},
        {"family": "ipv6", "source": "2001:db8::10", "group": "ff0e::1", "iif": "trunk.10", "packets": 1,
         "bytes": 100, "wrong_if": 0, "outputs": [{"interface": "trunk.20", "vif": 1, "packets_out": 1}]}]


def test_an_output_without_a_vif_in_both_readings_has_no_delta():
    before = reading([entry("192.0.2.10", "239.1.1.1", 10)], [vif(0, "trunk.10", 0)])
    after = reading([entry("192.0.2.10", "239.1.1.1", 20)], [vif(0, "trunk.10", 0), vif(1, "trunk.20", 0)])
    assert facts.mfc_deltas(before, after)[0]["outputs"] == [{"interface": "trunk.20", "vif": 1, "packets_out": None}]


def test_link_local_scope_route_lines_in_the_file_and_its_includes(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text("mroute from eth0 group ff12::1/128 to eth1  # transient, link-local\n")
    (tmp_path / "conf.d" / "b.conf").write_text("include ../mcastd.conf\n")  # a loop: read once
    path = tmp_path / "mcastd.conf"
    path.write_text("phyint eth0 enable\n"
                    "mroute from eth0 group ff02::fb to eth1\n"
                    "mroutes from eth0 source 2001:db8::1 group ff01::/16 to eth1\n"
                    "mroute from eth0 group ff05::1:3 to eth1\n"
                    "mroute from eth0 group ff00::/8 to eth1\n"
                    "mgroup from eth0 group ff02::1:3\n"
                    "# mroute from eth0 group ff02::5 to eth1\n"
                    "mroute from eth0 group 224.0.0.251 to eth1\n"
                    "include conf.d/*.conf\n")
    assert facts.link_local_route_lines(str(path)) == [
        {"origin": "%s:2" % path, "group": "ff02::fb", "line": "mroute from eth0 group ff02::fb to eth1"},
        {"origin": "%s:3" % path, "group": "ff01::/16",
         "line": "mroutes from eth0 source 2001:db8::1 group ff01::/16 to eth1"},
        {"origin": "%s/conf.d/a.conf:1" % tmp_path, "group": "ff12::1",
         "line": "mroute from eth0 group ff12::1/128 to eth1  # transient, link-local"}]
    assert facts.config_facts(str(path))["link_local_routes"] == facts.link_local_route_lines(str(path))
    assert facts.link_local_route_lines(str(tmp_path / "absent.conf")) == []


def test_queriers_heard_keeps_mcastds_igmp_rows_only():
    igmp = {"interface": "trunk.20", "protocol": "IGMP", "role": "querier", "querier": "198.51.100.1"}
    mld = {"interface": "trunk.20", "protocol": "MLD", "role": "querier", "querier": "fe80::1"}
    assert facts.queriers_heard({"queriers": [igmp, mld]}, {}) == {"trunk.20": {"mcastd": igmp}}
    assert facts.queriers_heard({"queriers": [mld]}, {}) == {}


def test_the_mcastd_facts_carry_its_routes_with_where_each_output_is_served(monkeypatch, tmp_path):
    """Issue 12: facts report each route's outputs as mcastctl show routes does (kernel or nftables)."""
    row = {"source": "192.0.2.10", "group": "239.1.1.1", "iif": "o0", "kind": "static", "oifs": ["o1", "o40"],
           "nft_oifs": ["o40"], "outputs": [{"name": "o1", "served": "kernel", "packets": 5, "bytes": 50},
                                            {"name": "o40", "served": "nftables", "packets": 5, "bytes": 50}]}
    monkeypatch.setattr(facts, "snapshot", lambda path: {"status": {"pid": 1}, "pending": [], "routes": [row]})
    module = type("Module", (), {"params": {"mcastd_socket": "/run/x.sock", "mcastd_config": str(tmp_path / "c")},
                                 "warn": lambda self, text: None})()
    gathered = facts.McastFacts(module).mcastd()
    assert gathered["running"] and gathered["routes"] == [row]
    monkeypatch.setattr(facts, "snapshot", lambda path: None)
    assert facts.McastFacts(module).mcastd()["routes"] == []
