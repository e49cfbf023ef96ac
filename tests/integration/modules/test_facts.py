"""mcast.linux.facts in the lab: the state it reports, and each finding firing with its fault and silent without.

Every test puts one fault into the lab's router (or sender) namespace, gathers facts, removes the fault
(also when the test fails) and gathers again.
"""
import contextlib
import json
import os
import subprocess
import sys
import time

import pytest

from tests.integration.harness import run_module
from tests.integration.mcastd.traffic import SCRIPT as TRAFFIC_SCRIPT
from tests.integration.mcastd.traffic import send_datagrams
from tests.integration.modules.routing_api import holding_routing_api
from tests.lab.fixtures import unique_prefix
from tests.lab.netlab import Lab

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


# --------------------------------------------------------------------------- IPv6 and counters over time

# A router between two veth pairs (no switches: the facts judge the router's own counters), dual-stack.
DUAL = {
    "hosts": {"router": {}, "sender": {}, "recv20": {}},
    "segments": {
        "vlan10": {"ends": [{"host": "router", "iface": "trunk.10", "address": "192.0.2.1/24"},
                            {"host": "sender", "iface": "eth0", "address": "192.0.2.10/24"}]},
        "vlan20": {"ends": [{"host": "router", "iface": "trunk.20", "address": "198.51.100.1/24"},
                            {"host": "recv20", "iface": "eth0", "address": "198.51.100.20/24"}]},
    },
}
IPV6_ADDRESSES = {"router": [("trunk.10", "2001:db8:10::1/64"), ("trunk.20", "2001:db8:20::1/64")],
                  "sender": [("eth0", "2001:db8:10::10/64")], "recv20": [("eth0", "2001:db8:20::20/64")]}
SENDER6 = "2001:db8:10::10"

# Holds the multicast routing API of one family in a lab host, as a routing daemon would, with the
# VIFs/MIFs and (S,G) entries of its JSON argument {"family": 4|6, "ifaces": [...], "entries":
# [[source, group, parent index, [output indexes]]]}; prints "held" and keeps them until stdin closes.
MROUTER = r"""
import json, socket, struct, sys
spec = json.loads(sys.argv[1])
if spec["family"] == 6:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.IPPROTO_ICMPV6, 1, b"\xff" * 32)  # ICMP6_FILTER: no ICMPv6 traffic for us
    sock.setsockopt(socket.IPPROTO_IPV6, 200, struct.pack("i", 1))  # MRT6_INIT
    for mif, name in enumerate(spec["ifaces"]):  # MRT6_ADD_MIF, struct mif6ctl
        sock.setsockopt(socket.IPPROTO_IPV6, 202, struct.pack("=HBBH2xI", mif, 0, 1, socket.if_nametoindex(name), 0))
    def sin6(address):
        return struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, address), 0)
    for source, group, parent, outputs in spec["entries"]:  # MRT6_ADD_MFC, struct mf6cctl
        words = [0] * 8
        for mif in outputs:
            words[mif // 32] |= 1 << (mif % 32)
        mf6cctl = struct.pack("=28s28sH2x8I", sin6(source), sin6(group), parent, *words)
        sock.setsockopt(socket.IPPROTO_IPV6, 204, mf6cctl)
else:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    sock.setsockopt(socket.IPPROTO_IP, 200, struct.pack("i", 1))  # MRT_INIT
    for vif, name in enumerate(spec["ifaces"]):  # MRT_ADD_VIF, struct vifctl with VIFF_USE_IFINDEX
        sock.setsockopt(socket.IPPROTO_IP, 202, struct.pack("=HBBIi4s", vif, 0x8, 1, 0, socket.if_nametoindex(name),
                                                            bytes(4)))
    for source, group, parent, outputs in spec["entries"]:  # MRT_ADD_MFC, struct mfcctl
        ttls = bytes(1 if vif in outputs else 0 for vif in range(32))
        sock.setsockopt(socket.IPPROTO_IP, 204, struct.pack("@4s4sH32sIIIi", socket.inet_aton(source),
                                                            socket.inet_aton(group), parent, ttls, 0, 0, 0, 0))
print("held", flush=True)
sys.stdin.read()
"""
# Sends UDP datagrams to an IPv6 group out of one interface with a given hop limit, every 10 ms, COUNT of them.
SEND6 = r"""
import socket, sys, time
iface, group, hops, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(iface))
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
for seq in range(count):
    sock.sendto(b"%d" % seq, (group, 5000))
    time.sleep(0.01)
"""
# Joins ff0e::1:2 (any source) and ff3e::1:3 from one source (MCAST_JOIN_SOURCE_GROUP, struct group_source_req)
# on one interface; prints "joined" and keeps the memberships until stdin closes.
JOIN6 = r"""
import socket, struct, sys
iface, source = sys.argv[1], sys.argv[2]
index = socket.if_nametoindex(iface)
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                socket.inet_pton(socket.AF_INET6, "ff0e::1:2") + struct.pack("@I", index))
def storage(address):
    sin6 = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, address), 0)
    return sin6.ljust(128, b"\0")  # struct sockaddr_storage
sock.setsockopt(socket.IPPROTO_IPV6, 46, struct.pack("@I4x", index) + storage("ff3e::1:3") + storage(source))
print("joined", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module", name="dual_lab")
def fixture_dual_lab():
    """DUAL with IPv6 addresses (nodad: usable at once) on every end, up for the whole test module."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces and veth links)")
    lab = Lab(DUAL, prefix=unique_prefix("f6"))
    try:
        lab.up()
        for host, addresses in IPV6_ADDRESSES.items():
            for iface, address in addresses:
                lab.run(host, ["ip", "-6", "addr", "replace", address, "dev", iface, "nodad"])
        yield lab
    finally:
        lab.down()


