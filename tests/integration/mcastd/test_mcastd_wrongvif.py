"""WRONGVIF with real datagrams: two upstreams that share a source address (smcroute 2.6, issue #143).

Two upstream hosts, each behind its own router interface, both use 192.0.2.10 (two routers
sharing an address, as VRRP upstreams do); the receiver sits behind a third interface. A flow
learned on one upstream and then sent from the other must follow it when a route allows the new
input, and stay blocked (with the daemon up and counting) when none does.
"""
import os
import time

import pytest

from tests.integration.mcastd.runner import wait_for
from tests.integration.mcastd.traffic import Receiver, send_datagrams

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket")]

SOURCE = "192.0.2.10"
GROUP = "239.1.1.1"
COUNT = 50
# rp_filter must let the shared source in on both upstream interfaces: 0, set inside the lab's
# router namespace only (the effective value is the maximum of conf/all and conf/IFACE).
NO_RP_FILTER = {f"net.ipv4.conf.{name}.rp_filter": 0 for name in ("all", "default", "up1", "up2", "dn1")}
TOPOLOGY = {
    "hosts": {
        "router": {"groups": ["routers"], "sysctls": NO_RP_FILTER},
        "src1": {"groups": ["senders"]},
        "src2": {"groups": ["senders"]},
        "recv": {"groups": ["receivers"], "routes": [{"dst": "default", "via": "198.51.100.1"}]},
    },
    "segments": {
        "upstream1": {"ends": [{"host": "router", "iface": "up1", "address": "192.0.2.1/24"},
                               {"host": "src1", "iface": "eth0", "address": f"{SOURCE}/24"}]},
        "upstream2": {"ends": [{"host": "router", "iface": "up2", "address": "192.0.2.2/24"},
                               {"host": "src2", "iface": "eth0", "address": f"{SOURCE}/24"}]},
        "downstream": {"ends": [{"host": "router", "iface": "dn1", "address": "198.51.100.1/24"},
                                {"host": "recv", "iface": "eth0", "address": "198.51.100.20/24"}]},
    },
}


@pytest.fixture(name="lab")
def fixture_lab(make_netns_lab):
    return make_netns_lab(TOPOLOGY)


def received_from(lab, sender, count=COUNT, interval=0.01, first=1):
    """Send ``count`` numbered datagrams from ``sender``; the receiver's result dict."""
    rx = Receiver(lab, "recv", "eth0", GROUP)
    send_datagrams(lab, sender, "eth0", GROUP, count=count, interval=interval, first=first)
    time.sleep(0.3)
    return rx.stop()


def iif(daemon):
    return daemon.mfc().get((SOURCE, GROUP), (None, None))[0]


def counters(daemon):
    found = daemon.query("status")["counters"]
    return {name: found[name] for name in ("upcalls", "wrongvif", "moved", "wrongvif_ignored")}


def test_a_flow_follows_its_source_to_another_upstream_a_route_allows(lab, mcastd):
    daemon = mcastd(lab, f"mroute from up1 group {GROUP} to dn1\nmroute from up2 group {GROUP} to dn1\n")
    assert daemon.query("status")["wrongvif_upcalls"] == "pim"
    got = received_from(lab, "src1")
    assert (got["unique"], got["missing"]) == (COUNT, [])
    assert daemon.mfc() == {(SOURCE, GROUP): ("up1", ["dn1"])}

    moved_at = time.monotonic()
    got = received_from(lab, "src2", first=1001)  # the first datagram on up2 only tells the kernel
    assert got["unique"] >= COUNT - 1 and got["last"] == 1000 + COUNT, got
    assert daemon.mfc() == {(SOURCE, GROUP): ("up2", ["dn1"])}
    assert counters(daemon) == {"upcalls": 1, "wrongvif": 1, "moved": 1, "wrongvif_ignored": 0}
    assert f"moved ({SOURCE},{GROUP}) inbound from up1 to up2 after WRONGVIF" in daemon.log()
    [row] = daemon.query("show", "routes")[:1]
    assert (row["kind"], row["iif"], row["oifs"]) == ("learned", "up2", ["dn1"])

    # and back when the first upstream takes over again: the kernel reports an entry at most once
    # every 3 s (MFC_ASSERT_THRESH), so a fail-back sooner than that waits for the rest of them
    time.sleep(max(0.0, moved_at + 3.3 - time.monotonic()))
    got = received_from(lab, "src1", first=2001)
    assert got["unique"] >= COUNT - 1 and got["last"] == 2000 + COUNT, got
    assert iif(daemon) == "up1"
    assert counters(daemon)["moved"] == 2


