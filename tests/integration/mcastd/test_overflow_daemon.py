"""mcastd serves a route to 100 outputs: the kernel's MFC entry for the first 31, its nftables table for the rest.

A router namespace with an input (up0, the sender's segment) and 101 output segments o1..o101, each
a veth pair to one sink namespace where a single AF_PACKET capture counts the datagrams arriving on
every k1..k101 (TTL, source MAC, header checksum). The daemon runs from the checkout; every test
counts datagrams sent and received.
"""
import json
import os
import shutil
import signal
import time

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import overflow as ov
from tests.integration.mcastd.runner import wait_for
from tests.integration.mcastd.traffic import Capture, add_output_segments, fanout_lab, send_datagrams

ROOT = "needs root: network namespaces and the multicast routing socket"
pytestmark = [pytest.mark.integration, pytest.mark.skipif(os.geteuid() != 0, reason=ROOT),
              pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")]

SEGMENTS = 101
SENDER = "10.1.0.10"
GROUP, OTHER = "239.1.1.1", "239.2.2.2"
COUNT = 200
FULL_COUNT = 1000  # the proof: 1,000 datagrams reach each of 100 outputs
TOPOLOGY = {
    "hosts": {"sender": {}, "router": {}, "sink": {}},
    "segments": {"in": {"ends": [{"host": "sender", "iface": "eth0", "address": SENDER + "/24",
                                  "address6": "2001:db8:1::10/64"},
                                 {"host": "router", "iface": "up0", "address": "10.1.0.1/24",
                                  "address6": "2001:db8:1::1/64"}]}},
}


def outputs(first, last):
    return ["o%d" % n for n in range(first, last + 1)]


def route(group, names, source=None):
    return "mroute from up0%s group %s to %s\n" % (" source " + source if source else "", group, " ".join(names))


@pytest.fixture(scope="module", name="lab")
def fixture_lab():
    """The router with 101 output segments, for the whole module; removed (namespaces and links) at the end."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces and veth links)")
    with fanout_lab(TOPOLOGY, "o12", SEGMENTS) as lab:
        yield lab


def macs(lab):
    links = json.loads(lab.run("router", ["ip", "-j", "link", "show"]).stdout)
    return dict((link["ifname"], link["address"]) for link in links)


def deliver(lab, group, ttl=16, count=COUNT):
    """Send ``count`` datagrams to ``group`` with ``ttl``; {sink interface: what arrived there}."""
    capture = Capture(lab, "sink", group)
    send_datagrams(lab, "sender", "eth0", group, count=count, interval=0.0005, ttl=ttl)
    time.sleep(0.3)
    return capture.stop()


def received(seen, names):
    """{oN: datagrams that arrived at its sink end kN} for ``names``."""
    return dict((name, seen.get("k" + name[1:], {}).get("unique", 0)) for name in names)


def nft_json(lab, *words):
    return json.loads(lab.run("router", ["nft", "-j"] + list(words)).stdout)["nftables"]


def handles(lab):
    """{chain: [rule handles]} of table ip mcastd, the base chain and the maps included; {} without the table."""
    listing = lab.run("router", ["nft", "-j", "list", "table", "ip", "mcastd"], check=False)
    if listing.returncode != 0:
        return {}
    found = {}
    for item in json.loads(listing.stdout)["nftables"]:
        if "rule" in item:
            found.setdefault(item["rule"]["chain"], []).append(item["rule"]["handle"])
        elif "map" in item:
            found["map " + item["map"]["name"]] = [item["map"]["handle"]]
        elif "chain" in item:
            found.setdefault(item["chain"]["name"], [])
    return found


def transactions(daemon):
    return daemon.query("status")["counters"]["nft_transactions"]


def test_a_route_to_100_outputs_reaches_each_once_with_the_ttl_decremented_once(lab, mcastd):
    daemon = mcastd(lab, route(GROUP, outputs(1, 100)))
    # The flow learned first: the kernel holds only 4 datagrams while mcastd learns it, a busy machine may take
    # longer (test_mcastd_forwarding measures that); nftables copies by group from the start.
    deliver(lab, GROUP, count=5)
    seen = deliver(lab, GROUP, count=FULL_COUNT)
    assert received(seen, outputs(1, 100)) == dict((name, FULL_COUNT) for name in outputs(1, 100)), seen
    assert "k101" not in seen
    router_macs = macs(lab)
    for name in outputs(1, 100):
        row = seen["k" + name[1:]]
        # Routed copies, by the kernel (o1..o31) and by nftables (o32..o100) alike: TTL 16 -> 15, the router's
        # own MAC of that output, a valid header checksum, each datagram once.
        assert (row["count"], row["ttls"], row["macs"], row["bad_checksums"]) == (
            FULL_COUNT, {"15": FULL_COUNT}, [router_macs[name]], 0), (name, row)
    assert daemon.mfc() == {(SENDER, GROUP): ("up0", sorted(outputs(1, 31)))}

    [row] = [row for row in daemon.query("show", "routes") if row["kind"] == "learned"]
    served = dict((output["name"], output["served"]) for output in row["outputs"])
    assert served == dict([(name, "kernel") for name in outputs(1, 31)]
                          + [(name, "nftables") for name in outputs(32, 100)])
    assert row["oifs"] == outputs(1, 100) and FULL_COUNT <= row["packets"] <= FULL_COUNT + 5
    assert set(output["packets"] for output in row["outputs"] if output["served"] == "nftables") == {FULL_COUNT + 5}
    assert "ERROR" not in daemon.log()
    [line] = [line for line in daemon.ctl("show", "routes").stdout.splitlines() if line.startswith(SENDER)]
    assert "o31,o32(nft)," in line and line.split()[3].count("(nft)") == 69

    seen = deliver(lab, GROUP, ttl=2, count=50)
    assert received(seen, outputs(1, 101)) == dict([(name, 50) for name in outputs(1, 100)] + [("o101", 0)])
    assert all(seen["k%d" % n]["ttls"] == {"1": 50} for n in range(1, 101)), seen  # TTL 2 arrives with TTL 1
    assert received(deliver(lab, GROUP, ttl=1, count=50), outputs(1, 101)) == dict(
        (name, 0) for name in outputs(1, 101))  # TTL 1 is routed nowhere, by neither
    assert daemon.query("status")["counters"]["nft_errors"] == 0


def test_an_output_deleted_and_created_again_receives_again_without_a_reload(lab, mcastd):
    daemon = mcastd(lab, route(GROUP, outputs(1, 100)))
    deliver(lab, GROUP, count=5)  # learned: the entry and the copies are in place
    before = transactions(daemon)
    lab.run("router", ["ip", "link", "del", "o77"])
    assert wait_for(lambda: transactions(daemon) > before, timeout=8.0), daemon.log()
    before = transactions(daemon)
    add_output_segments(lab, [77])  # a new ifindex: the copies made before would go nowhere
    assert wait_for(lambda: transactions(daemon) > before, timeout=8.0), daemon.log()
    seen = deliver(lab, GROUP)
    assert received(seen, outputs(1, 100)) == dict((name, COUNT) for name in outputs(1, 100))
    assert daemon.query("status")["counters"]["reloads"] == 0


def test_a_reload_that_changes_one_output_of_one_route_changes_only_that_chain(lab, mcastd):
    other = outputs(1, 60)
    daemon = mcastd(lab, route(GROUP, outputs(1, 100)) + route(OTHER, other, source=SENDER))
    deliver(lab, GROUP, count=5)
    first = handles(lab)
    video, static = ov.chain_name(ov.Flow("up0", None, GROUP)), ov.chain_name(ov.Flow("up0", SENDER, OTHER))
    assert len(first[video]) == 3 and len(first[static]) == 1  # 69 outputs in rules of 30; 29 outputs

    daemon.write_config(route(GROUP, outputs(1, 99) + ["o101"]) + route(OTHER, other, source=SENDER))
    daemon.ctl("reload")
    after = handles(lab)
    assert [name for name in first if first[name] != after[name]] == [video]
    assert not set(after[video]) & set(first[video])  # that chain was refilled
    assert received(deliver(lab, GROUP), ["o99", "o100", "o101"]) == {"o99": COUNT, "o100": 0, "o101": COUNT}
    assert received(deliver(lab, OTHER), outputs(1, 61)) == dict([(name, COUNT) for name in other] + [("o61", 0)])


def test_stopping_removes_mcastds_table_and_nothing_else(lab, mcastd):
    mine = ("add table inet o12mine\nadd chain inet o12mine input { type filter hook input priority 0; }\n"
            "add rule inet o12mine input ip protocol igmp counter accept\n")
    lab.run("router", ["nft", "-f", "-"], input=mine)
    try:
        before = nft_json(lab, "list", "table", "inet", "o12mine")
        daemon = mcastd(lab, route(GROUP, outputs(1, 40)))
        deliver(lab, GROUP, count=5)
        tables = [item["table"]["name"] for item in nft_json(lab, "list", "tables") if "table" in item]
        assert sorted(tables) == ["mcastd", "o12mine"]
        daemon.stop()
        assert daemon.proc.returncode == 0, daemon.log()
        assert [item["table"]["name"] for item in nft_json(lab, "list", "tables") if "table" in item] == ["o12mine"]
        assert nft_json(lab, "list", "table", "inet", "o12mine") == before
    finally:
        lab.run("router", ["nft", "delete", "table", "inet", "o12mine"], check=False)


def test_a_learned_flow_gets_its_own_copies_and_loses_them_when_it_expires(lab, mcastd):
    # The (S,G) route of another source owns part of the group: the template's flows are copied per learned flow.
    config = route(GROUP, outputs(1, 40)) + route(GROUP, ["o1"], source="10.1.0.99")
    daemon = mcastd(lab, config, "-c", "1")
    chain = ov.chain_name(ov.Flow("up0", SENDER, GROUP))
    assert handles(lab) == {}  # nothing to copy yet: no table
    deliver(lab, GROUP, count=5)  # learned: its entry for o1..o31, its chain for o32..o40
    assert wait_for(lambda: chain in handles(lab), timeout=3.0), daemon.log()
    expected = dict([(name, COUNT) for name in outputs(1, 40)] + [("o41", 0)])
    assert received(deliver(lab, GROUP), outputs(1, 41)) == expected
    # Idle for the 1 s cache timeout: the entry expires, and its chain (the only one: the table) goes with it.
    assert wait_for(lambda: handles(lab) == {} and (SENDER, GROUP) not in daemon.mfc(), timeout=6.0), daemon.log()
    assert daemon.query("status")["counters"]["expired"] == 1


def test_an_ipv6_route_to_100_outputs_has_31_in_its_kernel_entry_and_69_copied_in_table_ip6_mcastd(lab, mcastd):
    group = "ff0e::1:1"
    daemon = mcastd(lab, route(group, outputs(1, 100)))
    seen = deliver(lab, group)
    assert received(seen, outputs(1, 101)) == dict([(name, COUNT) for name in outputs(1, 100)] + [("o101", 0)])
    assert set(json.dumps(seen["k%d" % n]["ttls"]) for n in range(1, 101)) == {json.dumps({"15": COUNT})}
    copies = [item["rule"] for item in nft_json(lab, "list", "table", "ip6", "mcastd") if "rule" in item]
    assert sum(1 for rule in copies for expr in rule["expr"] if "dup" in expr) == 69
    assert received(deliver(lab, group, ttl=1, count=50), outputs(1, 100)) == dict(
        (name, 0) for name in outputs(1, 100))
    daemon.stop()
    assert handles(lab) == {} and lab.run("router", ["nft", "list", "ruleset"]).stdout.strip() == ""


def test_a_table_left_by_a_killed_mcastd_is_removed_by_the_next_start(lab, mcastd):
    killed = mcastd(lab, route(GROUP, outputs(1, 40)))
    assert handles(lab)
    killed.signal(signal.SIGKILL)
    killed.proc.wait(timeout=5)
    assert handles(lab)  # SIGKILL: nothing could remove it, and it would keep copying
    daemon = mcastd(lab, route(GROUP, outputs(1, 3)))
    assert handles(lab) == {} and daemon.query("status")["counters"]["nft_errors"] == 0


def test_a_runtime_add_of_a_route_to_100_outputs_is_served_at_once_and_its_del_removes_the_table(lab, mcastd):
    daemon = mcastd(lab, "phyint up0 enable\n")
    daemon.ctl("add", "up0", SENDER, OTHER, *outputs(1, 100))
    expected = dict([(name, COUNT) for name in outputs(1, 100)] + [("o101", 0)])
    assert received(deliver(lab, OTHER), outputs(1, 101)) == expected
    daemon.ctl("del", "up0", SENDER, OTHER)
    assert handles(lab) == {} and daemon.mfc() == {}


def test_twenty_groups_to_100_outputs_each_have_their_chain_and_reach_every_output(lab, mcastd):
    groups = ["239.20.0.%d" % n for n in range(1, 21)]
    daemon = mcastd(lab, "".join(route(group, outputs(1, 100)) for group in groups))
    found = handles(lab)
    assert all(len(found[ov.chain_name(ov.Flow("up0", None, group))]) == 3 for group in groups)
    everywhere = dict((name, COUNT) for name in outputs(1, 100))
    for group in (groups[0], groups[9], groups[19]):
        deliver(lab, group, count=5)  # learned, for the kernel's 31 outputs
        assert received(deliver(lab, group), outputs(1, 100)) == everywhere, group
    assert len(daemon.mfc()) == 3
