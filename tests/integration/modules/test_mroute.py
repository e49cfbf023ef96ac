"""mcast.linux.mroute against mcastd from the checkout, in the lab's router namespace, through the netns connection.

The daemon reads ``WORKDIR/mcastd.conf``, which includes ``WORKDIR/conf.d/*.conf``; the module writes its
sets there (never under /etc). The kernel's MFC of both families is read with iproute2 (``ip mroute``,
``ip -6 mroute``: another reader than the module's), datagrams (IPv4 and IPv6) are counted by receivers.
"""
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.harness import run_module
from tests.integration.mcastd.runner import Mcastd
from tests.integration.mcastd.traffic import Capture, Receiver, send_datagrams
from tests.integration.modules.routing_api import holding_routing_api

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the routing socket")]

SENDER = "192.0.2.10"
VIDEO = {"source": SENDER, "group": "225.1.2.3", "iif": "trunk.10", "oifs": ["trunk.20", "trunk.30"]}
ANY_SOURCE = {"group": "239.10.0.0/16", "iif": "trunk.10", "oifs": ["trunk.20"]}
JOIN = {"iif": "trunk.10", "group": "239.10.1.1"}
# Issue 9: the router queries VLANs 20 and 30 (the lab gives it 198.51.100.1 and 203.0.113.1 there).
QUERIERS = [{"name": "trunk.20"}, {"name": "trunk.30", "version": 2, "address": "203.0.113.1"}]
TIMERS = {"query_interval": 20, "query_response_interval": 2.5, "robustness": 3}
JOINED = dict(VIDEO, if_joined=True)
# IPv6 (the lab's 2001:db8:SEGMENT::/64 on every segment): an (S,G), a (*,G) of one group (a kernel (*,G)
# entry, origin ::), a prefix (*,G/LEN) that stays a template, and an MLD join.
SENDER6 = "2001:db8:10::10"
VIDEO6 = {"source": SENDER6, "group": "ff0e::1:1", "iif": "trunk.10", "oifs": ["trunk.20", "trunk.30"]}
STAR6 = {"group": "ff0e::2:2", "iif": "trunk.10", "oifs": ["trunk.20"]}
PREFIX6 = {"group": "ff0e::3:0/112", "iif": "trunk.10", "oifs": ["trunk.30"]}
JOIN6 = {"iif": "trunk.10", "group": "ff0e::2:2"}


class Router:
    """The lab's router with a daemon from the checkout and a conf.d the module manages."""

    def __init__(self, lab, workdir):
        self.lab = lab
        self.namespace = lab.ns("router")
        self.conf_d = Path(workdir) / "conf.d"
        self.conf_d.mkdir()
        self.daemon = Mcastd(lab, workdir)
        self.daemon.write_config("include conf.d/*.conf\n")

    def args(self, **extra):
        values = {"set": "video", "conf_dir": str(self.conf_d), "socket": self.daemon.socket, "timeout": 3}
        values.update(extra)
        return values

    def module(self, check=False, diff=False, **args):
        return run_module(self.namespace, "mcast.linux.mroute", self.args(**args), check=check, diff=diff)

    def set_file(self, name="video"):
        path = self.conf_d / (name + ".conf")
        return path.read_text() if path.exists() else None

    def mfc6(self):
        """The kernel's IPv6 MFC: {(source, group): (iif, sorted oifs)}, read with iproute2 (family 129).

        A kernel (*,G) entry (source ::) lists its input among its outputs, as the kernel holds it."""
        rows = json.loads(self.lab.run("router", ["ip", "-6", "-j", "mroute", "show"]).stdout or "[]")
        return {(row["src"], row["dst"]): (row.get("iif"), sorted(hop["oif"] for hop in row.get("multipath", [])))
                for row in rows}

    def state(self):
        """What a test must see unchanged: the set files, both MFCs and the daemon's templates and joins."""
        files = dict((path.name, path.read_text()) for path in sorted(self.conf_d.iterdir()))
        if self.daemon.proc is None or self.daemon.proc.poll() is not None:
            return files, self.daemon.mfc(), self.mfc6(), None
        routes = sorted((row["iif"], row["source"], row["group"], tuple(row["oifs"]), row["kind"])
                        for row in self.daemon.query("show", "routes"))
        return files, self.daemon.mfc(), self.mfc6(), (routes, self.daemon.query("show", "groups"))


