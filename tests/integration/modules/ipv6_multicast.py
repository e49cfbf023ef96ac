"""IPv6 multicast on the multi-homed host of ``multihomed.py``: addresses, the kernel's answer, real datagrams.

The host sends without ``IPV6_MULTICAST_IF``, so the kernel's routing picks the interface; the peer
counts what arrives on each of its interfaces (``p0``, ``p10``, ``p20``: the other ends of ``eth0``,
``trunk.10`` and ``trunk.20``), each socket bound to its interface.
"""
import json
import signal
import subprocess
import sys
import time

from tests.integration.modules.multihomed import HOST

PEER = "peer"
PEER_OF = {"eth0": "p0", "trunk.10": "p10", "trunk.20": "p20"}
# host address, peer address (nodad: usable at once, no duplicate address detection to wait for)
ADDRESSES = {"eth0": ("2001:db8:100::2/64", "2001:db8:100::1/64"),
             "trunk.10": ("2001:db8:10::1/64", "2001:db8:10::2/64"),
             "trunk.20": ("2001:db8:20::1/64", "2001:db8:20::2/64")}
PORT = 5006
DATAGRAMS = 20

RECEIVER = r"""
import json, select, signal, socket, struct, sys
group, port, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
sockets = {}
for name in names:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name.encode())
    sock.bind(("::", port))
    mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", socket.if_nametoindex(name))
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    sockets[sock] = name
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
counts = dict.fromkeys(names, 0)
print("ready", flush=True)
while not stop:
    try:
        readable = select.select(list(sockets), [], [], 0.05)[0]
    except InterruptedError:
        continue
    for sock in readable:
        sock.recv(2048)
        counts[sockets[sock]] += 1
print(json.dumps(counts), flush=True)
"""

# No IPV6_MULTICAST_IF and no scope ID: the route decides (hop limit 1 is enough on a veth).
SENDER = r"""
import socket, sys, time
group, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for seq in range(count):
    sock.sendto(b"%d" % seq, (group, port))
    time.sleep(0.002)
"""


def add_addresses(host):
    """Global IPv6 addresses on both ends of every link (``replace``: idempotent)."""
    for iface, (mine, theirs) in ADDRESSES.items():
        host.ip("-6", "address", "replace", mine, "dev", iface, "nodad")
        host.lab.run(PEER, ["ip", "-6", "address", "replace", theirs, "dev", PEER_OF[iface], "nodad"])


def route_get(host, group):
    """The interface the kernel of the host picks for ``group`` (``ip -6 route get``)."""
    return json.loads(host.ip("-6", "-j", "route", "get", group).stdout)[0]["dev"]


def egress(host, group, count=DATAGRAMS):
    """Datagrams the peer received from the host on the far end of each host interface, by host interface."""
    names = dict((peer, iface) for iface, peer in PEER_OF.items())
    receiver = host.lab.popen(PEER, [sys.executable, "-c", RECEIVER, group, str(PORT), *names],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout.readline().strip() == "ready"
        host.lab.run(HOST, [sys.executable, "-c", SENDER, group, str(PORT), str(count)])
        time.sleep(0.2)
    finally:
        receiver.send_signal(signal.SIGTERM)
    counts = json.loads(receiver.communicate(timeout=10)[0].strip().splitlines()[-1])
    return dict((names[peer], received) for peer, received in counts.items())


def only(iface, count=DATAGRAMS):
    """What ``egress`` returns when every datagram left through ``iface``."""
    return dict((name, count if name == iface else 0) for name in PEER_OF)


def kernel_multicast_routes(host):
    """The kernel's own ``multicast ff00::/8 dev X proto kernel`` routes of table local, as (dev, metric)."""
    return sorted((entry["dev"], entry["metric"])
                  for entry in json.loads(host.ip("-6", "-j", "route", "show", "table", "local").stdout)
                  if entry.get("type") == "multicast" and entry.get("protocol") == "kernel")


def kernel_first(host):
    """The interface of the first of the kernel's own ff00::/8 routes: the one it uses when no other route matches."""
    return [entry["dev"] for entry in json.loads(host.ip("-6", "-j", "route", "show", "table", "local").stdout)
            if entry.get("type") == "multicast" and entry.get("protocol") == "kernel"][0]
