"""Each finding fires on a snapshot that has the fault and stays silent on one that does not."""
import copy

import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _findings as findings
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as grammar


def interface(index, addresses=(), multicast=True, up=True, rp_filter=0, all_rp_filter=0, loopback=False):
    effective = max(rp_filter, all_rp_filter)
    flags = ["UP"] if up else []
    flags += ["LOOPBACK"] if loopback else ["BROADCAST"]
    flags += ["MULTICAST"] if multicast else []
    return {"index": index, "flags": flags, "up": up, "multicast": multicast, "loopback": loopback,
            "addresses": list(addresses), "groups": [],
            "rp_filter": {"value": rp_filter, "effective": effective,
                          "mode": {0: "off", 1: "strict", 2: "loose"}[effective]}}


def healthy_router():
    """A router that routes one (S,G) flow from trunk.10 to trunk.20, with nothing wrong."""
    return {
        "interfaces": {"lo": interface(1, ["127.0.0.1/8"], multicast=False, loopback=True),
                       "trunk.10": interface(2, ["192.0.2.1/24"]),
                       "trunk.20": interface(3, ["198.51.100.1/24"])},
        "rp_filter": {"all": 0, "default": 0},
        "routes": [{"dest": "224.0.0.0/4", "family": "ipv4", "dev": "trunk.20", "gateway": None, "table": 254,
                    "metric": 0, "multipath": False}],
        "vifs": [{"index": 0, "interface": "trunk.10"}, {"index": 1, "interface": "trunk.20"}],
        "mfc": [{"source": "192.0.2.10", "group": "239.1.1.1", "iif": "trunk.10", "oifs": ["trunk.20"],
                 "packets": 5, "bytes": 500, "wrong_if": 0}],
        "igmp": {"checked": True, "accepted": True, "hooks": {}, "drops": []},
        "routing_api": {"held": True, "holders": [{"pid": 10, "name": "python3", "command": "python3 -m mcastd"}]},
        "reverse_paths": {"192.0.2.10": "trunk.10"},
        "mcastd": {"running": True, "socket": "/run/mcastd/mcastd.sock", "status": {"vifs_left_out": []},
                   "config": {"path": "/etc/mcastd/mcastd.conf", "exists": True, "valid": True, "errors": [],
                              "routes": [{"iif": "trunk.10", "source": None, "group": "239.2.0.0/16",
                                          "oifs": ["trunk.20"], "origin": "/etc/mcastd/mcastd.conf:1"}]}},
    }


def ids(facts):
    return [(found["id"], found["severity"], found["subject"]) for found in findings.evaluate(facts)]


def test_a_healthy_router_has_no_findings():
    assert ids(healthy_router()) == []


def test_every_finding_has_the_documented_fields():
    facts = healthy_router()
    facts["interfaces"]["trunk.20"]["multicast"] = False
    for found in findings.evaluate(facts):
        assert set(found) == {"id", "severity", "subject", "summary", "evidence", "fix"}
        assert found["severity"] in ("error", "warning") and found["evidence"] and found["fix"]


def test_igmp_dropped_by_a_chain_certain_or_not():
    facts = healthy_router()
    facts["igmp"]["drops"] = [
        {"family": "inet", "table": "filter", "chain": "input", "hook": "input", "priority": 0, "policy": "drop",
         "certain": True, "reason": "policy drop"},
        {"family": "ip", "table": "raw", "chain": "pre", "hook": "prerouting", "priority": -300, "policy": "accept",
         "certain": False, "reason": "drop by rule handle 4 (its match is not evaluated here)"}]
    found = findings.igmp_dropped(facts)
    assert [(item["severity"], item["subject"]) for item in found] == [("error", "inet filter input"),
                                                                       ("warning", "ip raw pre")]
    assert "policy drop" in found[0]["evidence"][0] and "mcast.linux.nftables" in found[0]["fix"]


def test_igmp_not_checked_is_silent():
    facts = healthy_router()
    facts["igmp"] = {"checked": False, "reason": "nft is not installed"}
    assert findings.igmp_dropped(facts) == []


