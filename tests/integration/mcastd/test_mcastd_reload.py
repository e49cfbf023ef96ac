"""Reload: validate first, then apply only the difference, while a sender keeps running."""
import os
import signal
import time

import pytest

from tests.integration.mcastd.runner import wait_for
from tests.integration.mcastd.traffic import Receiver, send_datagrams, start_sender

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket")]

S = "192.0.2.10"
BEFORE = """\
phyint trunk.30 enable ttl-threshold 1
mroute from trunk.10 source {s} group 225.10.0.1 to trunk.20
mroute from trunk.10 source {s} group 225.10.0.2 to trunk.20
mroute from trunk.10 source {s} group 225.10.0.3 to trunk.20
""".format(s=S)
AFTER = """\
phyint trunk.30 enable ttl-threshold 1
mroute from trunk.10 source {s} group 225.10.0.1 to trunk.20
mroute from trunk.10 source {s} group 225.10.0.3 to trunk.30
mroute from trunk.10 source {s} group 225.10.0.4 to trunk.20
""".format(s=S)


def test_reload_adds_removes_and_changes_routes_without_loss_on_unchanged_ones(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BEFORE)
    rx = Receiver(netns_lab, "recv20", "eth0", "225.10.0.1")
    sender = start_sender(netns_lab, "sender", "eth0", "225.10.0.1", count=600, interval=0.003)  # ~1.8 s
    try:
        time.sleep(0.5)
        daemon.write_config(AFTER)
        result = daemon.query("reload")
        time.sleep(0.2)
        daemon.write_config(BEFORE)
        daemon.signal(signal.SIGHUP)  # and back, the systemd ExecReload way
        time.sleep(0.2)
        daemon.write_config(AFTER)
        daemon.query("reload")
    finally:
        assert sender.wait(timeout=20) == 0
    time.sleep(0.2)
    got = rx.stop()
    assert (got["unique"], got["missing"]) == (600, []), "datagrams lost on an unchanged route during reloads"
    assert (result["added"], result["updated"], result["removed"]) == (1, 1, 1)
    assert daemon.mfc() == {(S, "225.10.0.1"): ("trunk.10", ["trunk.20"]),
                            (S, "225.10.0.3"): ("trunk.10", ["trunk.30"]),
                            (S, "225.10.0.4"): ("trunk.10", ["trunk.20"])}
    changed = Receiver(netns_lab, "recv30", "eth0", "225.10.0.3")
    send_datagrams(netns_lab, "sender", "eth0", "225.10.0.3", count=10, interval=0.002)
    time.sleep(0.1)
    assert changed.stop()["unique"] == 10
    assert daemon.query("status")["counters"]["reloads"] == 3


def test_unchanged_entries_keep_their_kernel_counters_across_reload(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BEFORE)
    send_datagrams(netns_lab, "sender", "eth0", "225.10.0.2", count=7, interval=0.001)
    daemon.write_config(BEFORE + "mroute from trunk.10 source %s group 225.10.0.9 to trunk.30\n" % S)
    assert daemon.query("reload")["added"] == 1
    packets = {row["group"]: row["packets"] for row in daemon.query("show", "routes")}
    assert packets["225.10.0.2"] == 7  # never re-added: the kernel entry (and its counter) is the same


def test_invalid_reload_changes_nothing_and_reports_every_error(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BEFORE)
    before = daemon.mfc()
    daemon.write_config(BEFORE + "mroute from trunk.10 group 10.0.0.1 to trunk.20\n"
                                 "mroute from trunk.30 source %s group 225.10.0.1 to trunk.20\n" % S)
    refused = daemon.ctl("reload", check=False)
    assert refused.returncode == 1
    assert "configuration invalid, nothing changed" in refused.stderr
    assert "mcastd.conf:5: group 10.0.0.1 is not a multicast address" in refused.stderr
    assert "mcastd.conf:6: mroute from trunk.30 source %s group 225.10.0.1 to trunk.20 conflicts with" % S \
        in refused.stderr
    daemon.signal(signal.SIGHUP)
    assert wait_for(lambda: daemon.log().count("reload refused, nothing changed") == 2), daemon.log()
    assert daemon.mfc() == before
    status = daemon.query("status")
    assert status["last_reload"]["ok"] is False and status["counters"]["failed_reloads"] == 2
    assert daemon.proc.poll() is None
    got = Receiver(netns_lab, "recv20", "eth0", "225.10.0.2")
    send_datagrams(netns_lab, "sender", "eth0", "225.10.0.2", count=10, interval=0.002)
    time.sleep(0.1)
    assert got.stop()["unique"] == 10


def test_reload_re_decides_learned_flows(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 group 225.11.0.0/16 to trunk.20\n")
    send_datagrams(netns_lab, "sender", "eth0", "225.11.1.1", count=3, interval=0.002)
    assert daemon.mfc() == {(S, "225.11.1.1"): ("trunk.10", ["trunk.20"])}
    daemon.write_config("mroute from trunk.10 group 225.11.0.0/16 to trunk.30\n")
    daemon.query("reload")
    assert daemon.mfc() == {(S, "225.11.1.1"): ("trunk.10", ["trunk.30"])}
    daemon.write_config("mroute from trunk.10 group 225.12.0.0/16 to trunk.30\n")
    daemon.query("reload")
    assert daemon.mfc() == {(S, "225.11.1.1"): ("trunk.10", [])}  # no template left: a stop entry
