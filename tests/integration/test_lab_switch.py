"""The lab's snooping switches: real bridges in the switch namespace, real IGMP, real datagrams.

A switch floods a group until it has seen a querier; after that it forwards the group only to ports
whose hosts reported it within the membership interval. So a receiver that joined keeps receiving
while somebody queries, and is cut off about one membership interval after the last query: the
field's "works for a few minutes, then stops", in seconds here.
"""
import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from tests.lab.errors import LabError
from tests.lab.fixtures import unique_prefix
from tests.lab.netlab import DEFAULT_TOPOLOGY, SWITCH_SETTINGS, Lab, load_topology

ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces and veth links)")
pytestmark = [pytest.mark.integration]

GROUP, PORT = "239.4.4.4", 5004
RATE = 10  # datagrams per second
MEMBERSHIP = 4  # seconds: the switch test topology's membership interval
SEND_SECONDS = MEMBERSHIP + 8
# A sender, a receiver and a querier (a host whose raw socket sends IGMP queries) on one switch.
SWITCH_TOPOLOGY = {
    "switch": {"membership_interval": MEMBERSHIP, "query_response_interval": 1, "querier_interval": 30,
               "last_member_interval": 1},
    "hosts": {"sender": {}, "receiver": {}, "querier": {}},
    "segments": {"lan": {"ends": [{"host": "sender", "iface": "eth0", "address": "192.0.2.10/24"},
                                  {"host": "receiver", "iface": "eth0", "address": "192.0.2.20/24"},
                                  {"host": "querier", "iface": "eth0", "address": "192.0.2.1/24"}]}},
}

# IGMPv2 general query (RFC 2236): type 0x11, max response time 10 tenths of a second, group 0.0.0.0;
# IP TTL 1, TOS 0xc0 and the Router Alert option, to 224.0.0.1. Sent COUNT times, every INTERVAL s.
QUERIER = r"""
import socket, struct, sys, time
address, count, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
query = struct.pack("!BBH4s", 0x11, 10, 0, bytes(4))
query = struct.pack("!BBH4s", 0x11, 10, checksum(query), bytes(4))
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b"\x94\x04\x00\x00")
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xC0)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
for number in range(count):
    if number:
        time.sleep(interval)
    sock.sendto(query, ("224.0.0.1", 0))
print(count, flush=True)
"""

# Joins GROUP on ADDRESS, prints "joined", then collects the sequence numbers of the datagrams that
# arrive within SECONDS and prints them as JSON.
RECEIVER = r"""
import json, socket, sys, time
group, port, address, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((group, port))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(address))
print("joined", flush=True)
received, deadline = [], time.monotonic() + seconds
while (left := deadline - time.monotonic()) > 0:
    sock.settimeout(left)
    try:
        received.append(int(sock.recv(64).decode()))
    except socket.timeout:
        break
print(json.dumps(received), flush=True)
"""

# Sends COUNT datagrams numbered 0.. at RATE per second (TTL 1: the segment is all there is).
SENDER = r"""
import socket, sys, time
group, port, address, count, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
start = time.monotonic()
for number in range(count):
    time.sleep(max(0.0, start + number / rate - time.monotonic()))
    sock.sendto(str(number).encode(), (group, port))
print(count, flush=True)
"""