def test_strict_rp_filter_on_an_input_with_a_source_reachable_through_it_warns():
    facts = healthy_router()
    facts["interfaces"]["trunk.10"]["rp_filter"] = {"value": 1, "effective": 1, "mode": "strict"}
    [found] = findings.rp_filter_on_route_input(facts)
    assert (found["severity"], found["subject"]) == ("warning", "trunk.10")
    assert "rp_filter on trunk.10 is strict: effective value 1 = max(conf/all 0, conf/trunk.10 1)" in found["evidence"]
    assert "source 192.0.2.10: the route back to it leaves through trunk.10, so it passes" in found["evidence"]


def test_strict_rp_filter_with_the_route_back_elsewhere_is_an_error_and_loose_is_not():
    facts = healthy_router()
    facts["reverse_paths"] = {"192.0.2.10": "trunk.20"}
    facts["interfaces"]["trunk.10"]["rp_filter"] = {"value": 1, "effective": 1, "mode": "strict"}
    assert findings.rp_filter_on_route_input(facts)[0]["severity"] == "error"
    facts["interfaces"]["trunk.10"]["rp_filter"] = {"value": 2, "effective": 2, "mode": "loose"}
    assert findings.rp_filter_on_route_input(facts)[0]["severity"] == "warning"
    facts["reverse_paths"] = {"192.0.2.10": None}
    assert findings.rp_filter_on_route_input(facts)[0]["severity"] == "error"


def test_rp_filter_on_an_output_only_interface_is_silent():
    facts = healthy_router()
    facts["interfaces"]["trunk.20"]["rp_filter"] = {"value": 1, "effective": 1, "mode": "strict"}
    assert findings.rp_filter_on_route_input(facts) == []


def test_rp_filter_on_a_configured_wildcard_input_without_traffic_yet():
    facts = healthy_router()
    facts["mfc"] = []
    facts["mcastd"]["config"]["routes"][0]["iif"] = "trunk+"
    facts["mcastd"]["config"]["routes"][0]["oifs"] = ["eth9"]
    facts["interfaces"]["trunk.20"]["rp_filter"] = {"value": 1, "effective": 1, "mode": "strict"}
    [found] = findings.rp_filter_on_route_input(facts)
    assert found["subject"] == "trunk.20" and "sources are not known yet" in found["evidence"][-1]


def test_multihomed_host_without_dev_route_and_the_ways_to_be_silent():
    facts = healthy_router()
    facts["routes"] = []
    router = copy.deepcopy(facts)
    facts["vifs"] = facts["mfc"] = []  # a host: it sends, it does not route
    [found] = findings.multihomed_without_route(facts)
    assert found["id"] == "multihomed-without-multicast-route"
    assert "2 interfaces are up with IPv4 addresses: trunk.10 (192.0.2.1/24), trunk.20 (198.51.100.1/24)" in \
        found["evidence"]
    single = copy.deepcopy(facts)
    single["interfaces"]["trunk.20"]["up"] = False
    assert findings.multihomed_without_route(single) == []
    link_local = copy.deepcopy(facts)
    link_local["interfaces"]["trunk.20"]["addresses"] = ["169.254.1.1/16", "fe80::1/64"]
    assert findings.multihomed_without_route(link_local) == []
    via_only = copy.deepcopy(facts)
    via_only["routes"] = [{"dest": "224.0.0.0/4", "family": "ipv4", "dev": "trunk.20", "gateway": "198.51.100.9",
                           "table": 254, "metric": 0}]
    assert len(findings.multihomed_without_route(via_only)) == 1
    # A router with VIFs forwards by its MFC entries, not by the unicast table: multi-homed by design.
    assert findings.multihomed_without_route(router) == []


def test_a_via_route_for_multicast():
    facts = healthy_router()
    facts["routes"].append({"dest": "239.0.0.0/8", "family": "ipv4", "dev": "trunk.20", "gateway": "198.51.100.9",
                            "table": 254, "metric": 0})
    [found] = findings.route_via_gateway(facts)
    assert (found["severity"], found["subject"]) == ("error", "239.0.0.0/8")
    assert found["evidence"] == ["route 239.0.0.0/8 via 198.51.100.9 dev trunk.20 table 254 metric 0"]