@contextlib.contextmanager
def holding(lab, host, argv, ready):
    """Run a helper that prints ``ready`` and works until its stdin closes; stop it (by its PID) afterwards."""
    proc = lab.popen(host, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line == ready, "the helper in %s did not start: %r" % (host, line)
        yield proc
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def mrouter(lab, family, ifaces, entries, host="router"):
    spec = {"family": family, "ifaces": ifaces, "entries": entries}
    return holding(lab, host, [sys.executable, "-c", MROUTER, json.dumps(spec)], "held")


@contextlib.contextmanager
def sending(lab, argv, host="sender"):
    """A sender in the background for the time of the block (it sends far longer than a gather takes)."""
    proc = lab.popen(host, argv)
    try:
        time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def send6(lab, group, hops, count):
    return [sys.executable, "-c", SEND6, "eth0", group, str(hops), str(count)]


def test_ipv6_mifs_and_mfc_with_counters(dual_lab):
    with mrouter(dual_lab, 6, ["trunk.10", "trunk.20"], [[SENDER6, "ff0e::1:5", 0, [1]]]):
        dual_lab.run("sender", send6(dual_lab, "ff0e::1:5", 2, 10))
        facts = gather(dual_lab, sample_interval=0)
    assert [(mif["index"], mif["interface"], mif["packets_in"], mif["packets_out"]) for mif in facts["mifs"]] == \
        [(0, "trunk.10", 10, 0), (1, "trunk.20", 0, 10)]
    assert facts["mfc6"] == [{"source": SENDER6, "group": "ff0e::1:5", "iif": "trunk.10", "oifs": ["trunk.20"],
                              "packets": 10, "bytes": facts["mfc6"][0]["bytes"], "wrong_if": 0}]
    assert facts["mfc6"][0]["bytes"] > 10 * 8
    assert facts["vifs"] == [] and facts["mfc"] == []  # the IPv4 tables stay apart
    assert facts["mfc_deltas"] == {"sampled": False, "interval": 0.0, "entries": []}
    # A router (MIFs installed) is multi-homed by design: not a host sending out of the wrong interface.
    assert found(facts, "multihomed-without-ipv6-multicast-route") == {}
    assert found(facts, "link-local-group-routed") == {} and found(facts, "ttl-too-low-to-route") == {}
    after = gather(dual_lab)
    assert after["mifs"] == [] and after["mfc6"] == []  # gone with the routing socket


def test_mld_memberships_with_source_filters(dual_lab):
    with holding(dual_lab, "recv20", [sys.executable, "-c", JOIN6, "eth0", SENDER6], "joined"):
        joined = gather(dual_lab, host="recv20")
    left = gather(dual_lab, host="recv20")
    groups = dict((row["group"], row) for row in joined["mld_memberships"]["eth0"])
    assert groups["ff0e::1:2"] == {"group": "ff0e::1:2", "users": 1, "reported": True, "sources": []}
    assert groups["ff3e::1:3"]["sources"] == [{"source": SENDER6, "include": 1, "exclude": 0}]
    assert groups["ff02::1"]["reported"] is False  # all-nodes: never reported
    assert "ff0e::1:2" in joined["interfaces"]["eth0"]["groups"]
    remaining = [row["group"] for row in left["mld_memberships"]["eth0"]]
    assert "ff0e::1:2" not in remaining and "ff3e::1:3" not in remaining and "ff02::1" in remaining


def test_mld_dropped_by_an_ip6_table(dual_lab):
    ruleset = "table ip6 f6mld {\n  chain input { type filter hook input priority 0; policy drop; }\n}\n"
    dual_lab.run("recv20", ["nft", "-f", "-"], input=ruleset)
    try:
        faulty = gather(dual_lab, host="recv20")
        dual_lab.run("recv20", ["nft", "insert", "rule", "ip6", "f6mld", "input", "icmpv6", "type", "{",
                                "mld-listener-query,", "mld-listener-report,", "mld-listener-done,",
                                "mld2-listener-report", "}", "accept"])
        fixed = gather(dual_lab, host="recv20")
    finally:
        dual_lab.run("recv20", ["nft", "delete", "table", "ip6", "f6mld"], check=False)
    assert found(faulty, "mld-dropped-by-firewall") == {"ip6 f6mld input": "error"}
    assert evidence(faulty, "mld-dropped-by-firewall", "ip6 f6mld input") == [
        "base chain ip6 f6mld input (hook input, priority 0, policy drop) drops MLD: policy drop"]
    assert faulty["mld"]["hooks"]["input"] == {"accepted": False, "dropped_by": ["ip6 f6mld input"]}
    assert faulty["igmp"]["accepted"] is True and found(faulty, "igmp-dropped-by-firewall") == {}
    assert found(fixed, "mld-dropped-by-firewall") == {} and fixed["mld"]["accepted"] is True


def test_ttl_too_low_to_route_ipv4(dual_lab):
    with mrouter(dual_lab, 4, ["trunk.10", "trunk.20"], [["192.0.2.10", "239.1.1.1", 0, [1]]]):
        with sending(dual_lab, start_argv("239.1.1.1", ttl=1)):
            faulty = gather(dual_lab)
        with sending(dual_lab, start_argv("239.1.1.1", ttl=2)):
            fixed = gather(dual_lab)
    subject = "(192.0.2.10, 239.1.1.1)"
    assert found(faulty, "ttl-too-low-to-route") == {subject: "error"}
    lines = evidence(faulty, "ttl-too-low-to-route", subject)
    [entry] = faulty["mfc_deltas"]["entries"]
    assert faulty["mfc_deltas"]["sampled"] is True and entry["packets"] >= 20 and entry["wrong_if"] == 0
    assert entry["outputs"] == [{"interface": "trunk.20", "vif": 1, "packets_out": 0}]
    assert lines[0].startswith("IPv4 MFC entry (192.0.2.10, 239.1.1.1) arriving on trunk.10: its packet counter "
                               "grew by %d in 0.5 s" % entry["packets"])
    assert lines[1] == "out-packets of its outputs did not grow meanwhile: trunk.20 (VIF 1) +0"
    assert found(fixed, "ttl-too-low-to-route") == {}
    assert fixed["mfc_deltas"]["entries"][0]["outputs"][0]["packets_out"] >= 20


def start_argv(group, ttl):
    return [sys.executable, TRAFFIC_SCRIPT, "send", "--iface", "eth0", "--group", group, "--count", "3000",
            "--interval", "0.01", "--ttl", str(ttl)]


def test_ttl_too_low_to_route_ipv6(dual_lab):
    subject = "(%s, ff0e::1:6)" % SENDER6
    with mrouter(dual_lab, 6, ["trunk.10", "trunk.20"], [[SENDER6, "ff0e::1:6", 0, [1]]]):
        with sending(dual_lab, send6(dual_lab, "ff0e::1:6", 1, 3000)):
            faulty = gather(dual_lab)
        with sending(dual_lab, send6(dual_lab, "ff0e::1:6", 2, 3000)):
            fixed = gather(dual_lab)
        quiet = gather(dual_lab)
    assert found(faulty, "ttl-too-low-to-route") == {subject: "error"}
    [entry] = faulty["mfc_deltas"]["entries"]
    assert entry["family"] == "ipv6" and entry["packets"] >= 20
    assert entry["outputs"] == [{"interface": "trunk.20", "vif": 1, "packets_out": 0}]
    assert "out-packets of its outputs did not grow meanwhile: trunk.20 (MIF 1) +0" in \
        evidence(faulty, "ttl-too-low-to-route", subject)
    assert found(fixed, "ttl-too-low-to-route") == {}
    assert fixed["mfc_deltas"]["entries"][0]["outputs"][0]["packets_out"] >= 20
    # No traffic at all: nothing grew, nothing to judge.
    assert quiet["mfc_deltas"]["entries"][0]["packets"] == 0 and found(quiet, "ttl-too-low-to-route") == {}


def test_link_local_scope_groups_routed(dual_lab, tmp_path):
    config = tmp_path / "mcastd.conf"
    config.write_text("mroute from trunk.10 group ff0e::1:7 to trunk.20\n"
                      "mroute from trunk.10 source %s group ff02::fb to trunk.20\n" % SENDER6)
    entries = [[SENDER6, "ff02::fb", 0, [1]], [SENDER6, "ff0e::1:7", 0, [1]]]
    with mrouter(dual_lab, 6, ["trunk.10", "trunk.20"], entries):
        with mrouter(dual_lab, 4, ["trunk.10", "trunk.20"], [["192.0.2.10", "224.0.0.251", 0, [1]]]):
            faulty = gather(dual_lab, mcastd_config=str(config), sample_interval=0)
    config.write_text("mroute from trunk.10 group ff0e::1:7 to trunk.20\n")
    fixed = gather(dual_lab, mcastd_config=str(config))
    assert found(faulty, "link-local-group-routed") == {
        "(%s, ff02::fb)" % SENDER6: "error", "(192.0.2.10, 224.0.0.251)": "error", "%s:2" % config: "error"}
    assert "ff02::fb has link-local scope (scope 2, as ff02::/16 and ffx2 with any flags): the kernel accepts the " \
        "entry and never forwards a datagram of that group" in \
        evidence(faulty, "link-local-group-routed", "(%s, ff02::fb)" % SENDER6)
    assert faulty["mcastd"]["config"]["link_local_routes"] == [
        {"origin": "%s:2" % config, "group": "ff02::fb",
         "line": "mroute from trunk.10 source %s group ff02::fb to trunk.20" % SENDER6}]
    assert found(fixed, "link-local-group-routed") == {}


def test_multihomed_ipv6_host_without_a_route_in_table_local(dual_lab):
    faulty = gather(dual_lab)
    single = gather(dual_lab, host="sender")
    ip(dual_lab, "-6", "route", "add", "ff0e::/16", "dev", "trunk.20")  # table main: ignored for multicast
    try:
        main_only = gather(dual_lab)
        ip(dual_lab, "-6", "route", "add", "multicast", "ff00::/8", "dev", "trunk.20", "table", "local", "metric", "10")
        fixed = gather(dual_lab)
    finally:
        ip(dual_lab, "-6", "route", "del", "ff0e::/16", "dev", "trunk.20", check=False)
        ip(dual_lab, "-6", "route", "del", "multicast", "ff00::/8", "dev", "trunk.20", "table", "local", "metric", "10",
           check=False)
    assert found(faulty, "multihomed-without-ipv6-multicast-route") == {"host": "warning"}
    lines = evidence(faulty, "multihomed-without-ipv6-multicast-route", "host")
    assert lines[0] == ("2 interfaces are up with global or ULA IPv6 addresses: trunk.10 (2001:db8:10::1/64), "
                        "trunk.20 (2001:db8:20::1/64)")
    assert "ip -6 route get ff0e::1 answers dev %s" % faulty["multicast_egress"]["ff0e::1"] in lines[2]
    assert found(single, "multihomed-without-ipv6-multicast-route") == {}
    assert "route ff0e::/16 dev trunk.20 in table 254 is ignored: table local answers for multicast before it" in \
        evidence(main_only, "multihomed-without-ipv6-multicast-route", "host")
    assert found(fixed, "multihomed-without-ipv6-multicast-route") == {}
    assert fixed["multicast_egress"]["ff0e::1"] == "trunk.20"
    assert {"dest": "ff00::/8", "family": "ipv6", "dev": "trunk.20", "gateway": None, "table": 255, "metric": 10,
            "multipath": False} in fixed["routes"]


def test_sample_interval_out_of_range_is_refused(dual_lab):
    result = run_module(dual_lab.ns("router"), "mcast.linux.facts", {"sample_interval": 11})
    assert result["failed"] is True
    assert result["msg"] == ("sample_interval 11.0 is out of range: use a number of seconds from 0 (no second reading, "
                             "no ttl-too-low-to-route) to 10.")
