"""mcastd as the IGMP querier, with real packets, a real snooping bridge and real kernel routing.

The site (igmp_site.py): a sender, the router (mcastd), a Linux bridge with snooping on and its own
querier off (groups expire 4 s after the last report), a receiver and a peer behind the bridge, and
a receiver on a direct link.  Queries are captured and decoded here, field by field, without
mcastd's code; datagrams are counted with their arrival times (CLOCK_MONOTONIC is shared by all
namespaces, so times from different namespaces compare).
"""
import ipaddress
import json
import os
import sys
import time

import pytest

from tests.integration.harness import run_module
from tests.integration.mcastd.igmp_site import PEER, ROUTER_DOWN, Site, per_second, wait_until
from tests.integration.mcastd.runner import Mcastd
from tests.lab.fixtures import unique_prefix

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and raw sockets")]

TIMERS = "igmp query-interval 2 query-response-interval 1 last-member-interval 0.5\n"
OTHER_QUERIER_PRESENT = 2 * 2 + 1 / 2.0  # RFC 9776 8.5: robustness * query interval + response interval / 2
GROUP_MEMBERSHIP = 2 * 2 + 1  # RFC 9776 8.4: robustness * query interval + response interval
LAST_MEMBER_QUERY_TIME = 0.5 * 2  # RFC 9776 8.14: last member interval * count (= robustness)


@pytest.fixture(name="site")
def fixture_site():
    site = Site(unique_prefix("iq")).up()
    try:
        yield site
    finally:
        site.down()


@pytest.fixture(name="start")
def fixture_start(tmp_path):
    """start(site, host, config) -> a running Mcastd in that namespace (stopped with the site)."""
    daemons = []

    def start(site, host, config):
        workdir = tmp_path / ("%s-%d" % (host, len(daemons)))
        workdir.mkdir()
        daemon = Mcastd(site, str(workdir), host)
        daemon.write_config(config)
        daemons.append(daemon)
        return daemon.start()

    try:
        yield start
    finally:
        for daemon in daemons:
            daemon.stop()


def queries(rows):
    """Captured IGMP packets that are general queries: (time, source, igmp bytes)."""
    found = []
    for row in rows:
        message = bytes.fromhex(row["igmp"])
        if message and message[0] == 0x11 and message[4:8] == bytes(4):
            found.append((row["t"], row["src"], message, row))
    return found


def checksum_ok(data):
    total = sum(int.from_bytes(data[index:index + 2], "big") for index in range(0, len(data) - 1, 2))
    if len(data) % 2:
        total += data[-1] << 8
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


@pytest.mark.parametrize("version", [3, 2])
def test_general_queries_on_the_wire_startup_burst_then_the_interval(site, start, version):
    capture = site.capture("recv-a")
    begun = time.monotonic()
    start(site, "router", "phyint sw0 enable querier igmpv%d\n%s" % (version, TIMERS))
    time.sleep(5.2)
    sent = queries(capture.stop())
    assert len(sent) >= 4, sent
    for moment, source, message, row in sent:
        assert source == ROUTER_DOWN and row["dst"] == "224.0.0.1" and row["ttl"] == 1 and row["tos"] == 0xC0
        assert row["options"] == "94040000"  # Router Alert
        assert checksum_ok(message)
        if version == 3:
            assert len(message) == 12 and message[1] == 10  # Max Resp Code: 1.0 s in tenths
            assert message[8] & 0x07 == 2 and message[9] == 2  # QRV 2, QQIC 2 s
        else:
            assert len(message) == 8 and message[1] == 10
        assert moment > begun
    gaps = [round(b[0] - a[0], 2) for a, b in zip(sent, sent[1:])]
    # RFC 9776 8.6/8.7: startup queries at a quarter of the query interval, then every interval
    assert abs(gaps[0] - 0.5) < 0.15, gaps
    assert all(abs(gap - 2.0) < 0.2 for gap in gaps[1:]), gaps