@pytest.fixture(name="router")
def fixture_router(netns_lab):
    workdir = tempfile.mkdtemp(prefix="mroute-it-")
    router = Router(netns_lab, workdir)
    router.daemon.start()
    try:
        yield router
    finally:
        router.daemon.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def received(lab, group, count=50):
    listening = {host: Receiver(lab, host, "eth0", group) for host in ("recv20", "recv30")}
    send_datagrams(lab, "sender", "eth0", group, count=count, interval=0.002)
    time.sleep(0.2)
    return dict((host, receiver.stop()["unique"]) for host, receiver in listening.items())


def test_sg_route_check_apply_idempotent_and_forwarding(router):
    preview = router.module(check=True, diff=True, routes=[VIDEO], mgroups=[JOIN])
    assert preview["changed"] is True and preview["reloaded"] is True
    assert router.set_file() is None and router.daemon.mfc() == {}, "check mode changed something"
    assert [row["state"] for row in preview["entries"]] == ["not loaded", "not loaded"]
    file_diff, daemon_diff = preview["diff"]
    assert "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30\n" in file_diff["after"]
    assert file_diff["before"] == "" and file_diff["before_header"].endswith("(absent)")
    assert "[not loaded]" in daemon_diff["before"]
    assert preview["drift"]["desired_vs_configured"]["missing"] == [
        "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30",
        "mgroup from trunk.10 group 239.10.1.1"]

    applied = router.module(routes=[VIDEO], mgroups=[JOIN])
    assert applied["changed"] is True and applied["reload"]["added"] == 1
    assert [(row["kind"], row["state"]) for row in applied["entries"]] == [("mroute", "installed"), ("mgroup", "joined")]
    assert router.daemon.mfc() == {(SENDER, "225.1.2.3"): ("trunk.10", ["trunk.20", "trunk.30"])}
    assert (router.conf_d / "video.conf").stat().st_mode & 0o777 == 0o644
    assert received(router.lab, "225.1.2.3") == {"recv20": 50, "recv30": 50}

    again = router.module(routes=[VIDEO], mgroups=[JOIN])
    assert again["changed"] is False and again["reloaded"] is False
    assert router.daemon.query("status")["counters"]["reloads"] == 1


def test_star_g_is_verified_through_the_daemon_then_learned_by_the_kernel(router):
    applied = router.module(routes=[ANY_SOURCE])
    [entry] = applied["entries"]
    assert (entry["kind"], entry["state"]) == ("template", "active")
    assert "only when a source sends" in entry["reason"]
    assert router.daemon.mfc() == {}, "a (*,G) route has no MFC entry before a source sends"
    assert received(router.lab, "239.10.7.7", count=20) == {"recv20": 20, "recv30": 0}
    assert router.daemon.mfc() == {(SENDER, "239.10.7.7"): ("trunk.10", ["trunk.20"])}


def test_replace_exclusive_absent_and_remove_the_set(router):
    router.module(routes=[VIDEO, ANY_SOURCE])
    replaced = router.module(routes=[dict(VIDEO, oifs=["trunk.20"])], diff=True)
    assert replaced["changed"] is True
    assert replaced["removed"] == ["mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30"]
    assert router.daemon.mfc() == {(SENDER, "225.1.2.3"): ("trunk.10", ["trunk.20"])}

    exclusive = router.module(exclusive=True, routes=[ANY_SOURCE])
    assert exclusive["changed"] is True and router.daemon.mfc() == {}
    assert "225.1.2.3" not in router.set_file()

    absent = router.module(state="absent", routes=[{"group": "239.10.0.0/16", "iif": "trunk.10"}])
    assert absent["changed"] is True and absent["entries"] == []
    assert not [row for row in router.daemon.query("show", "routes") if row["kind"] == "template"]

    removed = router.module(state="absent")
    assert removed["changed"] is True and router.set_file() is None
    assert router.module(state="absent")["changed"] is False


