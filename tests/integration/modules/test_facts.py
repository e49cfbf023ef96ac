"""mcast.linux.facts in the lab: the state it reports, and each finding firing with its fault and silent without.

Every test puts one fault into the lab's router (or sender) namespace, gathers facts, removes the fault
(also when the test fails) and gathers again.
"""
import os
import sys
import time

import pytest

from tests.integration.harness import run_module
from tests.integration.mcastd.traffic import send_datagrams
from tests.integration.modules.routing_api import holding_routing_api

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the routing socket")]

SENDER = "192.0.2.10"


def gather(lab, host="router", **args):
    result = run_module(lab.ns(host), "mcast.linux.facts", args)
    assert result.get("failed") is not True, result
    return result["ansible_facts"]["mcast"]


def found(facts, finding_id):
    """{subject: severity} of one finding id."""
    return dict((item["subject"], item["severity"]) for item in facts["findings"] if item["id"] == finding_id)


def evidence(facts, finding_id, subject):
    [item] = [item for item in facts["findings"] if item["id"] == finding_id and item["subject"] == subject]
    return item["evidence"]


def ip(lab, *args, host="router", check=True):
    return lab.run(host, ["ip", *args], check=check)


def sysctl(lab, key, value, host="router"):
    lab.run(host, ["tee", "/proc/sys/" + key], input="%s\n" % value)


def test_state_of_a_routing_router(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 source %s group 239.1.1.1 to trunk.20\n"
                               "mgroup from trunk.30 group 239.3.3.3\n" % SENDER)
    send_datagrams(netns_lab, "sender", "eth0", "239.1.1.1", count=10)
    facts = gather(netns_lab, mcastd_socket=daemon.socket)
    trunk10 = facts["interfaces"]["trunk.10"]
    assert trunk10["addresses"][0] == "192.0.2.1/24" and trunk10["multicast"] is True and trunk10["vif"] is not None
    assert trunk10["mc_forwarding"] == 1
    assert "239.3.3.3" in facts["interfaces"]["trunk.30"]["groups"]
    assert [(vif["interface"]) for vif in facts["vifs"]] == ["trunk.10", "trunk.20"]
    [entry] = facts["mfc"]
    assert (entry["source"], entry["group"], entry["iif"], entry["oifs"], entry["packets"]) == \
        (SENDER, "239.1.1.1", "trunk.10", ["trunk.20"], 10)
    assert facts["mcastd"]["running"] is True and facts["mcastd"]["status"]["pid"] == daemon.proc.pid
    assert facts["mcastd"]["config"]["valid"] is True and facts["mcastd"]["config"]["path"] == str(daemon.config)
    # Multi-homed by design and forwarding by its MFC: not a host sending out of the wrong interface.
    assert found(facts, "multihomed-without-multicast-route") == {}
    assert facts["routing_api"]["held"] is True
    assert [holder["pid"] for holder in facts["routing_api"]["holders"]] == [daemon.proc.pid]
    assert facts["reverse_paths"] == {SENDER: "trunk.10"}
    assert facts["igmp"]["checked"] is True and facts["igmp"]["accepted"] is True
    for silent in ("igmp-dropped-by-firewall", "routing-api-held-by-other", "vif-table-near-full",
                   "link-local-group-in-config", "multicast-route-via-gateway", "route-interface-without-multicast"):
        assert found(facts, silent) == {}, silent


def test_igmp_dropped_by_a_chain_of_another_table(netns_lab):
    ruleset = ("table inet factsit {\n"
               "  chain input { type filter hook input priority 0; policy drop; }\n"
               "}\n"
               "table ip factsok {\n"
               "  chain input { type filter hook input priority -10; policy accept; ip protocol igmp accept; }\n"
               "}\n")
    netns_lab.run("router", ["nft", "-f", "-"], input=ruleset)
    try:
        faulty = gather(netns_lab)
        netns_lab.run("router", ["nft", "insert", "rule", "inet", "factsit", "input", "ip", "protocol", "igmp", "accept"])
        fixed = gather(netns_lab)
    finally:
        netns_lab.run("router", ["nft", "delete", "table", "inet", "factsit"], check=False)
        netns_lab.run("router", ["nft", "delete", "table", "ip", "factsok"], check=False)
    assert found(faulty, "igmp-dropped-by-firewall") == {"inet factsit input": "error"}
    assert faulty["igmp"]["hooks"]["input"] == {"accepted": False, "dropped_by": ["inet factsit input"]}
    assert faulty["igmp"]["hooks"]["output"]["accepted"] is True
    assert found(fixed, "igmp-dropped-by-firewall") == {} and fixed["igmp"]["accepted"] is True


