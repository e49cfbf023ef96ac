"""mcastd routes IPv6: MIFs, (S,G), kernel (*,G), prefix templates, MLD joins, the ICMPv6 filter.

The standard lab (sender behind trunk.10, receivers behind trunk.20 and trunk.30) with IPv6
addresses from 2001:db8::/32 on every segment; every test counts real IPv6 datagrams.  What the
kernel holds is read from /proc/net/ip6_mr_cache and ip6_mr_vif, not from mcastd.
"""
import os
import socket
import struct
import time

import pytest

from tests.integration.mcastd.runner import wait_for
from tests.integration.mcastd.traffic import Receiver, send_burst, send_datagrams

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket")]

SENDER = "2001:db8:10::10"
ADDRESSES = {"router": [("trunk.10", "2001:db8:10::1/64"), ("trunk.20", "2001:db8:20::1/64"),
                        ("trunk.30", "2001:db8:30::1/64")],
             "sender": [("eth0", SENDER + "/64")], "recv20": [("eth0", "2001:db8:20::20/64")],
             "recv30": [("eth0", "2001:db8:30::30/64")]}


@pytest.fixture(scope="module", name="lab6")
def fixture_lab6(netns_lab):
    """The standard lab with IPv6 addresses (replace: the lab may already carry the same ones)."""
    for host, addresses in ADDRESSES.items():
        for iface, address in addresses:
            netns_lab.run(host, ["ip", "-6", "addr", "replace", address, "dev", iface, "nodad"])
    return netns_lab


def receive(lab, group, count, receivers=("recv20", "recv30"), hops=8, interval=0.002):
    listening = {host: Receiver(lab, host, "eth0", group) for host in receivers}
    send_datagrams(lab, "sender", "eth0", group, count=count, interval=interval, ttl=hops)
    time.sleep(0.2)
    return {host: rx.stop() for host, rx in listening.items()}


def mfc6(lab):
    """{(source, group): (iif name, [oif names])} from /proc/net/ip6_mr_cache, named via ip6_mr_vif."""
    names = {}
    for line in lab.run("router", ["cat", "/proc/net/ip6_mr_vif"]).stdout.splitlines()[1:]:
        fields = line.split()
        names[int(fields[0])] = fields[1]
    entries = {}
    for line in lab.run("router", ["cat", "/proc/net/ip6_mr_cache"]).stdout.splitlines()[1:]:
        fields = line.split()
        group, source, iif = _addr(fields[0]), _addr(fields[1]), int(fields[2])
        oifs = sorted(names.get(int(item.split(":")[0]), item) for item in fields[6:])
        entries[(source, group)] = (names.get(iif, iif), oifs, int(fields[3]))
    return entries


def _addr(text):
    return socket.inet_ntop(socket.AF_INET6, bytes.fromhex(text.replace(":", "")))


def routes_of(daemon, family_group_prefix):
    return [row for row in daemon.query("show", "routes") if row["group"].startswith(family_group_prefix)]


def test_sg_route_forwards_to_its_outputs_with_the_hop_limit_decremented(lab6, mcastd):
    daemon = mcastd(lab6, "mroute from trunk.10 source %s group ff0e::100:1 to trunk.20\n"
                          "mroute from trunk.10 source 192.0.2.10 group 225.1.1.1 to trunk.30\n" % SENDER)
    assert mfc6(lab6) == {(SENDER, "ff0e::100:1"): ("trunk.10", ["trunk.20"], 0)}
    got = receive(lab6, "ff0e::100:1", 100)
    assert (got["recv20"]["unique"], got["recv20"]["missing"], got["recv30"]["count"]) == (100, [], 0)
    assert got["recv20"]["ttls"] == {"7": list(range(1, 101))}  # sent with hop limit 8, routed once
    [row] = routes_of(daemon, "ff0e")
    assert (row["kind"], row["iif"], row["oifs"], row["packets"], row["in_kernel"]) == (
        "static", "trunk.10", ["trunk.20"], 100, True)
    status = daemon.query("status")
    assert (status["vifs"], status["mifs"], status["ipv6"]["available"]) == (2, 2, True)
    assert daemon.mfc() == {("192.0.2.10", "225.1.1.1"): ("trunk.10", ["trunk.30"])}  # IPv4 beside it


