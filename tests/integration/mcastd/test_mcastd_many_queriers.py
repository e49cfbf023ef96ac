"""mcastd as IGMP and MLD querier on 40 interfaces: the reports of the last ones are heard too.

A socket holds at most net.ipv4.igmp_max_memberships (20) IPv4 memberships, and every querier
interface needs two (224.0.0.22 for IGMPv3 reports, 224.0.0.2 for IGMPv2 leaves).  A router
namespace has 40 segments o1..o40, veth pairs to one host namespace (k1..k40); the host joins
groups on k35..k40 (its kernel sends the IGMPv3 and MLDv2 reports), and an IGMPv2 host on k30 joins
and leaves a group (the report reaches mcastd through the Router Alert path, o30 has a VIF; the
leave only through the 224.0.0.2 membership of o30, the 59th and 60th router-group membership).
mcastd must list every membership and count the leave, and log no "cannot join".  mrdisc runs on
the 32 interfaces with a VIF (each has a socket of its own, joined to 224.0.0.2 there): Solicitations
on k30 and k32 are answered.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.integration.mcastd.runner import Mcastd, wait_for
from tests.integration.mcastd.test_mcastd_mrdisc import SEND
from tests.lab.fixtures import unique_prefix
from tests.lab.netlab import Lab

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and raw sockets")]

SEGMENTS = 40
LISTENING = range(35, SEGMENTS + 1)  # the host joins groups on k35..k40
V2 = 30  # and is an IGMPv2 host on k30 (o30 has a VIF: the first 32 querier interfaces get one)
TOPOLOGY = {
    "hosts": {"router": {}, "host": {}},
    "segments": {"in": {"ends": [{"host": "host", "iface": "eth0", "address": "10.1.0.10/24"},
                                 {"host": "router", "iface": "up0", "address": "10.1.0.1/24"}]}},
}
TIMERS = "igmp query-interval 2 query-response-interval 1 last-member-interval 0.5\n"

# Runs in the host namespace: joins 239.2.0.V2 on kV2 (first argument; IGMPv2 there by force_igmp_version,
# the namespace's own sysctl), 239.1.0.N and ff0e::1:N on kN for the other arguments; "leave" drops 239.2.0.V2.
HOST = textwrap.dedent("""
    import socket, struct, sys
    v2, numbers = int(sys.argv[1]), [int(n) for n in sys.argv[2:]]
    v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    def mreqn(group, name):
        return socket.inet_aton(group) + bytes(4) + struct.pack("=i", socket.if_nametoindex(name))
    for n in numbers:
        v4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn("239.1.0.%d" % n, "k%d" % n))
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                      socket.inet_pton(socket.AF_INET6, "ff0e::1:%d" % n) + struct.pack("=i", socket.if_nametoindex("k%d" % n)))
    v4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn("239.2.0.%d" % v2, "k%d" % v2))
    print("joined", flush=True)
    for line in sys.stdin:
        if line.strip() == "leave":
            v4.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, mreqn("239.2.0.%d" % v2, "k%d" % v2))
            print("left", flush=True)
