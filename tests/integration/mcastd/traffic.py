"""Multicast test traffic: a sender of numbered UDP datagrams and a receiver that counts them.

Standalone (stdlib only) so it runs inside any namespace or container as a script::

    traffic.py recv --iface eth0 --group 225.1.2.3 --port 5000
        joins the group on the interface, prints "ready", counts datagrams until SIGTERM/SIGINT
        (or --duration), then prints one JSON line: {"count", "unique", "first", "last", "sources", "missing",
        "ttls"} (ttls: {TTL: [sequence numbers]} as received, so forwarded copies can be told apart)
    traffic.py send --iface eth0 --group 225.1.2.3 --port 5000 --count 100 --interval 0.01 [--ttl 8]
        sends datagrams "SEQ SOURCE" with IP_MULTICAST_IF (by ifindex) and a TTL > 1 so they can
        cross a router; prints one JSON line {"sent": N}
    traffic.py burst --iface eth0 --group 225.1.2.3 --port 5000 --base 10.99.0.1 --sources 1000
        sends one datagram from each of N source addresses (raw socket, IP_HDRINCL): the
        "burst of new sources" case; the addresses need not be configured on the interface

    traffic.py capture --group 225.1.2.3 --port 5000 [--duration 60 --total 2000 --idle 5 --ready-file F]
        one AF_PACKET socket sees every frame arriving on every interface of the namespace: prints
        "ready" (and creates F), then on SIGTERM/SIGINT (or after --duration seconds, once --total
        datagrams arrived, or when none arrived for --idle seconds after the first) one JSON line
        {IFACE: {"count", "unique", "ttls", "macs", "bad_checksums"}} of the UDP datagrams to the group
        (ttls: {TTL or hop limit: datagrams}; macs: the frames' source MACs; IPv6 has no header
        checksum): many output segments counted by one process

IPv6 groups (any address with a colon) work the same way: hop limit for TTL, MLD joins, and for
``burst`` raw IPv6 packets with a UDP checksum (mandatory in IPv6).

Python helpers for tests: ``Receiver`` (start in a lab host, ``stop()`` returns the counts) and
``send()``; both only use ``lab.popen``/``lab.run``, so they work with any ``tests.lab`` Lab.
"""
import argparse
import contextlib
import json
import select
import signal
import socket
import struct
import sys
import time

SCRIPT = __file__
DEFAULT_TTL = 8
IP_RECVTTL, IP_TTL = 12, 2  # linux/in.h; the socket module names neither
IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT = 51, 52  # linux/in6.h


def _ifindex(name):
    return socket.if_nametoindex(name)


def _mreqn(group, ifindex):
    return struct.pack("=4s4si", socket.inet_aton(group), b"\0" * 4, ifindex)


def _is6(group):
    return ":" in group


def _receiving_socket(options):
    if not _is6(options.group):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((options.group, options.port))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, _mreqn(options.group, _ifindex(options.iface)))
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)  # each datagram's TTL: tells forwarded copies apart
        return sock
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.group, options.port, 0, _ifindex(options.iface)))
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                    socket.inet_pton(socket.AF_INET6, options.group) + struct.pack("=i", _ifindex(options.iface)))
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
    return sock


def receive(options):
    sock = _receiving_socket(options)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", flush=True)
    seqs = []
    sources = {}
    ttls = {}
    deadline = time.monotonic() + options.duration if options.duration else None
    while not stop and (deadline is None or time.monotonic() < deadline):
        try:
            readable = select.select([sock], [], [], 0.1)[0]
        except InterruptedError:
            continue
        while readable:
            try:
                data, ancillary, _flags, address = sock.recvmsg(2048, 64, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            seq = int(data.split()[0])
            seqs.append(seq)
            sources[address[0]] = sources.get(address[0], 0) + 1
            for level, kind, value in ancillary:
                if (level, kind) in ((socket.IPPROTO_IP, IP_TTL), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT)):
                    ttls.setdefault(struct.unpack("=i", value[:4])[0], []).append(seq)
    unique = sorted(set(seqs))
    missing = [] if not unique else sorted(set(range(unique[0], unique[-1] + 1)) - set(unique))
    print(json.dumps({"count": len(seqs), "unique": len(unique), "first": unique[0] if unique else None,
                      "last": unique[-1] if unique else None, "sources": sources, "missing": missing,
                      "ttls": {ttl: sorted(found) for ttl, found in ttls.items()}}), flush=True)


def _sending_socket(options):
    if not _is6(options.group):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _mreqn("0.0.0.0", _ifindex(options.iface)))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, options.ttl)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        return sock
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, _ifindex(options.iface))
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, options.ttl)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    return sock


def send(options):
    sock = _sending_socket(options)
    if options.source:
        sock.bind((options.source, 0))
    start = time.monotonic()
    for seq in range(options.first, options.first + options.count):
        sock.sendto(("%d %s" % (seq, options.source or "-")).encode(), (options.group, options.port))
        if options.interval:
            delay = start + (seq - options.first + 1) * options.interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    print(json.dumps({"sent": options.count}), flush=True)


