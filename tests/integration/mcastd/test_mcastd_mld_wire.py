"""MLD on the wire with real namespaces: mldsock's queries, the kernel's checksum, a snooping bridge, kernel reports.

    querier (eth0, fe80::a) --- q0 [switch: br0, snooping on, own querier off] l0 --- listener (eth0, fe80::b)

Link-local addresses are added with ``nodad`` on links without automatic ones, so they are usable at
once.  Packets are captured by a raw ICMPv6 socket written here (not mldsock's) that asks the kernel
for the hop limit, the Hop-by-Hop Options header and the destination of each packet; the bytes are
then decoded with mld.parse.  Each test builds its own site: a listener that heard an MLDv1 query
stays in MLDv1 mode for minutes.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import mld
from tests.integration.mcastd.igmp_site import Lines
from tests.lab.fixtures import unique_prefix

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and raw sockets")]

REPO = Path(__file__).resolve().parents[3]
MODULE_UTILS = REPO / "plugins" / "module_utils"
COLLECTIONS = REPO / ".build" / "collections"  # linked by tests/conftest.py
QUERIER, LISTENER = "fe80::a", "fe80::b"
GROUP = "ff0e::1:2"
# what IPV6_RECVHOPOPTS returns: mld.ROUTER_ALERT_HOPOPTS with the next header filled in (58, ICMPv6)
HOPOPTS_RECEIVED = "3a00050200000100"

# argv: IFACE TYPES [GROUP...]; prints "ready", then one JSON object per ICMPv6 packet of those types
# (or per receive error) until SIGTERM.
CAPTURE = r"""
import errno, json, signal, socket, struct, sys, time
iface, types, joins = sys.argv[1], [int(kind) for kind in sys.argv[2].split(",")], sys.argv[3:]
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
words = [0xFFFFFFFF] * 8  # struct icmp6_filter: a set bit blocks that type
for kind in types:
    words[kind >> 5] &= ~(1 << (kind & 31))
s.setsockopt(socket.IPPROTO_ICMPV6, 1, struct.pack("=8I", *words))  # ICMP6_FILTER
s.setsockopt(socket.SOL_SOCKET, 25, iface.encode())  # SO_BINDTODEVICE
for option in (socket.IPV6_RECVHOPLIMIT, socket.IPV6_RECVHOPOPTS, socket.IPV6_RECVPKTINFO):
    s.setsockopt(socket.IPPROTO_IPV6, option, 1)
index = socket.if_nametoindex(iface)
for group in joins:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                 socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)
while True:
    try:
        data, ancillary, _flags, sender = s.recvmsg(65536, 1024)
    except OSError as exc:  # none expected: printed so that a test sees it
        print(json.dumps({"t": time.monotonic(), "error": errno.errorcode.get(exc.errno, exc.errno)}), flush=True)
        continue
    row = {"t": time.monotonic(), "src": sender[0], "hex": data.hex()}
    for _level, kind, value in ancillary:
        if kind == socket.IPV6_HOPLIMIT:
            row["hoplimit"] = struct.unpack("@i", value[:4])[0]
        elif kind == socket.IPV6_HOPOPTS:
            row["hopopts"] = value.hex()
        elif kind == socket.IPV6_PKTINFO:
            row["dst"] = socket.inet_ntop(socket.AF_INET6, value[:16])
    print(json.dumps(row), flush=True)
"""

# argv: MODULE_UTILS IFACE SOURCE SPEC LINGER; SPEC is a JSON list of [message hex, destination, how]:
# "kernel" sends through mldsock.bound as mcastd will (the kernel fills in the checksum), "as-is" through
# a socket whose checksum computation is off (SOL_RAW IPV6_CHECKSUM -1), so the bytes go out unchanged.
# Then it waits LINGER seconds and counts what is queued on the sending socket (its ICMP6_FILTER
# blocks everything) and on one that asks for MLDv2 reports (receive=(143,)).
SEND = r"""
import json, socket, sys, time
sys.path.insert(0, sys.argv[1])
from mcastd import mld, mldsock
iface, source, spec, linger = sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), float(sys.argv[5])
index = socket.if_nametoindex(iface)
kernel = mldsock.bound(iface, index, mld.aton(source))
as_is = mldsock.bound(iface, index, source, setup=lambda s: s.setsockopt(255, socket.IPV6_CHECKSUM, -1))
hearing = mldsock.bound(iface, index, source, receive=(mld.V2_MULTICAST_LISTENER_REPORT,))
for message, destination, how in spec:
    mldsock.send_to(kernel if how == "kernel" else as_is, destination, bytes.fromhex(message))
    time.sleep(0.05)
