"""docs/troubleshooting.md: rp_filter does not drop IGMP queries from 0.0.0.0, and does drop queries from a
source with no route back.

A host with strict rp_filter on every interface joins a group; a querier namespace sends it IGMPv2 general
queries (to 224.0.0.1, Router Alert, TTL 1) from 0.0.0.0 and from 10.99.99.99, to which the host has no
route. The host answers the first with a membership report and drops the second (TcpExtIPReversePathFilter
counts it).
"""
import socket
import struct
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROBE = str(Path(__file__).resolve())
TOPOLOGY = {
    "hosts": {"querier": {}, "member": {}},
    "segments": {"lan": {"ends": [{"host": "querier", "iface": "q0"},
                                  {"host": "member", "iface": "m0", "address": "10.1.0.2/24"}]}},
}
GROUP = "239.1.2.3"
NO_ROUTE_BACK = "10.99.99.99"


def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def general_query(source):
    """An IGMPv2 general query (max response 1 s) in an IPv4 header with Router Alert, from ``source``."""
    igmp = struct.pack("!BBH4s", 0x11, 10, 0, bytes(4))
    igmp = igmp[:2] + struct.pack("!H", checksum(igmp)) + igmp[4:]
    header = struct.pack("!BBHHHBBH4s4s4s", 0x46, 0xC0, 24 + len(igmp), 0, 0, 1, socket.IPPROTO_IGMP, 0,
                         socket.inet_aton(source), socket.inet_aton("224.0.0.1"), b"\x94\x04\x00\x00")
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + igmp


def send_query(interface, source):
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        sock.sendto(general_query(source), ("224.0.0.1", 0))


def count_reports(interface, seconds):
    """IGMP membership reports (v1, v2, v3) seen on ``interface`` within ``seconds``."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800)) as sock:
        sock.bind((interface, 0x0800))
        sock.settimeout(0.1)
        reports, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                packet = sock.recv(2048)
            except socket.timeout:
                continue
            start = (packet[0] & 0xF) * 4
            if packet[9] == socket.IPPROTO_IGMP and packet[start] in (0x12, 0x16, 0x22):
                reports += 1
        return reports


def join_and_wait(address, seconds):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(GROUP) + socket.inet_aton(address))
        time.sleep(seconds)


def answers(lab, source):
    """Reports the member sends within 2.5 s of a general query from ``source``."""
    listener = lab.popen("querier", [sys.executable, PROBE, "count", "q0", "2.5"], stdout=-1, text=True)
    time.sleep(0.3)
    lab.run("querier", [sys.executable, PROBE, "query", "q0", source])
    return int(listener.communicate(timeout=10)[0])


def rp_filter_drops(lab):
    out = lab.run("member", ["nstat", "-az", "TcpExtIPReversePathFilter"]).stdout.split()
    return int(out[out.index("TcpExtIPReversePathFilter") + 1])


def test_strict_rp_filter_passes_queries_from_0_0_0_0_and_drops_those_without_a_route_back(make_netns_lab):
    lab = make_netns_lab(TOPOLOGY)
    for key in ("all", "default", "m0"):
        lab.run("member", ["sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=1" % key])
    lab.run("member", ["sysctl", "-qw", "net.ipv4.conf.all.force_igmp_version=2"])
    # The join repeats its unsolicited report after up to 10 s (RFC 2236's Unsolicited Report Interval);
    # a repeat inside the counting window would pass for an answer. 10 ms makes both go by in the wait.
    for key in ("all", "default", "m0"):
        lab.run("member", ["sysctl", "-qw", "net.ipv4.conf.%s.igmpv2_unsolicited_report_interval=10" % key])
    lab.popen("member", [sys.executable, PROBE, "member", "10.1.0.2", "30"])
    time.sleep(3)  # the unsolicited reports of the join go by first
    dropped_before = rp_filter_drops(lab)
    assert answers(lab, NO_ROUTE_BACK) == 0
    assert rp_filter_drops(lab) == dropped_before + 1, "the query without a route back was not dropped by rp_filter"
    assert answers(lab, "0.0.0.0") >= 1, "the member did not answer a query from 0.0.0.0"
    assert rp_filter_drops(lab) == dropped_before + 1


if __name__ == "__main__":
    ACTIONS = {"query": lambda: send_query(sys.argv[2], sys.argv[3]),
               "count": lambda: print(count_reports(sys.argv[2], float(sys.argv[3]))),
               "member": lambda: join_and_wait(sys.argv[2], float(sys.argv[3]))}
    ACTIONS[sys.argv[1]]()