def test_drift_of_a_hand_edited_file_is_reported_then_reloaded(router):
    router.module(routes=[VIDEO])
    (router.conf_d / "video.conf").write_text("mroute from trunk.10 group 239.10.0.0/16 to trunk.20\n")
    preview = router.module(check=True, routes=[VIDEO], exclusive=True)
    drift = preview["drift"]
    assert drift["desired_vs_configured"] == {
        "missing": ["mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30"],
        "extra": ["mroute from trunk.10 group 239.10.0.0/16 to trunk.20"]}
    assert [(row["line"], row["state"]) for row in drift["configured_vs_installed"]["missing"]] == [
        ("mroute from trunk.10 group 239.10.0.0/16 to trunk.20", "not loaded")]
    assert drift["configured_vs_installed"]["stale"] == [
        "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30"]
    assert drift["desired_vs_installed"] == {"missing": [], "stale": []}
    assert preview["changed"] is True

    applied = router.module(routes=[VIDEO], exclusive=True)
    assert applied["changed"] is True and applied["entries"][0]["state"] == "installed"


def test_a_configured_set_the_daemon_has_not_loaded_is_reloaded(router):
    audio = {"group": "239.20.0.0/16", "iif": "trunk.10", "oifs": ["trunk.30"]}
    text = router.module(check=True, diff=True, set="audio", routes=[audio])["diff"][0]["after"]
    (router.conf_d / "audio.conf").write_text(text)  # as the module writes it, but nobody reloaded
    preview = router.module(check=True, set="audio", routes=[audio])
    assert preview["drift"]["desired_vs_configured"] == {"missing": [], "extra": []}
    assert [row["state"] for row in preview["drift"]["configured_vs_installed"]["missing"]] == ["not loaded"]
    applied = router.module(set="audio", routes=[audio], diff=True)
    assert applied["changed"] is True and applied["reloaded"] is True and applied["added"] == []
    assert applied["entries"][0]["state"] == "active"
    assert [diff["before_header"] for diff in applied["diff"]] == ["mcastd (running daemon): entries of set audio"]


def test_querier_timers_and_if_joined_route_check_apply_idempotent(router):
    args = dict(interfaces=QUERIERS, igmp=TIMERS, routes=[JOINED])
    preview = router.module(check=True, diff=True, **args)
    assert preview["changed"] is True and router.set_file() is None, "check mode changed something"
    assert [(row["kind"], row["state"]) for row in preview["entries"]] == [
        ("phyint", "not loaded"), ("phyint", "not loaded"), ("igmp", "not loaded"), ("mroute", "not loaded")]

    applied = router.module(**args)
    assert applied["changed"] is True and applied["reloaded"] is True, applied
    assert router.set_file().splitlines()[2:] == [
        "phyint trunk.20 enable querier igmpv3",
        "phyint trunk.30 enable querier igmpv2 address 203.0.113.1",
        "igmp query-interval 20 query-response-interval 2.5 robustness 3",
        "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30 if-joined"]
    states = [(row["kind"], row["state"]) for row in applied["entries"]]
    assert states[:3] == [("phyint", "active"), ("phyint", "active"), ("igmp", "active")], applied["entries"]
    assert "querier on trunk.20 (from 198.51.100.1, IGMPv3)" in applied["entries"][0]["reason"], applied["entries"]
    assert "(from 203.0.113.1, IGMPv2)" in applied["entries"][1]["reason"], applied["entries"]
    assert states[3] in (("mroute", "installed"), ("mroute", "active")), applied["entries"]
    assert not [warning for warning in applied.get("warnings", []) if "if-joined" in warning], applied["warnings"]
    vifs = dict((row["name"], row["vif"]) for row in router.daemon.query("show", "interfaces"))
    assert vifs["trunk.20"] is not None and vifs["trunk.30"] is not None

    again = router.module(**args)
    assert again["changed"] is False and again["reloaded"] is False, again
    timers_removed = router.module(interfaces=QUERIERS, igmp={}, routes=[JOINED])
    assert timers_removed["changed"] is True and "igmp " not in router.set_file()


def test_an_if_joined_output_without_a_querier_is_warned_about(router):
    applied = router.module(interfaces=QUERIERS[:1], routes=[JOINED])
    assert "failed" not in applied, applied
    [note] = [warning for warning in applied["warnings"] if "if-joined" in warning]
    assert note.startswith("mcastd: %s:4: if-joined forwards to an output only while it has listeners"
                           % (router.conf_d / "video.conf"))
    assert "nothing will ever be forwarded to trunk.30 unless you add 'phyint trunk.30 querier'" in note


