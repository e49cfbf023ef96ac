"""More than 32 interfaces: mcastd gives VIFs to inputs first, whatever the order of the configuration.

A router namespace with an input (up0, the sender's segment) and 40 output segments o1..o40, each a veth
pair to one sink namespace where a single AF_PACKET capture counts the datagrams arriving on every k1..k40.
The configuration names the outputs first (35 phyint lines, or a route that fills the table), the input
last: the input still gets its VIF, so its routes have their MFC entry (31 outputs, nftables copies the
other 9) and its (*,G) routes learn their sources.  The daemon runs from the checkout.
"""
import os
import shutil
import time

import pytest

from tests.integration.mcastd.runner import wait_for
from tests.integration.mcastd.traffic import Capture, Receiver, fanout_lab, send_datagrams

ROOT = "needs root: network namespaces and the multicast routing socket"
pytestmark = [pytest.mark.integration, pytest.mark.skipif(os.geteuid() != 0, reason=ROOT),
              pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")]

SEGMENTS = 40
SENDER, LATE_SENDER = "10.1.0.10", "10.3.0.10"
STATIC, STAR, PREFIXED = "239.1.1.1", "239.2.2.2", "239.3.3.3"
COUNT = 200
TOPOLOGY = {
    "hosts": {"sender": {}, "router": {}, "sink": {}},
    "segments": {"in": {"ends": [{"host": "sender", "iface": "eth0", "address": SENDER + "/24"},
                                 {"host": "router", "iface": "up0", "address": "10.1.0.1/24"}]}},
}


def outputs(first, last):
    return ["o%d" % n for n in range(first, last + 1)]


def route(iif, group, names, source=None):
    return "mroute from %s%s group %s to %s\n" % (iif, " source " + source if source else "", group, " ".join(names))


@pytest.fixture(scope="module", name="lab")
def fixture_lab():
    """The router with 40 output segments, for the whole module; removed (namespaces and links) at the end."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces and veth links)")
    with fanout_lab(TOPOLOGY, "s18c", SEGMENTS) as lab:
        yield lab


def deliver(lab, group, iface="eth0", count=COUNT):
    """Send ``count`` datagrams to ``group`` from the sender's ``iface`` (TTL 16); {sink interface: what arrived}."""
    capture = Capture(lab, "sink", group)
    send_datagrams(lab, "sender", iface, group, count=count, interval=0.0005, ttl=16)
    time.sleep(0.3)
    return capture.stop()


def received(seen, names):
    """{oN: datagrams that arrived at its sink end kN} for ``names``."""
    return dict((name, seen.get("k" + name[1:], {}).get("unique", 0)) for name in names)


EVERYWHERE = dict((name, COUNT) for name in outputs(1, SEGMENTS))


def test_an_input_named_after_35_phyint_lines_gets_its_vif_entry_and_learns(lab, mcastd):
    config = "".join("phyint %s enable\n" % name for name in outputs(1, 35))
    config += route("up0", STATIC, outputs(1, 40), SENDER) + route("up0", STAR, outputs(1, 40))
    config += route("up0", "239.3.0.0/16", outputs(1, 40))  # only learning serves a group prefix
    daemon = mcastd(lab, config)
    status = daemon.query("status")
    # Every output is used by three routes: ties go to the first named, so o32..o40 have no VIF.
    assert status["vifs"] == 32 and status["vifs_left_out"] == outputs(32, 40), daemon.log()
    assert daemon.mfc() == {(SENDER, STATIC): ("up0", sorted(outputs(1, 31)))}

    assert received(deliver(lab, STATIC), outputs(1, 40)) == EVERYWHERE
    for group in (STAR, PREFIXED):
        deliver(lab, group, count=5)  # learned from the upcall of the input's VIF
        assert wait_for(lambda group=group: (SENDER, group) in daemon.mfc()), daemon.log()
        assert daemon.mfc()[(SENDER, group)] == ("up0", sorted(outputs(1, 31)))
        assert received(deliver(lab, group), outputs(1, 40)) == EVERYWHERE, group
    learned = [row for row in daemon.query("show", "routes") if row["kind"] == "learned"]
    assert sorted((row["source"], row["group"], row["iif"]) for row in learned) == [
        (SENDER, STAR, "up0"), (SENDER, PREFIXED, "up0")]
    for row in learned:
        served = dict((output["name"], output["served"]) for output in row["outputs"])
        assert served == dict([(name, "kernel") for name in outputs(1, 31)]
                              + [(name, "nftables") for name in outputs(32, 40)])
    assert "ERROR" not in daemon.log() and daemon.query("status")["counters"]["nft_errors"] == 0


def add_late_input(lab):
    """A second input, up1 (10.3.0.1/24), to the sender's s1 (10.3.0.10/24), made while mcastd runs."""
    lab.run("router", ["ip", "-batch", "-"], input=(
        "link add up1 type veth peer name s1 netns %s\nlink set up1 up\naddr add 10.3.0.1/24 dev up1\n"
        % lab.ns("sender")))
    lab.run("sender", ["ip", "-batch", "-"], input="link set s1 up\naddr add %s/24 dev s1\n" % LATE_SENDER)


def test_an_input_that_appears_while_outputs_fill_the_table_takes_a_vif_from_one(lab, mcastd):
    config = route("up0", STATIC, outputs(1, 40), SENDER) + route("up1", STAR, outputs(1, 40))
    config += route("up1", "239.3.0.0/16", outputs(1, 40))
    daemon = mcastd(lab, config)
    try:
        status = daemon.query("status")
        assert status["vifs"] == 32 and status["vifs_left_out"] == outputs(32, 40)
        add_late_input(lab)
        # o1..o40 are used by three routes each: o31 is the last of the outputs holding a VIF, and gives it up.
        assert wait_for(lambda: "goes from o31 (output) to up1 (input)" in daemon.log(), timeout=8.0), daemon.log()
        assert wait_for(lambda: daemon.query("status")["vifs_left_out"] == outputs(31, 40)), daemon.log()
        assert daemon.mfc()[(SENDER, STATIC)] == ("up0", sorted(outputs(1, 30)))

        for group in (STAR, PREFIXED):
            deliver(lab, group, iface="s1", count=5)
            assert wait_for(lambda group=group: (LATE_SENDER, group) in daemon.mfc()), daemon.log()
            assert daemon.mfc()[(LATE_SENDER, group)] == ("up1", sorted(outputs(1, 30)))
            assert received(deliver(lab, group, iface="s1"), outputs(1, 40)) == EVERYWHERE, group
        # o31 lost its VIF: nftables copies to it now, for the route from up0 too.
        assert received(deliver(lab, STATIC), outputs(1, 40)) == EVERYWHERE
        assert "ERROR" not in daemon.log() and daemon.query("status")["counters"]["nft_errors"] == 0
    finally:
        lab.run("router", ["ip", "link", "del", "up1"], check=False)


def test_a_reload_keeps_the_slots_of_the_vifs_that_stay(lab, mcastd):
    config = route("up0", STATIC, outputs(1, 40), SENDER)
    daemon = mcastd(lab, config)
    before = dict((row["name"], row.get("vif")) for row in daemon.query("show", "interfaces"))
    # A route that makes o40 the busiest output: a fresh start would give it a VIF, a reload leaves it copied.
    daemon.write_config(config + route("up0", STAR, ["o40"]) + route("up0", PREFIXED, ["o40"]))
    daemon.ctl("reload")
    after = dict((row["name"], row.get("vif")) for row in daemon.query("show", "interfaces"))
    # Left out in the order VIFs would be given: o40 first, the one a free slot would go to.
    assert after == before and daemon.query("status")["vifs_left_out"] == ["o40"] + outputs(32, 39)
    assert "goes from" not in daemon.log()
    assert received(deliver(lab, STATIC), outputs(1, 40)) == EVERYWHERE


def test_an_if_joined_output_without_a_vif_hears_igmpv3_reports_and_no_igmpv2_report(lab, mcastd):
    """Why outputs of if-joined routes come first among outputs: the kernel passes a host's IGMPv2 report to a
    routable group to mcastd only on an interface with a VIF (its multicast forwarding path); an IGMPv3 report
    goes to 224.0.0.22, which mcastd joins on every querier interface."""
    # Queriers on three outputs (the routing socket's memberships for each count against igmp_max_memberships);
    # a second if-joined route makes o1..o31 the busiest outputs, so o39 and o40 have no VIF.
    config = "phyint o1 querier\nphyint o39 querier\nphyint o40 querier\n"
    config += "mroute from up0 group %s to %s if-joined\n" % (STAR, " ".join(outputs(1, 40)))
    config += "mroute from up0 group %s to %s if-joined\n" % (STATIC, " ".join(outputs(1, 31)))
    daemon = mcastd(lab, config)
    assert sorted(daemon.query("status")["vifs_left_out"]) == sorted(outputs(32, 40))

    def heard():
        return sorted(row["interface"] for row in daemon.query("show", "members") if row["group"] == STAR)

    receivers = []
    try:
        for sink in ("k1", "k40"):  # the sink namespace's own setting: its hosts answer in IGMPv2
            lab.run("sink", ["sysctl", "-q", "-w", "net.ipv4.conf.%s.force_igmp_version=2" % sink])
        receivers.extend(Receiver(lab, "sink", sink, STAR) for sink in ("k1", "k39", "k40"))
        assert wait_for(lambda: heard() == ["o1", "o39"], timeout=5.0), (heard(), daemon.log())
        time.sleep(1.0)
        assert heard() == ["o1", "o39"]  # k40's IGMPv2 report never reached mcastd
    finally:
        for receiver in receivers:
            receiver.stop()
        for sink in ("k1", "k40"):
            lab.run("sink", ["sysctl", "-q", "-w", "net.ipv4.conf.%s.force_igmp_version=0" % sink], check=False)
