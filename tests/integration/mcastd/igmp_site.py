"""A small switched site for the querier tests: namespaces, veth links and one snooping bridge.

    sender (192.0.2.10) --- src0 [router] sw0 (198.51.100.1) --- port-r  [switch: br0]  port-a --- recv-a
                                      dir0 (203.0.113.1) --- recv-c           port-b --- peer (198.51.100.2)

``switch`` holds a Linux bridge with snooping on and its own querier off, with short intervals so
that what takes minutes in the field takes seconds here.  ``peer`` is a second router (another
mcastd) or a host; ``recv-c`` sits on a direct link (no switch): what it receives is what mcastd
forwards.  Every namespace carries the test's prefix and is deleted at ``down()``, with every
process started through ``popen`` (stopped by PID).

Two small scripts run inside the namespaces: ``LISTEN`` joins a group and prints each datagram's
arrival time; ``CAPTURE`` prints every IGMP packet seen on an interface with its time.
"""
import contextlib
import json
import signal
import subprocess
import sys
import time

SENDER, ROUTER_UP, ROUTER_DOWN, RECV_A, PEER = "192.0.2.10", "192.0.2.1", "198.51.100.1", "198.51.100.20", \
    "198.51.100.2"
ROUTER_DIRECT, RECV_C = "203.0.113.1", "203.0.113.30"
# centiseconds, as the bridge takes them: groups expire 4 s after the last report; the bridge keeps
# believing in a querier it heard for 30 s, so a querier that stops cuts groups off (the field failure)
BRIDGE = {"mcast_snooping": 1, "mcast_querier": 0, "mcast_membership_interval": 400,
          "mcast_query_response_interval": 100, "mcast_querier_interval": 3000, "mcast_last_member_interval": 50}

# argv: IFACE GROUP PORT [igmp version]; prints "ready", then {"t": arrival} per datagram until SIGTERM
LISTEN = r"""
import json, signal, socket, struct, sys, time
iface, group, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((group, port))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack("=4s4si", socket.inet_aton(group), b"\0" * 4, socket.if_nametoindex(iface)))
print(json.dumps({"joined": time.monotonic()}), flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    data = s.recv(2048)
    print(json.dumps({"t": time.monotonic(), "seq": int(data.split()[0])}), flush=True)
"""

# argv: IFACE GROUP PORT RATE SECONDS; numbered datagrams with TTL 8
SEND = r"""
import socket, struct, sys, time
iface, group, port, rate, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
             struct.pack("=4s4si", b"\0" * 4, b"\0" * 4, socket.if_nametoindex(iface)))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
start = time.monotonic()
seq = 0
while time.monotonic() - start < seconds:
    seq += 1
    s.sendto(b"%d x" % seq, (group, port))
    time.sleep(max(0.0, start + seq / rate - time.monotonic()))
"""

# argv: IFACE; prints {"t", "src", "hex"} for every IGMP packet the interface receives
CAPTURE = r"""
import json, socket, struct, sys, time
iface = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
s.setsockopt(socket.SOL_SOCKET, 25, iface.encode())
print("ready", flush=True)
while True:
    data = s.recv(4096)
    ihl = (data[0] & 15) * 4
    print(json.dumps({"t": time.monotonic(), "src": socket.inet_ntoa(data[12:16]),
                      "dst": socket.inet_ntoa(data[16:20]), "ttl": data[8], "tos": data[1],
                      "options": data[20:ihl].hex(), "igmp": data[ihl:].hex()}), flush=True)
"""


def run(argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, text=True)