def test_rp_filter_on_a_route_input(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 source %s group 239.1.1.1 to trunk.20\n"
                               "mroute from trunk.10 source 10.99.0.1 group 239.1.1.2 to trunk.20\n" % SENDER)
    sysctl(netns_lab, "net/ipv4/conf/all/rp_filter", 0)
    sysctl(netns_lab, "net/ipv4/conf/trunk.20/rp_filter", 1)
    try:
        sysctl(netns_lab, "net/ipv4/conf/trunk.10/rp_filter", 1)
        strict = gather(netns_lab, mcastd_socket=daemon.socket)
        sysctl(netns_lab, "net/ipv4/conf/trunk.10/rp_filter", 0)
        off = gather(netns_lab, mcastd_socket=daemon.socket)
    finally:
        for name in ("trunk.10", "trunk.20"):
            sysctl(netns_lab, "net/ipv4/conf/%s/rp_filter" % name, 0)
    assert found(strict, "rp-filter-on-route-input") == {"trunk.10": "error"}, "trunk.20 is only an output"
    lines = evidence(strict, "rp-filter-on-route-input", "trunk.10")
    assert "rp_filter on trunk.10 is strict: effective value 1 = max(conf/all 0, conf/trunk.10 1)" in lines
    assert "source 192.0.2.10: the route back to it leaves through trunk.10, so it passes" in lines
    assert "source 10.99.0.1: no route back to it, so strict rp_filter drops its packets" in lines
    assert found(off, "rp-filter-on-route-input") == {}


def test_multihomed_host_without_a_dev_scoped_multicast_route(netns_lab):
    faulty = gather(netns_lab)
    single = gather(netns_lab, host="sender")
    ip(netns_lab, "route", "add", "224.0.0.0/4", "dev", "trunk.20")
    try:
        fixed = gather(netns_lab)
    finally:
        ip(netns_lab, "route", "del", "224.0.0.0/4", "dev", "trunk.20", check=False)
    assert found(faulty, "multihomed-without-multicast-route") == {"host": "warning"}
    assert found(single, "multihomed-without-multicast-route") == {}
    assert found(fixed, "multihomed-without-multicast-route") == {}
    assert fixed["routes"] == [{"dest": "224.0.0.0/4", "family": "ipv4", "dev": "trunk.20", "gateway": None,
                                "table": 254, "metric": 0, "multipath": False}]


def test_multicast_route_via_a_gateway(netns_lab):
    ip(netns_lab, "route", "add", "239.0.0.0/8", "via", "198.51.100.20")
    try:
        faulty = gather(netns_lab)
    finally:
        ip(netns_lab, "route", "del", "239.0.0.0/8", check=False)
    fixed = gather(netns_lab)
    assert found(faulty, "multicast-route-via-gateway") == {"239.0.0.0/8": "error"}
    assert evidence(faulty, "multicast-route-via-gateway", "239.0.0.0/8") == [
        "route 239.0.0.0/8 via 198.51.100.20 dev trunk.20 table 254 metric 0"]
    assert found(fixed, "multicast-route-via-gateway") == {}


def test_link_local_group_in_the_mcastd_configuration(netns_lab, tmp_path):
    config = tmp_path / "mcastd.conf"
    config.write_text("mroute from trunk.10 group 224.0.0.251 to trunk.20\n")
    faulty = gather(netns_lab, mcastd_config=str(config))
    config.write_text("mroute from trunk.10 group 239.0.0.251 to trunk.20\n")
    fixed = gather(netns_lab, mcastd_config=str(config))
    assert found(faulty, "link-local-group-in-config") == {"%s:1" % config: "error"}
    assert faulty["mcastd"]["config"]["valid"] is False
    assert found(fixed, "link-local-group-in-config") == {} and fixed["mcastd"]["config"]["valid"] is True


def test_vif_table_near_full(netns_lab, mcastd):
    for pair in range(13):
        ip(netns_lab, "link", "add", "vif%d" % (2 * pair), "type", "veth", "peer", "name", "vif%d" % (2 * pair + 1))
    try:
        for index in range(26):
            ip(netns_lab, "link", "set", "dev", "vif%d" % index, "up")
        daemon = mcastd(netns_lab, "phyint vif+ enable\nmroute from trunk.10 group 239.1.0.0/16 to trunk.20\n")
        near = gather(netns_lab, mcastd_socket=daemon.socket)
        below = gather(netns_lab, mcastd_socket=daemon.socket, vif_warning=29)
    finally:
        for pair in range(13):
            ip(netns_lab, "link", "del", "vif%d" % (2 * pair), check=False)
    assert len(near["vifs"]) == 28
    assert found(near, "vif-table-near-full") == {"vifs": "warning"}
    assert evidence(near, "vif-table-near-full", "vifs")[0].startswith("28 of the kernel's 32 VIFs are in use: ")
    assert found(below, "vif-table-near-full") == {}


