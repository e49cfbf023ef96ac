"""Wire probes for the querier benchmark (stdlib only: runs inside any lab namespace as a script).

    querier_probe.py sniff --ifaces pa,pb,p1 --group 239.77.0.1
        one AF_PACKET socket for the whole namespace; prints one JSON line per IGMP message seen on
        the named interfaces (an IGMPv3 report whose first record is TO_IN {} counts as a leave),
        and per datagram to GROUP leaving or entering them:
        {"t": MONOTONIC, "if": NAME, "dir": "in"|"out", "kind": "query"|"report"|"leave"|"data",
         "src": ADDR, "group": ADDR, "version": 1|2|3, "mrt": SECONDS}
        ("version" and "mrt", the maximum response time, for queries only). Until SIGTERM.
    querier_probe.py member --iface eth0 --group 239.77.0.1
        a host that joins and leaves on command: reads "join", "leave" or "quit" lines on stdin and
        answers "joined T" / "left T" with the monotonic time of the socket call.

CLOCK_MONOTONIC is one clock for the whole machine (network namespaces do not change it), so the
times of both probes and of the benchmark compare directly.
"""
import argparse
import json
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
IGMP_QUERY, IGMP_V1_REPORT, IGMP_V2_REPORT, IGMP_V2_LEAVE, IGMP_V3_REPORT = 0x11, 0x12, 0x16, 0x17, 0x22
V3_MODE_IS_INCLUDE, V3_CHANGE_TO_INCLUDE = 1, 3
REPORT_KINDS = {IGMP_V1_REPORT: "report", IGMP_V2_REPORT: "report", IGMP_V2_LEAVE: "leave"}


def _igmp_code_seconds(code):
    """Max Resp Code in seconds (RFC 9776 4.1.1: a float above 127)."""
    if code >= 128:
        code = ((code & 0x0F) | 0x10) << (((code >> 4) & 0x07) + 3)
    return code / 10.0


def igmp_event(payload):
    """The kind, group and (for queries) version and max response time of one IGMP message, or None."""
    if len(payload) < 8:
        return None
    kind, code = payload[0], payload[1]
    group = socket.inet_ntoa(payload[4:8])
    if kind == IGMP_QUERY:
        version = 3 if len(payload) >= 12 else (2 if code else 1)
        return {"kind": "query", "group": group, "version": version,
                "mrt": _igmp_code_seconds(code) if version == 3 else code / 10.0}
    if kind == IGMP_V3_REPORT:
        return _v3_report_event(payload)
    if kind in REPORT_KINDS:
        return {"kind": REPORT_KINDS[kind], "group": group}
    return None


def _v3_report_event(payload):
    """An IGMPv3 report by its first group record: TO_IN {} is how a v3 host leaves (RFC 9776 5.1)."""
    if len(payload) < 16:
        return None
    record_type, sources = payload[8], struct.unpack("!H", payload[10:12])[0]
    leaving = record_type in (V3_MODE_IS_INCLUDE, V3_CHANGE_TO_INCLUDE) and sources == 0
    return {"kind": "leave" if leaving else "report", "group": socket.inet_ntoa(payload[12:16])}


def frame_event(frame, group):
    """The event of one Ethernet frame (IGMP, or UDP to the group), or None for anything else."""
    if len(frame) < 34 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    header = frame[14:]
    length = (header[0] & 0x0F) * 4
    proto = header[9]
    source, destination = socket.inet_ntoa(header[12:16]), socket.inet_ntoa(header[16:20])
    if proto == socket.IPPROTO_IGMP:
        event = igmp_event(header[length:])
    elif proto == socket.IPPROTO_UDP and destination == group:
        event = {"kind": "data", "group": group}
    else:
        return None
    if event is not None:
        event["src"] = source
    return event


def sniff(options):
    wanted = set(options.ifaces.split(","))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(json.dumps({"ready": True}), flush=True)
    while True:
        frame, address = sock.recvfrom(2048)
        stamp = time.monotonic()
        name = address[0]  # (ifname, protocol, pkttype, hatype, hwaddr)
        if name not in wanted:
            continue
        event = frame_event(frame, options.group)
        if event is None:
            continue
        event.update({"t": stamp, "if": name, "dir": "out" if address[2] == PACKET_OUTGOING else "in"})
        print(json.dumps(event), flush=True)


def member(options):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mreqn = struct.pack("=4s4si", socket.inet_aton(options.group), b"\0" * 4, socket.if_nametoindex(options.iface))
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "join":
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
            print("joined %.6f" % time.monotonic(), flush=True)
        elif command == "leave":
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, mreqn)
            print("left %.6f" % time.monotonic(), flush=True)
        elif command == "quit":
            break
        else:
            print("error unknown command %r (use join, leave or quit)" % command, flush=True)
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sniffer = sub.add_parser("sniff")
    sniffer.add_argument("--ifaces", required=True, help="comma-separated interface names")
    sniffer.add_argument("--group", required=True)
    host = sub.add_parser("member")
    host.add_argument("--iface", required=True)
    host.add_argument("--group", required=True)
    return parser.parse_args(argv)


def main(argv=None):
    options = parse_args(argv)
    return {"sniff": sniff, "member": member}[options.mode](options) or 0


if __name__ == "__main__":
    sys.exit(main())