def test_a_switch_keeps_the_group_while_mcastd_queries_and_cuts_it_off_once_it_stops(site, start):
    daemon = start(site, "router", "phyint sw0 enable querier\nphyint src0 enable\n"
                   "igmp query-interval 1 query-response-interval 0.5\n"
                   "mroute from src0 source 192.0.2.10 group 225.9.2.1 to sw0\n")
    listener = site.listen("recv-a", "225.9.2.1")
    time.sleep(1)
    begun = time.monotonic()
    site.send("225.9.2.1", 20, 14).wait()
    counts = per_second([row["t"] for row in listener.stop()[1:]], begun, 14)
    # three membership intervals of the bridge (4 s each) and more: never cut off
    assert min(counts[1:13]) >= 15, counts
    assert site.bridge_value("multicast_membership_interval") == 400

    listener = site.listen("recv-a", "225.9.2.1")
    time.sleep(1)
    daemon.write_config("phyint sw0 enable\nphyint src0 enable\n"
                        "mroute from src0 source 192.0.2.10 group 225.9.2.1 to sw0\n")
    daemon.ctl("reload")
    stopped = time.monotonic()
    site.send("225.9.2.1", 20, 10).wait()
    counts = per_second([row["t"] for row in listener.stop()[1:]], stopped, 10)
    # the bridge still believes in a querier (its querier interval is 30 s) and prunes the group once
    # the membership interval (4 s) after the last report has passed: "works, then stops"
    assert sum(counts[:2]) >= 30, counts
    assert sum(counts[6:]) == 0, counts


def test_the_lower_address_queries_and_the_other_takes_over_after_the_other_querier_present_interval(site, start):
    capture = site.capture("recv-a")
    higher = start(site, "peer", "phyint eth0 enable querier\n" + TIMERS)
    time.sleep(1.0)
    lower = start(site, "router", "phyint sw0 enable querier\n" + TIMERS)
    lower_started = time.monotonic()
    time.sleep(5.0)
    assert wait_until(lambda: higher.query("show", "queriers")[0]["role"] == "non-querier", 3)
    row = higher.query("show", "queriers")[0]
    assert row["querier"] == ROUTER_DOWN and row["is_us"] is False and row["own_address"] == PEER
    assert lower.query("show", "queriers")[0]["role"] == "querier"
    lower.stop()
    time.sleep(OTHER_QUERIER_PRESENT + 2.5)
    sent = queries(capture.stop())
    from_lower = [moment for moment, source, _message, _row in sent if source == ROUTER_DOWN]
    from_higher = [moment for moment, source, _message, _row in sent if source == PEER]
    last_lower = from_lower[-1]
    # after the lower one's first query the higher one is silent until it takes over
    assert not [moment for moment in from_higher if from_lower[0] + 0.2 < moment < last_lower], (from_lower, from_higher)
    takeover = [moment for moment in from_higher if moment > last_lower][0] - last_lower
    assert abs(takeover - OTHER_QUERIER_PRESENT) <= 0.1 * OTHER_QUERIER_PRESENT, takeover
    assert last_lower > lower_started
    assert higher.query("show", "queriers")[0]["role"] == "querier"


def _vif_packets_out(site, ifname):
    for line in site.sh("router", "cat /proc/net/ip_mr_vif").stdout.splitlines()[1:]:
        fields = line.split()
        if fields[1] == ifname:
            return int(fields[5])
    raise AssertionError("no VIF for %s" % ifname)


def _silence_igmp(site, host):
    """The host keeps its membership but no report leaves it any more (its own namespace's nftables)."""
    site.sh(host, "nft add table ip silence && nft add chain ip silence out '{ type filter hook output priority 0; }'"
                  " && nft add rule ip silence out ip protocol igmp drop")


@pytest.mark.parametrize("version", [2, 3])
def test_if_joined_forwards_from_the_join_to_the_leave_and_stops_for_a_silent_receiver(site, start, version):
    site.sh("recv-c", "echo %d > /proc/sys/net/ipv4/conf/eth0/force_igmp_version" % version)
    daemon = start(site, "router", "phyint dir0 enable querier\nphyint src0 enable\n" + TIMERS +
                   "mroute from src0 group 225.9.3.0/24 to dir0 if-joined\n")
    time.sleep(1.5)  # past the startup burst
    sender = site.send("225.9.3.7", 50, 16)
    time.sleep(1.0)
    before = _vif_packets_out(site, "dir0")
    time.sleep(1.0)
    assert _vif_packets_out(site, "dir0") == before, "forwarded with nobody listening"
    assert daemon.mfc()[("192.0.2.10", "225.9.3.7")] == ("src0", [])

    listener = site.listen("recv-c", "225.9.3.7")
    joined = json.loads(listener.proc.stdout.readline())["joined"]
    first = json.loads(listener.proc.stdout.readline())["t"]
    assert first - joined < 1.0, first - joined
    members = daemon.query("show", "members")
    assert [(row["interface"], row["group"], row["compat"]) for row in members] == [("dir0", "225.9.3.7", version)]
    time.sleep(1.0)
    left = time.monotonic()
    rows = listener.stop()  # closing the socket sends the leave
    time.sleep(LAST_MEMBER_QUERY_TIME + 0.5)
    stopped_at = _vif_packets_out(site, "dir0")
    time.sleep(1.0)
    assert _vif_packets_out(site, "dir0") == stopped_at, "still forwarded %.1f s after the leave" % (
        LAST_MEMBER_QUERY_TIME + 0.5)
    assert rows and rows[-1]["t"] < left + 0.1

    listener = site.listen("recv-c", "225.9.3.7")
    time.sleep(1.0)
    _silence_igmp(site, "recv-c")
    silenced = time.monotonic()
    assert wait_until(lambda: not daemon.query("show", "members"), GROUP_MEMBERSHIP + 1.0)
    gone = time.monotonic() - silenced
    times = [row["t"] for row in listener.stop()[1:]]
    sender.wait()
    # the membership ran out at the group membership interval after the last report, not before
    assert GROUP_MEMBERSHIP - 2 - 1 - 0.3 <= gone <= GROUP_MEMBERSHIP + 0.5, gone
    last = max(times)
    assert last - silenced <= GROUP_MEMBERSHIP + 0.5, last - silenced


