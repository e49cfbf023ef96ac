"""mcastctl's runtime control, as smcroutectl's: add, del, join, leave, batch mode, bare show; real datagrams.

Sender on trunk.10 (192.0.2.10), receivers behind trunk.20 and trunk.30. Each change made at run
time is checked in the kernel (ip mroute / ip maddr) and with datagrams counted, and is gone
after a reload, as smcroute documents.
"""
import json
import os
import sys
import time

import pytest

from tests.integration.mcastd.runner import MCASTCTL, wait_for
from tests.integration.mcastd.traffic import Receiver, send_datagrams

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket")]

SENDER = "192.0.2.10"
BASE = "mroute from trunk.10 source %s group 225.1.1.1 to trunk.20\n" % SENDER


def received(lab, group, count=50, receivers=("recv20", "recv30")):
    listening = {host: Receiver(lab, host, "eth0", group) for host in receivers}
    send_datagrams(lab, "sender", "eth0", group, count=count, interval=0.002)
    time.sleep(0.2)
    return {host: rx.stop()["unique"] for host, rx in listening.items()}


def ctl(daemon, *args, stdin=None):
    return daemon.lab.run(daemon.host, [sys.executable, MCASTCTL, "-u", daemon.socket, *args], check=False, input=stdin)


def joined(lab, group):
    return group in lab.run("router", ["ip", "maddr", "show", "dev", "trunk.10"]).stdout


def test_add_creates_a_route_and_adds_outputs_to_an_existing_one(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BASE)
    assert ctl(daemon, "add", "trunk.10", SENDER, "225.4.4.4", "trunk.30").returncode == 0
    assert daemon.mfc()[(SENDER, "225.4.4.4")] == ("trunk.10", ["trunk.30"])
    assert received(netns_lab, "225.4.4.4") == {"recv20": 0, "recv30": 50}
    # smcroutectl add on an existing route adds outputs; the file's route too
    assert ctl(daemon, "add", "trunk.10", SENDER, "225.1.1.1", "trunk.30").returncode == 0
    assert daemon.mfc()[(SENDER, "225.1.1.1")] == ("trunk.10", ["trunk.20", "trunk.30"])
    assert received(netns_lab, "225.1.1.1") == {"recv20": 50, "recv30": 50}
    origins = {row["group"]: row["origin"] for row in daemon.query("show", "routes")}
    assert origins["225.4.4.4"] == "mcastctl:1"


def test_add_of_a_template_learns_flows_and_del_removes_it(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BASE)
    assert ctl(daemon, "add", "trunk.10", "225.6.0.0/16", "trunk.20").returncode == 0
    assert received(netns_lab, "225.6.1.2") == {"recv20": 50, "recv30": 0}
    assert ctl(daemon, "del", "trunk.10", "225.6.0.0/16").returncode == 0
    assert ctl(daemon, "flush").returncode == 0
    assert received(netns_lab, "225.6.1.2") == {"recv20": 0, "recv30": 0}