time.sleep(linger)
queued = {}
for name, sock in (("kernel", kernel), ("hearing", hearing)):
    queued[name] = 0
    try:
        while sock.recv(65536):
            queued[name] += 1
    except BlockingIOError:
        pass
print(json.dumps({"sockname": kernel.getsockname()[:1] + kernel.getsockname()[3:], "queued": queued}), flush=True)
"""

# argv: IFACE GROUP; joins GROUP (any source) on IFACE, prints "joined", holds it until SIGTERM.
JOIN = r"""
import signal, socket, struct, sys, time
iface, group = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
             socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", socket.if_nametoindex(iface)))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("joined", flush=True)
while True:
    time.sleep(60)
"""

# argv: COLLECTIONS; the bridge br0's querier state, decoded by the collection's own _bridge.py
QUERIER_STATE = r"""
import json, socket, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.mcast.linux.plugins.module_utils._bridge import read_querier_state
print(json.dumps({"state": read_querier_state(socket.if_nametoindex("br0")),
                  "q0": socket.if_nametoindex("q0")}))
"""


def run(argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=30)


class Site:
    """The three namespaces above; ``down()`` stops what ``popen`` started (by PID) and deletes them."""

    HOSTS = ("querier", "switch", "listener")

    def __init__(self, prefix):
        self.prefix = prefix
        self.processes = []

    def ns(self, host):  # pylint: disable=invalid-name
        return "%s-%s" % (self.prefix, host)

    def ip(self, host, *args):
        return run(["ip", "-n", self.ns(host), *args])

    def up(self):
        try:
            for host in self.HOSTS:
                run(["ip", "netns", "add", self.ns(host)])
                self.ip(host, "link", "set", "dev", "lo", "up")
            self.ip("switch", "link", "add", "br0", "type", "bridge", "mcast_snooping", "1", "mcast_querier", "0")
            self.ip("switch", "link", "set", "dev", "br0", "addrgenmode", "none")
            self._veth("querier", "eth0", QUERIER, "q0")
            self._veth("listener", "eth0", LISTENER, "l0")
            self.ip("switch", "link", "set", "dev", "br0", "up")
            return self
        except BaseException:
            self.down()
            raise

    def _veth(self, host, name, address, port):
        """A veth pair made straight into its two namespaces: no name ever exists outside them."""
        run(["ip", "link", "add", name, "netns", self.ns(host), "type", "veth", "peer", "name", port,
             "netns", self.ns("switch")])
        for where, dev in ((host, name), ("switch", port)):
            self.ip(where, "link", "set", "dev", dev, "addrgenmode", "none")  # no tentative automatic address
        self.ip(host, "addr", "add", address + "/64", "dev", name, "nodad")
        self.ip("switch", "link", "set", "dev", port, "master", "br0")
        for where, dev in ((host, name), ("switch", port)):
            self.ip(where, "link", "set", "dev", dev, "up")

    def down(self):
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for host in self.HOSTS:
            run(["ip", "netns", "del", self.ns(host)], check=False)

    def popen(self, host, script, *args):
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(host), sys.executable, "-c", script, *args],  # pylint: disable=consider-using-with
                                stdout=subprocess.PIPE, text=True)
        self.processes.append(proc)
        return proc

    def run_in(self, host, *argv):
        return run(["ip", "netns", "exec", self.ns(host), *argv]).stdout

    def python(self, host, script, *args):
        out = run(["ip", "netns", "exec", self.ns(host), sys.executable, "-c", script, *args]).stdout
        return json.loads(out.strip().splitlines()[-1])

    def capture(self, host, types, *groups):
        lines = Lines(self.popen(host, CAPTURE, "eth0", ",".join(str(kind) for kind in types), *groups))
        assert lines.proc.stdout.readline().strip() == "ready"
        return lines

    def join(self, group):
        proc = self.popen("listener", JOIN, "eth0", group)
        assert proc.stdout.readline().strip() == "joined"
        return proc

    def send(self, *spec, linger=0.0):
        """Send ``(message bytes, destination, how)`` from the querier; returns SEND's report."""
        rows = [[message.hex(), destination, how] for message, destination, how in spec]
        return self.python("querier", SEND, str(MODULE_UTILS), "eth0", QUERIER, json.dumps(rows), str(linger))