def test_a_querier_address_off_the_interfaces_subnet_is_refused_with_the_reason(site, start):
    capture = site.capture("recv-a")
    daemon = start(site, "router", "phyint sw0 enable querier address 10.99.0.1\n" + TIMERS)
    time.sleep(2.5)
    row = [row for row in daemon.query("show", "queriers") if row["interface"] == "sw0"][0]
    assert "10.99.0.1 is not on the interface's subnet (198.51.100.0/24)" in row["problem"], row
    assert row["role"] == "listener"
    assert queries(capture.stop()) == []
    assert "querier on sw0: not querying: 10.99.0.1 is not on the interface's subnet" in daemon.log()


# argv: IFACE SOURCE COUNT INTERVAL; IGMPv2 general queries from SOURCE (IP_HDRINCL), 1 s response time
RAW_QUERIER = r"""
import socket, struct, sys, time
iface, source, count, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
def csum(data):
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
igmp = bytearray(struct.pack("!BBHI", 0x11, 10, 0, 0))
igmp[2:4] = struct.pack("!H", csum(bytes(igmp)))
header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x46, 0xC0, 32, 0, 0, 1, 2, 0, socket.inet_aton(source),
                               socket.inet_aton("224.0.0.1")) + b"\x94\x04\x00\x00")
header[10:12] = struct.pack("!H", csum(bytes(header)))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.SOL_SOCKET, 25, iface.encode())
for _ in range(count):
    s.sendto(bytes(header) + bytes(igmp), ("224.0.0.1", 0))
    time.sleep(interval)
"""


@pytest.mark.parametrize("source,kept", [(PEER, True), ("10.99.0.1", False)])
def test_a_multihomed_receiver_with_rp_filter_ignores_a_querier_off_its_subnet(site, start, source, kept):
    """mcd's queriers at 1.0.0.0, reproduced: the receiver routes 10.99/16 elsewhere and strict rp_filter
    drops the queries; the switch hears them, keeps believing in a querier and prunes the group."""
    site.ip("recv-a", "link", "add", "other0", "type", "veth", "peer", "name", "other1")  # no dummy links here
    site.ip("recv-a", "addr", "add", "10.99.0.20/16", "dev", "other0")
    site.ip("recv-a", "link", "set", "dev", "other0", "up")
    site.sh("recv-a", "sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.eth0.rp_filter=1")
    start(site, "router", "phyint sw0 enable\nphyint src0 enable\n"
          "mroute from src0 source 192.0.2.10 group 225.9.4.1 to sw0\n")
    listener = site.listen("recv-a", "225.9.4.1")
    querier = site.popen("peer", [sys.executable, "-c", RAW_QUERIER, "eth0", source, "14", "1"])
    begun = time.monotonic()
    site.send("225.9.4.1", 20, 12).wait()
    querier.wait(timeout=10)
    counts = per_second([row["t"] for row in listener.stop()[1:]], begun, 12)
    if kept:
        assert min(counts[1:11]) >= 15, counts
    else:
        assert sum(counts[7:]) == 0, counts