def test_link_local_route_in_the_config_found_with_the_daemon_grammar():
    with pytest.raises(grammar.ConfigError) as caught:
        grammar.parse_text("mroute from trunk.10 group 224.0.0.251 to trunk.20\n"
                           "mroute from trunk.10 group 10.0.0.1 to trunk.20\n", "/etc/mcastd/mcastd.conf")
    facts = healthy_router()
    facts["mcastd"]["config"].update(valid=False, errors=caught.value.errors, routes=[])
    [found] = findings.link_local_in_config(facts)
    assert (found["severity"], found["subject"]) == ("error", "/etc/mcastd/mcastd.conf:1")
    assert "224.0.0.251" in found["evidence"][0]


def test_vif_table_near_full_and_full():
    facts = healthy_router()
    facts["vifs"] = [{"index": index, "interface": "v%d" % index} for index in range(27)]
    assert findings.vif_table_near_full(facts) == []
    facts["vifs"].append({"index": 27, "interface": "v27"})
    [found] = findings.vif_table_near_full(facts)
    assert found["severity"] == "warning" and found["evidence"][0].startswith("28 of the kernel's 32 VIFs")
    facts["mcastd"]["status"]["vifs_left_out"] = ["v40"]
    assert findings.vif_table_near_full(facts)[0]["severity"] == "error"
    assert findings.vif_table_near_full(facts, vif_warning=40)[0]["severity"] == "error"


def test_a_full_vif_table_is_a_warning_where_mcastd_copies_the_rest_with_nftables():
    facts = healthy_router()
    facts["vifs"] = [{"index": index, "interface": "v%d" % index} for index in range(32)]
    facts["mcastd"]["status"]["vifs_left_out"] = ["v40"]
    facts["mcastd"]["status"]["nftables"] = {"nft": "/usr/sbin/nft", "table": "mcastd",
                                             "ipv4": {"flows": 2, "outputs": 69}}
    [found] = findings.vif_table_near_full(facts)
    assert found["severity"] == "warning" and "nftables copies the rest" in found["summary"]
    assert found["evidence"][-1] == ("mcastd copies the outputs without a VIF with nftables (/usr/sbin/nft, "
                                     "table ip mcastd): 2 flows, 69 outputs now")
    # Without nft the interfaces left out are not routed at all.
    facts["mcastd"]["status"]["nftables"] = {"nft": None, "table": "mcastd"}
    [found] = findings.vif_table_near_full(facts)
    assert found["severity"] == "error" and "install nftables" in found["fix"].lower()


def test_routing_api_held_while_mcastd_does_not_answer():
    facts = healthy_router()
    facts["mcastd"]["running"] = False
    facts["routing_api"]["holders"] = [{"pid": 42, "name": "smcrouted", "command": "smcrouted -n"}]
    [found] = findings.routing_api_held_by_other(facts)
    assert found["severity"] == "error"
    assert "processes with a raw IGMP socket here: smcrouted (pid 42: smcrouted -n)" in found["evidence"]
    facts["mcastd"]["config"]["exists"] = False
    assert findings.routing_api_held_by_other(facts)[0]["severity"] == "warning"
    facts["routing_api"]["held"] = False
    assert findings.routing_api_held_by_other(facts) == []


def test_route_through_an_interface_without_multicast():
    facts = healthy_router()
    facts["interfaces"]["trunk.20"]["multicast"] = False
    facts["interfaces"]["trunk.20"]["flags"] = ["UP", "BROADCAST"]
    [found] = findings.route_interface_without_multicast(facts)
    assert found["subject"] == "trunk.20"
    assert found["evidence"][0] == "trunk.20 has no MULTICAST flag (flags: UP, BROADCAST)"
    assert "MFC entry (192.0.2.10, 239.1.1.1) leaves through it" in found["evidence"]
    assert "route 224.0.0.0/4 dev trunk.20" in found["evidence"]