class Site:
    """The namespaces above; ``up()`` builds them, ``down()`` removes them and stops our processes."""

    HOSTS = ("sender", "router", "switch", "recv-a", "peer", "recv-c")

    def __init__(self, prefix):
        self.prefix = prefix
        self.processes = []

    def ns(self, host):  # pylint: disable=invalid-name
        return "%s-%s" % (self.prefix, host)

    def ip(self, host, *args, check=True):
        return run(["ip", "-n", self.ns(host), *args], check=check)

    def sh(self, host, command):
        return run(["ip", "netns", "exec", self.ns(host), "sh", "-c", command])

    def up(self):
        try:
            return self._build()
        except BaseException:
            self.down()
            raise

    def _build(self):
        for host in self.HOSTS:
            run(["ip", "netns", "add", self.ns(host)])
            self.ip(host, "link", "set", "dev", "lo", "up")
        self._veth("sender", "eth0", SENDER + "/24", "router", "src0", ROUTER_UP + "/24")
        self._veth("router", "sw0", ROUTER_DOWN + "/24", "switch", "port-r", None)
        self._veth("recv-a", "eth0", RECV_A + "/24", "switch", "port-a", None)
        self._veth("peer", "eth0", PEER + "/24", "switch", "port-b", None)
        self._veth("router", "dir0", ROUTER_DIRECT + "/24", "recv-c", "eth0", RECV_C + "/24")
        settings = [str(item) for pair in BRIDGE.items() for item in pair]
        self.ip("switch", "link", "add", "br0", "type", "bridge", *settings)
        for port in ("port-r", "port-a", "port-b"):
            self.ip("switch", "link", "set", "dev", port, "master", "br0")
        self.ip("switch", "link", "set", "dev", "br0", "up")
        for host, gateway in (("sender", ROUTER_UP), ("recv-a", ROUTER_DOWN), ("recv-c", ROUTER_DIRECT)):
            self.ip(host, "route", "add", "default", "via", gateway)
        return self

    def _veth(self, host_a, name_a, address_a, host_b, name_b, address_b):
        run(["ip", "link", "add", self.prefix[:6] + "tmpa", "type", "veth", "peer", "name", self.prefix[:6] + "tmpb"])
        for tmp, host, name, address in ((self.prefix[:6] + "tmpa", host_a, name_a, address_a),
                                         (self.prefix[:6] + "tmpb", host_b, name_b, address_b)):
            run(["ip", "link", "set", tmp, "netns", self.ns(host)])
            self.ip(host, "link", "set", "dev", tmp, "name", name)
            self.ip(host, "link", "set", "dev", name, "up")
            if address:
                self.ip(host, "addr", "add", address, "dev", name)

    def down(self):
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        for host in self.HOSTS:
            run(["ip", "netns", "del", self.ns(host)], check=False)

    # -- the Lab interface tests.integration.mcastd.runner uses -------------------------------------------
    def popen(self, host, argv, **kwargs):
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(host), *argv], **kwargs)  # pylint: disable=consider-using-with
        self.processes.append(proc)
        return proc

    def run(self, host, argv, check=True, **kwargs):
        kwargs.setdefault("text", True)
        if "stdout" not in kwargs and "stderr" not in kwargs:
            kwargs.setdefault("capture_output", True)
        return subprocess.run(["ip", "netns", "exec", self.ns(host), *argv], check=check, **kwargs)

    # -- traffic ------------------------------------------------------------------------------------------
    def listen(self, host, group, port=5000, iface="eth0"):
        return Lines(self.popen(host, [sys.executable, "-c", LISTEN, iface, group, str(port)],
                                stdout=subprocess.PIPE, text=True))

    def send(self, group, rate, seconds, port=5000):
        return self.popen("sender", [sys.executable, "-c", SEND, "eth0", group, str(port), str(rate), str(seconds)])

    def capture(self, host, iface="eth0"):
        lines = Lines(self.popen(host, [sys.executable, "-c", CAPTURE, iface], stdout=subprocess.PIPE, text=True))
        assert lines.proc.stdout.readline().strip() == "ready"
        return lines

    def bridge_value(self, name):
        return int(self.sh("switch", "cat /sys/class/net/br0/bridge/%s" % name).stdout)


class Lines:
    """A background process printing one JSON object per line; ``stop()`` returns them all."""

    def __init__(self, proc):
        self.proc = proc
        self.header = None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out = self.proc.communicate(timeout=10)[0]
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return rows


def per_second(times, start, seconds):
    """Datagrams per whole second after ``start``: a list of ``seconds`` counts."""
    counts = [0] * seconds
    for moment in times:
        index = int(moment - start)
        if 0 <= index < seconds:
            counts[index] += 1
    return counts


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
