"""Error containment with injected faults: the daemon stays up and untouched routes keep forwarding.

mcastd runs against the real kernel through tests/integration/mcastd/faulty_mcastd.py, which makes
chosen kernel calls fail with an unexpected errno, or a handler raise, once or for good. Each test
counts datagrams on a route the fault does not concern, before and after.
"""
import json
import os
import time
from pathlib import Path

import pytest

from tests.integration.mcastd.runner import wait_for
from tests.integration.mcastd.traffic import Receiver, send_datagrams

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket")]

SENDER = "192.0.2.10"
FAULTY = str(Path(__file__).resolve().parent / "faulty_mcastd.py")
ROUTES = ("mroute from trunk.10 source %s group 225.1.1.1 to trunk.20\n"
          "mroute from trunk.10 source %s group 225.9.9.9 to trunk.30\n" % (SENDER, SENDER))
EIO = 5


def start(mcastd, lab, faults, config=ROUTES, *extra):
    env = dict(os.environ, MCASTD_FAULTS=json.dumps(faults))
    return mcastd(lab, config, *extra, env=env, program=FAULTY)


def received(lab, group, host, count=100):
    receiver = Receiver(lab, host, "eth0", group)
    send_datagrams(lab, "sender", "eth0", group, count=count, interval=0.002)
    time.sleep(0.2)
    return receiver.stop()["unique"]


def counters(daemon):
    return daemon.query("status")["counters"]


def test_a_failing_install_is_logged_counted_and_retried_while_other_routes_forward(netns_lab, mcastd):
    daemon = start(mcastd, netns_lab, {"add_mfc": {"group": "225.9.9.9", "errno": EIO, "times": 1}})
    assert received(netns_lab, "225.1.1.1", "recv20") == 100
    assert counters(daemon)["kernel_errors"] == 1
    assert "cannot install (%s, 225.9.9.9) from trunk.10 to trunk.30: Input/output error" % SENDER in daemon.log()
    # retried at the next rescan (within 5 s), then it forwards
    assert wait_for(lambda: (SENDER, "225.9.9.9") in daemon.mfc(), timeout=8)
    assert received(netns_lab, "225.9.9.9", "recv30") == 100
    assert daemon.proc.poll() is None


def test_a_permanently_failing_entry_never_stops_the_daemon_and_is_logged_once_a_minute(netns_lab, mcastd):
    daemon = start(mcastd, netns_lab, {"add_mfc": {"group": "225.9.9.9", "errno": 121, "times": -1}})
    assert wait_for(lambda: counters(daemon)["kernel_errors"] >= 3, timeout=14)  # start + two rescans
    assert daemon.log().count("cannot install (%s, 225.9.9.9)" % SENDER) == 1
    assert received(netns_lab, "225.1.1.1", "recv20") == 100
    assert daemon.proc.poll() is None


def test_a_handler_that_raises_costs_one_event_not_the_routes(netns_lab, mcastd):
    daemon = start(mcastd, netns_lab, {"raise_in": {"on_link_event": 1}})
    netns_lab.run("router", ["ip", "link", "add", "hfault0", "type", "veth", "peer", "name", "hfault1"])
    try:
        assert wait_for(lambda: counters(daemon)["handler_errors"] == 1, timeout=5), daemon.log()
        assert "unexpected error in on_link_event" in daemon.log() or "unexpected error in wrapper" in daemon.log()
        assert daemon.proc.poll() is None
        assert received(netns_lab, "225.1.1.1", "recv20") == 100
    finally:
        netns_lab.run("router", ["ip", "link", "del", "hfault0"], check=False)


def test_a_reload_that_fails_while_computing_changes_nothing_and_the_next_one_works(netns_lab, mcastd):
    # Plane.plan() runs at start for IPv4 and IPv6 (calls 1 and 2); call 3 is the first reload's (IPv4)
    daemon = start(mcastd, netns_lab, {"raise_in": {"Plane.plan": 3}})
    daemon.write_config(ROUTES + "mroute from trunk.10 source %s group 225.5.5.5 to trunk.30\n" % SENDER)
    failed = daemon.ctl("reload", check=False)
    assert failed.returncode == 1 and "nothing changed" in failed.stderr
    assert (SENDER, "225.5.5.5") not in daemon.mfc() and len(daemon.mfc()) == 2
    assert received(netns_lab, "225.1.1.1", "recv20") == 100
    status = daemon.query("status")
    assert status["last_reload"]["ok"] is False and status["counters"]["failed_reloads"] == 1
    assert daemon.ctl("reload").returncode == 0
    assert daemon.mfc()[(SENDER, "225.5.5.5")] == ("trunk.10", ["trunk.30"])
    assert received(netns_lab, "225.5.5.5", "recv30") == 100


def test_a_failing_removal_at_reload_keeps_the_entry_and_is_retried(netns_lab, mcastd):
    daemon = start(mcastd, netns_lab, {"del_mfc": {"group": "225.9.9.9", "errno": EIO, "times": 1}})
    daemon.write_config("mroute from trunk.10 source %s group 225.1.1.1 to trunk.20\n" % SENDER)
    assert daemon.ctl("reload").returncode == 0  # the reload itself is valid and applied
    assert counters(daemon)["kernel_errors"] == 1
    assert received(netns_lab, "225.1.1.1", "recv20") == 100
    assert wait_for(lambda: (SENDER, "225.9.9.9") not in daemon.mfc(), timeout=8)
    assert daemon.proc.poll() is None


def test_counters_that_cannot_be_read_do_not_break_show_or_expiry(netns_lab, mcastd):
    config = ROUTES + "mroute from trunk.10 group 225.8.0.0/16 to trunk.20\n"
    daemon = start(mcastd, netns_lab, {"counters": {"group": "225.8.1.1", "errno": EIO, "times": -1}}, config, "-c", "1")
    assert received(netns_lab, "225.8.1.1", "recv20") == 100
    rows = {row["group"]: row for row in daemon.query("show", "routes")}
    assert rows["225.8.1.1"]["packets"] is None and rows["225.1.1.1"]["in_kernel"] is True
    time.sleep(2.5)  # past the cache timeout: an entry whose counters cannot be read is kept, not lost
    assert (SENDER, "225.8.1.1") in daemon.mfc()
    assert daemon.proc.poll() is None