def test_an_unused_interface_without_multicast_is_silent():
    facts = healthy_router()
    facts["interfaces"]["eth9"] = interface(9, ["203.0.113.1/24"], multicast=False)
    assert findings.route_interface_without_multicast(facts) == []


def test_an_empty_snapshot_has_no_findings():
    assert findings.evaluate({}) == []


# --------------------------------------------------------------------------- queriers

def querier_row(name, role="querier", querier="198.51.100.1", is_us=True, subnets=("198.51.100.1/24",)):
    """A row of mcastd's queriers table, as the control socket answers it."""
    return {"interface": name, "ifindex": 3, "role": role, "querier": querier, "is_us": is_us,
            "own_address": "198.51.100.1" if role != "listener" else None, "version": 3 if querier else None,
            "other_querier_expires_in": None if is_us or not querier else 200.5,
            "last_query": {"source": querier, "version": 3, "age": 3.0} if querier else None,
            "subnets": list(subnets), "timers": None}


def with_mcastd_view(facts, row):
    facts["mcastd"]["queriers"] = [row]
    facts["queriers"] = {row["interface"]: {"mcastd": row}}
    return facts


def bridge(snooping=True, querier=False):
    return {"snooping": snooping, "querier": querier, "igmp_version": 2, "mld_version": 1, "query_interval": 125.0,
            "query_response_interval": 10.0, "membership_interval": 260.0, "querier_interval": 255.0,
            "last_member_interval": 1.0, "startup_query_interval": 31.24, "query_use_ifaddr": False, "index": 4,
            "ports": ["swp1"], "querier_state": {"ipv4": None, "ipv6": None}}


def bridged_router(heard, snooping=True, querier=False, addresses=("198.51.100.1/24",)):
    """The healthy router whose output is bridge br0 (instead of trunk.20), with the bridge's querier ``heard``."""
    facts = healthy_router()
    facts["interfaces"]["br0"] = interface(4, list(addresses))
    facts["mfc"][0]["oifs"] = ["br0"]
    facts["routes"][0]["dev"] = "br0"
    facts["mcastd"]["config"]["routes"][0]["oifs"] = ["br0"]
    facts["bridges"] = {"br0": bridge(snooping, querier)}
    facts["queriers"] = {"br0": {"bridge": heard}}
    return facts


OTHER_QUERIER = {"address": "198.51.100.2", "own": False, "port": "swp1", "other_querier_expires_in": 250.1}


def test_no_querier_where_mcastd_only_listens_on_a_routed_output():
    facts = with_mcastd_view(healthy_router(), querier_row("trunk.20", role="listener", querier=None, is_us=False))
    assert ids(facts) == [("no-querier-on-segment", "warning", "trunk.20")]
    [found] = findings.evaluate(facts)
    assert 'no "phyint trunk.20 querier"' in found["evidence"][0]
    assert "MFC entry (192.0.2.10, 239.1.1.1) leaves through it" in found["evidence"]
    assert "phyint trunk.20 querier" in found["fix"]


@pytest.mark.parametrize("row", [
    querier_row("trunk.20"),  # mcastd is the querier
    querier_row("trunk.20", role="non-querier", querier="198.51.100.0", is_us=False),  # lost the election
    querier_row("trunk.20", role="listener", querier="198.51.100.2", is_us=False),  # listens, and hears one
    querier_row("trunk.10", role="listener", querier=None, is_us=False),  # where multicast enters, not leaves
])
def test_no_querier_on_segment_is_silent_when_one_is_known_or_nothing_is_routed_out(row):
    assert ids(with_mcastd_view(healthy_router(), row)) == []


def test_a_snooping_bridge_without_querier_on_a_routed_output():
    facts = bridged_router(None)
    assert ids(facts) == [("no-querier-on-segment", "warning", "br0"),
                          ("bridge-snooping-without-querier", "warning", "br0")]
    evidence = dict((found["id"], found["evidence"]) for found in findings.evaluate(facts))
    assert "bridge br0 snoops (mcast_snooping 1, mcast_querier 0)" in evidence["no-querier-on-segment"][0]
    assert evidence["bridge-snooping-without-querier"][0] == "bridge br0: mcast_snooping 1, mcast_querier 0"