@pytest.fixture(name="site")
def fixture_site():
    site = Site(unique_prefix("m6")).up()
    try:
        yield site
    finally:
        site.down()


def packets(rows):
    """The captured packets (receive errors left out), their bytes decoded from hex."""
    return [dict(row, data=bytes.fromhex(row["hex"])) for row in rows if "hex" in row]


def sent_as_mld(row, source, destination):
    """What RFC 9777, section 5, asks of every MLD packet, checked on a captured one."""
    assert mld.aton(row["src"]) == mld.aton(source), row
    assert row["dst"] == destination, row
    assert row["hoplimit"] == 1, row
    assert row["hopopts"] == HOPOPTS_RECEIVED and mld.has_router_alert(bytes.fromhex(row["hopopts"])), row


def test_a_general_query_leaves_link_local_with_hop_limit_1_router_alert_and_the_kernels_checksum(site):
    capture = site.capture("listener", [mld.MULTICAST_LISTENER_QUERY])
    query = mld.build_query(2, 1.5, qrv=3, qqi_s=60)
    sent = site.send((query, mld.ALL_NODES, "kernel"))
    time.sleep(0.3)
    rows = packets(capture.stop())
    assert mld.aton(sent["sockname"][0]) == mld.aton(QUERIER) and sent["sockname"][1] > 0, sent  # bound, scoped
    assert len(rows) == 1, rows
    sent_as_mld(rows[0], QUERIER, mld.ALL_NODES)
    data = rows[0]["data"]
    # build_query left the checksum 0; the kernel filled in what mld.with_checksum computes
    assert query[2:4] == b"\0\0" and data[2:4] != b"\0\0"
    assert data == mld.with_checksum(query, QUERIER, mld.ALL_NODES)
    assert mld.parse(data, rows[0]["src"], rows[0]["dst"]) == mld.Query(2, 1.5, 0, False, 3, 60, ())


def checksum_errors(site, host):
    """The namespace's Icmp6InCsumErrors: ICMPv6 packets its kernel dropped for a wrong checksum."""
    for line in site.run_in(host, "cat", "/proc/net/snmp6").splitlines():
        name, value = line.split()
        if name == "Icmp6InCsumErrors":
            return int(value)
    raise AssertionError("no Icmp6InCsumErrors in /proc/net/snmp6")


def test_a_wrong_checksum_never_reaches_a_raw_icmpv6_socket(site):
    right = mld.with_checksum(mld.build_query(2, 1), QUERIER, mld.ALL_NODES)
    wrong = right[:2] + bytes([right[2] ^ 0x01]) + right[3:]
    dropped = {}
    for snooping in ("1", "0"):
        site.ip("switch", "link", "set", "dev", "br0", "type", "bridge", "mcast_snooping", snooping)
        before = checksum_errors(site, "listener")
        capture = site.capture("listener", [mld.MULTICAST_LISTENER_QUERY])
        site.send((wrong, mld.ALL_NODES, "as-is"), (right, mld.ALL_NODES, "as-is"))
        time.sleep(0.3)
        rows = capture.stop()
        # only the right one arrives, and a blocking recvmsg does not even fail for the wrong one
        assert [row.get("hex") for row in rows] == [right.hex()], rows
        dropped[snooping] = checksum_errors(site, "listener") - before
    # A snooping bridge checks MLD checksums itself and drops the wrong one before the listener; without
    # snooping the listener's kernel drops it (and counts it) before its raw socket sees it.
    assert dropped == {"1": 0, "0": 1}, dropped
    assert mld.parse(right, QUERIER, mld.ALL_NODES).version == 2
    with pytest.raises(mld.MalformedPacket, match="checksum 0x.... is wrong"):
        mld.parse(wrong, QUERIER, mld.ALL_NODES)