def test_a_querier_conflicting_with_the_main_configuration_or_another_set_is_refused(router):
    router.daemon.write_config("phyint trunk.20 enable\ninclude conf.d/*.conf\n")
    router.module(set="audio", igmp={"query_interval": 30})
    before = router.state()
    refused = router.module(interfaces=QUERIERS[:1])
    assert refused["failed"] is True
    assert "video.conf:3: phyint trunk.20 conflicts with the one at %s:1" % router.daemon.config in refused["msg"]
    refused = router.module(igmp={"query_interval": 20})
    assert refused["failed"] is True
    assert "video.conf:3: igmp query-interval 20 conflicts with igmp query-interval 30 at %s:3" % (
        router.conf_d / "audio.conf") in refused["msg"]
    assert router.state() == before


def test_pending_interface_refused_or_allowed(router):
    before = router.state()
    refused = router.module(routes=[dict(VIDEO, oifs=["trunk.20", "trunk.99"])])
    assert refused["failed"] is True
    assert "interface 'trunk.99' does not exist on this host; existing interfaces:" in refused["msg"]
    assert "allow_pending: true" in refused["msg"]
    assert router.state() == before

    pending = router.module(routes=[dict(VIDEO, oifs=["trunk.20", "trunk.99"])], allow_pending=True)
    assert pending["changed"] is True
    [entry] = pending["entries"]
    assert entry["state"] == "pending"
    assert entry["reason"] == "interface trunk.99 does not exist; mcastd activates the entry when it appears"
    strict = router.module(routes=[dict(VIDEO, oifs=["trunk.20", "trunk.99"])], allow_pending=True, verify=True)
    assert strict["changed"] is False


def test_verification_fails_naming_the_entries_the_daemon_did_not_load(router):
    failed = router.module(routes=[VIDEO, ANY_SOURCE], reload=False, timeout=0.5)
    assert failed.get("failed") is True, failed
    assert failed["msg"].startswith("after 0.5 s the kernel and mcastd do not show 2 of the 2 entries of set video: "
                                    "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30 "
                                    "(not loaded: mcastd has not loaded it); ")


def test_a_full_vif_table_keeps_the_routes_interfaces_in_the_kernel(router):
    """32 interfaces matched by 'phyint vif+ enable' would take every VIF, but an interface that routes use comes
    first (issue 12: inputs, then outputs, then phyint-only ones): the set's route stays in the kernel's MFC, the
    verification says so, and the phyint-only interfaces are the ones left without a VIF."""
    lab = router.lab
    for pair in range(16):
        lab.run("router", ["ip", "link", "add", "vif%d" % (2 * pair), "type", "veth", "peer", "name",
                           "vif%d" % (2 * pair + 1)])
    try:
        for index in range(32):
            lab.run("router", ["ip", "link", "set", "dev", "vif%d" % index, "up"])
        router.daemon.write_config("phyint vif+ enable\ninclude conf.d/*.conf\n")
        router.daemon.ctl("reload")
        result = router.module(routes=[VIDEO], timeout=5)
        assert not result.get("failed"), result
        entry = result["entries"][0]
        assert (entry["state"], entry["reason"]) == ("installed", "in the kernel's MFC"), entry
        vifs = lab.run("router", ["cat", "/proc/net/ip_mr_vif"]).stdout
        names = [line.split()[1] for line in vifs.splitlines()[1:]]
        assert len(names) == 32 and {"trunk.10", "trunk.20", "trunk.30"} <= set(names), vifs
    finally:
        for pair in range(16):
            lab.run("router", ["ip", "link", "del", "vif%d" % (2 * pair)], check=False)