def test_star_g_route_is_a_kernel_entry_that_takes_a_burst_of_new_sources_without_upcalls(lab6, mcastd):
    daemon = mcastd(lab6, "mroute from trunk.10 group ff0e::200:1 to trunk.20 trunk.30\n")
    # installed before any datagram: origin ::, its input in the set, not shown as an output
    assert mfc6(lab6) == {("::", "ff0e::200:1"): ("trunk.10", ["trunk.10", "trunk.20", "trunk.30"], 0)}
    [row] = routes_of(daemon, "ff0e")
    assert (row["kind"], row["source"], row["oifs"]) == ("star-g", "*", ["trunk.20", "trunk.30"])
    listening = {host: Receiver(lab6, host, "eth0", "ff0e::200:1") for host in ("recv20", "recv30")}
    send_burst(lab6, "sender", "eth0", "ff0e::200:1", "2001:db8:10::1000", 1000)
    time.sleep(0.3)
    got = {host: rx.stop() for host, rx in listening.items()}
    for host in ("recv20", "recv30"):
        assert (got[host]["count"], len(got[host]["sources"])) == (1000, 1000), host
    assert daemon.query("status")["counters"]["upcalls"] == 0
    assert list(mfc6(lab6)) == [("::", "ff0e::200:1")]  # one entry served them all


def test_prefix_routes_learn_each_flow_and_idle_entries_expire(lab6, mcastd):
    daemon = mcastd(lab6, "mroute from trunk.10 group ff0e::300:0/112 to trunk.30\n"
                          "mroute from trunk.10 source 2001:db8:10::/64 group ff05::300:1 to trunk.20\n", "-c", "5")
    for group, host in (("ff0e::300:7", "recv30"), ("ff0e::300:ff", "recv30"), ("ff05::300:1", "recv20")):
        assert receive(lab6, group, 20, receivers=(host,))[host]["unique"] == 20, group
    learned = mfc6(lab6)
    assert {key: value[:2] for key, value in learned.items()} == {
        (SENDER, "ff0e::300:7"): ("trunk.10", ["trunk.30"]), (SENDER, "ff0e::300:ff"): ("trunk.10", ["trunk.30"]),
        (SENDER, "ff05::300:1"): ("trunk.10", ["trunk.20"])}
    assert {row["kind"] for row in routes_of(daemon, "ff0")} == {"learned", "template"}
    assert daemon.query("status")["counters"]["learned"] == 3
    assert wait_for(lambda: mfc6(lab6) == {}, timeout=15)  # idle for 5 s: gone


def test_unrouted_ipv6_flow_gets_a_stop_entry(lab6, mcastd):
    daemon = mcastd(lab6, "phyint trunk.10 enable\nphyint trunk.20 enable\n")
    got = receive(lab6, "ff0e::400:1", 20, receivers=("recv20",))
    assert got["recv20"]["count"] == 0
    assert mfc6(lab6)[(SENDER, "ff0e::400:1")][:2] == ("trunk.10", [])
    assert daemon.query("status")["stop_entries"] == 1


def test_mgroup_joins_ipv6_groups_any_source_and_source_specific(lab6, mcastd):
    daemon = mcastd(lab6, "mgroup from trunk.20 group ff0e::500:1\n"
                          "mgroup from trunk.20 source 2001:db8:20::20 group ff3e::500:2\n"
                          "mgroup from trunk.30 group ff05::500:0/124\n")
    igmp6 = lab6.run("router", ["cat", "/proc/net/igmp6"]).stdout
    joined = {(line.split()[1], line.split()[2]) for line in igmp6.splitlines()}
    wanted = {("trunk.20", _hex("ff0e::500:1")), ("trunk.20", _hex("ff3e::500:2"))}
    wanted |= {("trunk.30", _hex("ff05::500:%x" % index)) for index in range(16)}
    assert wanted <= joined
    assert _hex("2001:db8:20::20") in _mcfilter6(lab6)  # the source of the SSM join
    rows = daemon.query("show", "groups")
    assert len(rows) == 18 and {row["state"] for row in rows} == {"joined"}
    daemon.write_config("mgroup from trunk.20 group ff0e::500:1\n")
    assert daemon.ctl("reload").returncode == 0
    igmp6 = lab6.run("router", ["cat", "/proc/net/igmp6"]).stdout
    assert _hex("ff3e::500:2") not in igmp6 and _hex("ff05::500:0") not in igmp6 and _hex("ff0e::500:1") in igmp6