def test_a_bridge_with_a_querier_heard_or_its_own_or_without_snooping_is_silent():
    assert ids(bridged_router(OTHER_QUERIER)) == []
    own = {"address": "198.51.100.1", "own": True, "port": None, "other_querier_expires_in": None}
    assert ids(bridged_router(own, querier=True)) == []
    assert ids(bridged_router(None, snooping=False)) == []


def test_a_bridge_querier_that_mcastd_knows_is_enough():
    """mcastd is the querier on the bridge: the bridge state may be empty (it ignores 0.0.0.0 queries), no finding."""
    facts = bridged_router(None, snooping=False)
    facts["queriers"]["br0"]["mcastd"] = querier_row("br0")
    assert ids(facts) == []


def test_bridge_snooping_without_querier_needs_no_route():
    facts = healthy_router()
    facts["bridges"] = {"br9": bridge()}
    facts["queriers"] = {"br9": {"bridge": None}}
    assert ids(facts) == [("bridge-snooping-without-querier", "warning", "br9")]
    facts["bridges"]["br9"]["querier"] = True
    assert ids(facts) == []


@pytest.mark.parametrize("address, addresses, reason", [
    ("10.9.9.9", ["198.51.100.1/24"], "10.9.9.9 is not within any IPv4 subnet of the interface (198.51.100.0/24)"),
    ("1.0.0.0", ["198.51.100.1/24", "203.0.113.1/24"], "1.0.0.0 is not within any IPv4 subnet"),
    ("0.0.0.0", ["198.51.100.1/24"], "the querier sends from 0.0.0.0 while the interface has an address"),
    ("169.254.7.7", ["198.51.100.1/24", "169.254.0.5/16"], "link-local 169.254.7.7 while the interface has a real"),
])
def test_implausible_querier_addresses(address, addresses, reason):
    facts = healthy_router()
    facts["interfaces"]["trunk.20"]["addresses"] = addresses
    facts = with_mcastd_view(facts, querier_row("trunk.20", role="non-querier", querier=address, is_us=False,
                                                subnets=addresses))
    assert ids(facts) == [("querier-address-implausible", "warning", "trunk.20")]
    [found] = findings.evaluate(facts)
    assert found["evidence"][0] == "mcastd reports %s as the querier on trunk.20" % address
    assert reason in found["evidence"][1]


@pytest.mark.parametrize("address, addresses", [
    ("198.51.100.2", ["198.51.100.1/24"]),  # on the subnet
    ("203.0.113.9", ["198.51.100.1/24", "203.0.113.1/24"]),  # on the second subnet
    ("169.254.7.7", ["169.254.0.5/16"]),  # link-local on a link-local-only segment
    ("0.0.0.0", []),  # nothing to compare with
])
def test_plausible_querier_addresses_are_silent(address, addresses):
    facts = healthy_router()
    facts["interfaces"]["trunk.20"]["addresses"] = addresses
    facts = with_mcastd_view(facts, querier_row("trunk.20", role="non-querier", querier=address, is_us=False,
                                                subnets=addresses))
    assert ids(facts) == []


def test_implausible_querier_dropped_by_this_hosts_strict_rp_filter_is_an_error():
    facts = healthy_router()
    facts["interfaces"]["trunk.20"] = interface(3, ["198.51.100.1/24"], rp_filter=1)
    facts = with_mcastd_view(facts, querier_row("trunk.20", role="non-querier", querier="10.9.9.9", is_us=False))
    facts["reverse_paths"]["10.9.9.9"] = "trunk.10"
    assert ids(facts) == [("querier-address-implausible", "error", "trunk.20")]
    assert "not trunk.20, so strict rp_filter here drops the queries" in findings.evaluate(facts)[0]["evidence"][2]
    facts["reverse_paths"]["10.9.9.9"] = "trunk.20"  # a route back through the interface: it passes here
    assert ids(facts) == [("querier-address-implausible", "warning", "trunk.20")]


