"""The lab itself: real namespaces/containers, real ICMP and ICMPv6 crossing the router and the switches, an
IPv6 multicast datagram crossing a switch, nothing left behind.

The containers test needs podman and builds the lab image on first use (about a minute, cached by
recipe afterwards); set MCAST_LAB_SKIP_CONTAINERS=1 to skip it.
"""
import ipaddress
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
RECEIVERS6 = {"recv20": "2001:db8:20::20", "recv30": "2001:db8:30::30"}
LABCTL = Path(__file__).resolve().parents[1] / "lab" / "labctl"
# The machine's own settings the lab must never change (it writes these inside its namespaces only).
ROOT_SYSCTLS = ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/forwarding",
                "net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad")
PORT6 = 5006

# Waits for one UDP datagram on [::]:PORT (the all-nodes group ff02::1 needs no join) and prints it
# with its source as JSON; "ready" first, so the sender starts only once the socket is bound.
RECEIVE6 = r"""
import json, socket, sys
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.bind(("::", int(sys.argv[1])))
sock.settimeout(5)
print("ready", flush=True)
data, source = sock.recvfrom(64)
print(json.dumps([data.decode(), source[0], socket.if_indextoname(source[3])]), flush=True)
"""
# Sends one datagram to GROUP%IFACE:PORT with hop limit 1 (the segment is all there is).
SEND6 = r"""
import socket, sys
group, iface, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(iface))
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
sock.sendto(b"across " + iface.encode(), (group, port, 0, socket.if_nametoindex(iface)))
"""


def root_links():
    """Names of the links in the machine's own (root) namespace."""
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True).stdout
    return sorted(link["ifname"] for link in json.loads(out))


def root_ip_forward():
    """The machine's own forwarding and DAD settings (both families), which the lab leaves alone."""
    return {key: Path("/proc/sys", key).read_text(encoding="ascii").strip() for key in ROOT_SYSCTLS}


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


def ipv6_addresses(lab, host, iface):
    """The IPv6 addr_info entries of a host's interface (local, prefixlen, scope, tentative ...)."""
    out = lab.run(host, ["ip", "-j", "-6", "addr", "show", "dev", iface]).stdout
    return json.loads(out)[0].get("addr_info", [])


def link_local(lab, host, iface):
    return next(info["local"] for info in ipv6_addresses(lab, host, iface) if info["scope"] == "link")


def assert_ipv6_usable(lab):
    """Every end has its topology's address6 and one link-local address, none tentative or failed."""
    for name, segment in lab.topology["segments"].items():
        for end in segment["ends"]:
            infos = ipv6_addresses(lab, end["host"], end["iface"])
            where = f"{name} {end['host']}:{end['iface']}: {infos}"
            assert [ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}") for info in infos
                    if info["scope"] == "global"] == [ipaddress.ip_interface(end["address6"])], where
            assert [ipaddress.ip_address(info["local"]).is_link_local for info in infos
                    if info["scope"] == "link"] == [True], where
            assert not [info for info in infos if info.get("tentative") or info.get("dadfailed")], where


def python_in(lab):
    """The Python that runs inside the lab's hosts: the machine's own in namespaces, the image's in containers."""
    return sys.executable if lab.mode == "netns" else "/usr/bin/python3"


def port_tx_packets(lab, port):
    """Packets a bridge port of the switch namespace has sent towards its host."""
    out = subprocess.run(["ip", "-n", lab.switch_ns, "-j", "-s", "link", "show", "dev", port],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]["stats64"]["tx"]["packets"]