def test_mldv1_and_source_specific_queries_parse_back_from_the_wire(site):
    listener = site.join(GROUP)  # a multicast-address-specific query goes to the group: be there
    capture = site.capture("listener", [mld.MULTICAST_LISTENER_QUERY])
    group, source = mld.aton(GROUP), mld.aton("2001:db8::10")
    site.send((mld.build_query(2, 0.5, group, True, 2, 125, (source,)), GROUP, "kernel"),
              (mld.build_query(1, 2.5), mld.ALL_NODES, "kernel"))
    time.sleep(0.3)
    rows = packets(capture.stop())
    listener.send_signal(signal.SIGTERM)
    assert [row["dst"] for row in rows] == [GROUP, mld.ALL_NODES], rows
    for row in rows:
        sent_as_mld(row, QUERIER, row["dst"])
    assert len(rows[1]["data"]) == 24  # MLDv1
    assert [mld.parse(row["data"], row["src"], row["dst"]) for row in rows] == [
        mld.Query(2, 0.5, group, True, 2, 125, (source,)),
        mld.Query(1, 2.5, 0, False, None, None, ()),
    ]


def test_a_snooping_bridge_takes_the_mldsock_query_as_its_querier(site):
    before = site.python("switch", QUERIER_STATE, str(COLLECTIONS))
    assert before["state"]["ipv6"] is None, before
    site.send((mld.build_query(2, 1), mld.ALL_NODES, "kernel"))
    after = site.python("switch", QUERIER_STATE, str(COLLECTIONS))
    querier = after["state"]["ipv6"]
    assert querier["address"] == QUERIER and querier["port_index"] == after["q0"], after
    assert querier["other_querier_expires_in"] > 200, after  # 255 s by default: robustness * 125 + 10 / 2


def test_the_kernels_mldv2_reports_parse_state_change_then_current_state(site):
    # the bridge forwards reports to router ports only: let it learn the querier's port first
    site.send((mld.build_query(2, 1), mld.ALL_NODES, "kernel"))
    capture = site.capture("querier", [mld.V2_MULTICAST_LISTENER_REPORT], mld.ALL_MLDV2_ROUTERS)
    time.sleep(1.1)  # the listener has answered that query (within 1 s): the join's report comes first
    site.join(GROUP)
    time.sleep(0.5)
    sent = site.send((mld.build_query(2, 0.5), mld.ALL_NODES, "kernel"), linger=1.0)  # answered within 0.5 s
    rows = packets(capture.stop())
    # the reports reached the querier's namespace, yet mldsock's sending socket has nothing queued:
    # its ICMP6_FILTER blocks every type; one opened with receive=(143,) heard them
    assert sent["queued"]["kernel"] == 0 and sent["queued"]["hearing"] >= 1, sent
    group = mld.aton(GROUP)
    records = []
    # Others report too: the querier's own kernel its join of ff02::16 (looped back), the bridge its
    # join of All-Snoopers ff02::6a from :: (br0 has no address; RFC 9777, 5.2.13 allows that).
    rows = [row for row in rows if mld.aton(row["src"]) == mld.aton(LISTENER)]
    assert rows, "no report from the listener"
    for row in rows:
        sent_as_mld(row, LISTENER, mld.ALL_MLDV2_ROUTERS)
        report = mld.parse(row["data"], row["src"], row["dst"])
        assert isinstance(report, mld.ReportV2), report
        records.extend(record for record in report.records if record.group == group)
    kinds = [mld.RECORD_TYPE_NAMES[record.type] for record in records]
    # RFC 9777 6.1: joining sends TO_EX({}) (repeated, robustness 2); the query is answered with IS_EX({})
    assert kinds[0] == "TO_EX" and "IS_EX" in kinds, kinds
    assert all(record.sources == () for record in records), records