def test_a_flow_no_route_allows_on_the_new_upstream_stays_blocked_and_the_daemon_counts_it(lab, mcastd):
    # up2 is a VIF, but its only route is for other sources
    daemon = mcastd(lab, f"mroute from up1 group {GROUP} to dn1\nmroute from up2 source 10.0.0.0/8 group {GROUP} to dn1\n")
    got = received_from(lab, "src1")
    assert got["unique"] == COUNT

    # 3.5 s of traffic on up2: the kernel reports twice (at most once per entry every 3 s)
    got = received_from(lab, "src2", count=70, interval=0.05, first=1001)
    assert got["count"] == 0, got
    assert iif(daemon) == "up1"
    assert counters(daemon) == {"upcalls": 1, "wrongvif": 2, "moved": 0, "wrongvif_ignored": 2}
    blocked = [line for line in daemon.log().splitlines() if "not moved" in line]
    assert len(blocked) == 1 and "no route allows that input" in blocked[0], blocked  # rate-limited
    assert daemon.proc.poll() is None

    got = received_from(lab, "src1", first=2001)  # the allowed upstream still forwards
    assert (got["unique"], got["missing"]) == (COUNT, [])


def test_a_static_route_keeps_its_input(lab, mcastd):
    daemon = mcastd(lab, f"mroute from up1 source {SOURCE} group {GROUP} to dn1\nmroute from up2 group {GROUP} to dn1\n")
    got = received_from(lab, "src2")
    assert got["count"] == 0
    assert daemon.mfc() == {(SOURCE, GROUP): ("up1", ["dn1"])}
    assert wait_for(lambda: counters(daemon)["wrongvif_ignored"] == 1)
    assert counters(daemon) == {"upcalls": 0, "wrongvif": 1, "moved": 0, "wrongvif_ignored": 1}
    assert "not moved, a static route names its input" in daemon.log()


def test_an_entry_whose_flow_only_arrives_elsewhere_counts_as_idle_and_expires(lab, mcastd):
    # Packets on another input raise the kernel's packet counter too (as wrong_if); idle expiry
    # ignores them, as smcroute does, so the old entry goes and the flow is decided anew on up2.
    daemon = mcastd(lab, f"mroute from up1 group {GROUP} to dn1\nmroute from up2 source 10.0.0.0/8 group {GROUP} to dn1\n",
                    "-c", "2")
    assert received_from(lab, "src1")["unique"] == COUNT
    got = received_from(lab, "src2", count=80, interval=0.05, first=1001)  # 4 s, past the 2 s timeout
    assert got["count"] == 0, got
    assert daemon.mfc() == {(SOURCE, GROUP): ("up2", [])}  # a stop entry on the new input
    status = daemon.query("status")
    assert (status["counters"]["expired"], status["counters"]["upcalls"], status["stop_entries"]) == (1, 2, 1)


SOURCE6 = "2001:db8:10::10"
GROUP6 = "ff0e::1:1"
TOPOLOGY6 = {
    "hosts": dict(TOPOLOGY["hosts"], recv={"groups": ["receivers"]}),
    "segments": {
        "upstream1": {"ends": [{"host": "router", "iface": "up1", "address6": "2001:db8:10::1/64"},
                               {"host": "src1", "iface": "eth0", "address6": f"{SOURCE6}/64"}]},
        "upstream2": {"ends": [{"host": "router", "iface": "up2", "address6": "2001:db8:10::2/64"},
                               {"host": "src2", "iface": "eth0", "address6": f"{SOURCE6}/64"}]},
        "downstream": {"ends": [{"host": "router", "iface": "dn1", "address6": "2001:db8:20::1/64"},
                                {"host": "recv", "iface": "eth0", "address6": "2001:db8:20::20/64"}]},
    },
}


def test_an_ipv6_flow_follows_its_source_to_another_upstream_after_wrongmif(make_netns_lab, mcastd):
    """The IPv6 twin (MRT6MSG_WRONGMIF): one group routed from two inputs is learned per flow (no kernel (*,G)
    entry could hold both inputs), so the flow moves as an IPv4 one does."""
    lab = make_netns_lab(TOPOLOGY6)
    daemon = mcastd(lab, f"mroute from up1 group {GROUP6} to dn1\nmroute from up2 group {GROUP6} to dn1\n")
    assert daemon.query("status")["ipv6"]["wrongmif_upcalls"] == "pim"

    def received(sender, first):
        rx = Receiver(lab, "recv", "eth0", GROUP6)
        send_datagrams(lab, sender, "eth0", GROUP6, count=COUNT, interval=0.01, first=first)
        time.sleep(0.3)
        return rx.stop()

    def flow():
        return [(row["iif"], row["oifs"]) for row in daemon.query("show", "routes") if row["kind"] == "learned"]

    got = received("src1", 1)
    assert (got["unique"], got["missing"]) == (COUNT, []) and flow() == [("up1", ["dn1"])]
    got = received("src2", 1001)  # the first datagram on up2 only tells the kernel
    assert got["unique"] >= COUNT - 1 and got["last"] == 1000 + COUNT, got
    assert flow() == [("up2", ["dn1"])]
    assert counters(daemon) == {"upcalls": 1, "wrongvif": 1, "moved": 1, "wrongvif_ignored": 0}
    assert f"moved ({SOURCE6},{GROUP6}) inbound from up1 to up2 after WRONGVIF" in daemon.log()