FANOUT = ["ovf%d" % number for number in range(1, 41)]


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
def test_a_route_to_40_outputs_is_installed_by_the_kernel_and_nftables_and_every_output_gets_the_datagrams(router):
    """Issue 12: one route to 40 outputs. The kernel's entry takes the input and 31 outputs (its 32 VIFs), mcastd's
    nftables table copies the other 9; mroute reports the route installed, naming both parts as the kernel and
    nftables hold them, stays idempotent, and every output (a veth pair to recv30, counted there) gets every
    datagram, routed: TTL decremented once, the router's own MAC of that output."""
    lab = router.lab
    lab.run("router", ["ip", "-batch", "-"], input="".join(
        "link add %s type veth peer name k%s netns %s\nlink set %s up\n" % (name, name, lab.ns("recv30"), name)
        for name in FANOUT))
    lab.run("recv30", ["ip", "-batch", "-"], input="".join("link set k%s up\n" % name for name in FANOUT))
    try:
        route = {"source": SENDER, "group": "225.1.40.40", "iif": "trunk.10", "oifs": FANOUT}
        applied = router.module(routes=[route], timeout=5)
        assert not applied.get("failed"), applied.get("msg")
        [entry] = applied["entries"]
        assert entry["state"] == "installed", entry
        kernel_part, _sep, nft_part = entry["reason"].partition(", and copied by nftables (mcastd's table) to ")
        assert kernel_part.startswith("in the kernel's MFC for "), entry
        in_kernel = kernel_part[len("in the kernel's MFC for "):].split(", ")
        copied = nft_part.split(", ")
        assert len(in_kernel) == 31 and len(copied) == 9 and set(in_kernel) | set(copied) == set(FANOUT), entry
        # What the kernel and nftables hold, read with iproute2 and nft (not through the module).
        assert router.daemon.mfc()[(SENDER, "225.1.40.40")] == ("trunk.10", sorted(in_kernel))
        listing = json.loads(lab.run("router", ["nft", "-j", "list", "table", "ip", "mcastd"]).stdout)
        dups = sorted(expr["dup"]["dev"] for item in listing["nftables"] if "rule" in item
                      for expr in item["rule"]["expr"] if "dup" in expr)
        assert dups == sorted(copied)

        again = router.module(routes=[route], timeout=5)
        assert again["changed"] is False and again["entries"][0]["state"] == "installed", again

        macs = dict((row["ifname"], row["address"])
                    for row in json.loads(lab.run("router", ["ip", "-j", "link", "show"]).stdout))
        capture = Capture(lab, "recv30", "225.1.40.40")
        send_datagrams(lab, "sender", "eth0", "225.1.40.40", count=50, interval=0.002, ttl=8)
        time.sleep(0.3)
        counted = capture.stop()
        assert "eth0" not in counted, "recv30's own segment is no output of the route"
        wrong = dict((name, counted.get("k" + name)) for name in FANOUT
                     if counted.get("k" + name, {}).get("unique") != 50
                     or counted["k" + name]["ttls"] != {"7": 50} or counted["k" + name]["macs"] != [macs[name]])
        assert not wrong, "outputs that did not get the 50 datagrams routed (TTL 7, the router's MAC): %s" % wrong
    finally:
        lab.run("router", ["ip", "-batch", "-"], input="".join("link del %s\n" % name for name in FANOUT), check=False)


def test_daemon_not_running_changes_nothing_and_says_so(netns_lab, tmp_path):
    router = Router(netns_lab, tmp_path)  # never started
    preview = router.module(check=True, routes=[VIDEO])
    assert preview["changed"] is True and preview["entries"][0]["state"] == "daemon not running"
    assert any("mcastd does not answer" in warning for warning in preview.get("warnings", []))
    failed = router.module(routes=[VIDEO])
    assert failed["failed"] is True and failed["msg"].startswith("mcastd does not answer on %s" % router.daemon.socket)
    assert "Nothing was changed" in failed["msg"] and router.set_file() is None
    written = router.module(routes=[VIDEO], reload=False, verify=False)
    assert written["changed"] is True and "225.1.2.3" in router.set_file()


def test_another_daemon_holding_the_api_is_named_when_mcastd_is_not_running(netns_lab, tmp_path):
    with holding_routing_api(netns_lab) as holder:
        failed = Router(netns_lab, tmp_path).module(routes=[VIDEO])
    assert failed["failed"] is True
    assert "another process holds the multicast routing API in this namespace (python" in failed["msg"]
    assert "(pid %d)" % holder.pid in failed["msg"]


def test_conflict_with_another_set_is_refused_naming_both(router):
    router.module(set="audio", routes=[VIDEO])
    before = router.state()
    refused = router.module(routes=[dict(VIDEO, iif="trunk.20", oifs=["trunk.30"])])
    assert refused["failed"] is True
    assert "mcastd would refuse the configuration with this set" in refused["msg"]
    assert "video.conf:3: mroute from trunk.20 source 192.0.2.10 group 225.1.2.3 to trunk.30 conflicts with" \
        in refused["msg"] and "audio.conf:3: one (S,G) cannot arrive on two inputs" in refused["msg"]
    assert router.state() == before