def _hex(address):
    return socket.inet_pton(socket.AF_INET6, address).hex()


def test_more_than_twenty_mld_joins_on_one_interface(lab6, mcastd):
    daemon = mcastd(lab6, "mgroup from trunk.30 group ff05::600:0/120\n"
                          "mgroup from trunk.30 source 2001:db8:30::30 group ff35::600:0/123\n")
    igmp6 = lab6.run("router", ["cat", "/proc/net/igmp6"]).stdout
    joined = [line.split()[2] for line in igmp6.splitlines() if line.split()[1] == "trunk.30"]
    assert sum(1 for group in joined if group.startswith(_hex("ff05::600:0")[:28])) == 256
    assert sum(1 for group in joined if group.startswith(_hex("ff35::600:0")[:30])) == 32
    assert len(daemon.query("show", "groups")) == 288


def _mcfilter6(lab):
    return lab.run("router", ["cat", "/proc/net/mcfilter6"]).stdout


def _forged_upcall(router_mif_source, group):
    """An ICMPv6 type-0 message laid out as a NOCACHE upcall (struct mrt6msg) for (source, group)."""
    return struct.pack("=BBHI16s16s", 0, 1, 0, 0, socket.inet_pton(socket.AF_INET6, router_mif_source),
                       socket.inet_pton(socket.AF_INET6, group))


SNIFFER = r"""
import socket, sys, time
sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
sock.settimeout(0.2)
print("ready", flush=True)
count, deadline = 0, time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    try:
        data = sock.recv(2048)
    except socket.timeout:
        continue
    count += data[0] == 0  # ICMPv6 type 0: the forged upcalls
print(count, flush=True)
"""

FORGER = r"""
import socket, sys
sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
payload = bytes.fromhex(sys.argv[2])
for _ in range(int(sys.argv[3])):
    sock.sendto(payload, (sys.argv[1], 0))
"""