def test_implausible_querier_in_a_bridges_state():
    stranger = {"address": "10.9.9.9", "own": False, "port": "swp1", "other_querier_expires_in": 254.0}
    facts = bridged_router(stranger)
    assert ids(facts) == [("querier-address-implausible", "warning", "br0")]
    assert findings.evaluate(facts)[0]["evidence"][0] == (
        "bridge br0's querier state (IFLA_BR_MCAST_QUERIER_STATE) names 10.9.9.9, the querier heard on port swp1")
    own_zero = {"address": "0.0.0.0", "own": True, "port": None, "other_querier_expires_in": None}
    assert ids(bridged_router(own_zero, querier=True)) == [("querier-address-implausible", "warning", "br0")]
    assert ids(bridged_router(own_zero, querier=True, addresses=())) == []


# --------------------------------------------------------------------------- IPv6 and the counters over time

def drop(family="ip6", table="filter", chain="input", certain=True):
    return {"family": family, "table": table, "chain": chain, "hook": "input", "priority": 0, "policy": "drop",
            "certain": certain, "reason": "policy drop"}


@pytest.mark.parametrize("mld, expected", [
    ({"checked": True, "drops": [drop()]}, [("error", "ip6 filter input")]),
    ({"checked": True, "drops": [drop("inet", "fw"), drop("netdev", "edge", "in", certain=False)]},
     [("error", "inet fw input"), ("warning", "netdev edge in")]),
    ({"checked": True, "accepted": True, "drops": []}, []),
    ({"checked": False, "reason": "nft is not installed"}, []),
    (None, []),
])
def test_mld_dropped_by_firewall(mld, expected):
    facts = healthy_router()
    if mld is not None:
        facts["mld"] = mld
    found = findings.mld_dropped(facts)
    assert [(item["severity"], item["subject"]) for item in found] == expected
    for item in found:
        assert item["id"] == "mld-dropped-by-firewall" and "MLD" in item["evidence"][0]
        assert "mld: true" in item["fix"] and item["subject"] in item["fix"]
    assert findings.igmp_dropped(facts) == []  # IGMP is judged apart


def ipv6_host(*extra_routes, mifs=()):
    facts = healthy_router()
    facts.update(vifs=[], mfc=[], mifs=list(mifs), routes=list(extra_routes),
                 multicast_egress={"239.0.0.1": None, "ff0e::1": "eth0"})
    facts["interfaces"] = {"lo": interface(1, ["127.0.0.1/8", "::1/128"], multicast=False, loopback=True),
                           "eth0": interface(2, ["2001:db8:1::2/64", "fe80::1/64"]),
                           "eth1": interface(3, ["fd00:1::2/64", "fe80::2/64"])}
    return facts


def v6_route(dest="ff00::/8", dev="eth1", table=255, gateway=None):
    return {"dest": dest, "family": "ipv6", "dev": dev, "gateway": gateway, "table": table, "metric": 10,
            "multipath": False}


@pytest.mark.parametrize("facts, fires", [
    (ipv6_host(), True),
    (ipv6_host(v6_route("ff0e::/16", table=254)), True),  # table main is never consulted for multicast
    (ipv6_host(v6_route("ff0e::/16", table=255, gateway="fe80::9")), True),
    (ipv6_host(v6_route()), False),
    (ipv6_host(v6_route("ff0e::/16")), False),
    (ipv6_host(mifs=[{"index": 0, "interface": "eth0"}]), False),  # a router forwards by its MFC
])
def test_multihomed_without_ipv6_route(facts, fires):
    found = findings.multihomed_without_ipv6_route(facts)
    assert [(item["id"], item["subject"]) for item in found] == (
        [("multihomed-without-ipv6-multicast-route", "host")] if fires else [])
    if fires:
        assert found[0]["evidence"][0] == ("2 interfaces are up with global or ULA IPv6 addresses: "
                                           "eth0 (2001:db8:1::2/64), eth1 (fd00:1::2/64)")
        assert "ip -6 route get ff0e::1 answers dev eth0" in found[0]["evidence"][2]
        assert "mcast.linux.route with an IPv6 dest" in found[0]["fix"]