def python(lab, host, script, *args):
    """Start a Python script inside a lab host (stopped by lab.down() should the test fail first)."""
    return lab.popen(host, [sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, text=True)


def address_of(topology, host):
    end = next(end for end in topology["segments"]["lan"]["ends"] if end["host"] == host)
    return end["address"].split("/")[0]


def per_second(received, seconds):
    """Datagrams received per second of sending (datagram N was sent at N / RATE s)."""
    counts = [0] * seconds
    for number in received:
        counts[number // RATE] += 1
    return counts


def flow_through_switch(lab, queries, query_interval):
    """Receiver joins, the querier sends `queries` queries, the sender sends: datagrams per second."""
    receiver_address = address_of(SWITCH_TOPOLOGY, "receiver")
    receiver = python(lab, "receiver", RECEIVER, GROUP, PORT, receiver_address, SEND_SECONDS + 2)
    assert receiver.stdout.readline().strip() == "joined"
    time.sleep(0.5)  # the join's own reports reach the switch first
    querier = python(lab, "querier", QUERIER, address_of(SWITCH_TOPOLOGY, "querier"), queries, query_interval)
    sender = python(lab, "sender", SENDER, GROUP, PORT, address_of(SWITCH_TOPOLOGY, "sender"),
                    SEND_SECONDS * RATE, RATE)
    assert sender.stdout.readline().strip() == str(SEND_SECONDS * RATE)
    assert querier.stdout.readline().strip() == str(queries)
    received = json.loads(receiver.stdout.readline())
    for proc in (receiver, sender, querier):
        proc.stdout.close()
        proc.wait(timeout=5)
    return per_second(received, SEND_SECONDS)


def bridge_details(namespace, bridge):
    out = subprocess.run(["ip", "-n", namespace, "-d", "-j", "link", "show", "dev", bridge],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def switch_links(namespace):
    out = subprocess.run(["ip", "-n", namespace, "-d", "-j", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {link["ifname"]: link for link in json.loads(out)}


def namespaces_with(prefix):
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return sorted(ns["name"] for ns in json.loads(out or "[]") if ns["name"].startswith(f"{prefix}-"))


@pytest.fixture(scope="module", name="standard_lab")
def fixture_standard_lab():
    """The standard topology (tests/lab/topology.yml) in netns mode, prefix swl..., up for this module."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces and veth links)")
    lab = Lab(prefix=unique_prefix("swl"))
    try:
        yield lab.up()
    finally:
        lab.down()


# -- the switches of the standard topology ---------------------------------------------------------

@ROOT
def test_every_segment_is_a_bridge_with_the_topology_settings(standard_lab):
    lab = standard_lab
    topology = load_topology()
    in_seconds = yaml.safe_load(DEFAULT_TOPOLOGY.read_text(encoding="utf-8"))["switch"]
    assert in_seconds["membership_interval"] < in_seconds["querier_interval"], "see the comment in topology.yml"
    namespace = lab.switch_ns
    assert namespace == f"{lab.prefix}-sw"
    for segment, spec in topology["segments"].items():
        data = bridge_details(namespace, segment)["linkinfo"]["info_data"]
        assert (data["mcast_snooping"], data["mcast_querier"]) == (1, 0)
        for key, seconds in in_seconds.items():
            _keyword, readback, _default, factor = SWITCH_SETTINGS[key]
            assert data[readback] == round(seconds * factor), f"{segment}: {key} read back in kernel units"
        ports = {name: link for name, link in switch_links(namespace).items() if link.get("master") == segment}
        assert sorted(ports) == [f"{segment}-1", f"{segment}-2"]
        for port, end in zip(sorted(ports), spec["ends"]):
            slave = ports[port]["linkinfo"]["info_slave_data"]
            assert slave["state"] == "forwarding" and slave["mcast_flood"] is True, "never mcast_flood off"
            assert ports[port]["ifalias"] == f"{end['host']}:{end['iface']}"
            host_link = json.loads(lab.run(end["host"], ["ip", "-j", "link", "show", "dev", end["iface"]]).stdout)
            assert (host_link[0]["link_index"], ports[port]["link_index"]) == (ports[port]["ifindex"],
                                                                               host_link[0]["ifindex"]), "veth peers"
    status = lab.status()
    assert status["complete"] and all(bridge["ok"] for bridge in status["switch"]["bridges"].values())
    assert "sw" not in lab.inventory()["all"]["hosts"]
    assert lab.inventory()["all"]["vars"]["lab_switch_membership_interval"] == 4
    assert lab.inventory()["all"]["vars"]["lab_switch_startup_query_interval"] == 31.24


@ROOT
def test_up_again_changes_nothing_on_the_switch(standard_lab):
    lab = standard_lab
    before = switch_links(lab.switch_ns)
    lab.up()
    after = switch_links(lab.switch_ns)
    assert {name: link["ifindex"] for name, link in after.items()} == {n: link["ifindex"] for n, link in before.items()}
    assert {name: link.get("master") for name, link in after.items()} == {
        name: link.get("master") for name, link in before.items()}
    assert lab.status()["complete"]


# -- "works for a few minutes, then stops", in seconds ---------------------------------------------

@ROOT
def test_without_a_querier_the_switch_floods_the_group(make_netns_lab, lab_prefix):
    lab = make_netns_lab(SWITCH_TOPOLOGY, prefix=lab_prefix("swl"))
    counts = flow_through_switch(lab, queries=0, query_interval=1)
    assert min(counts) >= RATE - 1, f"no querier seen: the switch floods all along: {counts}"


@ROOT
def test_one_query_then_none_cuts_the_receiver_off_after_a_membership_interval(make_netns_lab, lab_prefix):
    lab = make_netns_lab(SWITCH_TOPOLOGY, prefix=lab_prefix("swl"))
    counts = flow_through_switch(lab, queries=1, query_interval=1)
    assert min(counts[:MEMBERSHIP - 1]) >= RATE - 1, f"the group reached the receiver at first: {counts}"
    assert counts[-3:] == [0, 0, 0], f"and then the switch cut it off: {counts}"
    stopped = next(second for second in range(SEND_SECONDS) if not any(counts[second:]))
    # the receiver answers the query within its response time (1 s); the group lasts a membership
    # interval from that report
    assert MEMBERSHIP <= stopped <= MEMBERSHIP + 2, f"about one membership interval after the query: {counts}"


@ROOT
def test_a_query_every_second_keeps_the_receiver_receiving(make_netns_lab, lab_prefix):
    lab = make_netns_lab(SWITCH_TOPOLOGY, prefix=lab_prefix("swl"))
    counts = flow_through_switch(lab, queries=SEND_SECONDS, query_interval=1)
    assert min(counts) >= RATE - 1 and sum(counts) >= SEND_SECONDS * RATE - 2, f"never stops: {counts}"


# -- segments without a switch, changes of the topology, clamped settings --------------------------

def pair_topology(**switch):
    """Two hosts on segment ab; `switch` settings make it a switch, none keeps the old veth pair."""
    topology = {"hosts": {"a": {}, "b": {}},
                "segments": {"ab": {"ends": [{"host": "a", "iface": "eth0", "address": "192.0.2.1/24"},
                                             {"host": "b", "iface": "eth0", "address": "192.0.2.2/24"}]}}}
    if switch:
        topology["switch"] = switch
    return topology


def peer_of(lab, host, iface):
    """(namespace id seen from host, ifindex) of the veth peer of host's iface."""
    link = json.loads(lab.run(host, ["ip", "-j", "link", "show", "dev", iface]).stdout)[0]
    return link.get("link_netnsid"), link["link_index"]


def ifindex(lab, host, iface):
    return json.loads(lab.run(host, ["ip", "-j", "link", "show", "dev", iface]).stdout)[0]["ifindex"]


@ROOT
def test_a_topology_without_switch_keeps_the_veth_pair(make_netns_lab, lab_prefix):
    lab = make_netns_lab(pair_topology(), prefix=lab_prefix("swl"))
    assert lab.switch_ns is None and lab.status()["switch"] is None
    assert namespaces_with(lab.prefix) == [lab.ns("a"), lab.ns("b")], "no switch namespace"
    assert peer_of(lab, "a", "eth0")[1] == ifindex(lab, "b", "eth0")
    assert lab.run("a", ["ping", "-c", "1", "-W", "2", "192.0.2.2"], check=False).returncode == 0


@ROOT
def test_switch_false_on_a_segment_keeps_its_veth_pair(make_netns_lab, lab_prefix):
    topology = pair_topology(membership_interval=6)
    topology["hosts"]["c"] = {}
    topology["segments"]["ab"]["switch"] = False
    topology["segments"]["bc"] = {"ends": [{"host": "b", "iface": "eth1", "address": "198.51.100.2/24"},
                                           {"host": "c", "iface": "eth0", "address": "198.51.100.3/24"}]}
    lab = make_netns_lab(topology, prefix=lab_prefix("swl"))
    assert peer_of(lab, "a", "eth0")[1] == ifindex(lab, "b", "eth0")
    assert sorted(name for name in switch_links(lab.switch_ns) if name != "lo") == ["bc", "bc-1", "bc-2"]
    assert lab.run("c", ["ping", "-c", "1", "-W", "2", "198.51.100.2"], check=False).returncode == 0


@ROOT
def test_wiring_follows_a_changed_topology(lab_prefix):
    prefix = lab_prefix("swl")
    switched = Lab(pair_topology(membership_interval=6), prefix=prefix)
    try:
        switched.up()
        assert sorted(switch_links(switched.switch_ns)) == ["ab", "ab-1", "ab-2", "lo"]
        plain = Lab(pair_topology(), prefix=prefix).up()
        assert namespaces_with(prefix) == [plain.ns("a"), plain.ns("b")], "the switch namespace is gone"
        assert peer_of(plain, "a", "eth0")[1] == ifindex(plain, "b", "eth0")
        assert plain.status()["complete"]
        switched.up()
        assert switched.status()["complete"], switched.status()["missing"]
        assert switched.run("a", ["ping", "-c", "1", "-W", "2", "192.0.2.2"], check=False).returncode == 0
    finally:
        removed = switched.down()
    assert sorted(removed) == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-sw"]
    assert namespaces_with(prefix) == []


@ROOT
def test_a_setting_the_kernel_clamps_fails_with_what_to_change(lab_prefix):
    lab = Lab(pair_topology(membership_interval=6, query_interval=0.5), prefix=lab_prefix("swl"))
    try:
        with pytest.raises(LabError, match=r"query_interval is 1 s, not the 0.5 s asked for.*'switch' mapping"):
            lab.up()
    finally:
        lab.down()


@ROOT
def test_status_reports_a_missing_switch(make_netns_lab, lab_prefix):
    lab = make_netns_lab(pair_topology(membership_interval=6), prefix=lab_prefix("swl"))
    subprocess.run(["ip", "-n", lab.switch_ns, "link", "delete", "ab"], check=True)
    status = lab.status()
    assert not status["complete"] and status["missing"] == ["segment ab"]
    assert status["switch"]["bridges"]["ab"]["present"] is False
    lab.wire()
    assert lab.status()["complete"], "wire() puts the bridge and its ports back"


# -- bad topologies: refused with what to change, before anything is made ----------------------------

def extra_segment(name, **spec):
    """An edit that adds segment `name` (c to a) to the test topology."""
    ends = [{"host": "c", "iface": "x1"}, {"host": "a", "iface": "x1"}]
    return lambda topology: topology["segments"].update({name: dict(spec, ends=ends)})


@pytest.mark.parametrize("edit, message", [
    (lambda t: t["switch"].update(membership_intervall=6), "Unknown switch setting.*membership_intervall"),
    (lambda t: t["switch"].update(membership_interval=0), "membership_interval must be a positive number"),
    (lambda t: t["switch"].update(membership_interval="6s"), "membership_interval must be a positive number"),
    (lambda t: t["switch"].update(query_response_interval=0.005), "steps of 0.01 s"),
    (lambda t: t["switch"].update(last_member_count=1.5), "last_member_count = 1.5: .* in steps of 1"),
    (lambda t: t.update(switch=["membership_interval"]), "'switch' must be a mapping"),
    (lambda t: t["segments"]["ab"].update(switch="yes"), "'switch' is true or false"),
    (lambda t: t["segments"]["ab"].update(switch=False, ends=[*t["segments"]["ab"]["ends"], {"host": "c"}]),
     "without a switch needs exactly two ends"),
    (lambda t: t["segments"]["ab"].update(ends=t["segments"]["ab"]["ends"][:1]), "at least two ends on its switch"),
    (extra_segment("a_very_long_name"), "at most 13 characters"),
    (extra_segment("ab-1"), "both need ab-1 in the switch namespace"),
    (extra_segment(20), "quote the name"),
    (lambda t: t["hosts"].update(sw={}), "Host name 'sw' is reserved"),
])
def test_bad_switch_topologies_are_refused(edit, message):
    topology = pair_topology(membership_interval=6)
    topology["hosts"]["c"] = {}
    edit(topology)
    with pytest.raises(LabError, match=message):
        load_topology(topology)