def test_icmpv6_to_the_router_never_reaches_the_routing_socket(lab6, mcastd):
    """The block-all ICMP6_FILTER: a forged type-0 'upcall' installs nothing, pings cost no reads."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    daemon = mcastd(lab6, "mroute from trunk.10 group ff0e::600:0/112 to trunk.20\n")
    sniffer = lab6.popen("router", [sys.executable, "-c", SNIFFER, "3"], stdout=subprocess.PIPE, text=True)
    assert sniffer.stdout.readline().strip() == "ready"
    forged = _forged_upcall("2001:db8:66::6", "ff0e::600:6").hex()
    lab6.run("sender", [sys.executable, "-c", FORGER, "2001:db8:10::1", forged, "50"])
    lab6.run("sender", ["ping", "-6", "-c", "200", "-i", "0.002", "-q", "2001:db8:10::1"])
    seen_by_unfiltered_socket = int(sniffer.communicate(timeout=10)[0].split()[-1])
    assert seen_by_unfiltered_socket == 50  # the forged packets did reach the router's raw ICMPv6 sockets
    status = daemon.query("status")
    assert (status["ipv6"]["foreign_messages"], status["counters"]["upcalls"], status["entries"]) == (0, 0, 0)
    assert mfc6(lab6) == {}


def test_reload_changes_only_what_changed_and_counters_go_on(lab6, mcastd):
    first = "mroute from trunk.10 source %s group ff0e::700:1 to trunk.20\n" % SENDER
    daemon = mcastd(lab6, first + "mroute from trunk.10 group ff0e::700:2 to trunk.30\n")
    receive(lab6, "ff0e::700:1", 30, receivers=("recv20",))
    daemon.write_config(first + "mroute from trunk.10 source %s group ff0e::700:3 to trunk.30\n" % SENDER)
    stats = daemon.query("reload")
    assert (stats["added"], stats["updated"], stats["removed"]) == (1, 0, 1)
    entries = mfc6(lab6)
    assert entries[(SENDER, "ff0e::700:1")] == ("trunk.10", ["trunk.20"], 30)  # untouched: its counter went on
    assert ("::", "ff0e::700:2") not in entries and (SENDER, "ff0e::700:3") in entries
    assert receive(lab6, "ff0e::700:3", 20, receivers=("recv30",))["recv30"]["unique"] == 20


def test_mif_of_a_recreated_interface_and_its_routes_come_back(lab6, mcastd):
    daemon = mcastd(lab6, "mroute from trunk.10 source %s group ff0e::800:1 to trunk.20 late6\n" % SENDER)
    [row] = daemon.query("show", "pending")
    assert (row["missing"], row["state"]) == (["late6"], "partial")
    router, receiver = lab6.ns("router"), lab6.ns("recv30")
    import subprocess  # pylint: disable=import-outside-toplevel
    try:
        for _round in range(2):  # appears, then is deleted and re-created with a new ifindex
            subprocess.run(["ip", "link", "add", "late6", "netns", router, "type", "veth", "peer", "name", "late7",
                            "netns", receiver], check=True)
            lab6.run("router", ["ip", "link", "set", "late6", "up"])
            lab6.run("recv30", ["ip", "link", "set", "late7", "up"])
            assert wait_for(lambda: mfc6(lab6).get((SENDER, "ff0e::800:1"), (None, []))[1] == ["late6", "trunk.20"],
                            timeout=2.0)
            assert wait_for(lambda: daemon.query("show", "pending") == [], timeout=1.0)
            # hop limit 8 and a receiver on the new link: it gets the flow
            rx = Receiver(lab6, "recv30", "late7", "ff0e::800:1")
            send_datagrams(lab6, "sender", "eth0", "ff0e::800:1", count=20, interval=0.002)
            time.sleep(0.2)
            assert rx.stop()["unique"] == 20
            lab6.run("router", ["ip", "link", "del", "late6"])
            assert wait_for(lambda: daemon.query("show", "pending"), timeout=2.0)
    finally:
        lab6.run("router", ["ip", "link", "del", "late6"], check=False)
    assert "MIF" in daemon.log()


@pytest.mark.parametrize("line, reason", [
    ("mroute from trunk.10 group ff02::1:3 to trunk.20", "link-local scope"),
    ("mroute from trunk.10 group ff35::9 to trunk.20", None),  # site scope with flags: accepted
    ("mroute from trunk.10 group ff31::9 to trunk.20", "interface-local scope"),
    ("phyint trunk.20 ttl-threshold 5\nmroute from trunk.10 group ff0e::9 to trunk.20", "applies to IPv4 only"),
    ("mroute from trunk.10 source 192.0.2.10 group ff0e::9 to trunk.20", "different families"),
])
def test_what_the_kernel_would_accept_and_never_forward_is_refused_at_reload(lab6, mcastd, line, reason):
    good = "mroute from trunk.10 source %s group ff0e::900:1 to trunk.20\n" % SENDER
    daemon = mcastd(lab6, good)
    daemon.write_config(good + line + "\n")
    result = daemon.ctl("reload", check=False)
    if reason is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1 and reason in result.stderr, result.stderr
    assert list(mfc6(lab6)) == [(SENDER, "ff0e::900:1")]  # nothing changed
    assert receive(lab6, "ff0e::900:1", 10, receivers=("recv20",))["recv20"]["unique"] == 10


def test_mcastctl_adds_ipv6_routes_and_shows_both_families(lab6, mcastd):
    daemon = mcastd(lab6, "phyint trunk.10 enable\nphyint trunk.20 enable\nphyint trunk.30 enable\n")
    daemon.ctl("add", "trunk.10", SENDER, "ff0e::a00:1", "trunk.30")
    daemon.ctl("add", "trunk.10", "192.0.2.10", "225.10.0.1", "trunk.20")
    daemon.ctl("join", "trunk.20", "ff0e::a00:2")
    assert receive(lab6, "ff0e::a00:1", 10, receivers=("recv30",))["recv30"]["unique"] == 10
    text = daemon.ctl("show", "routes").stdout
    assert SENDER in text and "ff0e::a00:1" in text and "225.10.0.1" in text
    interfaces = daemon.ctl("show", "interfaces").stdout.splitlines()
    assert interfaces[0].split()[:4] == ["NAME", "IFINDEX", "VIF", "MIF"]
    assert "ff0e::a00:2" in daemon.ctl("show", "groups").stdout
    daemon.ctl("del", "trunk.10", SENDER, "ff0e::a00:1")
    assert (SENDER, "ff0e::a00:1") not in mfc6(lab6)


def test_hop_limit_1_is_counted_by_the_entry_but_never_forwarded(lab6, mcastd):
    mcastd(lab6, "mroute from trunk.10 source %s group ff0e::b00:1 to trunk.20\n" % SENDER)
    got = receive(lab6, "ff0e::b00:1", 25, receivers=("recv20",), hops=1)
    assert got["recv20"]["count"] == 0
    assert mfc6(lab6)[(SENDER, "ff0e::b00:1")][2] == 25  # the silent failure: arrivals counted, nothing out


def test_flows_that_arrive_with_ttl_or_hop_limit_1_are_reported_for_both_families(lab6, mcastd):
    from tests.integration.mcastd.traffic import start_sender  # pylint: disable=import-outside-toplevel
    daemon = mcastd(lab6, "mroute from trunk.10 source %s group ff0e::c00:1 to trunk.20\n"
                          "mroute from trunk.10 source 192.0.2.10 group 225.12.0.1 to trunk.20 trunk.30\n"
                          "mroute from trunk.10 source 192.0.2.10 group 225.12.0.2 to trunk.30\n" % SENDER)
    senders = [start_sender(lab6, "sender", "eth0", "ff0e::c00:1", count=600, interval=0.02, ttl=1),
               start_sender(lab6, "sender", "eth0", "225.12.0.1", count=600, interval=0.02, ttl=1),
               start_sender(lab6, "sender", "eth0", "225.12.0.2", count=600, interval=0.02, ttl=8)]
    try:
        found = wait_for(lambda: {(row["family"], row["group"]) for row in daemon.query("status")["ttl_too_low"]},
                         timeout=14)
        time.sleep(5.5)  # one more look: the healthy flow must still not be named
        rows = daemon.query("status")["ttl_too_low"]
    finally:
        for sender in senders:
            sender.kill()
            sender.wait()
    assert found and {(row["family"], row["group"]) for row in rows} == {(6, "ff0e::c00:1"), (4, "225.12.0.1")}
    [row] = [row for row in rows if row["family"] == 6]
    assert (row["iif"], row["oifs"]) == ("trunk.10", ["trunk.20"]) and 10 <= row["arrived"] <= 300  # <= 5 s at 50/s
    log = daemon.log()
    assert "(%s, ff0e::c00:1) from trunk.10:" % SENDER in log and "hop limit is 1" in log
    assert "(192.0.2.10, 225.12.0.1) from trunk.10:" in log and "TTL of at least 2" in log
    assert "225.12.0.2) from" not in log  # the healthy flow, whose output trunk.30 the TTL-1 flow shares


HOLDER = r"""
import socket, struct, sys
sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
sock.setsockopt(socket.IPPROTO_IPV6, 200, struct.pack("i", 1))  # MRT6_INIT: another daemon's IPv6 routing API
print("holding", flush=True)
sys.stdin.read()
"""


def test_without_the_ipv6_routing_api_ipv4_is_routed_and_ipv6_routes_wait_with_the_reason(lab6, mcastd):
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    holder = lab6.popen("router", [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        daemon = mcastd(lab6, "mroute from trunk.10 source 192.0.2.10 group 225.13.0.1 to trunk.20\n"
                              "mroute from trunk.10 source %s group ff0e::d00:1 to trunk.20\n" % SENDER)
        assert "no IPv6 multicast routing: another multicast routing daemon already holds" in daemon.log()
        [row] = daemon.query("show", "pending")
        assert row["line"].endswith("group ff0e::d00:1 to trunk.20") and "already holds" in row["reason"]
        status = daemon.query("status")
        assert status["ipv6"]["available"] is False and status["mifs"] == 0
        assert receive(lab6, "225.13.0.1", 20, receivers=("recv20",))["recv20"]["unique"] == 20
    finally:
        holder.stdin.close()
        holder.wait(timeout=5)