def test_link_local_or_down_addresses_do_not_make_a_host_multihomed():
    facts = ipv6_host()
    facts["interfaces"]["eth1"]["addresses"] = ["fe80::2/64"]
    assert findings.multihomed_without_ipv6_route(facts) == []
    facts = ipv6_host()
    facts["interfaces"]["eth1"]["up"] = False
    assert findings.multihomed_without_ipv6_route(facts) == []
    assert findings.multihomed_without_route(ipv6_host()) == []  # no IPv4 addresses: not the IPv4 finding


def mfc_row(source, group, iif="trunk.10", oifs=("trunk.20",), packets=3):
    return {"source": source, "group": group, "iif": iif, "oifs": list(oifs), "packets": packets, "bytes": 300,
            "wrong_if": 0}


@pytest.mark.parametrize("key, row, subject", [
    ("mfc6", mfc_row("2001:db8::10", "ff02::fb"), "(2001:db8::10, ff02::fb)"),
    ("mfc6", mfc_row("2001:db8::10", "ff01::1:3"), "(2001:db8::10, ff01::1:3)"),
    ("mfc6", mfc_row("::", "ff12::1"), "(::, ff12::1)"),  # transient flag, link-local scope
    ("mfc6", mfc_row("2001:db8::10", "ff32::1:2"), "(2001:db8::10, ff32::1:2)"),
    ("mfc", mfc_row("192.0.2.10", "224.0.0.251"), "(192.0.2.10, 224.0.0.251)"),
    ("mfc6", mfc_row("2001:db8::10", "ff05::1:3"), None),
    ("mfc6", mfc_row("2001:db8::10", "ff0e::1"), None),
    ("mfc6", mfc_row("2001:db8::10", "ff3e::8000:1"), None),
    ("mfc", mfc_row("192.0.2.10", "224.0.1.1"), None),
    ("mfc", mfc_row("192.0.2.10", "239.1.1.1"), None),
])
def test_link_local_group_routed_in_the_mfc(key, row, subject):
    facts = healthy_router()
    facts[key] = [row]
    found = findings.link_local_group_routed(facts)
    assert [(item["id"], item["severity"], item["subject"]) for item in found] == (
        [("link-local-group-routed", "error", subject)] if subject else [])


def test_link_local_group_routed_in_the_configuration():
    facts = healthy_router()
    origin = "/etc/mcastd/mcastd.conf:4"
    facts["mcastd"]["config"].update(
        link_local_routes=[{"origin": origin, "group": "ff02::fb", "line": "mroute from a group ff02::fb to b"}],
        errors=["%s: group ff02::fb has link-local scope" % origin, "/etc/mcastd/mcastd.conf:40: something else"])
    [found] = findings.link_local_group_routed(facts)
    assert (found["subject"], found["severity"]) == (origin, "error")
    assert found["evidence"] == [
        "%s: mroute from a group ff02::fb to b" % origin,
        "ff02::fb has link-local scope (scope 2, as ff02::/16 and ffx2 with any flags): smcroute installs the route, "
        "the kernel accepts it and never forwards a datagram of that group",
        "%s: group ff02::fb has link-local scope" % origin,
        "mcastd refuses the whole configuration /etc/mcastd/mcastd.conf while this line is in it"]
    facts["mcastd"]["config"]["link_local_routes"] = []
    assert findings.link_local_group_routed(facts) == []


def delta(family="ipv4", packets=50, wrong_if=0, outputs=(("trunk.20", 1, 0),)):
    source, group = ("192.0.2.10", "239.1.1.1") if family == "ipv4" else ("2001:db8::10", "ff0e::1")
    return {"family": family, "source": source, "group": group, "iif": "trunk.10", "packets": packets,
            "bytes": packets * 100, "wrong_if": wrong_if,
            "outputs": [{"interface": name, "vif": vif, "packets_out": out} for name, vif, out in outputs]}