def test_another_process_holding_the_routing_api(netns_lab, mcastd):
    with holding_routing_api(netns_lab) as holder:
        faulty = gather(netns_lab)
    time.sleep(0.1)
    nobody = gather(netns_lab)
    daemon = mcastd(netns_lab, "mroute from trunk.10 group 239.1.0.0/16 to trunk.20\n")
    running = gather(netns_lab, mcastd_socket=daemon.socket)
    assert found(faulty, "routing-api-held-by-other") == {"routing-api": "warning"}
    assert "(pid %d: %s -c import sys" % (holder.pid, sys.executable) in \
        evidence(faulty, "routing-api-held-by-other", "routing-api")[2]
    assert nobody["routing_api"] == {"held": False, "holders": []}
    assert found(nobody, "routing-api-held-by-other") == {}
    assert running["routing_api"]["held"] is True and found(running, "routing-api-held-by-other") == {}


def test_multicast_route_through_an_interface_without_multicast(netns_lab):
    ip(netns_lab, "route", "add", "224.0.0.0/4", "dev", "trunk.20")
    try:
        ip(netns_lab, "link", "set", "dev", "trunk.20", "multicast", "off")
        faulty = gather(netns_lab)
        ip(netns_lab, "link", "set", "dev", "trunk.20", "multicast", "on")
        fixed = gather(netns_lab)
    finally:
        ip(netns_lab, "link", "set", "dev", "trunk.20", "multicast", "on")
        ip(netns_lab, "route", "del", "224.0.0.0/4", "dev", "trunk.20", check=False)
    assert found(faulty, "route-interface-without-multicast") == {"trunk.20": "error"}
    assert "route 224.0.0.0/4 dev trunk.20" in evidence(faulty, "route-interface-without-multicast", "trunk.20")
    assert found(fixed, "route-interface-without-multicast") == {}


def test_vif_warning_out_of_range_is_refused(netns_lab):
    result = run_module(netns_lab.ns("router"), "mcast.linux.facts", {"vif_warning": 33})
    assert result["failed"] is True
    assert result["msg"] == "vif_warning 33 is out of range: use a number from 1 to 32 (the kernel offers 32 VIFs)."


def test_check_mode_gathers_the_same_facts(netns_lab):
    result = run_module(netns_lab.ns("router"), "mcast.linux.facts", check=True)
    assert result["changed"] is False and "interfaces" in result["ansible_facts"]["mcast"]


# --------------------------------------------------------------------------- queriers on a Linux bridge

# A bridge br0 (192.0.2.1/24) in "switch" with port swp1, whose other end h1 is in "peer" at 10.9.9.9/24:
# outside the bridge's subnet, so a query from there is implausible on the bridge's segment.
BRIDGED = {
    "hosts": {"switch": {}, "peer": {}},
    "segments": {"one": {"switch": False, "ends": [{"host": "switch", "iface": "swp1"},
                                                   {"host": "peer", "iface": "h1", "address": "10.9.9.9/24"}]}},
}
# One IGMPv2 general query as a querier sends it: TTL 1, TOS 0xc0, Router Alert, to 224.0.0.1; from the
# source address given (IP_HDRINCL; the kernel fills in the IP checksum).
QUERY_SENDER = r"""
import socket, struct, sys
iface, source = sys.argv[1], sys.argv[2]
def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xffff)
    return ~(total + (total >> 16)) & 0xffff
igmp = bytearray(struct.pack("!BBH4s", 0x11, 100, 0, bytes(4)))
struct.pack_into("!H", igmp, 2, checksum(bytes(igmp)))
header = struct.pack("!BBHHHBBH4s4s", 0x46, 0xc0, 24 + len(igmp), 0, 0, 1, 2, 0,
                     socket.inet_aton(source), socket.inet_aton("224.0.0.1")) + b"\x94\x04\x00\x00"
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
sock.sendto(header + bytes(igmp), ("224.0.0.1", 0))
"""


def make_bridge(lab):
    """br0 with port swp1 and an address, snooping and not querier (the kernel's defaults), routed multicast out."""
    for argv in (["link", "add", "br0", "type", "bridge"], ["link", "set", "swp1", "master", "br0"],
                 ["addr", "add", "192.0.2.1/24", "dev", "br0"], ["link", "set", "br0", "up"],
                 ["route", "add", "224.0.0.0/4", "dev", "br0"]):
        ip(lab, *argv, host="switch")
    for key in ("all", "br0"):
        sysctl(lab, "net/ipv4/conf/%s/rp_filter" % key, 0, host="switch")


@pytest.fixture(name="bridged")
def fixture_bridged(make_netns_lab, lab_prefix):
    lab = make_netns_lab(BRIDGED, prefix=lab_prefix("fqf"))
    make_bridge(lab)
    return lab


def send_query(lab, source):
    lab.run("peer", [sys.executable, "-c", QUERY_SENDER, "h1", source])


