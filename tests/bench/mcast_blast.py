"""Send UDP datagrams to a multicast group as fast as one thread on one CPU can, and what that CPU time cost.

Standalone (stdlib only), run inside a lab namespace by tests/bench/bench_mcastd.py::

    mcast_blast.py --iface eth0 --group 239.1.1.1 --seconds 2 [--idle 0.5] [--ttl 16] [--cpu N]

It pins itself to one CPU (default: the last one it may run on) and sends for ``--seconds``. A
veth transmit hands each frame to the peer's receive path on the same CPU, in the sender's own
softirq, so whatever the datagram causes in the lab (a router's forwarding, the copies' arrival at
the sinks) runs on that CPU: in this thread's context, or in that CPU's ksoftirqd when the kernel
defers the rest. Both are read from /proc/.../schedstat (the scheduler's run time in ns, precise,
softirq time included: without CONFIG_IRQ_TIME_ACCOUNTING it is charged to the task it
interrupts; with it, it would be missing and the bench says so), so other programs on the machine
do not count. ksoftirqd's run time in an idle window of ``--idle`` seconds just before (what other
traffic costs it) is reported too. Prints one JSON line: {"sent", "seconds", "self_ns",
"ksoftirqd_ns", "idle_seconds", "ksoftirqd_idle_ns", "cpu"}.
"""
import argparse
import json
import os
import socket
import struct
import sys
import time


def run_ns(path):
    """The scheduler's run time of a task in ns: the first field of its schedstat."""
    with open(path, encoding="ascii") as handle:
        return int(handle.read().split()[0])


def ksoftirqd(cpu, proc="/proc"):
    """The schedstat path of the CPU's ksoftirqd thread."""
    wanted = "ksoftirqd/%d" % cpu
    for entry in os.listdir(proc):
        if entry.isdigit():
            try:
                with open(os.path.join(proc, entry, "comm"), encoding="ascii") as handle:
                    if handle.read().strip() == wanted:
                        return os.path.join(proc, entry, "schedstat")
            except OSError:
                continue
    raise RuntimeError("no %s thread in %s" % (wanted, proc))


def blast(sock, address, payload, seconds):
    """Send ``payload`` to ``address`` until ``seconds`` passed; (datagrams sent, seconds taken)."""
    sent = 0
    started = time.monotonic()
    deadline = started + seconds
    sendto = sock.sendto
    while True:
        for _datagram in range(64):  # the clock read 64 times less often than a datagram is sent
            sendto(payload, address)
        sent += 64
        now = time.monotonic()
        if now >= deadline:
            return sent, now - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iface", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--ttl", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--idle", type=float, default=0.5)
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to run on (default: the last allowed)")
    options = parser.parse_args(argv)
    cpu = options.cpu if options.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifindex = socket.if_nametoindex(options.iface)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, struct.pack("=4s4si", b"\0" * 4, b"\0" * 4, ifindex))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, options.ttl)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    payload = b"mcast_blast datagram: 48 bytes of UDP payload.\n\n"
    address = (options.group, options.port)
    helper, me = ksoftirqd(cpu), "/proc/thread-self/schedstat"
    idle_start = run_ns(helper)
    time.sleep(options.idle)
    helper_start, my_start = run_ns(helper), run_ns(me)
    sent, seconds = blast(sock, address, payload, options.seconds)
    my_end, helper_end = run_ns(me), run_ns(helper)
    print(json.dumps({"sent": sent, "seconds": seconds, "self_ns": my_end - my_start,
                      "ksoftirqd_ns": helper_end - helper_start, "idle_seconds": options.idle,
                      "ksoftirqd_idle_ns": helper_start - idle_start, "cpu": cpu}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