def test_mcastctl_shows_queriers_and_members_as_text(site, start):
    daemon = start(site, "router", "phyint sw0 enable querier\nphyint src0 enable\n" + TIMERS +
                   "mroute from src0 group 225.9.5.0/24 to sw0 if-joined\n")
    listener = site.listen("recv-a", "225.9.5.5")
    assert wait_until(lambda: daemon.query("show", "members"), 3)
    text = daemon.ctl("show", "queriers").stdout.splitlines()
    assert text[0].split()[:4] == ["INTERFACE", "PROTOCOL", "ROLE", "QUERIER"]
    igmp = sorted(line.split()[:4] for line in text[1:] if line.split()[1] == "IGMP")
    assert igmp == [["src0", "IGMP", "listener", "-"], ["sw0", "IGMP", "querier", ROUTER_DOWN]]
    members = daemon.ctl("show", "members").stdout.splitlines()
    assert members[1].split()[:6] == ["sw0", "IGMP", "225.9.5.5", "*", "exclude", "3"]
    status = daemon.query("status")
    assert status["igmp"]["queriers"] == 1 and status["igmp"]["queriers_elected"] == 1
    assert status["igmp"]["members"] == 1 and status["counters"]["queries_sent"] >= 1
    listener.stop()


GUARD = """table ip guard {
    chain in {
        type filter hook input priority 0; policy drop;
        ip protocol udp accept
    }
}
"""


def test_a_receiver_whose_firewall_drops_igmp_is_cut_off_the_finding_says_why_and_the_nftables_module_repairs_it(
        site, start):
    site.run("recv-a", ["nft", "-f", "-"], input=GUARD)  # the datagrams pass, the queries do not
    start(site, "router", "phyint sw0 enable querier\nphyint src0 enable\n"
          "igmp query-interval 1 query-response-interval 0.5\n"
          "mroute from src0 source 192.0.2.10 group 225.9.6.1 to sw0\n")
    listener = site.listen("recv-a", "225.9.6.1")
    begun = time.monotonic()
    site.send("225.9.6.1", 20, 10).wait()
    counts = per_second([row["t"] for row in listener.stop()[1:]], begun, 10)
    # the join's own reports made the membership; unanswered queries let it expire 4 s later
    assert counts[1] >= 15 and sum(counts[8:]) == 0, counts

    facts = run_module(site.ns("recv-a"), "mcast.linux.facts")["ansible_facts"]["mcast"]
    dropped = [item for item in facts["findings"] if item["id"] == "igmp-dropped-by-firewall"]
    assert [item["subject"] for item in dropped] == ["ip guard in"], facts["findings"]
    repaired = run_module(site.ns("recv-a"), "mcast.linux.nftables", {"persist": False})
    assert repaired["changed"] is True, repaired

    listener = site.listen("recv-a", "225.9.6.1")
    begun = time.monotonic()
    site.send("225.9.6.1", 20, 10).wait()
    counts = per_second([row["t"] for row in listener.stop()[1:]], begun, 10)
    assert min(counts[1:9]) >= 15, counts
    facts = run_module(site.ns("recv-a"), "mcast.linux.facts")["ansible_facts"]["mcast"]
    assert not [item for item in facts["findings"] if item["id"] == "igmp-dropped-by-firewall"]


def _mld_row(daemon):
    rows = [row for row in daemon.query("show", "queriers") if row["protocol"] == "MLD" and row["role"] != "listener"]
    return rows[0] if rows else None


def test_mld_the_lower_link_local_address_queries_and_the_other_takes_over(site, start):
    """The MLD twin of the election above (RFC 9777 7.6.2): both routers' queriers also query MLD on the switch."""
    first = start(site, "peer", "phyint eth0 enable querier\n" + TIMERS)
    second = start(site, "router", "phyint sw0 enable querier\n" + TIMERS)
    assert wait_until(lambda: _mld_row(first) and _mld_row(second) and
                      {_mld_row(first)["role"], _mld_row(second)["role"]} == {"querier", "non-querier"}, 10)
    rows = {"peer": _mld_row(first), "router": _mld_row(second)}
    winner = min(rows, key=lambda host: ipaddress.IPv6Address(rows[host]["own_address"]))
    loser = "router" if winner == "peer" else "peer"
    assert rows[winner]["role"] == "querier" and rows[loser]["role"] == "non-querier"
    assert rows[loser]["querier"] == rows[winner]["own_address"] and rows[loser]["version"] == 2
    (first if winner == "peer" else second).stop()
    stopped = time.monotonic()
    survivor = second if winner == "peer" else first
    assert wait_until(lambda: _mld_row(survivor)["role"] == "querier", OTHER_QUERIER_PRESENT + 2.0)
    assert time.monotonic() - stopped >= OTHER_QUERIER_PRESENT - 2.0 - 0.5  # waited for the other-querier timer