def gather_until(lab, ready, attempts=20):
    """Facts of the switch once ``ready(facts)`` holds (the bridge handles the query asynchronously)."""
    for _attempt in range(attempts):
        facts = gather(lab, host="switch")
        if ready(facts):
            return facts
        time.sleep(0.1)
    raise AssertionError("the bridge never showed the expected querier: %r" % facts["queriers"])


def test_snooping_bridge_without_querier_until_its_own_querier_is_on(bridged):
    faulty = gather(bridged, host="switch")
    assert faulty["bridges"]["br0"]["snooping"] is True and faulty["bridges"]["br0"]["querier"] is False
    assert faulty["bridges"]["br0"]["ports"] == ["swp1"]
    assert faulty["queriers"]["br0"] == {"bridge": None}
    assert found(faulty, "bridge-snooping-without-querier") == {"br0": "warning"}
    assert found(faulty, "no-querier-on-segment") == {"br0": "warning"}
    assert "route 224.0.0.0/4 dev br0" in evidence(faulty, "no-querier-on-segment", "br0")

    turned_on = run_module(bridged.ns("switch"), "mcast.linux.bridge",
                           {"name": "br0", "querier": True, "query_use_ifaddr": True, "persist": False})
    assert turned_on.get("failed") is not True and turned_on["changed"] is True, turned_on
    fixed = gather_until(bridged, lambda facts: (facts["queriers"]["br0"]["bridge"] or {}).get("address") == "192.0.2.1")
    assert fixed["queriers"]["br0"]["bridge"]["own"] is True
    for finding_id in ("bridge-snooping-without-querier", "no-querier-on-segment", "querier-address-implausible"):
        assert found(fixed, finding_id) == {}, finding_id


def test_a_query_from_outside_the_bridges_subnet_is_implausible(bridged):
    send_query(bridged, "10.9.9.9")
    faulty = gather_until(bridged, lambda facts: facts["queriers"]["br0"]["bridge"] is not None)
    heard = faulty["queriers"]["br0"]["bridge"]
    assert heard["address"] == "10.9.9.9" and heard["own"] is False and heard["port"] == "swp1"
    assert 0 < heard["other_querier_expires_in"] <= 255
    assert found(faulty, "querier-address-implausible") == {"br0": "warning"}
    assert ("10.9.9.9 is not within any IPv4 subnet of the interface (192.0.2.0/24)"
            in evidence(faulty, "querier-address-implausible", "br0"))
    # The bridge hears a querier: it is not without one, and the segment has one.
    assert found(faulty, "bridge-snooping-without-querier") == {} and found(faulty, "no-querier-on-segment") == {}

    sysctl(bridged, "net/ipv4/conf/br0/rp_filter", 1, host="switch")
    strict = gather(bridged, host="switch")
    assert found(strict, "querier-address-implausible") == {"br0": "error"}
    assert ("this host has no route back to 10.9.9.9, so its strict rp_filter on br0 drops the queries"
            in evidence(strict, "querier-address-implausible", "br0"))


def test_a_query_from_the_bridges_subnet_is_plausible(bridged):
    ip(bridged, "addr", "add", "192.0.2.9/24", "dev", "h1", host="peer")
    send_query(bridged, "192.0.2.9")
    facts = gather_until(bridged, lambda facts: facts["queriers"]["br0"]["bridge"] is not None)
    assert facts["queriers"]["br0"]["bridge"]["address"] == "192.0.2.9"
    for finding_id in ("querier-address-implausible", "bridge-snooping-without-querier", "no-querier-on-segment"):
        assert found(facts, finding_id) == {}, finding_id


def test_no_querier_where_mcastd_routes_to_and_only_listens(netns_lab, mcastd):
    route = "mroute from trunk.10 source %s group 239.1.1.1 to trunk.20\n" % SENDER
    listening = mcastd(netns_lab, route)
    faulty = gather(netns_lab, mcastd_socket=listening.socket)
    listening.stop()
    row = faulty["queriers"]["trunk.20"]["mcastd"]
    assert row["role"] == "listener" and row["querier"] is None
    assert found(faulty, "no-querier-on-segment") == {"trunk.20": "warning"}
    assert 'mcastd only listens on trunk.20 (no "phyint trunk.20 querier" in its configuration) and has heard no ' \
        'querier there' in evidence(faulty, "no-querier-on-segment", "trunk.20")

    querying = mcastd(netns_lab, "phyint trunk.20 enable querier\n" + route)
    fixed = gather(netns_lab, mcastd_socket=querying.socket)
    row = fixed["queriers"]["trunk.20"]["mcastd"]
    assert row["role"] == "querier" and row["is_us"] is True and row["querier"] == "198.51.100.1"
    assert found(fixed, "no-querier-on-segment") == {} and found(fixed, "querier-address-implausible") == {}
