"""The lab itself: real namespaces/containers, real ICMP crossing the router and the switches, nothing left behind.

The containers test needs podman and builds the lab image on first use (about a minute, cached by
recipe afterwards); set MCAST_LAB_SKIP_CONTAINERS=1 to skip it.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab import image
from tests.lab.fixtures import unique_prefix
from tests.lab.errors import LabError
from tests.lab.netlab import MARK, Lab

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces and veth links)")]

PINGS = 3
RECEIVERS = {"recv20": "198.51.100.20", "recv30": "203.0.113.30"}
LABCTL = Path(__file__).resolve().parents[1] / "lab" / "labctl"


def root_links():
    """Names of the links in the machine's own (root) namespace."""
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True).stdout
    return sorted(link["ifname"] for link in json.loads(out))


def root_ip_forward():
    return Path("/proc/sys/net/ipv4/ip_forward").read_text(encoding="ascii").strip()


def namespaces_with(prefix):
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return sorted(ns["name"] for ns in json.loads(out or "[]") if ns["name"].startswith(f"{prefix}-"))


def ping_replies(lab, host, address, count=PINGS):
    """Send ICMP echo requests from host; return (replies received, TTLs seen in the replies)."""
    out = lab.run(host, ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", "2", address], check=False).stdout
    received = re.search(r"(\d+) (?:packets )?received", out)
    return int(received.group(1)) if received else 0, {int(ttl) for ttl in re.findall(r"ttl=(\d+)", out)}


def tx_packets(lab, host, iface):
    """Packets the host has sent out of iface (kernel counters)."""
    out = lab.run(host, ["ip", "-j", "-s", "link", "show", "dev", iface]).stdout
    return json.loads(out)[0]["stats64"]["tx"]["packets"]


def test_up_twice_is_harmless(netns_lab):
    before = {host: netns_lab.run(host, ["ip", "-br", "addr"]).stdout for host in netns_lab.hosts}
    netns_lab.up()
    after = {host: netns_lab.run(host, ["ip", "-br", "addr"]).stdout for host in netns_lab.hosts}
    assert after == before
    assert netns_lab.status()["complete"], netns_lab.status()["missing"]
    assert namespaces_with(netns_lab.prefix) == sorted([*(netns_lab.ns(host) for host in netns_lab.hosts),
                                                        netns_lab.switch_ns])


@pytest.mark.parametrize("receiver", sorted(RECEIVERS))
def test_unicast_ping_crosses_the_router(netns_lab, receiver):
    iface = {"recv20": "trunk.20", "recv30": "trunk.30"}[receiver]
    forwarded_before = tx_packets(netns_lab, "router", iface)
    replies, ttls = ping_replies(netns_lab, "sender", RECEIVERS[receiver])
    assert replies == PINGS
    assert ttls == {63}, "a reply that crossed one router arrives with TTL 64 - 1"
    assert tx_packets(netns_lab, "router", iface) - forwarded_before >= PINGS


def test_router_forwards_inside_its_namespace_only(netns_lab):
    assert netns_lab.run("router", ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == "1"
    assert netns_lab.run("sender", ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == "0"


def test_inventory_names_the_namespaces(netns_lab):
    inventory = netns_lab.inventory()["all"]
    assert sorted(inventory["children"]["receivers"]["hosts"]) == ["recv20", "recv30"]
    router = inventory["hosts"]["router"]
    assert router["ansible_connection"] == "mcast.linux.netns"
    assert router["ansible_host"] == netns_lab.ns("router")
    assert os.path.isabs(router["ansible_python_interpreter"])
    assert router["lab_interfaces"]["trunk.20"]["address"] == "198.51.100.1/24"


def test_down_leaves_nothing_and_root_namespace_unchanged(make_netns_lab):
    links, forward = root_links(), root_ip_forward()
    lab = make_netns_lab()
    lab.up()
    background = lab.popen("recv20", ["sleep", "300"])
    assert namespaces_with(lab.prefix)
    assert root_links() == links and root_ip_forward() == forward

    removed = lab.down()
    assert sorted(removed) == sorted([*(lab.ns(host) for host in lab.hosts), f"{lab.prefix}-sw"])
    assert namespaces_with(lab.prefix) == []
    assert background.poll() is not None, "a process started in the lab outlived down()"
    assert root_links() == links and root_ip_forward() == forward
    assert lab.down() == [], "a second down() finds nothing more to remove"


def test_down_after_a_failed_up_removes_the_partial_lab(lab_prefix):
    pair = [{"host": "a", "iface": "eth0", "address": "192.0.2.1/24"}, {"host": "b", "iface": "eth0", "address": "192.0.2.2/24"}]
    # the gateway is on no segment: up() fails at the route, after namespaces and links exist
    broken = {"hosts": {"a": {"routes": [{"dst": "default", "via": "203.0.113.9"}]}, "b": {}},
              "segments": {"ab": {"ends": pair}}}
    lab = Lab(broken, prefix=lab_prefix("mbroken"))
    try:
        with pytest.raises(LabError, match="route replace default via 203.0.113.9"):
            lab.up()
        assert namespaces_with(lab.prefix) == [lab.ns("a"), lab.ns("b")]
    finally:
        removed = lab.down()
    assert sorted(removed) == [lab.ns("a"), lab.ns("b")]
    assert namespaces_with(lab.prefix) == []


def test_foreign_namespace_with_the_lab_name_is_refused():
    prefix = unique_prefix("mforeign")
    subprocess.run(["ip", "netns", "add", f"{prefix}-router"], check=True)
    try:
        result = subprocess.run([sys.executable, str(LABCTL), "up", "--prefix", prefix], capture_output=True, text=True, check=False)
        assert result.returncode == 2
        assert "exists but was not made by the lab" in result.stderr
        assert "Traceback" not in result.stderr
        assert namespaces_with(prefix) == [f"{prefix}-router"], "nothing else was made"
    finally:
        subprocess.run(["ip", "netns", "delete", f"{prefix}-router"], check=True)


def _skip_containers_reason():
    if shutil.which("podman") is None:
        return "podman is not installed"
    if os.environ.get("MCAST_LAB_SKIP_CONTAINERS"):
        return "MCAST_LAB_SKIP_CONTAINERS is set"
    return None


@pytest.fixture(name="container_lab")
def fixture_container_lab():
    reason = _skip_containers_reason()
    if reason:
        pytest.skip(reason)
    image.ensure_image()
    lab = Lab(prefix=unique_prefix("mclab"), mode="containers")
    try:
        yield lab.up()
    finally:
        lab.down()


def containers_labelled(prefix):
    out = image.podman("ps", "-a", "--filter", f"label={MARK}={prefix}", "--format", "{{.Names}}").stdout
    return out.split()


def switch_ports(namespace, bridge):
    """Names of the ports attached to a bridge of the switch namespace."""
    out = subprocess.run(["ip", "-n", namespace, "-j", "link", "show", "master", bridge],
                         capture_output=True, text=True, check=True).stdout
    return sorted(link["ifname"] for link in json.loads(out or "[]"))


def test_containers_lab_routes_boots_systemd_and_rewires(container_lab):
    lab = container_lab
    links, forward = root_links(), root_ip_forward()
    host_rp_filter = Path("/proc/sys/net/ipv4/conf/all/rp_filter").read_text(encoding="ascii").strip()

    # the switch is a plain namespace, not a container, and no Ansible host
    assert namespaces_with(lab.prefix) == [lab.switch_ns]
    assert switch_ports(lab.switch_ns, "vlan20") == ["vlan20-1", "vlan20-2"]
    assert sorted(lab.inventory()["all"]["hosts"]) == sorted(lab.hosts)
    assert ping_replies(lab, "sender", RECEIVERS["recv30"]) == (PINGS, {63})
    assert lab.run("router", ["systemctl", "is-system-running"], check=False).stdout.strip() in ("running", "degraded")
    lab.run("router", ["sysctl", "-w", "net.ipv4.conf.all.rp_filter=2"])
    assert lab.run("router", ["sysctl", "-n", "net.ipv4.conf.all.rp_filter"]).stdout.strip() == "2"
    assert Path("/proc/sys/net/ipv4/conf/all/rp_filter").read_text(encoding="ascii").strip() == host_rp_filter
    assert lab.run("router", ["sysctl", "-w", "kernel.pid_max=40000"], check=False).returncode != 0

    image.podman("restart", "--time", "0", lab.ns("recv20"))
    assert ping_replies(lab, "sender", RECEIVERS["recv20"], count=1)[0] == 0, "the restart took the link away"
    assert switch_ports(lab.switch_ns, "vlan20") == ["vlan20-1"], "and its switch port with it"
    lab.wire()
    assert ping_replies(lab, "sender", RECEIVERS["recv20"]) == (PINGS, {63})
    assert switch_ports(lab.switch_ns, "vlan20") == ["vlan20-1", "vlan20-2"]
    assert lab.status()["complete"]

    assert root_links() == links and root_ip_forward() == forward
    removed = lab.down()
    assert containers_labelled(lab.prefix) == []
    assert lab.switch_ns in removed and namespaces_with(lab.prefix) == []
