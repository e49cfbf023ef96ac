# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Send or count numbered multicast datagrams; the lab's proof that routes forward (stdlib only).

    mcast_probe.py send --group 239.1.1.1:5001 [--group ff0e::1:1:5011 ...] --count 20 --ttl 8 [--interval 0.05]
    mcast_probe.py recv --group 239.1.1.1:5001 [--group ...] --interface eth0 --seconds 6 [--after 0]

GROUP:PORT is IPv4 or IPv6 (the port follows the last colon; ``[ff0e::1:1]:5011`` works too). IPv6
datagrams are sent with the hop limit ``--ttl`` and leave through the interface the host's routes
choose (table local), as the IPv4 ones do; ``recv`` joins IPv6 groups with MLD.
Each datagram carries "mcast-probe GROUP NUMBER". ``recv`` joins every group on the interface,
counts the distinct numbers it receives per group for the given time (after waiting ``--after``
seconds before it joins), and prints one JSON object:
{"interface": ..., "groups": {"239.1.1.1": {"received": 20, "numbers": [...], "duplicates": 0}}}.
``send`` prints {"groups": {"239.1.1.1": {"sent": 20}}}. Exit code 2 on bad arguments.
"""
import argparse
import json
import select
import socket
import struct
import sys
import time

PREFIX = b"mcast-probe "


def is_ipv6(group):
    return ":" in group


def group_port(text):
    group, _sep, port = text.rpartition(":")
    group = group[1:-1] if group.startswith("[") and group.endswith("]") else group
    try:
        socket.inet_pton(socket.AF_INET6 if is_ipv6(group) else socket.AF_INET, group)
        return group, int(port)
    except (OSError, ValueError):
        raise argparse.ArgumentTypeError("expected GROUP:PORT such as 239.1.1.1:5001 or ff0e::1:1:5011, got %r"
                                         % text) from None


def sender(family, ttl):
    sock = socket.socket(family, socket.SOCK_DGRAM)
    # TTL (hop limit) 1 never crosses a router: the default of 1 would prove nothing.
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    return sock


def send(groups, count, ttl, interval):
    sockets = {family: sender(family, ttl) for family in (socket.AF_INET, socket.AF_INET6)
               if any((family == socket.AF_INET6) == is_ipv6(group) for group, _port in groups)}
    for number in range(1, count + 1):
        for group, port in groups:
            sock = sockets[socket.AF_INET6 if is_ipv6(group) else socket.AF_INET]
            sock.sendto(PREFIX + ("%s %d" % (group, number)).encode(), (group, port))
        time.sleep(interval)
    return {"groups": {group: {"sent": count} for group, _port in groups}}


def listen(group, port, ifindex):
    if is_ipv6(group):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((group, port, 0, ifindex))
        # struct ipv6_mreq: group, interface index (an MLD report goes out at once).
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                        socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", ifindex))
        return sock
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((group, port))
    # struct ip_mreqn: group, local address (any), interface index.
    mreqn = socket.inet_aton(group) + socket.inet_aton("0.0.0.0") + struct.pack("@i", ifindex)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    return sock


def receive(groups, interface, seconds):
    ifindex = socket.if_nametoindex(interface)
    sockets = {listen(group, port, ifindex): group for group, port in groups}
    numbers = {group: set() for group, _port in groups}
    duplicates = dict.fromkeys(numbers, 0)
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _w, _x = select.select(list(sockets), [], [], left)
        for sock in ready:
            data = sock.recv(2048)
            fields = data[len(PREFIX):].split() if data.startswith(PREFIX) else []
            group = sockets[sock]
            if len(fields) != 2 or fields[0].decode() != group:
                continue
            number = int(fields[1])
            duplicates[group] += number in numbers[group]
            numbers[group].add(number)
    return {"interface": interface,
            "groups": {group: {"received": len(seen), "numbers": sorted(seen), "duplicates": duplicates[group]}
                       for group, seen in numbers.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    send_parser = sub.add_parser("send")
    send_parser.add_argument("--group", type=group_port, action="append", required=True)
    send_parser.add_argument("--count", type=int, default=20)
    send_parser.add_argument("--ttl", type=int, default=8)
    send_parser.add_argument("--interval", type=float, default=0.05)
    recv_parser = sub.add_parser("recv")
    recv_parser.add_argument("--group", type=group_port, action="append", required=True)
    recv_parser.add_argument("--interface", required=True)
    recv_parser.add_argument("--seconds", type=float, default=6)
    recv_parser.add_argument("--after", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.command == "send":
        result = send(args.group, args.count, args.ttl, args.interval)
    else:
        time.sleep(max(0.0, args.after))
        result = receive(args.group, args.interface, args.seconds)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
