"""Benchmark: mcastd against smcroute (apt), side by side in the same run, in lab namespaces.

Run as root: ``make bench-mcastd`` (``.venv/bin/python tests/bench/bench_mcastd.py``).  Both daemons
get the same configuration file (mcastd reads smcroute's grammar) in the router namespace of a
netns lab (sender on trunk.10, receivers on trunk.20/trunk.30).  Printed: a table with both and the
ratio mcastd/smcroute for

- time from start until 2,000 and until 10,000 (S,G) routes are in the kernel;
- time of a reload (SIGHUP) that changes 1 route of 10,000, until the new entry is in and the old gone;
- a burst of 1,000 new sources sending one datagram each to a (*,G) route: entries learned, time;
- datagrams lost at the start of new (*,G) flows sent as fast as the sender can;
- peak RSS (VmHWM) with 10,000 routes;
- the same for IPv6 (the lab's 2001:db8::/32 addresses): routes, reload, and a burst and
  flow starts on (*,G) routes of one group each, which mcastd serves with kernel (*,G) entries
  while smcroute learns every source from an upcall;
- routes beyond 31 outputs (issue 12), in a lab of their own with 100 output segments: one (S,G)
  route to 31, 60 and 100 outputs (outputs reached, datagrams/s at each, the router's CPU per
  datagram relative to the 31-output MFC entry; see blast_trial for how the CPU is measured) and
  the time from start until 1,000 routes of 40 outputs are installed.

``--only overflow`` measures the last rows alone (printed only: the stored results and the docs
come from a full run).

The kernel's table is read from /proc/PID/net/ip_mr_cache (ip6_mr_cache) of the daemon (its network
namespace).
This is a script that prints numbers, not a timed test: it asserts nothing.

``--results FILE`` also writes the raw numbers as JSON and ``--update-docs`` rewrites the table of
docs/mcastd.md from them (between its markers); ``--from-results FILE --update-docs`` renders a stored
run again without measuring.  The docs keep the run they show in docs/bench/bench-mcastd.json, and
tests/unit/test_doc_claims.py checks that the table is that file's rendering.
"""
import argparse
import gzip
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.lab.fixtures import unique_prefix  # noqa: E402  pylint: disable=wrong-import-position
from tests.lab.netlab import Lab  # noqa: E402  pylint: disable=wrong-import-position
from tests.integration.mcastd.traffic import Receiver, add_output_segments, send_burst, send_datagrams  # noqa: E402  pylint: disable=wrong-import-position

MCASTD = str(REPO / "tests" / "bin" / "mcastd")
MCASTD_PACKAGE = str(REPO / "plugins" / "module_utils" / "mcastd")
PHYINTS = "phyint trunk.10 enable\nphyint trunk.20 enable\nphyint trunk.30 enable\n"
TEMPLATE = "mroute from trunk.10 group 225.5.0.0/16 to trunk.20\n"
BURST_GROUP = "225.5.5.5"
FLOW_DATAGRAMS = 200
FLOWS = 5
BURST_SOURCES = 1000
WAIT = 60.0
BURST_GROUP6 = "ff0e::5:5"


def hexkey(address):
    """An address as /proc/net/ip_mr_cache prints it (the __be32 as a host-order %08X)."""
    return "%08X" % int.from_bytes(socket.inet_aton(address), sys.byteorder)


def hexkey6(address):
    """An address as /proc/net/ip6_mr_cache prints it."""
    return ipaddress.IPv6Address(address).exploded