def test_the_same_route_in_another_set_is_merged_and_verified(router):
    router.module(set="audio", routes=[dict(VIDEO, oifs=["trunk.30"])])
    merged = router.module(routes=[dict(VIDEO, oifs=["trunk.20"])])
    assert merged["changed"] is True and "failed" not in merged, merged
    assert any(warning.startswith("mcastd: %s:3: same route as the mroute at %s:3, outputs merged" % (
        router.conf_d / "video.conf", router.conf_d / "audio.conf")) for warning in merged["warnings"]), merged
    [entry] = merged["entries"]
    assert entry["state"] == "installed" and "also to trunk.30" in entry["reason"]
    assert router.daemon.mfc() == {(SENDER, "225.1.2.3"): ("trunk.10", ["trunk.20", "trunk.30"])}
    assert received(router.lab, "225.1.2.3") == {"recv20": 50, "recv30": 50}
    assert router.module(routes=[dict(VIDEO, oifs=["trunk.20"])])["changed"] is False


def test_output_equal_to_input_and_a_route_without_outputs_are_installed_with_warnings(router):
    applied = router.module(routes=[dict(VIDEO, oifs=["trunk.20", "trunk.10"]),
                                    dict(VIDEO, group="225.1.2.4", oifs=[])])
    assert [row["state"] for row in applied["entries"]] == ["installed", "installed"], applied
    assert router.daemon.mfc() == {(SENDER, "225.1.2.3"): ("trunk.10", ["trunk.10", "trunk.20"]),
                                   (SENDER, "225.1.2.4"): ("trunk.10", [])}
    said = " ".join(applied["warnings"])
    assert "routes[0]: input interface trunk.10 is also an output: the kernel sends every datagram" in said
    assert "routes[1]: mroute without outputs" in said
    assert "mroute from trunk.10 source 192.0.2.10 group 225.1.2.4\n" in router.set_file()
    assert received(router.lab, "225.1.2.4", count=20) == {"recv20": 0, "recv30": 0}


def test_a_set_the_configuration_does_not_include_is_refused(router):
    other = router.conf_d.parent / "elsewhere"
    before = router.state()
    refused = router.module(routes=[VIDEO], conf_dir=str(other))
    assert refused["failed"] is True
    assert "does not include %s/video.conf" % other in refused["msg"]
    assert "include %s/*.conf" % other in refused["msg"]
    assert router.state() == before and not other.exists()


@pytest.mark.parametrize("args, message", [
    ({"routes": [dict(VIDEO, group="10.1.2.3")]}, "group 10.1.2.3 is not a multicast address"),
    ({"routes": [dict(VIDEO, group="224.0.0.5")]}, "is link-local (224.0.0.0/24)"),
    ({"routes": [dict(VIDEO, source="225.0.0.1")]}, "is a multicast address; a source is the unicast address"),
    ({"routes": [{"source": SENDER, "group": "225.1.2.3", "iif": "trunk.10"}]}, "routes[0] has no oifs"),
    ({"routes": [dict(VIDEO, iif="trunk.10 to")]}, "must be one word"),
    ({"routes": [VIDEO, dict(VIDEO, iif="trunk.20")]}, "routes[1] gives the (S,G) 192.0.2.10, 225.1.2.3 of routes[0] "
                                                       "another input interface (trunk.20, not trunk.10)"),
    ({"routes": [{"group": "239.1.1.1", "oifs": ["trunk.20"]}]}, "missing required arguments: iif"),
    ({"mgroups": [dict(JOIN, group="239.0.0.0/8")]}, "more than mcastd makes for one line (4096)"),
    ({"set": "../video"}, "cannot name a file"),
    ({"state": "absent", "exclusive": True}, "exclusive applies to state: present only"),
    ({"timeout": -1}, "timeout -1.0 is negative"),
    ({"routes": [dict(VIDEO, iif="trunk.99")]}, "interface 'trunk.99' does not exist on this host"),
    ({"interfaces": [{"name": "trunk.99"}]}, "interface 'trunk.99' does not exist on this host"),
    ({"interfaces": [{"name": "trunk.20", "address": "203.0.113.1"}]},
     "phyint trunk.20 enable querier igmpv3 address 203.0.113.1: querier address 203.0.113.1 is not on the "
     "interface's subnet (198.51.100.0/24)"),
    ({"interfaces": [{"name": "trunk.20", "address": "198.51.100.7"}]}, "is on the interface's subnet but not "
                                                                        "configured on it"),
    ({"interfaces": [{"name": "trunk.20", "version": 4}]}, "version must be one of: 2, 3"),
    ({"interfaces": [{"name": "trunk.20", "querier": False, "address": "198.51.100.1"}]},
     "interfaces[0] gives address but querier: false"),
    ({"igmp": {"query_interval": 5}}, "igmp: query-response-interval (10.0 s) must be less than query-interval"),
    ({"igmp": {"robustness": "two"}}, "igmp robustness must be a whole number from 1 to 255"),
    ({"igmp": {"query_intervall": 5}}, "query_intervall"),
    ({"routes": [dict(VIDEO, oifs=[], if_joined=True)]}, "'if-joined' needs outputs"),
    # IPv6: what the kernel would accept and never forward, and mixed families
    ({"routes": [dict(STAR6, group="ff02::1:3")]}, "group ff02::1:3 has link-local scope"),
    ({"routes": [dict(STAR6, group="ff31::9")]}, "has interface-local scope"),
    ({"routes": [dict(VIDEO6, source=SENDER)]}, "source 192.0.2.10 and group ff0e::1:1 are of different families"),
    ({"routes": [VIDEO6, dict(VIDEO6, iif="trunk.20")]}, "routes[1] gives the (S,G) 2001:db8:10::10, ff0e::1:1 of "
                                                         "routes[0] another input interface"),
    ({"routes": [dict(VIDEO6, group="2001:db8:10::1")]}, "not a multicast address"),
    ({"mgroups": [dict(JOIN6, group="ff0e::/64")]}, "more than mcastd makes for one line (4096)"),
])
def test_bad_input_fails_with_the_reason_and_changes_nothing(router, args, message):
    before = router.state()
    result = router.module(**args)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert router.state() == before