def test_del_with_outputs_removes_those_and_leaves_a_stop_filter_when_none_remain(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 source %s group 225.1.1.1 to trunk.20 trunk.30\n" % SENDER)
    assert ctl(daemon, "del", "trunk.10", SENDER, "225.1.1.1", "trunk.30").returncode == 0
    assert daemon.mfc()[(SENDER, "225.1.1.1")] == ("trunk.10", ["trunk.20"])
    assert received(netns_lab, "225.1.1.1") == {"recv20": 50, "recv30": 0}
    assert ctl(daemon, "del", "trunk.10", SENDER, "225.1.1.1", "trunk.20").returncode == 0
    assert daemon.mfc()[(SENDER, "225.1.1.1")] == ("trunk.10", [])  # a stop filter, as smcroutectl leaves it
    assert received(netns_lab, "225.1.1.1") == {"recv20": 0, "recv30": 0}
    assert ctl(daemon, "del", "trunk.10", SENDER, "225.1.1.1").returncode == 0
    assert (SENDER, "225.1.1.1") not in daemon.mfc()


def test_join_and_leave_change_the_kernels_memberships(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BASE)
    assert ctl(daemon, "join", "trunk.10", "225.9.9.9").returncode == 0
    assert wait_for(lambda: joined(netns_lab, "225.9.9.9"))
    twice = ctl(daemon, "join", "trunk.10", "225.9.9.9")
    assert twice.returncode == 1 and "already joined" in twice.stderr
    assert ctl(daemon, "j", "trunk.10", SENDER, "232.1.1.1").returncode == 0  # abbreviated, source-specific
    rows = daemon.query("show", "groups")
    assert {(row["group"], row["source"]) for row in rows} == {("225.9.9.9", None), ("232.1.1.1", SENDER)}
    assert ctl(daemon, "leave", "trunk.10", "225.9.9.9").returncode == 0
    assert wait_for(lambda: not joined(netns_lab, "225.9.9.9"))
    missing = ctl(daemon, "leave", "trunk.10", "225.9.9.9")
    assert missing.returncode == 1 and "no such join" in missing.stderr


def test_batch_mode_runs_every_line_over_one_connection(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BASE)
    batch = ("# as in smcroutectl(8)\n"
             "join trunk.10 225.1.2.3\n"
             "add trunk.10 %s 225.1.2.3 trunk.20 trunk.30\n"
             "add trunk.10 %s 225.3.4.5 trunk.30\n"
             "rem trunk.10 %s 225.3.4.5 trunk.30\n"
             "leave trunk.10 225.1.2.3\n" % (SENDER, SENDER, SENDER))
    done = ctl(daemon, "-b", stdin=batch)
    assert done.returncode == 0, done.stderr
    assert daemon.mfc()[(SENDER, "225.1.2.3")] == ("trunk.10", ["trunk.20", "trunk.30"])
    assert daemon.mfc()[(SENDER, "225.3.4.5")] == ("trunk.10", [])
    assert received(netns_lab, "225.1.2.3") == {"recv20": 50, "recv30": 50}
    assert daemon.query("status")["runtime_changes"] == 5
    bad = ctl(daemon, "-b", stdin="add trunk.10 225.1.2.3\n")
    assert bad.returncode == 64 and "line 1" in bad.stderr


def test_bare_show_lists_routes_and_json_replies_for_programs(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BASE)
    bare = ctl(daemon)
    assert bare.returncode == 0 and "225.1.1.1" in bare.stdout and bare.stdout.startswith("SOURCE")
    no_heading = ctl(daemon, "-t", "show")
    assert no_heading.stdout.strip().startswith(SENDER)
    reply = json.loads(ctl(daemon, "-j", "add", "trunk.10", SENDER, "225.7.7.7", "trunk.20").stdout)
    assert reply["ok"] and reply["result"]["added"] == 1


def test_refused_changes_name_the_request_and_change_nothing(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BASE)
    before = daemon.mfc()
    bad_group = ctl(daemon, "add", "trunk.10", SENDER, "10.1.1.1", "trunk.20")
    assert bad_group.returncode == 1 and "group 10.1.1.1 is not a multicast address" in bad_group.stderr
    link_local = ctl(daemon, "add", "trunk.10", SENDER, "224.0.0.5", "trunk.20")
    assert link_local.returncode == 1 and "add trunk.10 %s 224.0.0.5 trunk.20" % SENDER in link_local.stderr
    # one (S,G) with two inputs contradicts the file's route: refused whole
    other_input = ctl(daemon, "add", "trunk.20", SENDER, "225.1.1.1", "trunk.30")
    assert other_input.returncode == 1 and "mcastd.conf:1" in other_input.stderr
    unknown = ctl(daemon, "del", "trunk.10", SENDER, "225.8.8.8")
    assert unknown.returncode == 1 and "no such route" in unknown.stderr
    assert daemon.mfc() == before
    assert daemon.query("status")["runtime_changes"] == 0


def test_runtime_changes_are_gone_after_a_reload_as_smcroute_documents(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BASE)
    assert ctl(daemon, "add", "trunk.10", SENDER, "225.4.4.4", "trunk.30").returncode == 0
    assert ctl(daemon, "del", "trunk.10", SENDER, "225.1.1.1").returncode == 0
    assert ctl(daemon, "reload").returncode == 0
    assert daemon.mfc() == {(SENDER, "225.1.1.1"): ("trunk.10", ["trunk.20"])}
    assert daemon.query("status")["runtime_changes"] == 0


def test_kill_stops_the_daemon_cleanly(netns_lab, mcastd):
    daemon = mcastd(netns_lab, BASE)
    assert ctl(daemon, "kill").returncode == 0
    assert daemon.proc.wait(timeout=5) == 0
    assert daemon.mfc() == {}
    assert ctl(daemon, "status").returncode == 69