def _checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def _datagram(source, group, port, ttl, payload, ident):
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0, ttl, socket.IPPROTO_UDP, 0,
                         socket.inet_aton(source), socket.inet_aton(group))
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + udp


def _datagram6(source, group, port, hops, payload):
    """An IPv6 header and a UDP datagram with its checksum (over the pseudo-header, as RFC 8200 8.1 asks)."""
    src, dst = socket.inet_pton(socket.AF_INET6, source), socket.inet_pton(socket.AF_INET6, group)
    length = 8 + len(payload)
    udp = struct.pack("!HHHH", 40000, port, length, 0) + payload
    pseudo = src + dst + struct.pack("!I3xB", length, socket.IPPROTO_UDP) + udp + b"\0" * (len(udp) % 2)
    udp = udp[:6] + struct.pack("!H", _checksum(pseudo) or 0xFFFF) + udp[8:]
    return struct.pack("!IHBB", 6 << 28, length, socket.IPPROTO_UDP, hops) + src + dst + udp


def burst(options):
    """One datagram from each of N consecutive source addresses, as fast as possible."""
    family = socket.AF_INET6 if _is6(options.group) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, options.iface.encode())
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 * 1024 * 1024)
    base = int.from_bytes(socket.inet_pton(family, options.base), "big")
    size = 4 if family == socket.AF_INET else 16
    for index in range(options.sources):
        source = socket.inet_ntop(family, (base + index).to_bytes(size, "big"))
        payload = ("%d %s" % (index, source)).encode()
        if family == socket.AF_INET:
            sock.sendto(_datagram(source, options.group, options.port, options.ttl, payload, index), (options.group, 0))
        else:
            sock.sendto(_datagram6(source, options.group, options.port, options.ttl, payload),
                        (options.group, 0, 0, _ifindex(options.iface)))
    print(json.dumps({"sent": options.sources}), flush=True)


ETH_P_ALL, PACKET_OUTGOING = 0x0003, 4  # linux/if_ether.h, linux/if_packet.h


def _frame(data, group, port):
    """(ttl, source MAC, header checksum valid, sequence) of a UDP datagram to group:port, or None."""
    if data[12:14] == b"\x08\x00" and len(data) >= 42:
        header = data[14:14 + (data[14] & 0x0F) * 4]
        if header[9] != socket.IPPROTO_UDP or header[16:20] != group:
            return None
        ttl, valid, udp = header[8], _checksum(header) == 0, data[14 + len(header):]
    elif data[12:14] == b"\x86\xdd" and len(data) >= 62:
        header = data[14:54]  # datagrams to a routed group carry no extension header
        if header[6] != socket.IPPROTO_UDP or header[24:40] != group:
            return None
        ttl, valid, udp = header[7], True, data[54:]
    else:
        return None
    if struct.unpack("!H", udp[2:4])[0] != port:
        return None
    return ttl, data[6:12].hex(":"), valid, udp[8:].split()[0]


def capture(options):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, 33, 64 * 1024 * 1024)  # SO_RCVBUFFORCE: 100 outputs' copies at once
    group = socket.inet_pton(socket.AF_INET6 if _is6(options.group) else socket.AF_INET, options.group)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    deadline = time.monotonic() + options.duration if options.duration else None
    if options.ready_file:
        with open(options.ready_file, "w", encoding="utf-8"):
            pass
    print("ready", flush=True)
    found = {}
    total, last = 0, None
    while True:
        if not stop and (deadline is not None and time.monotonic() >= deadline or 0 < options.total <= total):
            stop.append(1)
        try:
            data, address = sock.recvfrom(2048, socket.MSG_DONTWAIT)
        except BlockingIOError:
            if stop or (options.idle and last is not None and time.monotonic() - last >= options.idle):
                break
            select.select([sock], [], [], 0.05)
            continue
        except InterruptedError:
            continue
        seen = _frame(data, group, options.port) if address[2] != PACKET_OUTGOING else None
        if seen is None:
            continue
        row = found.setdefault(address[0], {"count": 0, "seqs": set(), "ttls": {}, "macs": set(), "bad_checksums": 0})
        total, last = total + 1, time.monotonic()
        row["count"] += 1
        row["seqs"].add(seen[3])
        row["ttls"][seen[0]] = row["ttls"].get(seen[0], 0) + 1
        row["macs"].add(seen[1])
        row["bad_checksums"] += 0 if seen[2] else 1
    print(json.dumps(dict((name, {"count": row["count"], "unique": len(row["seqs"]), "ttls": row["ttls"],
                                  "macs": sorted(row["macs"]), "bad_checksums": row["bad_checksums"]})
                          for name, row in found.items())), flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("recv", "send", "burst"):
        part = sub.add_parser(mode)
        part.add_argument("--iface", required=True)
        part.add_argument("--group", required=True)
        part.add_argument("--port", type=int, default=5000)
        part.add_argument("--ttl", type=int, default=DEFAULT_TTL)
    sub.choices["recv"].add_argument("--duration", type=float, default=0)
    sub.choices["send"].add_argument("--count", type=int, default=10)
    sub.choices["send"].add_argument("--first", type=int, default=1)
    sub.choices["send"].add_argument("--interval", type=float, default=0.01)
    sub.choices["send"].add_argument("--source", default=None, help="bind to this local address")
    sub.choices["burst"].add_argument("--base", required=True)
    sub.choices["burst"].add_argument("--sources", type=int, default=1000)
    part = sub.add_parser("capture")
    part.add_argument("--group", required=True)
    part.add_argument("--port", type=int, default=5000)
    part.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: at SIGTERM)")
    part.add_argument("--total", type=int, default=0, help="stop once this many datagrams arrived (all interfaces)")
    part.add_argument("--idle", type=float, default=0, help="stop when none arrived for this many seconds after one")
    part.add_argument("--ready-file", help="create this file once the socket is open (for callers without stdout)")
    return parser.parse_args(argv)