""")


def add_segments(lab, numbers):
    """Segments oN (router, 10.2.N.1/24) to kN (host, 10.2.N.10/24), one ip batch per namespace."""
    host = lab.ns("host")
    lab.run("router", ["ip", "-batch", "-"], input="".join(
        "link add o%d type veth peer name k%d netns %s\nlink set o%d up\naddr add 10.2.%d.1/24 dev o%d\n"
        % (n, n, host, n, n, n) for n in numbers))
    lab.run("host", ["ip", "-batch", "-"], input="".join(
        "link set k%d up\naddr add 10.2.%d.10/24 dev k%d\n" % (n, n, n) for n in numbers))


@pytest.fixture(name="lab")
def fixture_lab():
    lab = Lab(TOPOLOGY, prefix=unique_prefix("s18e"))
    try:
        lab.up()
        for host in ("router", "host"):  # link-local addresses usable at once (no DAD), in these namespaces only
            lab.run(host, ["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"])
        add_segments(lab, range(1, SEGMENTS + 1))
        lab.run("host", ["sysctl", "-qw", "net.ipv4.conf.k%d.force_igmp_version=2" % V2])
        yield lab
    finally:
        lab.down()


@pytest.fixture(name="daemon")
def fixture_daemon(lab, tmp_path):
    daemon = Mcastd(lab, str(tmp_path))
    queriers = "".join("phyint o%d enable querier\n" % n for n in range(1, SEGMENTS + 1))
    daemon.write_config(queriers + "phyint o+ mrdisc\n" + TIMERS)
    try:
        yield daemon.start()
    finally:
        daemon.stop()


def _queriers(daemon):
    """(interface, protocol) of the segments' interfaces where mcastd queries (or lost the election)."""
    return {(row["interface"], row["protocol"]) for row in daemon.query("show", "queriers")
            if row["interface"].startswith("o") and row["role"] != "listener"}


def _members(daemon):
    return {(row["interface"], row["protocol"], row["group"]) for row in daemon.query("show", "members")}


def test_reports_and_leaves_are_heard_on_all_40_querier_interfaces(lab, daemon):
    limit = int(lab.run("router", ["cat", "/proc/sys/net/ipv4/igmp_max_memberships"]).stdout)
    assert 2 * SEGMENTS > limit, "the test needs more router-group memberships than one socket holds"
    wanted = {("o%d" % n, protocol) for n in range(1, SEGMENTS + 1) for protocol in ("IGMP", "MLD")}
    assert wait_for(lambda: _queriers(daemon) >= wanted, timeout=5), (sorted(wanted - _queriers(daemon)),
                                                                      daemon.log()[-3000:])

    host = lab.popen("host", [sys.executable, "-c", HOST, str(V2)] + [str(n) for n in LISTENING],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout.readline().strip() == "joined"
        expected = {("o%d" % n, "IGMP", "239.1.0.%d" % n) for n in LISTENING}
        expected |= {("o%d" % n, "MLD", "ff0e::1:%d" % n) for n in LISTENING}
        expected.add(("o%d" % V2, "IGMP", "239.2.0.%d" % V2))
        assert wait_for(lambda: _members(daemon) >= expected, timeout=6), \
            (sorted(expected - _members(daemon)), daemon.log()[-3000:])
        leaves = daemon.query("status")["counters"]["leaves"]
        host.stdin.write("leave\n")
        host.stdin.flush()
        assert host.stdout.readline().strip() == "left"
        # the IGMPv2 leave goes to 224.0.0.2 on k30: heard only through the membership of o30
        assert wait_for(lambda: daemon.query("status")["counters"]["leaves"] > leaves, timeout=3), daemon.log()[-3000:]
        assert wait_for(lambda: ("o%d" % V2, "IGMP", "239.2.0.%d" % V2) not in _members(daemon), timeout=4)
    finally:
        host.stdin.close()
        host.wait(timeout=5)
    counters = daemon.query("status")["counters"]
    assert sorted(daemon.query("status")["mrdisc"]["interfaces"]) == sorted("o%d" % n for n in range(1, 33))
    for n in (30, 32):  # an RFC 4286 Solicitation to All-Routers, TTL 1
        lab.run("host", [sys.executable, "-c", SEND, "k%d" % n, json.dumps([["3100ceff", 1, "224.0.0.2"]])])
    assert wait_for(lambda: daemon.query("status")["counters"]["mrdisc_answered"] == counters["mrdisc_answered"] + 2,
                    timeout=3), json.dumps({key: value for key, value in daemon.query("status")["counters"].items()
                                            if key.startswith("mrdisc")})
    assert daemon.query("status")["counters"]["mrdisc_solicitations"] == counters["mrdisc_solicitations"] + 2
    log = daemon.log()
    assert "cannot join" not in log and "No buffer space" not in log, json.dumps(
        [line for line in log.splitlines() if "cannot join" in line][:5])