def received6(lab, group, count=50):
    """IPv6 datagrams (hop limit 8) from the sender on VLAN 10, counted on VLANs 20 and 30."""
    listening = {host: Receiver(lab, host, "eth0", group) for host in ("recv20", "recv30")}
    send_datagrams(lab, "sender", "eth0", group, count=count, interval=0.002)
    time.sleep(0.2)
    return dict((host, receiver.stop()["unique"]) for host, receiver in listening.items())


def test_ipv6_routes_beside_ipv4_check_apply_verify_idempotent_and_forward(router):
    args = dict(routes=[VIDEO, VIDEO6, STAR6, PREFIX6], mgroups=[JOIN6])
    preview = router.module(check=True, diff=True, **args)
    assert preview["changed"] is True and router.set_file() is None and router.mfc6() == {}, "check mode changed"
    assert [(row["kind"], row["state"]) for row in preview["entries"]] == [
        ("mroute", "not loaded"), ("mroute", "not loaded"), ("star-g", "not loaded"), ("template", "not loaded"),
        ("mgroup", "not loaded")]

    applied = router.module(**args)
    assert applied["changed"] is True and "failed" not in applied, applied
    assert router.set_file().splitlines()[2:] == [
        "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30",
        "mroute from trunk.10 source 2001:db8:10::10 group ff0e::1:1 to trunk.20 trunk.30",
        "mroute from trunk.10 group ff0e::2:2 to trunk.20",
        "mroute from trunk.10 group ff0e::3:0/112 to trunk.30",
        "mgroup from trunk.10 group ff0e::2:2"]
    states = [(row["kind"], row["state"]) for row in applied["entries"]]
    assert states == [("mroute", "installed"), ("mroute", "installed"), ("star-g", "installed"), ("template", "active"),
                      ("mgroup", "joined")], applied["entries"]
    assert "as a (*,G) entry" in applied["entries"][2]["reason"]
    # What iproute2 reads over rtnetlink: both families in one routing table, the (*,G) before any datagram.
    assert router.daemon.mfc() == {(SENDER, "225.1.2.3"): ("trunk.10", ["trunk.20", "trunk.30"])}
    assert router.mfc6() == {(SENDER6, "ff0e::1:1"): ("trunk.10", ["trunk.20", "trunk.30"]),
                             ("::", "ff0e::2:2"): ("trunk.10", ["trunk.10", "trunk.20"])}
    joined = router.lab.run("router", ["ip", "-6", "maddr", "show", "dev", "trunk.10"]).stdout
    assert "ff0e::2:2" in joined

    assert received6(router.lab, "ff0e::1:1") == {"recv20": 50, "recv30": 50}
    assert received6(router.lab, "ff0e::2:2") == {"recv20": 50, "recv30": 0}
    assert received6(router.lab, "ff0e::3:7", count=20) == {"recv20": 0, "recv30": 20}
    assert received6(router.lab, "ff0e::4:4", count=20) == {"recv20": 0, "recv30": 0}  # no route
    assert received(router.lab, "225.1.2.3") == {"recv20": 50, "recv30": 50}
    # the (*,G) served every datagram from its one kernel entry: no upcall, no learned (S,G) for it
    assert (SENDER6, "ff0e::2:2") not in router.mfc6()

    again = router.module(**args)
    assert again["changed"] is False and again["reloaded"] is False, again