def main(argv=None):
    options = parse_args(argv)
    {"recv": receive, "send": send, "burst": burst, "capture": capture}[options.mode](options)
    return 0


# -- helpers for tests (they drive the script above inside lab hosts) ---------------------------
class Receiver:
    """A counting receiver running in a lab host until stop()."""

    def __init__(self, lab, host, iface, group, port=5000):
        import subprocess  # pylint: disable=import-outside-toplevel
        self.proc = lab.popen(host, [sys.executable, SCRIPT, "recv", "--iface", iface, "--group", group,
                                     "--port", str(port)], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            raise RuntimeError("receiver in %s did not start: %r" % (host, line))

    def stop(self):
        """Stop counting; returns the receiver's result dict."""
        self.proc.send_signal(signal.SIGTERM)
        out = self.proc.communicate(timeout=10)[0]
        return json.loads(out.strip().splitlines()[-1])


class Capture(Receiver):
    """Every datagram to a group arriving on any interface of a lab host, counted per interface until stop().

    stop() returns {interface name: {"count", "unique", "ttls", "macs", "bad_checksums"}}.
    """

    def __init__(self, lab, host, group, port=5000):  # pylint: disable=super-init-not-called
        import subprocess  # pylint: disable=import-outside-toplevel
        self.proc = lab.popen(host, [sys.executable, SCRIPT, "capture", "--group", group, "--port", str(port)],
                              stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            raise RuntimeError("capture in %s did not start: %r" % (host, line))


def send_datagrams(lab, host, iface, group, port=5000, count=10, interval=0.01, first=1, ttl=DEFAULT_TTL):
    """Send numbered datagrams from a lab host and wait until all are sent."""
    lab.run(host, [sys.executable, SCRIPT, "send", "--iface", iface, "--group", group, "--port", str(port),
                   "--count", str(count), "--interval", str(interval), "--first", str(first), "--ttl", str(ttl)])


def start_sender(lab, host, iface, group, port=5000, count=10, interval=0.01, first=1, ttl=DEFAULT_TTL):
    """Start a sender in the background (e.g. to run through a reload); returns the Popen."""
    return lab.popen(host, [sys.executable, SCRIPT, "send", "--iface", iface, "--group", group, "--port", str(port),
                            "--count", str(count), "--interval", str(interval), "--first", str(first),
                            "--ttl", str(ttl)])


def send_burst(lab, host, iface, group, base, sources, port=5000):
    """One datagram from each of ``sources`` addresses starting at ``base``."""
    lab.run(host, [sys.executable, SCRIPT, "burst", "--iface", iface, "--group", group, "--port", str(port),
                   "--base", base, "--sources", str(sources)])


if __name__ == "__main__":
    sys.exit(main())


def add_output_segments(lab, numbers, router="router", sink="sink"):
    """Output segments oN (``router``, 10.2.N.1/24) to kN (``sink``), made by one ip batch per namespace:
    a hundred veth pairs in well under a second, where one ``ip`` run each would take seconds."""
    lab.run(router, ["ip", "-batch", "-"], input="".join(
        "link add o%d type veth peer name k%d netns %s\nlink set o%d up\naddr add 10.2.%d.1/24 dev o%d\n"
        % (n, n, lab.ns(sink), n, n, n) for n in numbers))
    lab.run(sink, ["ip", "-batch", "-"], input="".join("link set k%d up\n" % n for n in numbers))


@contextlib.contextmanager
def fanout_lab(topology, prefix, segments):
    """``topology`` up (a unique name from ``prefix``) with output segments o1..o``segments`` from its router
    to its sink; removed, namespaces and links, when the block ends, whatever happened."""
    # Imported here: this file also runs alone inside lab hosts (python3 traffic.py recv ...), without tests/.
    from tests.lab.fixtures import unique_prefix  # pylint: disable=import-outside-toplevel
    from tests.lab.netlab import Lab  # pylint: disable=import-outside-toplevel
    lab = Lab(topology, prefix=unique_prefix(prefix))
    try:
        lab.up()
        add_output_segments(lab, range(1, segments + 1))
        yield lab
    finally:
        lab.down()