def all_nodes_datagram(lab, segment):
    """One UDP datagram to ff02::1 from the segment's first end: (what its second end received, the
    packets the second end's switch port sent meanwhile). The received value is [payload, source, iface]."""
    sender, receiver = lab.topology["segments"][segment]["ends"][:2]
    port_before = port_tx_packets(lab, f"{segment}-2")
    proc = lab.popen(receiver["host"], [python_in(lab), "-c", RECEIVE6, str(PORT6)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        lab.run(sender["host"], [python_in(lab), "-c", SEND6, "ff02::1", sender["iface"], str(PORT6)])
        received = json.loads(proc.stdout.readline() or "null")
    finally:
        proc.stdout.close()
        proc.wait(timeout=10)
    return received, port_tx_packets(lab, f"{segment}-2") - port_before


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
    for key in ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"):
        assert netns_lab.run("router", ["sysctl", "-n", key]).stdout.strip() == "1", key
        assert netns_lab.run("sender", ["sysctl", "-n", key]).stdout.strip() == "0", key


def test_ipv6_addresses_are_usable_as_soon_as_up_returns(make_netns_lab):
    """Global addresses (nodad) and link-local ones (the hosts skip DAD) are never tentative."""
    lab = make_netns_lab()
    assert_ipv6_usable(lab)
    assert lab.status()["complete"]
    assert lab.run("sender", ["sysctl", "-n", "net.ipv6.conf.eth0.accept_dad"]).stdout.strip() == "0"


def test_status_counts_a_tentative_address_as_missing_and_wire_adds_a_usable_one(make_netns_lab):
    lab = make_netns_lab()
    # DAD on for the sender's eth0, five probes (about 5 s tentative), its IPv6 address added anew
    lab.run("sender", ["sysctl", "-q", "-w", "net.ipv6.conf.eth0.accept_dad=1", "net.ipv6.conf.eth0.dad_transmits=5"])
    lab.run("sender", ["ip", "addr", "del", "2001:db8:10::10/64", "dev", "eth0"])
    lab.run("sender", ["ip", "addr", "add", "2001:db8:10::10/64", "dev", "eth0"])
    status = lab.status()
    assert status["missing"] == ["segment vlan10"]
    assert status["hosts"]["sender"]["interfaces"]["eth0"]["unusable"] == ["2001:db8:10::10/64"]
    table = subprocess.run([sys.executable, str(LABCTL), "status", "--prefix", lab.prefix], capture_output=True,
                           text=True, check=False)
    assert table.returncode == 3 and "(want 2001:db8:10::10/64 (tentative))" in table.stdout, table.stdout
    lab.run("sender", ["ip", "addr", "del", "2001:db8:10::10/64", "dev", "eth0"])
    lab.wire()
    assert lab.status()["complete"], "wire() adds the address with nodad: usable at once, DAD on or not"
    assert_ipv6_usable(lab)


def test_ping6_crosses_every_segment_to_global_and_link_local_addresses(netns_lab):
    for name, segment in netns_lab.topology["segments"].items():
        near, far = segment["ends"]
        global_far = str(ipaddress.ip_interface(far["address6"]).ip)
        link_local_far = f"{link_local(netns_lab, far['host'], far['iface'])}%{near['iface']}"
        for address in (global_far, link_local_far):
            assert ping_replies(netns_lab, near["host"], address, count=2) == (2, {64}), f"{name}: {address}"


@pytest.mark.parametrize("receiver", sorted(RECEIVERS6))
def test_unicast_ipv6_crosses_the_router(netns_lab, receiver):
    iface = {"recv20": "trunk.20", "recv30": "trunk.30"}[receiver]
    forwarded_before = tx_packets(netns_lab, "router", iface)
    replies, hop_limits = ping_replies(netns_lab, "sender", RECEIVERS6[receiver])
    assert replies == PINGS
    assert hop_limits == {63}, "a reply that crossed one router arrives with hop limit 64 - 1"
    assert tx_packets(netns_lab, "router", iface) - forwarded_before >= PINGS


def test_an_ipv6_multicast_datagram_crosses_a_switch(netns_lab):
    received, port_sent = all_nodes_datagram(netns_lab, "vlan20")
    assert received == ["across trunk.20", link_local(netns_lab, "router", "trunk.20"), "eth0"], \
        "from the router's link-local address, through bridge vlan20"
    assert port_sent >= 1


def test_inventory_names_the_namespaces(netns_lab):
    inventory = netns_lab.inventory()["all"]
    assert sorted(inventory["children"]["receivers"]["hosts"]) == ["recv20", "recv30"]
    router = inventory["hosts"]["router"]
    assert router["ansible_connection"] == "mcast.linux.netns"
    assert router["ansible_host"] == netns_lab.ns("router")
    assert os.path.isabs(router["ansible_python_interpreter"])
    assert router["lab_interfaces"]["trunk.20"]["address"] == "198.51.100.1/24"
    assert router["lab_interfaces"]["trunk.20"]["address6"] == "2001:db8:20::1/64"


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
    assert_ipv6_usable(lab)
    assert ping_replies(lab, "sender", RECEIVERS6["recv30"]) == (PINGS, {63})
    assert all_nodes_datagram(lab, "vlan30")[0] == ["across trunk.30", link_local(lab, "router", "trunk.30"), "eth0"]
    assert lab.run("router", ["systemctl", "is-system-running"], check=False).stdout.strip() in ("running", "degraded")
    lab.run("router", ["sysctl", "-w", "net.ipv4.conf.all.rp_filter=2"])
    assert lab.run("router", ["sysctl", "-n", "net.ipv4.conf.all.rp_filter"]).stdout.strip() == "2"
    assert Path("/proc/sys/net/ipv4/conf/all/rp_filter").read_text(encoding="ascii").strip() == host_rp_filter
    assert lab.run("router", ["sysctl", "-w", "kernel.pid_max=40000"], check=False).returncode != 0

    image.podman("restart", "--time", "0", lab.ns("recv20"))
    assert ping_replies(lab, "sender", RECEIVERS["recv20"], count=1)[0] == 0, "the restart took the link away"
    assert switch_ports(lab.switch_ns, "vlan20") == ["vlan20-1"], "and its switch port with it"
    lab.wire()
    assert_ipv6_usable(lab)  # the new namespace of recv20 skips DAD too
    assert ping_replies(lab, "sender", RECEIVERS["recv20"]) == (PINGS, {63})
    assert ping_replies(lab, "sender", RECEIVERS6["recv20"]) == (PINGS, {63})
    assert switch_ports(lab.switch_ns, "vlan20") == ["vlan20-1", "vlan20-2"]
    assert lab.status()["complete"]

    assert root_links() == links and root_ip_forward() == forward
    removed = lab.down()
    assert containers_labelled(lab.prefix) == []
    assert lab.switch_ns in removed and namespaces_with(lab.prefix) == []