@pytest.mark.parametrize("entry, subject", [
    (delta(), "(192.0.2.10, 239.1.1.1)"),
    (delta("ipv6"), "(2001:db8::10, ff0e::1)"),
    (delta(outputs=(("trunk.20", 1, 0), ("trunk.30", 2, 0))), "(192.0.2.10, 239.1.1.1)"),
    (delta(packets=50, wrong_if=20), "(192.0.2.10, 239.1.1.1)"),
    (delta(packets=0), None),  # no traffic: nothing to judge
    (delta(packets=20, wrong_if=20), None),  # all on the wrong interface: not forwarded for that reason
    (delta(outputs=(("trunk.20", 1, 50),)), None),  # it leaves
    (delta(outputs=(("trunk.20", 1, 0), ("trunk.30", 2, 50))), None),  # it leaves through one output
    (delta(outputs=(("trunk.20", None, None),)), None),  # the output's VIF vanished between the readings
    (delta(outputs=(("trunk.40", 3, 0),)), None),  # an output that is down (or unknown) explains it
    (delta(outputs=()), None),
])
def test_ttl_too_low_to_route(entry, subject):
    facts = healthy_router()
    facts["interfaces"]["trunk.30"] = interface(4, ["203.0.113.1/24"])
    facts["interfaces"]["trunk.40"] = interface(5, ["203.0.114.1/24"], up=False)
    facts["mfc_deltas"] = {"sampled": True, "interval": 0.5, "entries": [entry]}
    found = findings.ttl_too_low_to_route(facts)
    assert [(item["id"], item["severity"], item["subject"]) for item in found] == (
        [("ttl-too-low-to-route", "error", subject)] if subject else [])
    if subject:
        ttl, vif = ("hop limit", "MIF") if entry["family"] == "ipv6" else ("TTL", "VIF")
        assert "grew by %d in 0.5 s (%d of them on a wrong interface)" % (entry["packets"], entry["wrong_if"]) \
            in found[0]["evidence"][0]
        assert "trunk.20 (%s 1) +0" % vif in found[0]["evidence"][1]
        assert "arrive with %s 1" % ttl in found[0]["evidence"][2]
        assert ("IPV6_MULTICAST_HOPS" if entry["family"] == "ipv6" else "IP_MULTICAST_TTL") in found[0]["fix"]


def test_ttl_too_low_to_route_without_a_second_reading_is_silent():
    facts = healthy_router()
    facts["mfc_deltas"] = {"sampled": False, "interval": 0, "entries": []}
    assert findings.ttl_too_low_to_route(facts) == []
    del facts["mfc_deltas"]
    assert findings.ttl_too_low_to_route(facts) == []


def test_ipv6_routes_are_not_judged_by_ipv4_rp_filter_or_the_igmp_querier():
    facts = healthy_router()
    facts["mfc"] = []
    facts["interfaces"]["trunk.10"]["rp_filter"] = {"value": 1, "effective": 1, "mode": "strict"}
    facts["mcastd"]["config"]["routes"] = [{"iif": "trunk.10", "source": "2001:db8::10", "group": "ff0e::1:5",
                                            "oifs": ["trunk.20"], "origin": "/etc/mcastd/mcastd.conf:1"}]
    facts["mfc6"] = [mfc_row("2001:db8::10", "ff0e::1:5")]
    facts["queriers"] = {"trunk.20": {"mcastd": querier_row("trunk.20", role="listener", querier=None, is_us=False)}}
    facts["routes"] = []
    assert findings.rp_filter_on_route_input(facts) == []
    assert [item["subject"] for item in findings.no_querier_on_segment(facts)] == []
    facts["interfaces"]["trunk.20"]["multicast"] = False  # the multicast flag matters to both families
    [found] = findings.route_interface_without_multicast(facts)
    assert "MFC entry (2001:db8::10, ff0e::1:5) leaves through it" in found["evidence"]