def test_ipv6_routes_are_replaced_and_removed_by_identity_and_the_kernel_follows(router):
    router.module(routes=[VIDEO6, STAR6])
    replaced = router.module(routes=[dict(VIDEO6, oifs=["trunk.30"]), dict(STAR6, oifs=["trunk.30"])])
    assert replaced["changed"] is True and [row["state"] for row in replaced["entries"]] == ["installed", "installed"]
    assert router.mfc6() == {(SENDER6, "ff0e::1:1"): ("trunk.10", ["trunk.30"]),
                             ("::", "ff0e::2:2"): ("trunk.10", ["trunk.10", "trunk.30"])}
    assert received6(router.lab, "ff0e::2:2", count=20) == {"recv20": 0, "recv30": 20}

    removed = router.module(state="absent", routes=[{"group": "ff0e::2:2", "iif": "trunk.10"}])
    assert removed["changed"] is True and [row["kind"] for row in removed["entries"]] == ["mroute"]
    assert router.mfc6() == {(SENDER6, "ff0e::1:1"): ("trunk.10", ["trunk.30"])}
    assert received6(router.lab, "ff0e::2:2", count=20) == {"recv20": 0, "recv30": 0}
    assert router.module(state="absent", routes=[{"group": "ff0e::2:2", "iif": "trunk.10"}])["changed"] is False


def test_a_hand_edited_ipv6_route_is_drift_and_a_stale_star_g_entry_is_named(router):
    router.module(routes=[STAR6])
    (router.conf_d / "video.conf").write_text("mroute from trunk.10 source %s group ff0e::1:1 to trunk.20\n" % SENDER6)
    preview = router.module(check=True, routes=[STAR6], exclusive=True)
    drift = preview["drift"]
    assert drift["desired_vs_configured"] == {"missing": ["mroute from trunk.10 group ff0e::2:2 to trunk.20"],
                                              "extra": ["mroute from trunk.10 source %s group ff0e::1:1 to trunk.20"
                                                        % SENDER6]}
    assert drift["configured_vs_installed"]["stale"] == ["mroute from trunk.10 group ff0e::2:2 to trunk.20"]
    assert [row["state"] for row in drift["configured_vs_installed"]["missing"]] == ["not loaded"]
    assert drift["desired_vs_installed"] == {"missing": [], "stale": []}
    applied = router.module(routes=[STAR6], exclusive=True)
    assert applied["changed"] is True and applied["entries"][0]["state"] == "installed"
    assert list(router.mfc6()) == [("::", "ff0e::2:2")]


def test_an_ipv6_route_the_daemon_did_not_load_fails_verification_naming_it(router):
    failed = router.module(routes=[VIDEO6, STAR6], reload=False, timeout=0.5)
    assert failed.get("failed") is True, failed
    assert failed["msg"].startswith("after 0.5 s the kernel and mcastd do not show 2 of the 2 entries of set video: "
                                    "mroute from trunk.10 source 2001:db8:10::10 group ff0e::1:1 to trunk.20 trunk.30 "
                                    "(not loaded: mcastd has not loaded it); mroute from trunk.10 group ff0e::2:2 to "
                                    "trunk.20 (not loaded: mcastd has not loaded it)")


def test_a_pending_ipv6_route_waits_for_its_interface_with_a_mif_reason(router):
    pending = router.module(routes=[dict(VIDEO6, oifs=["trunk.20", "late6"])], allow_pending=True)
    [entry] = pending["entries"]
    assert (entry["state"], entry["reason"]) == (
        "pending", "interface late6 does not exist; mcastd activates the entry when it appears"), entry
    assert router.mfc6() == {(SENDER6, "ff0e::1:1"): ("trunk.10", ["trunk.20"])}  # partial: forwards where it can
