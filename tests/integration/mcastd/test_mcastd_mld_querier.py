"""mcastd's MLD querier: queries on the wire, listeners tracked, if-joined IPv6 routes, a snooping switch kept.

The standard lab (its segments are snooping Linux bridges, membership interval 4 s) with mcastd in
the router namespace querying trunk.20 every second.  Queries are captured in recv20 by a raw
ICMPv6 socket and decoded there without mcastd's code; datagrams are counted at the receivers.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from tests.integration.mcastd.runner import wait_for
from tests.integration.mcastd.traffic import Receiver, start_sender

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket")]

SENDER = "2001:db8:10::10"
TIMERS = "igmp query-interval 1 query-response-interval 0.5 last-member-interval 0.5\n"

SNIFFER = r"""
import json, socket, struct, sys, time
sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
for option in (socket.IPV6_RECVHOPLIMIT, socket.IPV6_RECVHOPOPTS):
    sock.setsockopt(socket.IPPROTO_IPV6, option, 1)
sock.settimeout(0.2)
print("ready", flush=True)
queries, deadline = [], time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    try:
        data, ancillary, _flags, sender = sock.recvmsg(4096, 1024)
    except socket.timeout:
        continue
    if data[0] != 130:
        continue
    found = {"time": time.monotonic(), "source": sender[0].split("%")[0], "length": len(data), "hex": data.hex()}
    for level, kind, value in ancillary:
        if kind == socket.IPV6_HOPLIMIT:
            found["hop_limit"] = struct.unpack("=i", value[:4])[0]
        elif kind == socket.IPV6_HOPOPTS:
            found["hopopts"] = value.hex()
    queries.append(found)
print(json.dumps(queries), flush=True)
"""


def capture_queries(lab, host, seconds):
    proc = lab.popen(host, [sys.executable, "-c", SNIFFER, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def link_local(lab, host, iface):
    rows = json.loads(lab.run(host, ["ip", "-j", "-6", "addr", "show", "dev", iface, "scope", "link"]).stdout)
    return [info["local"] for row in rows for info in row.get("addr_info", []) if "local" in info][0]


def per_second(lab, group, seconds, host="recv20"):
    """Datagrams per second at ``host`` while the sender sends 20/s to ``group`` for ``seconds``."""
    rx = Receiver(lab, host, "eth0", group)
    sender = start_sender(lab, "sender", "eth0", group, count=int(seconds * 20), interval=0.05)
    try:
        sender.wait(timeout=seconds + 10)
    finally:
        time.sleep(0.2)
        result = rx.stop()
    counts = [0] * int(seconds)
    for seq in range(result["first"] or 1, (result["last"] or 0) + 1):
        if seq not in result["missing"]:
            counts[min(int(seconds) - 1, (seq - 1) // 20)] += 1
    return counts


def test_mld_queries_go_out_from_the_link_local_address_with_router_alert(netns_lab, mcastd):
    sniffer = capture_queries(netns_lab, "recv20", 4.5)
    daemon = mcastd(netns_lab, TIMERS + "phyint trunk.20 querier\n")
    queries = json.loads(sniffer.communicate(timeout=15)[0])
    own = link_local(netns_lab, "router", "trunk.20")
    assert len(queries) >= 4, queries
    general = queries[-1]
    assert (general["source"], general["hop_limit"], general["hopopts"]) == (own, 1, "3a00050200000100")
    data = bytes.fromhex(general["hex"])
    # MLDv2 general query (RFC 9777 5.1): 28 bytes, MRC 500 ms, group ::, QRV 2, QQIC 1 s
    assert (general["length"], data[4:6], data[8:24], data[24] & 0x07, data[25]) == (
        28, (500).to_bytes(2, "big"), bytes(16), 2, 1)
    gaps = [later["time"] - earlier["time"] for earlier, later in zip(queries[1:], queries[2:])]
    assert all(0.8 <= gap <= 1.3 for gap in gaps), gaps
    [row] = [row for row in daemon.query("show", "queriers") if row["protocol"] == "MLD"]
    assert (row["interface"], row["role"], row["own_address"], row["version"]) == ("trunk.20", "querier", own, 2)
    igmp = [row for row in daemon.query("show", "queriers") if row["protocol"] == "IGMP" and row["role"] == "querier"]
    assert [row["interface"] for row in igmp] == ["trunk.20"]  # one querier line: both protocols


@pytest.mark.parametrize("mld_version", [2, 1], ids=["mldv2-listener", "mldv1-listener"])
def test_if_joined_ipv6_route_forwards_while_a_listener_is_there(netns_lab, mcastd, mld_version):
    group = "ff0e::d0%d:1" % mld_version
    netns_lab.run("recv20", ["sysctl", "-qw", "net.ipv6.conf.eth0.force_mld_version=%d" % (
        0 if mld_version == 2 else 1)])
    try:
        daemon = mcastd(netns_lab, TIMERS + "phyint trunk.20 querier\n"
                                            "mroute from trunk.10 group %s to trunk.20 if-joined\n" % group)
        sender = start_sender(netns_lab, "sender", "eth0", group, count=400, interval=0.02)
        try:
            time.sleep(1.0)
            assert daemon.query("show", "members") == []
            joined = time.monotonic()
            rx = Receiver(netns_lab, "recv20", "eth0", group)
            assert wait_for(lambda: [row["group"] for row in daemon.query("show", "members")] == [group], timeout=2)
            time.sleep(1.5)
            got = rx.stop()  # leaves: an MLDv2 TO_IN({}) or an MLDv1 Done
            left = time.monotonic()
            assert got["count"] > 0 and got["count"] >= (left - joined - 1.0) * 50 * 0.8, got
            rows = daemon.query("show", "members")
            assert wait_for(lambda: daemon.query("show", "members") == [], timeout=1.0 + 0.5), rows
            assert time.monotonic() - left < 1.5
            [member] = rows
            assert (member["protocol"], member["interface"]) == ("MLD", "trunk.20")
            assert member["compat"] == (3 if mld_version == 2 else 2)  # IGMP's names for MLDv2 / MLDv1 hosts
        finally:
            sender.kill()
            sender.wait()
    finally:
        netns_lab.run("recv20", ["sysctl", "-qw", "net.ipv6.conf.eth0.force_mld_version=0"])


def test_the_mld_querier_keeps_a_snooping_switch_forwarding_and_without_it_the_flow_stops(netns_lab, mcastd):
    """IPv6's "works for a few minutes, then stops", in seconds: the switch's membership interval is 4 s."""
    group = "ff0e::e00:1"
    route = "mroute from trunk.10 group %s to trunk.20\n" % group
    daemon = mcastd(netns_lab, TIMERS + "phyint trunk.20 querier\n" + route)
    kept = per_second(netns_lab, group, 12)
    assert all(count >= 15 for count in kept[1:]), kept
    daemon.write_config(TIMERS + "phyint trunk.20 enable\n" + route)
    assert daemon.ctl("reload").returncode == 0
    lost = per_second(netns_lab, group, 12)
    assert sum(lost[8:]) == 0, lost  # no querier: the switch drops the group after its membership interval