def route_sg(index, family=4):
    """(source, group) of the index-th (S,G) route."""
    if family == 6:
        return "2001:db8:20::%x" % (index + 1), "ff0e::30:%x" % (index + 1)
    return "10.20.%d.%d" % (index // 250, index % 250 + 1), "225.30.%d.%d" % (index // 250, index % 250 + 1)


REPLACEMENT = {4: ("10.99.0.1", "225.99.0.1"), 6: ("2001:db8:99::1", "ff0e::99:1")}


def routes_config(count, replace=None, family=4):
    lines = ["mroute from trunk.10 source %s group %s to trunk.20\n" % route_sg(index, family) for index in range(count)]
    if replace is not None:
        lines[replace] = "mroute from trunk.10 source %s group %s to trunk.20\n" % REPLACEMENT[family]
    return PHYINTS + "".join(lines)


class Daemon:
    """One daemon process (mcastd or smcrouted) in the lab's router namespace."""

    def __init__(self, kind, lab, workdir):
        self.kind = kind
        self.lab = lab
        self.workdir = Path(workdir)
        self.config = self.workdir / ("%s.conf" % kind)
        self.proc = None
        self.started = None

    def argv(self):
        if self.kind == "mcastd":
            return [sys.executable, MCASTD, "-n", "-f", str(self.config), "-u", str(self.workdir / "mcastd.sock"),
                    "-p", str(self.workdir / "mcastd.pid"), "-l", "warning"]
        return ["smcrouted", "-n", "-N", "-i", "mcbench", "-f", str(self.config), "-P", str(self.workdir / "smc.pid"),
                "-u", str(self.workdir / "smc.sock"), "-l", "notice"]

    def start(self, config_text):
        self.config.write_text(config_text)
        log = open(self.workdir / ("%s.log" % self.kind), "ab")  # pylint: disable=consider-using-with
        self.started = time.monotonic()
        self.proc = self.lab.popen("router", self.argv(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def mfc_text(self, family=4):
        try:
            with open("/proc/%d/net/%s" % (self.proc.pid, "ip_mr_cache" if family == 4 else "ip6_mr_cache"),
                      encoding="ascii") as handle:
                return handle.read()
        except OSError:
            return ""

    def entries(self, family=4):
        return max(0, self.mfc_text(family).count("\n") - 1)

    def forwarding_entries(self, group, family=4):
        """Entries of ``group`` with outputs (IPv6: the output list is "MIF:TTL" pairs after 6 fields)."""
        if family == 4:
            key = hexkey(group)
            return sum(1 for line in self.mfc_text().splitlines() if line.startswith(key) and ":" in line)
        key = hexkey6(group)
        return sum(1 for line in self.mfc_text(6).splitlines() if line.startswith(key) and len(line.split()) > 6)

    def wait_until(self, predicate, timeout=WAIT):
        """Seconds (monotonic) when predicate() first held, or None after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return time.monotonic()
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s" % (self.kind, self.proc.returncode))
            time.sleep(0.002)
        return None

    def last_words(self):
        """The last line of this daemon's log (a daemon that exited: why)."""
        lines = (self.workdir / ("%s.log" % self.kind)).read_text(encoding="utf-8", errors="replace").splitlines()
        return lines[-1].strip() if lines else ""

    def peak_rss_mb(self):
        with open("/proc/%d/status" % self.proc.pid, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
        return None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def measure_load(daemon, count, family=4):
    daemon.start(routes_config(count, family=family))
    done = daemon.wait_until(lambda: daemon.entries(family) >= count)
    return None if done is None else done - daemon.started


def _proc_key(source, group, family):
    if family == 4:
        return "%s %s" % (hexkey(group), hexkey(source))
    return "%s %s" % (hexkey6(group), hexkey6(source))


def measure_reload(daemon, count, family=4):
    """Start with ``count`` routes, change one, SIGHUP; seconds until new in and old gone. Also peak RSS."""
    daemon.start(routes_config(count, family=family))
    if daemon.wait_until(lambda: daemon.entries(family) >= count) is None:
        return False, None  # never loaded: nothing to reload
    time.sleep(0.5)
    replaced = count // 2
    old = _proc_key(*route_sg(replaced, family), family=family)
    new = _proc_key(*REPLACEMENT[family], family=family)
    daemon.config.write_text(routes_config(count, replace=replaced, family=family))
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGHUP)

    def switched():
        text = daemon.mfc_text(family)
        return new in text and old not in text
    done = daemon.wait_until(switched)
    time.sleep(0.5)
    return (None if done is None else done - started), daemon.peak_rss_mb()


def measure_burst(daemon, lab, family=4):
    """A datagram from each of 1,000 new sources: (entries with outputs, seconds until the last came, forwarded).

    IPv4: a (*,G/16) template, learned per source by both.  IPv6: a (*,G) route of the group, which
    mcastd serves with one kernel (*,G) entry (no entry per source) and smcroute learns per source.
    """
    group = BURST_GROUP if family == 4 else BURST_GROUP6
    daemon.start(PHYINTS + (TEMPLATE if family == 4 else "mroute from trunk.10 group %s to trunk.20\n" % group))
    time.sleep(1.0)
    receiver = Receiver(lab, "recv20", "eth0", group)
    last_count = daemon.forwarding_entries(group, family)  # IPv6 mcastd: its one kernel (*,G) entry, already there
    started = last_change = time.monotonic()
    send_burst(lab, "sender", "eth0", group, base="10.77.0.1" if family == 4 else "2001:db8:77::1",
               sources=BURST_SOURCES)
    while time.monotonic() - last_change < 1.5 and time.monotonic() - started < 15:
        count = daemon.forwarding_entries(group, family)
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        time.sleep(0.005)
    forwarded = receiver.stop()["count"]
    return last_count, last_change - started, forwarded


def measure_flow_start(daemon, lab, family=4):
    """Datagrams lost at the start of new flows: IPv4 on a (*,G/16) template, IPv6 on (*,G) routes of one group."""
    groups = ["225.5.9.%d" % (flow + 1) if family == 4 else "ff0e::5:9:%d" % (flow + 1) for flow in range(FLOWS)]
    if family == 4:
        daemon.start(PHYINTS + TEMPLATE)
    else:
        daemon.start(PHYINTS + "".join("mroute from trunk.10 group %s to trunk.20\n" % group for group in groups))
    time.sleep(1.0)
    lost = 0
    for group in groups:
        receiver = Receiver(lab, "recv20", "eth0", group)
        send_datagrams(lab, "sender", "eth0", group, count=FLOW_DATAGRAMS, interval=0)
        time.sleep(0.2)
        result = receiver.stop()
        lost += FLOW_DATAGRAMS - result["unique"]
        if result["unique"] < FLOW_DATAGRAMS:
            missing = sorted(set(range(1, FLOW_DATAGRAMS + 1)) - set(range(result["first"] or 1, (result["last"] or 0) + 1)))
            print("  %s lost datagrams of %s: first received %s, gaps %s, before/after %s" % (
                daemon.kind, group, result["first"], result["missing"][:10], missing[:10]), file=sys.stderr)
    return lost


def run_all(lab, kind, workdir):
    """Every measurement for one daemon; a fresh process per measurement."""
    results = {}
    scenarios = []
    for family, suffix in ((4, ""), (6, "6")):
        scenarios += [
            ("load2k" + suffix, lambda d, family=family: measure_load(d, 2000, family)),
            ("load10k" + suffix, lambda d, family=family: measure_load(d, 10000, family)),
            ("reload" + suffix, lambda d, family=family: measure_reload(d, 10000, family)),
            ("burst" + suffix, lambda d, family=family: measure_burst(d, lab, family)),
            ("flowstart" + suffix, lambda d, family=family: measure_flow_start(d, lab, family)),
        ]
    results.update(run_scenarios(scenarios, lab, kind, workdir))
    return results


def run_scenarios(scenarios, lab, kind, workdir, label=""):
    """{name: result} of each (name, measure) scenario, each on a fresh daemon, stopped whatever happened."""
    results = {}
    for name, scenario in scenarios:
        daemon = Daemon(kind, lab, workdir)
        try:
            results[name] = scenario(daemon)
        finally:
            daemon.stop()
        print("  %s %s%s: %s" % (kind, label, name, results[name]), file=sys.stderr, flush=True)
    return results


# ------------------------------------------------------------------- routes beyond 31 outputs (issue 12)
# A lab of its own: a sender, the router and one sink namespace holding the far ends of 100 output
# segments o1..o100 (veth pairs oN in the router, kN in the sink), as tests/integration/mcastd/
# test_overflow_daemon.py builds it. Both daemons get the same file: a phyint line for up0 and every
# output (in that order, so both give VIFs to up0 and o1..o31 and have none left for o32..o100) and
# the (S,G) routes.
OVERFLOW_SEGMENTS = 100
OVERFLOW_SIZES = (31, 60, 100)
OVERFLOW_TRIALS = 3
BLAST_SECONDS = 2.0
BLAST_IDLE = 0.5
INSTALL_ROUTES = 1000
INSTALL_OUTPUTS = 40
OVERFLOW_SENDER = "10.1.0.10"
OVERFLOW_GROUP = "239.1.1.1"
BLAST = str(REPO / "tests" / "bench" / "mcast_blast.py")
OVERFLOW_TOPOLOGY = {
    "hosts": {"sender": {}, "router": {}, "sink": {}},
    "segments": {"in": {"ends": [{"host": "sender", "iface": "eth0", "address": OVERFLOW_SENDER + "/24"},
                                 {"host": "router", "iface": "up0", "address": "10.1.0.1/24"}]}},
}
# Log lines about interfaces a daemon could not give a VIF (smcroute 2.5.6: "Not enough available VIFs to
# create o32"), matched loosely and counted in the record of the 1,000 routes.
VIF_TROUBLE = ("exhaust", "vif", "too many")


def overflow_lab(prefix):
    """The lab of the overflow rows (not yet up)."""
    return Lab(OVERFLOW_TOPOLOGY, prefix=prefix)


def overflow_phyints(count):
    return "phyint up0 enable\n" + "".join("phyint o%d enable\n" % n for n in range(1, count + 1))


def overflow_route(group, count, source=OVERFLOW_SENDER):
    return "mroute from up0 source %s group %s to %s\n" % (
        source, group, " ".join("o%d" % n for n in range(1, count + 1)))


def install_config(routes=INSTALL_ROUTES, outputs=INSTALL_OUTPUTS):
    return overflow_phyints(outputs) + "".join(
        overflow_route("239.3.%d.%d" % (index // 250, index % 250 + 1), outputs) for index in range(routes))


def sink_counters(lab):
    """{N: frames received so far on kN} in the sink namespace: the kernel's own count of what arrived there."""
    links = json.loads(lab.run("sink", ["ip", "-s", "-j", "link", "show"]).stdout)
    return dict((int(link["ifname"][1:]), link["stats64"]["rx"]["packets"]) for link in links
                if link["ifname"].startswith("k") and link["ifname"][1:].isdigit())


def trial_figures(blast, received, route_size):
    """One trial, reduced: what was sent, what arrived where, and the CPU time it cost.

    ``blast`` is mcast_blast.py's line; ``received`` maps N to the frames that arrived on kN during the
    trial; ``route_size`` is how many outputs the route names (o1..oN; 0 when nothing routes). An
    output is reached when at least half of the datagrams sent arrived there; ``delivered`` is the
    least any reached output received, and ``outside`` the most any output the route does not name
    received (0 unless something else flows). ``cpu_s`` is the sending CPU's time spent on the trial:
    the sender's run time and its CPU's ksoftirqd's, less what that ksoftirqd did as long before.
    """
    named = [received.get(n, 0) for n in range(1, route_size + 1)]
    reached = [count for count in named if count * 2 >= blast["sent"]]
    helper = blast["ksoftirqd_ns"] - blast["ksoftirqd_idle_ns"] * blast["seconds"] / blast["idle_seconds"]
    return {"sent": blast["sent"], "seconds": blast["seconds"], "reached": len(reached),
            "delivered": min(reached) if reached else 0,
            "outside": max([count for n, count in received.items() if n > route_size] or [0]),
            "cpu_s": (blast["self_ns"] + max(0.0, helper)) / 1e9, "ksoftirqd_s": blast["ksoftirqd_ns"] / 1e9}


def cpu_per_datagram_us(trial):
    """The sending CPU's time per datagram sent, in µs: the sender and everything its datagrams caused."""
    return trial["cpu_s"] / trial["sent"] * 1e6


def blast_trial(lab, route_size):
    """Send for BLAST_SECONDS from the sender (pinned to one CPU) and count the frames at every sink interface.

    How the CPU is measured (see mcast_blast.py): a veth transmit hands the frame to the peer's
    receive path on the same CPU, in the sender's own softirq (or that CPU's ksoftirqd), so the
    router's forwarding of each datagram (its MFC entry's copies and nftables' dup copies) and each
    copy's arrival at the sink run on the CPU the sender is pinned to, because of its sendto().
    Network namespaces have no CPU accounting of their own, and /proc/stat counts every program on
    the machine, so the CPU time is the scheduler's run time of the sender and of that CPU's
    ksoftirqd (softirq time is charged to the task it interrupts). The same sender with no daemon
    (the router drops every datagram at its input) gives the part that is not forwarding; the rest,
    per datagram, is the router's forwarding to its outputs (overflow_figures subtracts it), the
    copies' hand-over to the sinks included, as a NIC driver's transmit would be. The datagrams are
    counted where they arrive: the kernel's receive counter of each kN in the sink.
    """
    before = sink_counters(lab)
    done = lab.run("sender", [sys.executable, BLAST, "--iface", "eth0", "--group", OVERFLOW_GROUP,
                              "--seconds", str(BLAST_SECONDS), "--idle", str(BLAST_IDLE)])
    time.sleep(0.3)  # the last copies are in the sink's backlog at most this long
    after = sink_counters(lab)
    received = dict((n, after.get(n, 0) - count) for n, count in before.items())
    return trial_figures(json.loads(done.stdout.strip().splitlines()[-1]), received, route_size)


def measure_rate(daemon, lab, size):
    """One (S,G) route to o1..oSIZE: OVERFLOW_TRIALS trials of a sender at full speed."""
    daemon.start(overflow_phyints(OVERFLOW_SEGMENTS) + overflow_route(OVERFLOW_GROUP, size))
    try:
        if daemon.wait_until(lambda: daemon.forwarding_entries(OVERFLOW_GROUP) >= 1, timeout=30) is None:
            return {"installed": False, "kernel_outputs": 0, "trials": []}
    except RuntimeError:  # it exited: what it said last
        return {"installed": False, "exited": daemon.proc.returncode, "said": daemon.last_words(), "trials": []}
    time.sleep(1.0)  # mcastd renders its nftables table right after the kernel entries; settle either way
    kernel = [len(line.split()[6:]) for line in daemon.mfc_text().splitlines()
              if line.startswith(hexkey(OVERFLOW_GROUP))]
    if daemon.proc.poll() is not None:
        # smcroute 2.5.6 may add the entry before it aborts (its stack check fails when the parser returns; a
        # run saw the entry first): the kernel drops the entry with its routing socket, so it counts as exited.
        return {"installed": False, "exited": daemon.proc.returncode, "said": daemon.last_words(), "trials": []}
    result = {"installed": True, "kernel_outputs": max(kernel or [0]),
              "trials": [blast_trial(lab, size) for _trial in range(OVERFLOW_TRIALS)]}
    if daemon.proc.poll() is not None:  # during the trials: they say what it forwarded before
        result.update(exited=daemon.proc.returncode, said=daemon.last_words())
    return result


def _nft_tables(lab):
    return lab.run("router", ["nft", "list", "tables", "ip"], check=False).stdout


def nft_copies(lab):
    """{flow chain: dup statements} of table ip mcastd in the router ({} without it)."""
    listing = lab.run("router", ["nft", "-j", "list", "table", "ip", "mcastd"], check=False)
    if listing.returncode != 0:
        return {}
    copies = {}
    for item in json.loads(listing.stdout)["nftables"]:
        rule = item.get("rule")
        if rule and rule["chain"] != "prerouting":
            copies[rule["chain"]] = copies.get(rule["chain"], 0) + sum(1 for expr in rule["expr"] if "dup" in expr)
    return copies


def measure_install(daemon, lab):
    """INSTALL_ROUTES (S,G) routes of INSTALL_OUTPUTS outputs each: seconds from the daemon's start until all are in.

    Installed means: the kernel's MFC holds INSTALL_ROUTES entries and, for mcastd, table ip mcastd
    exists in the router's nftables. mcastd renders every copy of every route in one nft transaction
    right after the kernel entries, so the table appears complete; what it holds is counted once the
    time is taken. smcroute has no table: its time is that of the kernel entries, with the outputs
    it could give a VIF. The MFC is read every 2 ms, then nft's list of tables every few ms.
    """
    log = daemon.workdir / ("%s.log" % daemon.kind)
    earlier = len(log.read_bytes().splitlines()) if log.exists() else 0

    def trouble():
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[earlier:]
        return [line.strip() for line in lines if any(word in line.lower() for word in VIF_TROUBLE)]
    daemon.start(install_config())
    try:
        done = daemon.wait_until(lambda: daemon.entries() >= INSTALL_ROUTES, timeout=WAIT)
        if done is not None and daemon.kind == "mcastd":
            done = daemon.wait_until(lambda: "table ip mcastd" in _nft_tables(lab), timeout=WAIT)
    except RuntimeError:  # it exited: what it said last
        said = trouble()
        return {"seconds": False, "entries": 0, "kernel_outputs": {}, "nft_copies": {}, "log_lines": len(said),
                "log_first": said[0] if said else None, "exited": daemon.proc.returncode, "said": daemon.last_words()}
    seconds = None if done is None else done - daemon.started
    table = daemon.mfc_text()  # at once: smcroute 2.5.6 installs every route, then aborts (below)
    per_entry = {}
    for line in table.splitlines()[1:]:
        outputs = len(line.split()[6:])
        per_entry[str(outputs)] = per_entry.get(str(outputs), 0) + 1
    time.sleep(0.5)
    copies = nft_copies(lab) if daemon.kind == "mcastd" else {}
    per_flow = {}
    for count in copies.values():
        per_flow[str(count)] = per_flow.get(str(count), 0) + 1
    said = trouble()
    result = {"seconds": seconds, "entries": sum(per_entry.values()), "kernel_outputs": per_entry,
              "nft_copies": per_flow, "log_lines": len(said), "log_first": said[0] if said else None}
    if daemon.proc.poll() is not None:  # it was installed, then the daemon exited (and the kernel dropped it all)
        result.update(exited=daemon.proc.returncode, said=daemon.last_words())
    return result


def run_overflow(lab, kind, workdir):
    """The overflow rows for one daemon: the sender alone, one route to 31, 60 and 100 outputs, 1,000 routes."""
    results = {"alone": [blast_trial(lab, 0) for _trial in range(OVERFLOW_TRIALS)]}
    print("  %s overflow alone: %s" % (kind, results["alone"]), file=sys.stderr, flush=True)
    scenarios = [("route%d" % size, lambda d, size=size: measure_rate(d, lab, size)) for size in OVERFLOW_SIZES]
    scenarios.append(("install", lambda d: measure_install(d, lab)))
    results.update(run_scenarios(scenarios, lab, kind, workdir, label="overflow "))
    return results


def _median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2.0


def overflow_figures(results, sizes=OVERFLOW_SIZES):
    """{size: figures or None (nothing installed)} and {"alone": µs per datagram without forwarding}: medians.

    figures: {"reached": outputs, "rate": datagrams per second of the sending CPU's time at each
    reached output, "wall": the same per second of wall-clock time (what this run's machine gave
    the sender), "router_us": the router's CPU per datagram, "relative": that over the first size's}.
    """
    alone = _median([cpu_per_datagram_us(trial) for trial in results["alone"]])
    figures = {"alone": alone}
    for size in sizes:
        trials = results["route%d" % size]["trials"]
        figures[size] = None if not trials else {
            "reached": _median([trial["reached"] for trial in trials]),
            "rate": _median([trial["delivered"] / trial["cpu_s"] for trial in trials]),
            "wall": _median([trial["delivered"] / trial["seconds"] for trial in trials]),
            "router_us": _median([cpu_per_datagram_us(trial) for trial in trials]) - alone, "relative": None}
    base = figures[sizes[0]]
    for size in sizes:
        if figures[size] is not None and base is not None and base["router_us"] > 0:
            figures[size]["relative"] = figures[size]["router_us"] / base["router_us"]
    return figures


def _exit_text(result):
    """"exits at start (SIGABRT: `*** stack smashing detected ***: terminated`)" for a daemon that did."""
    code = result["exited"]
    how = signal.Signals(-code).name if code is not None and code < 0 else "status %s" % code
    when = "during the trials" if result.get("trials") else "at start"
    return "exits %s (%s: `%s`)" % (when, how, result.get("said") or "no message")


def _install_outputs(install):
    """"40 (31 kernel + 9 nftables)": the outputs most routes got, and where."""
    if not install["kernel_outputs"]:
        return "none"
    kernel = max(install["kernel_outputs"].items(), key=lambda item: (item[1], int(item[0])))[0]
    copied = max(install["nft_copies"].items(), key=lambda item: (item[1], int(item[0])))[0] if install[
        "nft_copies"] else 0
    if int(copied):
        return "%d (%d kernel + %d nftables)" % (int(kernel) + int(copied), int(kernel), int(copied))
    return "%d (kernel)" % int(kernel)


def _rate(value):
    return "-" if value is None else "{:,.0f}".format(value)


def _route_cells(result, figures, size):
    """(reached, rate, CPU) cells of one daemon's route to ``size`` outputs."""
    if figures is None or "exited" in result:
        return (_exit_text(result) if "exited" in result else "not installed"), "-", "-"
    cpu = "%.1f µs" % figures["router_us"]
    if figures["relative"] is not None:
        cpu += " (%.2f×)" % figures["relative"]
    return "%d of %d" % (figures["reached"], size), "%s (%s)" % (_rate(figures["rate"]), _rate(figures["wall"])), cpu


def overflow_rows(mcastd, smcroute, setup=None):
    """(label, mcastd cell, smcroute cell, ratio) of the rows for routes beyond 31 outputs; ``setup`` is the
    record's "overflow_setup" (default: this script's constants)."""
    setup = setup or overflow_setup()
    sizes, routes, outputs = tuple(setup["sizes"]), setup["install_routes"], setup["install_outputs"]
    ours, theirs = overflow_figures(mcastd, sizes), overflow_figures(smcroute, sizes)
    rows = []
    for size in sizes:
        mine = _route_cells(mcastd["route%d" % size], ours[size], size)
        other = _route_cells(smcroute["route%d" % size], theirs[size], size)

        def ratio(key, size=size):
            return ratio_text(*[None if each[size] is None else each[size][key] for each in (ours, theirs)])
        rows += [
            ("one route to %d outputs: outputs reached" % size, mine[0], other[0], ratio("reached")),
            ("one route to %d outputs: datagrams/s at each output reached, per CPU-second (per wall-clock second)"
             % size, mine[1], other[1], ratio("rate")),
            ("one route to %d outputs: router CPU per datagram (× the %d-output MFC entry)" % (size, sizes[0]),
             mine[2], other[2], ratio("router_us")),
        ]
    installs = (mcastd["install"], smcroute["install"])

    def install_cells(install):
        if "exited" in install and not install["seconds"]:
            return _exit_text(install), "-"
        shown = "%d, %s" % (install["entries"], _install_outputs(install))
        if "exited" in install:  # in, then gone: say both
            return "%s, then %s" % (_fmt(install["seconds"], "s"), _exit_text(install).replace(
                " at start", "")), shown
        return _fmt(install["seconds"], "s"), shown
    cells = [install_cells(install) for install in installs]
    rows += [
        ("start until {:,} (S,G) routes of {} outputs are installed".format(routes, outputs),
         cells[0][0], cells[1][0], ratio_text(*[None if "exited" in install else install["seconds"]
                                                for install in installs])),
        ("{:,} routes of {} outputs: kernel entries, outputs of each".format(routes, outputs),
         cells[0][1], cells[1][1], "-"),
    ]
    return rows


def irq_time_accounting():
    """Whether the kernel has CONFIG_IRQ_TIME_ACCOUNTING (then softirq time is in no task's run time and the
    CPU rows would show the sender only), from /proc/config.gz or /boot; None when neither says."""
    for path, opener in (("/proc/config.gz", gzip.open), ("/boot/config-%s" % os.uname().release, open)):
        try:
            with opener(path, "rt") as handle:
                return any(line.strip() == "CONFIG_IRQ_TIME_ACCOUNTING=y" for line in handle)
        except OSError:
            continue
    return None


def overflow_setup():
    """What the overflow rows measured, as the record keeps it."""
    return {"segments": OVERFLOW_SEGMENTS, "sizes": list(OVERFLOW_SIZES), "trials": OVERFLOW_TRIALS,
            "blast_seconds": BLAST_SECONDS, "blast_idle": BLAST_IDLE, "install_routes": INSTALL_ROUTES,
            "install_outputs": INSTALL_OUTPUTS}


def overflow_table(mcastd, smcroute, setup=None):
    """The overflow rows as plain text, as the run prints them."""
    rows = overflow_rows(mcastd, smcroute, setup)
    width = max(len(row[0]) for row in rows)
    lines = ["%-*s  %28s  %28s  %15s" % (width, "metric (IPv4)", "mcastd", "smcroute", "mcastd/smcroute")]
    lines += ["%-*s  %28s  %28s  %15s" % (width, label, ours, theirs, ratio) for label, ours, theirs, ratio in rows]
    return "\n".join(lines)


def _fmt(value, unit):
    if value is False:
        return "not loaded"
    if value is None:
        return "> %d s" % WAIT
    if unit == "s":
        return "%.3f s" % value
    if unit == "MB":
        return "%.1f MB" % value
    return "%d" % value


def _ratio(ours, theirs):
    if ours is None or ours is False or theirs is None or theirs is False or theirs == 0:
        return "-"
    return "%.3f" % (ours / theirs)


def table(mcastd, smcroute):
    rows = []
    for suffix, name in (("", "IPv4"), ("6", "IPv6")):
        rows += [
            ("%s: start until 2,000 (S,G) routes in the kernel" % name, mcastd["load2k" + suffix],
             smcroute["load2k" + suffix], "s"),
            ("%s: start until 10,000 (S,G) routes in the kernel" % name, mcastd["load10k" + suffix],
             smcroute["load10k" + suffix], "s"),
            ("%s: reload changing 1 route of 10,000 (new in, old gone)" % name, mcastd["reload" + suffix][0],
             smcroute["reload" + suffix][0], "s"),
            ("%s: burst of %d new sources: kernel entries that forward it" % (name, BURST_SOURCES),
             mcastd["burst" + suffix][0], smcroute["burst" + suffix][0], ""),
            ("%s: burst: time until the last entry was learned" % name, mcastd["burst" + suffix][1],
             smcroute["burst" + suffix][1], "s"),
            ("%s: burst: datagrams forwarded (one per source)" % name, mcastd["burst" + suffix][2],
             smcroute["burst" + suffix][2], ""),
            ("%s: datagrams lost at the start of %d new (*,G) flows" % (name, FLOWS), mcastd["flowstart" + suffix],
             smcroute["flowstart" + suffix], ""),
            ("%s: peak RSS with 10,000 routes" % name, mcastd["reload" + suffix][1], smcroute["reload" + suffix][1],
             "MB"),
        ]
    width = max(len(row[0]) for row in rows)
    lines = ["%-*s  %12s  %12s  %15s" % (width, "metric", "mcastd", "smcroute", "mcastd/smcroute")]
    for label, ours, theirs, unit in rows:
        lines.append("%-*s  %12s  %12s  %15s" % (width, label, _fmt(ours, unit), _fmt(theirs, unit), _ratio(ours, theirs)))
    for kind, results in (("mcastd", mcastd), ("smcroute", smcroute)):
        for suffix, name in (("", "IPv4"), ("6", "IPv6")):
            if results["load2k" + suffix] and results["load10k" + suffix]:
                lines.append("%s %s: time for 10,000 routes / time for 2,000 = %.1f (5 = linear, 25 = quadratic)" % (
                    kind, name, results["load10k" + suffix] / results["load2k" + suffix]))
    return "\n".join(lines)


DOC = REPO / "docs" / "mcastd.md"
RESULTS = REPO / "docs" / "bench" / "bench-mcastd.json"
DOC_BEGIN = "<!-- bench-mcastd table: begin (tests/bench/bench_mcastd.py --update-docs writes it) -->"
DOC_END = "<!-- bench-mcastd table: end -->"


def ratio_text(ours, theirs):
    """mcastd/smcroute to two significant digits, as docs/mcastd.md shows it ("-" when it means nothing)."""
    if ours is None or ours is False or theirs is None or theirs is False or theirs == 0:
        return "-"
    ratio = ours / theirs
    if ratio == 0:
        return "0"
    if ratio < 0.001:
        return "< 0.001"
    return ("%#.2g" % ratio).rstrip(".") if ratio < 10 else "%.0f" % ratio


def markdown_table(record):
    """The table of docs/mcastd.md, IPv4 and IPv6 side by side, from a results record (see results_record)."""
    mcastd, smcroute = record["mcastd"], record["smcroute"]

    def cells(key, index=None, unit=""):
        ours = mcastd[key] if index is None else mcastd[key][index]
        theirs = smcroute[key] if index is None else smcroute[key][index]
        return [_fmt(ours, unit), _fmt(theirs, unit), ratio_text(ours, theirs)]

    def burst6(index, unit=""):
        # mcastd serves the IPv6 burst with one kernel (*,G) entry: nothing to learn, so no ratio.
        ours = mcastd["burst6"][index]
        shown = "0 (nothing to learn)" if unit == "s" and not ours else _fmt(ours, unit)
        return [shown, _fmt(smcroute["burst6"][index], unit), "-"]

    rows = [
        ("start until 2,000 (S,G) routes in the kernel", cells("load2k", unit="s") + cells("load2k6", unit="s")),
        ("start until 10,000 (S,G) routes in the kernel", cells("load10k", unit="s") + cells("load10k6", unit="s")),
        ("reload changing 1 route of 10,000 (new in, old gone)",
         cells("reload", 0, "s") + cells("reload6", 0, "s")),
        ("burst of {:,} new sources: kernel entries that forward it".format(record["burst_sources"]),
         cells("burst", 0) + burst6(0)),
        ("burst: time until the last entry was learned", cells("burst", 1, "s") + burst6(1, "s")),
        ("burst: datagrams forwarded (one per source)", cells("burst", 2) + cells("burst6", 2)),
        ("datagrams lost at the start of %d new (*,G) flows (%d each, sent as fast as the sender can)" % (
            record["flows"], record["flow_datagrams"]), cells("flowstart") + cells("flowstart6")),
        ("peak RSS with 10,000 routes", cells("reload", 1, "MB") + cells("reload6", 1, "MB")),
    ]
    lines = ["| metric | IPv4 mcastd | IPv4 smcroute | ratio | IPv6 mcastd | IPv6 smcroute | ratio |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += ["| %s | %s |" % (label, " | ".join(values)) for label, values in rows]
    if "overflow" in mcastd and "overflow" in smcroute:
        lines += ["", "| routes beyond 31 outputs (IPv4) | mcastd | smcroute | ratio |", "| --- | --- | --- | --- |"]
        lines += ["| %s |" % " | ".join(row) for row in overflow_rows(
            mcastd["overflow"], smcroute["overflow"], record.get("overflow_setup"))]
    return "\n".join(lines)


def results_record(mcastd, smcroute, smcroute_version):
    """What a run measured, raw, with what it ran on: the source of the table in docs/mcastd.md."""
    return {"provenance": "one full run of tests/bench/bench_mcastd.py --results FILE; docs/mcastd.md's table is "
                          "its rendering (--update-docs)",
            "smcroute_version": smcroute_version, "python": sys.version.split()[0],
            "date": time.strftime("%Y-%m-%d", time.gmtime()), "load_average_at_end": list(os.getloadavg()),
            "burst_sources": BURST_SOURCES, "flows": FLOWS, "flow_datagrams": FLOW_DATAGRAMS,
            "overflow_setup": overflow_setup(), "irq_time_accounting": irq_time_accounting(),
            "mcastd": mcastd, "smcroute": smcroute}


def update_docs(table, doc=DOC):
    """Replace the table between the markers in docs/mcastd.md (the markers must be there)."""
    text = doc.read_text(encoding="utf-8")
    head, begin, rest = text.partition(DOC_BEGIN)
    _old, end, tail = rest.partition(DOC_END)
    if not begin or not end:
        raise SystemExit("bench_mcastd: %s lacks the markers %r and %r around the table" % (doc, DOC_BEGIN, DOC_END))
    doc.write_text(head + begin + "\n" + table + "\n" + end + tail, encoding="utf-8")


def _write_outputs(record, args):
    if args.results:
        Path(args.results).parent.mkdir(parents=True, exist_ok=True)
        Path(args.results).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    if args.update_docs:
        update_docs(markdown_table(record))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--prefix", default=None, help="name prefix of the lab's namespaces (default: mbench...)")
    parser.add_argument("--results", metavar="FILE", help="write the raw results as JSON (the docs keep %s)" % (
        RESULTS.relative_to(REPO)))
    parser.add_argument("--update-docs", action="store_true",
                        help="rewrite the table in docs/mcastd.md from this run (or from --from-results)")
    parser.add_argument("--from-results", metavar="FILE",
                        help="measure nothing: use the results FILE stored by an earlier run (no root needed)")
    parser.add_argument("--only", choices=["overflow"], default=None,
                        help="measure only these rows (routes beyond 31 outputs): printed, never stored nor "
                             "put in the docs, whose table comes from a full run")
    args = parser.parse_args(argv)
    if args.from_results and not (args.results or args.update_docs):
        parser.error("--from-results needs --update-docs or --results: alone it would do nothing")
    if args.only and (args.results or args.update_docs or args.from_results):
        parser.error("--only measures part of the table: the stored results and the docs come from a full run")
    if args.from_results:
        _write_outputs(json.loads(Path(args.from_results).read_text(encoding="utf-8")), args)
        return 0
    if os.geteuid() != 0:
        print("bench_mcastd: needs root (network namespaces, multicast routing)", file=sys.stderr)
        return 2
    for program, package in (("smcrouted", "smcroute"), ("nft", "nftables")):
        if not shutil.which(program):
            print("bench_mcastd: %s is not installed (apt-get install %s)" % (program, package), file=sys.stderr)
            return 2
    # Bytecode compiled first, as the router role deploys the package: the unit forbids writing it, and
    # a start that compiles the sources measures the size of the code rather than the daemon.
    subprocess.run([sys.executable, "-m", "compileall", "-q", MCASTD_PACKAGE], check=True)
    if irq_time_accounting():
        print("bench_mcastd: this kernel has CONFIG_IRQ_TIME_ACCOUNTING: the rows of CPU per datagram miss the "
              "softirq time and show the sender's only", file=sys.stderr)
    prefix = args.prefix or unique_prefix("mbench")
    workdir = tempfile.mkdtemp(prefix="mcastd-bench-")
    mcastd, smcroute = {}, {}
    try:
        if not args.only:
            lab = Lab(prefix=prefix)
            try:
                lab.up()
                print("mcastd vs smcroute, same configuration files, lab %s" % lab.prefix, file=sys.stderr,
                      flush=True)
                mcastd = run_all(lab, "mcastd", workdir)
                smcroute = run_all(lab, "smcroute", workdir)
            finally:
                lab.down()
        lab = overflow_lab(prefix + "o")
        try:
            lab.up()
            add_output_segments(lab, range(1, OVERFLOW_SEGMENTS + 1))
            print("routes beyond 31 outputs, lab %s" % lab.prefix, file=sys.stderr, flush=True)
            mcastd["overflow"] = run_overflow(lab, "mcastd", workdir)
            smcroute["overflow"] = run_overflow(lab, "smcroute", workdir)
        finally:
            lab.down()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "smcroute"], capture_output=True, text=True,
                             check=False).stdout.strip()
    print("mcastd (tests/bin/mcastd, Python %s, bytecode compiled) vs smcroute %s" % (sys.version.split()[0],
                                                                                      version or "?"))
    if not args.only:
        print(table(mcastd, smcroute))
        print()
    print(overflow_table(mcastd["overflow"], smcroute["overflow"]))
    if not args.only:
        _write_outputs(results_record(mcastd, smcroute, version), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
