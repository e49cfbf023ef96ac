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
  while smcroute learns every source from an upcall.

The kernel's table is read from /proc/PID/net/ip_mr_cache (ip6_mr_cache) of the daemon (its network
namespace).
This is a script that prints numbers, not a timed test: it asserts nothing.

``--results FILE`` also writes the raw numbers as JSON and ``--update-docs`` rewrites the table of
docs/mcastd.md from them (between its markers); ``--from-results FILE --update-docs`` renders a stored
run again without measuring.  The docs keep the run they show in docs/bench/bench-mcastd.json, and
tests/unit/test_doc_claims.py checks that the table is that file's rendering.
"""
import argparse
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
from tests.integration.mcastd.traffic import Receiver, send_burst, send_datagrams  # noqa: E402  pylint: disable=wrong-import-position

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
    for name, scenario in scenarios:
        daemon = Daemon(kind, lab, workdir)
        try:
            results[name] = scenario(daemon)
        finally:
            daemon.stop()
        print("  %s %s: %s" % (kind, name, results[name]), file=sys.stderr, flush=True)
    return results


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
    return "\n".join(lines)


def results_record(mcastd, smcroute, smcroute_version):
    """What a run measured, raw, with what it ran on: the source of the table in docs/mcastd.md."""
    return {"smcroute_version": smcroute_version, "python": sys.version.split()[0],
            "date": time.strftime("%Y-%m-%d", time.gmtime()), "load_average_at_end": list(os.getloadavg()),
            "burst_sources": BURST_SOURCES, "flows": FLOWS, "flow_datagrams": FLOW_DATAGRAMS,
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
    args = parser.parse_args(argv)
    if args.from_results and not (args.results or args.update_docs):
        parser.error("--from-results needs --update-docs or --results: alone it would do nothing")
    if args.from_results:
        _write_outputs(json.loads(Path(args.from_results).read_text(encoding="utf-8")), args)
        return 0
    if os.geteuid() != 0:
        print("bench_mcastd: needs root (network namespaces, multicast routing)", file=sys.stderr)
        return 2
    if not shutil.which("smcrouted"):
        print("bench_mcastd: smcroute is not installed (apt-get install smcroute)", file=sys.stderr)
        return 2
    # Bytecode compiled first, as the router role deploys the package: the unit forbids writing it, and
    # a start that compiles the sources measures the size of the code rather than the daemon.
    subprocess.run([sys.executable, "-m", "compileall", "-q", MCASTD_PACKAGE], check=True)
    lab = Lab(prefix=args.prefix or unique_prefix("mbench"))
    workdir = tempfile.mkdtemp(prefix="mcastd-bench-")
    try:
        lab.up()
        print("mcastd vs smcroute, same configuration files, lab %s" % lab.prefix, file=sys.stderr, flush=True)
        mcastd = run_all(lab, "mcastd", workdir)
        smcroute = run_all(lab, "smcroute", workdir)
    finally:
        lab.down()
        shutil.rmtree(workdir, ignore_errors=True)
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "smcroute"], capture_output=True, text=True,
                             check=False).stdout.strip()
    print("mcastd (tests/bin/mcastd, Python %s, bytecode compiled) vs smcroute %s" % (sys.version.split()[0],
                                                                                      version or "?"))
    print(table(mcastd, smcroute))
    _write_outputs(results_record(mcastd, smcroute, version), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
