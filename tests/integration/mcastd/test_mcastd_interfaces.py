"""Interfaces that come and go under a running mcastd, wildcard routes, and mgroup joins."""
import os
import subprocess
import time

import pytest

from tests.integration.mcastd.runner import wait_for
from tests.integration.mcastd.traffic import Receiver, send_datagrams

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket")]

S = "192.0.2.10"


def forwarded(lab, host, iface, group, count=10):
    rx = Receiver(lab, host, iface, group)
    send_datagrams(lab, "sender", "eth0", group, count=count, interval=0.002)
    time.sleep(0.15)
    return rx.stop()["unique"]


def vif_of(daemon, name):
    rows = {row["name"]: row for row in daemon.query("show", "interfaces")}
    return rows.get(name)


def test_route_to_an_interface_that_appears_later_is_pending_then_active_within_a_second(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 source %s group 225.20.0.1 to late0\n" % S)
    [row] = daemon.query("show", "pending")
    assert (row["missing"], row["state"], row["kind"]) == (["late0"], "partial", "mroute")
    router, receiver = netns_lab.ns("router"), netns_lab.ns("recv30")
    try:
        # a new link straight between the two lab namespaces (the root namespace is not touched)
        subprocess.run(["ip", "link", "add", "late0", "netns", router, "type", "veth", "peer", "name", "late1",
                        "netns", receiver], check=True)
        appeared = time.monotonic()
        netns_lab.run("router", ["ip", "addr", "add", "10.200.0.1/24", "dev", "late0"])
        netns_lab.run("router", ["ip", "link", "set", "late0", "up"])
        netns_lab.run("recv30", ["ip", "addr", "add", "10.200.0.2/24", "dev", "late1"])
        netns_lab.run("recv30", ["ip", "link", "set", "late1", "up"])
        assert wait_for(lambda: daemon.query("show", "pending") == [], timeout=1.0)
        assert time.monotonic() - appeared < 1.0
        assert daemon.mfc() == {(S, "225.20.0.1"): ("trunk.10", ["late0"])}
        assert forwarded(netns_lab, "recv30", "late1", "225.20.0.1") == 10
    finally:
        netns_lab.run("router", ["ip", "link", "del", "late0"], check=False)


@pytest.mark.parametrize("pause", [1.0, 0.0], ids=["gone-then-back", "recreated-at-once"])
def test_interface_deleted_and_recreated_gets_its_vif_and_routes_back(netns_lab, mcastd, pause):
    daemon = mcastd(netns_lab, "mroute from trunk.10 source %s group 225.21.0.1 to trunk.20 trunk.30\n" % S)
    old_index = vif_of(daemon, "trunk.20")["ifindex"]
    assert forwarded(netns_lab, "recv20", "eth0", "225.21.0.1") == 10
    netns_lab.run("router", ["ip", "link", "del", "trunk.20"])  # takes recv20's eth0 with it
    try:
        if pause:
            assert wait_for(lambda: daemon.query("show", "pending"), timeout=1.5)
            assert daemon.mfc() == {(S, "225.21.0.1"): ("trunk.10", ["trunk.30"])}
            assert forwarded(netns_lab, "recv30", "eth0", "225.21.0.1") == 10  # the other output kept going
    finally:
        netns_lab.wire()  # re-creates the segment: a new trunk.20 with a new ifindex
    assert wait_for(lambda: (vif_of(daemon, "trunk.20") or {}).get("vif") is not None and not daemon.query("show", "pending"),
                    timeout=1.5)
    assert vif_of(daemon, "trunk.20")["ifindex"] != old_index
    assert daemon.mfc() == {(S, "225.21.0.1"): ("trunk.10", ["trunk.20", "trunk.30"])}
    assert forwarded(netns_lab, "recv20", "eth0", "225.21.0.1") == 10
    assert "trunk.20" in daemon.log()


def test_interface_losing_multicast_or_going_down_is_reported(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 group 225.22.0.1 to trunk.30\n")
    try:
        netns_lab.run("router", ["ip", "link", "set", "trunk.30", "multicast", "off"])
        assert wait_for(lambda: vif_of(daemon, "trunk.30")["problems"] == ["no MULTICAST flag"])
        netns_lab.run("router", ["ip", "link", "set", "trunk.30", "down"])
        assert wait_for(lambda: vif_of(daemon, "trunk.30")["problems"] == ["down", "no MULTICAST flag"])
        assert "interface trunk.30: down and no MULTICAST flag; multicast cannot pass it" in daemon.log()
    finally:
        netns_lab.run("router", ["ip", "link", "set", "trunk.30", "multicast", "on", "up"])
    assert wait_for(lambda: vif_of(daemon, "trunk.30")["problems"] == [])
    assert "interface trunk.30: up with MULTICAST again" in daemon.log()


def test_wildcard_output_forwards_to_every_matching_interface_but_the_input(netns_lab, mcastd):
    daemon = mcastd(netns_lab, "mroute from trunk.10 group 225.23.0.1 to trunk.+\n")
    assert {row["name"] for row in daemon.query("show", "interfaces") if row["vif"] is not None} == {
        "trunk.10", "trunk.20", "trunk.30"}
    assert forwarded(netns_lab, "recv20", "eth0", "225.23.0.1") == 10
    assert daemon.mfc() == {(S, "225.23.0.1"): ("trunk.10", ["trunk.20", "trunk.30"])}


def igmp_groups(lab, iface):
    """Groups the router's /proc/net/igmp lists on an interface, as dotted quads."""
    groups = []
    current = None
    for line in lab.run("router", ["cat", "/proc/net/igmp"]).stdout.splitlines()[1:]:
        if not line.startswith("\t"):
            current = line.split()[1]
        elif current == iface:
            raw = bytes.fromhex(line.split()[0])[::-1]  # printed as a host-order hex number
            groups.append(".".join(str(byte) for byte in raw))
    return groups


def test_mgroup_joins_beyond_twenty_per_socket_and_source_specific(netns_lab, mcastd):
    text = "mgroup from trunk.20 group 239.1.1.0/27\nmgroup from trunk.20 source %s group 232.1.1.1\n" % S
    daemon = mcastd(netns_lab, text)
    joined = set(igmp_groups(netns_lab, "trunk.20"))
    assert {"239.1.1.%d" % index for index in range(32)} | {"232.1.1.1"} <= joined
    rows = daemon.query("show", "groups")
    assert len(rows) == 33 and {row["state"] for row in rows} == {"joined"}
    assert {"group": "232.1.1.1", "source": S, "interface": "trunk.20", "state": "joined"} in rows
    mcfilter = [line.split()[2:5] for line in netns_lab.run("router", ["cat", "/proc/net/mcfilter"]).stdout.splitlines()[1:]]
    assert ["0xe8010101", "0xc000020a", "1"] in mcfilter  # 232.1.1.1 from 192.0.2.10 only (INCLUDE)
    assert daemon.query("status")["groups"] == 33
    daemon.write_config("mgroup from trunk.20 group 239.1.1.5\n")
    daemon.query("reload")
    joined = set(igmp_groups(netns_lab, "trunk.20"))
    assert "239.1.1.5" in joined and "239.1.1.6" not in joined and "232.1.1.1" not in joined
