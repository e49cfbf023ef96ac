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
