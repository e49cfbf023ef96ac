"""mcastd forwards real datagrams: (S,G), (*,G) and prefix routes, stop entries, expiry, source bursts.

Sender on segment 10 (trunk.10), receivers behind trunk.20 and trunk.30; the daemon runs from the
checkout in the router namespace.  Each test counts datagrams sent and received.
"""
import os
import time

import pytest

from tests.integration.mcastd.runner import wait_for
from tests.integration.mcastd.traffic import Receiver, send_burst, send_datagrams

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket")]

SENDER = "192.0.2.10"


def receive(lab, group, count, interval=0.002, receivers=("recv20", "recv30")):
    """Send ``count`` datagrams to ``group``; returns {receiver: datagrams received}."""
    listening = {host: Receiver(lab, host, "eth0", group) for host in receivers}
    send_datagrams(lab, "sender", "eth0", group, count=count, interval=interval)
    time.sleep(0.2)
    return {host: rx.stop() for host, rx in listening.items()}


def test_sg_route_forwards_only_to_its_outputs_and_counts(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 source %s group 225.1.1.1 to trunk.20\n" % SENDER)
    assert daemon.mfc() == {(SENDER, "225.1.1.1"): ("trunk.10", ["trunk.20"])}
    got = receive(netns_lab, "225.1.1.1", 100)
    assert got["recv20"]["unique"] == 100 and got["recv20"]["missing"] == []
    assert got["recv30"]["count"] == 0
    [row] = [row for row in daemon.query("show", "routes") if row["group"] == "225.1.1.1"]
    assert (row["kind"], row["packets"], row["oifs"], row["in_kernel"]) == ("static", 100, ["trunk.20"], True)


def test_star_g_route_learns_a_new_flow_without_losing_its_first_datagrams(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 group 225.2.2.2 to trunk.20 trunk.30\n")
    assert daemon.mfc() == {}
    got = receive(netns_lab, "225.2.2.2", 200, interval=0.001)
    for host in ("recv20", "recv30"):
        assert (got[host]["unique"], got[host]["first"], got[host]["missing"]) == (200, 1, []), got[host]
    assert daemon.mfc() == {(SENDER, "225.2.2.2"): ("trunk.10", ["trunk.20", "trunk.30"])}
    [row] = [row for row in daemon.query("show", "routes") if row["kind"] == "learned"]
    assert row["origin"].endswith("mcastd.conf:1")


def test_prefix_route_covers_every_group_in_it(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 group 225.7.0.0/16 to trunk.30\n")
    for group in ("225.7.0.1", "225.7.200.9"):
        got = receive(netns_lab, group, 20, receivers=("recv30",))
        assert got["recv30"]["unique"] == 20
    assert set(daemon.mfc()) == {(SENDER, "225.7.0.1"), (SENDER, "225.7.200.9")}


def test_unrouted_flow_gets_a_stop_entry_and_idle_entries_expire(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 group 225.3.3.3 to trunk.20\n", "-c", "2")
    receive(netns_lab, "225.3.3.3", 5, receivers=("recv20",))
    got = receive(netns_lab, "226.6.6.6", 30, receivers=("recv20", "recv30"))
    assert got["recv20"]["count"] == got["recv30"]["count"] == 0
    assert daemon.mfc()[(SENDER, "226.6.6.6")] == ("trunk.10", [])
    kinds = {row["group"]: (row["kind"], row["packets"]) for row in daemon.query("show", "routes")}
    assert kinds["226.6.6.6"] == ("stop", 30)  # one upcall, then the kernel drops the rest itself
    assert daemon.query("status")["counters"]["upcalls"] == 2
    # idle for the 2 s cache timeout (checked every 0.5 s): both learned entries go
    assert wait_for(lambda: daemon.mfc() == {}, timeout=5.0), daemon.mfc()
    assert daemon.query("status")["counters"]["expired"] == 2


def test_a_busy_entry_does_not_expire(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 group 225.4.4.4 to trunk.20\n", "-c", "1")
    got = receive(netns_lab, "225.4.4.4", 250, interval=0.012, receivers=("recv20",))  # 3 s of traffic
    assert got["recv20"]["unique"] == 250
    assert daemon.query("status")["counters"]["expired"] == 0


def test_a_burst_of_a_thousand_new_sources_is_all_learned_and_forwarded(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 group 225.5.5.5 to trunk.20\n")
    rx = Receiver(netns_lab, "recv20", "eth0", "225.5.5.5")
    send_burst(netns_lab, "sender", "eth0", "225.5.5.5", base="10.77.0.1", sources=1000)
    assert wait_for(lambda: len(daemon.mfc()) == 1000, timeout=5.0), len(daemon.mfc())
    time.sleep(0.2)
    got = rx.stop()
    assert len(got["sources"]) == 1000 and got["count"] == 1000  # each source's only datagram arrived
    status = daemon.query("status")
    assert status["counters"]["learned"] == 1000 and status["learned"] == 1000


def test_flush_forgets_learned_entries(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 group 225.6.6.6 to trunk.20\n"
                               "mroute from trunk.10 source %s group 225.6.6.7 to trunk.20\n" % SENDER)
    receive(netns_lab, "225.6.6.6", 3, receivers=("recv20",))
    assert len(daemon.mfc()) == 2
    assert daemon.ctl("flush").stdout.strip() == "flushed 1 learned entries"
    assert daemon.mfc() == {(SENDER, "225.6.6.7"): ("trunk.10", ["trunk.20"])}
