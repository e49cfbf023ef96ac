"""Benchmark: mcastd's IGMP querier against igmpproxy and pimd (apt), side by side on a snooping switch lab.

Run as root: ``make bench-querier`` (``.venv/bin/python tests/bench/bench_querier.py``).  Each daemon
gets a lab of its own (namespaces ``bq...-HOST``)::

    sender eth0 ── up0 ra down0 ── pa ─┐
           eth1 ── up0 rb down0 ── pb ─┴─ br0 (switch) ── p1 ── eth0 recv

    192.0.2.0/24 (sender, ra), 203.0.113.0/24 (sender, rb), 198.51.100.0/24 (ra .1, rb .2, recv .20)

``switch`` holds a Linux bridge (mcast_snooping 1, mcast_querier 0, timers matching the daemon's), so
a group reaches the receiver only while the bridge has seen its report.  ``rb`` runs a second
instance of the same daemon only for the takeover measurement.  One raw socket in the switch
namespace (``querier_probe.py sniff``) timestamps every IGMP message and every datagram of the test
group on the bridge ports; the receiver joins and leaves on command (``querier_probe.py member``).
Printed, one column per daemon, with the RFC value where one exists:

- join → first datagram at the receiver (sender at 500/s, TTL 8), median of N;
- leave → last datagram at the receiver, and → last datagram the router sends to the switch;
- takeover: the elected querier (lower address) is killed right after one of its queries; time
  until the other instance sends its first query, against the RFC other-querier-present interval;
- general queries per query interval in the steady state (RFC: 1);
- CPU seconds per hour while idle (utime + stime from /proc/PID/stat over a measured window).

A daemon that fails is shown failing (why, in the cell); no number is made up.  A trial in which
datagrams reach the receiver before it joined is invalid (the switch floods: no querier it believes
in) and is reported as such.  This is a script that prints numbers, not a timed test.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.lab.fixtures import unique_prefix  # noqa: E402  pylint: disable=wrong-import-position
from tests.lab.errors import LabError  # noqa: E402  pylint: disable=wrong-import-position
from tests.lab.netlab import Lab  # noqa: E402  pylint: disable=wrong-import-position
from tests.integration.mcastd.traffic import start_sender  # noqa: E402  pylint: disable=wrong-import-position

MCASTD = str(REPO / "tests" / "bin" / "mcastd")
MCASTD_PACKAGE = str(REPO / "plugins" / "module_utils" / "mcastd")
PROBE = str(Path(__file__).resolve().parent / "querier_probe.py")
PEERS_DIR = REPO / ".build" / "bench-peers"
PEER_PACKAGES = {"igmpproxy": "/usr/sbin/igmpproxy", "pimd": "/usr/sbin/pimd"}
KINDS = ("mcastd", "igmpproxy", "pimd")
GROUP = "239.77.0.1"
SEND_INTERVAL = 0.002         # 500 datagrams/s: the join latency is measured to 2 ms, not to one datagram of 10 ms
QUIET = 1.5                   # no datagram for this long = the flow has stopped
JOIN_TIMEOUT = 10.0
HOLD = 2.0                    # joined this long before leaving
STARTUP_TIMEOUT = 20.0

# The timers all three are configured with where they allow it.  pimd fixes robustness 3, the query
# response interval 10 s and the last member query interval 1 s (igmpv2.h) and runs its timers on a
# 5 s tick, so the query interval is a multiple of 5; a query response interval must stay below the
# query interval (RFC 9776 8.3), so 15 s is the shortest common one.  igmpproxy fixes everything.
COMMON = {"query_interval": 15.0, "query_response_interval": 10.0, "robustness": 3, "last_member_interval": 1.0,
          "startup_query_interval": 3.75, "startup_queries": 3}
TIMERS = {
    "mcastd": COMMON,
    "pimd": dict(COMMON, startup_query_interval=None, startup_queries=1),  # one query at start, then every QI
    # igmpproxy 0.3 src/igmpproxy.h and config.c: nothing configurable.
    "igmpproxy": {"query_interval": 125.0, "query_response_interval": 10.0, "robustness": 2,
                  "last_member_interval": 10.0, "startup_query_interval": 31.0, "startup_queries": 3},
}
ROUTERS = {"ra": {"up": "192.0.2.1", "down": "198.51.100.1"}, "rb": {"up": "203.0.113.2", "down": "198.51.100.2"}}
SWITCH_PORTS = {"ra": "pa", "rb": "pb"}
RECEIVER_PORT = "p1"

TOPOLOGY = {
    "hosts": {"sender": {}, "ra": {}, "rb": {}, "switch": {},
              "recv": {"routes": [{"dst": "default", "via": "198.51.100.1"}]}},
    "segments": {
        "up_a": {"ends": [{"host": "ra", "iface": "up0", "address": "192.0.2.1/24"},
                          {"host": "sender", "iface": "eth0", "address": "192.0.2.10/24"}]},
        "up_b": {"ends": [{"host": "rb", "iface": "up0", "address": "203.0.113.2/24"},
                          {"host": "sender", "iface": "eth1", "address": "203.0.113.10/24"}]},
        "down_a": {"ends": [{"host": "ra", "iface": "down0", "address": "198.51.100.1/24"},
                            {"host": "switch", "iface": "pa"}]},
        "down_b": {"ends": [{"host": "rb", "iface": "down0", "address": "198.51.100.2/24"},
                            {"host": "switch", "iface": "pb"}]},
        "access": {"ends": [{"host": "switch", "iface": RECEIVER_PORT},
                            {"host": "recv", "iface": "eth0", "address": "198.51.100.20/24"}]},
    },
}


class Failed(Exception):
    """A measurement that could not be made; its message goes into the table cell."""


def rfc_other_querier_present(timers):
    """RFC 9776 8.5 (and RFC 2236 8.5): robustness × query interval + query response interval / 2."""
    return timers["robustness"] * timers["query_interval"] + timers["query_response_interval"] / 2


def rfc_group_membership_interval(timers):
    """RFC 9776 8.4: robustness × query interval + query response interval."""
    return timers["robustness"] * timers["query_interval"] + timers["query_response_interval"]


def rfc_last_member_query_time(timers):
    """RFC 9776 8.9: last member query interval × last member query count (= robustness by default)."""
    return timers["last_member_interval"] * timers["robustness"]


# Seconds after its start before a daemon can forward: pimd installs static RPs only 15 s after boot
# (main.c), checked on its 5 s timer tick.
WARMUP = {"mcastd": 0.0, "igmpproxy": 0.0, "pimd": 21.0}


def startup_duration(kind):
    timers = TIMERS[kind]
    return (timers["startup_queries"] - 1) * (timers["startup_query_interval"] or 0)


# -- the peers from apt -----------------------------------------------------------------------------
def peer_binaries():
    """{kind: path} of igmpproxy and pimd: installed ones, else unpacked from apt's packages.

    ``apt-get install`` would also run the packages' maintainer scripts, which start igmpproxy and
    pimd as services in the machine's own network namespace (pimd's unit on a systemd host), where
    they would query and route on the uplink.  So the .debs are fetched with ``apt-get download``
    and unpacked under .build/bench-peers: the same binaries, and nothing runs outside the lab.
    """
    binaries = {}
    for package, installed in PEER_PACKAGES.items():
        if os.access(installed, os.X_OK):
            binaries[package] = installed
            continue
        unpacked = PEERS_DIR / "root" / installed.lstrip("/")
        if not unpacked.exists():
            _unpack_from_apt(package)
        binaries[package] = str(unpacked)
    return binaries


def _unpack_from_apt(package):
    debs = PEERS_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True, check=False)
    found = sorted(debs.glob("%s_*.deb" % package))
    if proc.returncode != 0 or not found:
        raise SystemExit("bench_querier: `apt-get download %s` failed (%s); install it with apt-get install %s, "
                         "after making sure its service cannot start outside a lab." % (
                             package, proc.stderr.strip(), package))
    subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(PEERS_DIR / "root")], check=True)


def peer_version(package, binary):
    if binary.startswith(str(PEERS_DIR)):
        debs = sorted((PEERS_DIR / "debs").glob("%s_*.deb" % package))
        return subprocess.run(["dpkg-deb", "-f", str(debs[-1]), "Version"], capture_output=True, text=True,
                              check=False).stdout.strip() if debs else "?"
    return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                          check=False).stdout.strip() or "?"


# -- the daemons ------------------------------------------------------------------------------------
def mcastd_config(_router):
    timers = COMMON
    return ("phyint up0 enable\n"
            "phyint down0 enable querier igmpv3\n"
            "igmp query-interval %g query-response-interval %g robustness %d last-member-interval %g "
            "startup-query-interval %g\n"
            "mroute from up0 group %s to down0 if-joined\n" % (
                timers["query_interval"], timers["query_response_interval"], timers["robustness"],
                timers["last_member_interval"], timers["startup_query_interval"], GROUP))


def igmpproxy_config(_router):
    return ("phyint up0 upstream ratelimit 0 threshold 1\n"
            "phyint down0 downstream ratelimit 0 threshold 1\n"
            "phyint lo disabled\n")


def pimd_config(router):
    # Its own upstream address as the static RP: the router is first hop, RP and last hop at once,
    # so forwarding needs no other PIM router and no BSR election (which takes minutes).
    return ("phyint up0 enable\n"
            "phyint down0 enable\n"
            "igmp-query-interval %d\n"
            "rp-address %s 224.0.0.0/4\n" % (COMMON["query_interval"], ROUTERS[router]["up"]))


CONFIGS = {"mcastd": mcastd_config, "igmpproxy": igmpproxy_config, "pimd": pimd_config}


class Daemon:
    """One instance of a daemon in a router namespace of the lab; stopped (or killed) by its PID."""

    def __init__(self, kind, lab, router, workdir, binaries):
        self.kind = kind
        self.lab = lab
        self.router = router
        self.workdir = Path(workdir)
        self.binaries = binaries
        self.proc = None
        self.started = None
        self.starts = 0
        self.config = self.workdir / ("%s-%s.conf" % (kind, router))
        self.logfile = self.workdir / ("%s-%s.log" % (kind, router))

    def argv(self):
        run = "%s-%s-%d" % (self.kind, self.router, self.starts)
        if self.kind == "mcastd":
            return [sys.executable, MCASTD, "-n", "-f", str(self.config), "-u", str(self.workdir / (run + ".sock")),
                    "-p", str(self.workdir / (run + ".pid")), "-l", "notice"]
        if self.kind == "igmpproxy":
            return [self.binaries["igmpproxy"], "-d", str(self.config)]
        # pimd names its PID file /var/run/PROGNAME.pid after argv[0]: a link of our own name keeps two
        # instances (and anybody's real pimd) apart.
        link = self.workdir / ("bq-pimd-%s" % self.router)
        if not link.exists():
            link.symlink_to(self.binaries["pimd"])
        return [str(link), "-f", "-c", str(self.config)]

    def start(self):
        self.config.write_text(CONFIGS[self.kind](self.router))
        self.starts += 1
        with open(self.logfile, "ab") as log:
            self.started = time.monotonic()
            self.proc = self.lab.popen(self.router, self.argv(), stdout=log, stderr=subprocess.STDOUT)
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise Failed("%s exited with %s at start: %s" % (self.kind, self.proc.returncode, self.last_log_line()))
        return self

    def last_log_line(self):
        lines = [line for line in self.logfile.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1].strip()[:120] if lines else "(no output)"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        """Refuse to measure a daemon that died on its own (a crash is a result, not a latency)."""
        if not self.alive():
            raise Failed("%s on %s exited with %s: %s" % (
                self.kind, self.router, self.proc.returncode, self.last_log_line()))

    def cpu_seconds(self):
        """utime + stime of the process so far (its own threads; it has no children)."""
        with open("/proc/%d/stat" % self.proc.pid, encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self):
        """The querier dies: SIGKILL, so it sends nothing on its way out."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.kind == "pimd":  # the PID file it wrote under its link's name
            Path("/var/run/bq-pimd-%s.pid" % self.router).unlink(missing_ok=True)


# -- the probes -------------------------------------------------------------------------------------
class Sniffer:
    """querier_probe.py sniff in the switch namespace; its events collected by a thread."""

    def __init__(self, lab):
        ports = ",".join([*SWITCH_PORTS.values(), RECEIVER_PORT])
        self.proc = lab.popen("switch", [sys.executable, PROBE, "sniff", "--ifaces", ports, "--group", GROUP],
                              stdout=subprocess.PIPE, text=True)
        if "ready" not in (self.proc.stdout.readline() or ""):
            raise RuntimeError("the sniffer in the switch namespace did not start")
        self.lock = threading.Lock()
        self.events = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            event = json.loads(line)
            with self.lock:
                self.events.append(event)

    def select(self, after=0.0, before=None, **match):
        with self.lock:
            events = list(self.events)
        return [event for event in events if event["t"] > after and (before is None or event["t"] <= before)
                and all(event.get(key) == value for key, value in match.items())]

    def first(self, timeout, after, **match):
        """The first matching event after ``after``, waiting up to ``timeout`` s; None if none came."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.select(after=after, **match)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)

    def wait_quiet(self, quiet, timeout, after, where, **match):
        """Wait until no matching event for ``quiet`` s; the last one before that (None: there was none)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.select(after=after, **match)
            last = found[-1] if found else None
            if time.monotonic() - (last["t"] if last else after) >= quiet:
                return last
            time.sleep(0.05)
        raise Failed("datagrams %s did not stop within %.0f s of the leave" % (where, timeout))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=5)


class Member:
    """querier_probe.py member in the receiver namespace: join and leave with timestamps."""

    def __init__(self, lab):
        self.proc = lab.popen("recv", [sys.executable, PROBE, "member", "--iface", "eth0", "--group", GROUP],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the member probe in the receiver namespace did not start")

    def _command(self, word):
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        return float(answer[1])

    def join(self):
        return self._command("join")

    def leave(self):
        return self._command("leave")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=5)


# -- the lab ----------------------------------------------------------------------------------------
def make_switch(lab, timers):
    """br0 in the switch namespace: snooping on, querier off, timers (centiseconds) that match the daemon's."""
    membership = rfc_group_membership_interval(timers)
    settings = {"mcast_snooping": 1, "mcast_querier": 0,
                "mcast_query_interval": int(timers["query_interval"] * 100),
                "mcast_query_response_interval": int(timers["query_response_interval"] * 100),
                "mcast_membership_interval": int(membership * 100),
                "mcast_querier_interval": int(rfc_other_querier_present(timers) * 100),
                "mcast_last_member_interval": 100}
    argv = ["ip", "link", "add", "br0", "type", "bridge"]
    for key, value in settings.items():
        argv += [key, str(value)]
    lab.run("switch", argv)
    for port in [*SWITCH_PORTS.values(), RECEIVER_PORT]:
        lab.run("switch", ["ip", "link", "set", "dev", port, "master", "br0"])
    lab.run("switch", ["ip", "link", "set", "dev", "br0", "up"])


# -- the measurements -------------------------------------------------------------------------------
def general_queries(sniffer, router, after=0.0, before=None):
    return sniffer.select(after=after, before=before, kind="query", group="0.0.0.0", src=ROUTERS[router]["down"],
                          dir="in", **{"if": SWITCH_PORTS[router]})


def wait_first_query(sniffer, daemon):
    found = sniffer.first(STARTUP_TIMEOUT, daemon.started, kind="query", group="0.0.0.0",
                          src=ROUTERS[daemon.router]["down"])
    if found is None:
        raise Failed("no IGMP query from %s within %.0f s of its start" % (ROUTERS[daemon.router]["down"],
                                                                           STARTUP_TIMEOUT))
    return found


def latency_trial(sniffer, member, querier, timers):
    """One join and one leave; seconds (join → first at the receiver, leave → last at the receiver,
    leave → last from the router)."""
    querier.check_alive()
    at_receiver = {"kind": "data", "dir": "out", "if": RECEIVER_PORT}
    from_router = {"kind": "data", "dir": "in", "if": SWITCH_PORTS["ra"]}
    settle = time.monotonic()
    time.sleep(QUIET)
    if sniffer.select(after=settle, **at_receiver):
        raise Failed("invalid: datagrams reached the receiver before it joined (the switch floods: "
                     "no querier it believes in)")
    joined = member.join()
    first = sniffer.first(JOIN_TIMEOUT, joined, **at_receiver)
    if first is None:
        member.leave()
        raise Failed("no datagram within %.0f s of the join" % JOIN_TIMEOUT)
    time.sleep(HOLD)
    left = member.leave()
    # A router that misses the leave still stops at the group membership interval (RFC 9776 8.4).
    limit = rfc_group_membership_interval(timers) + timers["query_response_interval"] + 10
    last_receiver = sniffer.wait_quiet(QUIET, limit, left, "at the receiver", **at_receiver)
    last_router = sniffer.wait_quiet(QUIET, limit, left, "from the router", **from_router)
    querier.check_alive()
    return (first["t"] - joined,
            (last_receiver["t"] - left) if last_receiver else 0.0,
            (last_router["t"] - left) if last_router else 0.0)


def measure_latencies(lab, sniffer, member, querier, repeats, version):
    """{metric+version: [seconds...] or Failed}, with the receiver's IGMP version forced (0: the kernel's
    default, IGMPv3 unless it hears an older querier); trials stop at the first failure (it repeats)."""
    lab.run("recv", ["sysctl", "-q", "-w", "net.ipv4.conf.eth0.force_igmp_version=%d" % version])
    keys = ["%s%d" % (metric, version) for metric in ("join", "leave", "router_leave")]
    values = ([], [], [])
    for trial in range(repeats):
        try:
            measured = latency_trial(sniffer, member, querier, TIMERS[querier.kind])
        except Failed as error:
            log("    IGMP %s host, trial %d: %s" % (version or "default", trial + 1, error))
            failed = Failed("%s (trial %d of %d)" % (error, trial + 1, repeats))
            return dict.fromkeys(keys, failed)
        log("    IGMP %s host, trial %d: join %.3f s, leave %.3f s at the receiver, %.3f s from the router" % (
            version or "default", trial + 1, *measured))
        for collected, value in zip(values, measured):
            collected.append(value)
    return dict(zip(keys, values))


def measure_idle(sniffer, daemon, seconds, kind):
    """CPU seconds per hour over an idle window (no members, no traffic): (seconds, clock ticks, window); the
    window is stretched until the steady state holds two general queries (igmpproxy: 187 s after start)."""
    timers = TIMERS[kind]
    before = daemon.cpu_seconds()
    began = time.monotonic()
    until = max(began + seconds, daemon.started + startup_duration(kind) + timers["query_interval"] + 2.0)
    time.sleep(until - began)
    daemon.check_alive()
    used = daemon.cpu_seconds() - before
    window = time.monotonic() - began
    return used / window * 3600, round(used * os.sysconf("SC_CLK_TCK")), window


def queries_per_interval(sniffer, daemon, kind):
    """General queries per configured query interval from the last start-up query on (RFC: exactly 1).

    Counted as (queries - 1) × interval / (last - first), so one query per interval gives 1.0 and a
    daemon that sends each query twice (or on a shorter cadence) shows it."""
    timers = TIMERS[kind]
    sent = general_queries(sniffer, daemon.router, after=daemon.started)
    steady = sent[timers["startup_queries"] - 1:]
    log("    general queries from the last start-up query on: %d, gaps %s s" % (
        len(steady), " ".join("%.2f" % (later["t"] - earlier["t"]) for earlier, later in zip(steady, steady[1:]))))
    if len(steady) < 2:
        return Failed("%d general queries after start-up: too few to tell" % len(steady))
    return (len(steady) - 1) * timers["query_interval"] / (steady[-1]["t"] - steady[0]["t"])


def measure_takeover(sniffer, first, second, kind, repeats):
    """Seconds from the elected querier's last query (it is killed right then) to the other's first."""
    timers = TIMERS[kind]
    limit = 2 * rfc_other_querier_present(timers) + 10
    results = []
    for trial in range(repeats):
        settle = max(first.started, second.started) + startup_duration(kind) + 1.0
        earlier = sniffer.first(2 * timers["query_interval"] + settle - time.monotonic(), settle, kind="query",
                                group="0.0.0.0", src=ROUTERS["ra"]["down"])
        if earlier is None:
            raise Failed("the lower address %s did not query (trial %d)" % (ROUTERS["ra"]["down"], trial + 1))
        last = sniffer.first(2 * timers["query_interval"], earlier["t"], kind="query", group="0.0.0.0",
                             src=ROUTERS["ra"]["down"])
        if last is None:
            raise Failed("the elected querier stopped querying before it was killed (trial %d)" % (trial + 1))
        second.check_alive()
        first.kill()
        killed = time.monotonic()
        if general_queries(sniffer, "rb", after=earlier["t"], before=last["t"]):
            raise Failed("no election: the higher address %s kept querying beside %s" % (
                ROUTERS["rb"]["down"], ROUTERS["ra"]["down"]))
        taken = sniffer.first(limit, killed, kind="query", group="0.0.0.0", src=ROUTERS["rb"]["down"])
        if taken is None:
            raise Failed("no query from %s within %.0f s of the querier's death" % (ROUTERS["rb"]["down"], limit))
        results.append(taken["t"] - last["t"])
        log("    takeover %d: %.3f s after the last query (killed %.3f s after it)" % (
            trial + 1, results[-1], killed - last["t"]))
        if trial + 1 < repeats:
            first.start()
    return results


def run_daemon(kind, binaries, options):
    """Every measurement for one daemon in a lab of its own; {metric: value | [values] | Failed}."""
    timers = TIMERS[kind]
    lab = Lab(TOPOLOGY, prefix=unique_prefix("bq"))
    workdir = tempfile.mkdtemp(prefix="bq-querier-bench-")
    started, results, sender, probes = [], {}, None, []
    try:
        lab.up()
        make_switch(lab, timers)
        sniffer = Sniffer(lab)
        probes.append(sniffer)
        member = Member(lab)
        probes.append(member)
        querier = Daemon(kind, lab, "ra", workdir, binaries)
        started.append(querier)
        log("%s: lab %s" % (kind, lab.prefix))
        querier.start()
        wait_first_query(sniffer, querier)
        time.sleep(max(0.0, querier.started + WARMUP[kind] - time.monotonic()))
        sender = start_sender(lab, "sender", "eth0", GROUP, count=10 ** 6, interval=SEND_INTERVAL)
        for version in (0, 2):
            results.update(measure_latencies(lab, sniffer, member, querier, options.repeats, version))
        sender.terminate()
        sender.wait(timeout=5)
        results["cpu"] = measure_idle(sniffer, querier, options.idle, kind)
        results["queries"] = queries_per_interval(sniffer, querier, kind)
        results["versions"] = sorted({event["version"] for event in general_queries(sniffer, "ra")})
        if kind == "igmpproxy":
            results["takeover"] = "n/a (no election)"
        else:
            second = Daemon(kind, lab, "rb", workdir, binaries)
            started.append(second)
            second.start()
            results["takeover"] = measure_takeover(sniffer, querier, second, kind, options.takeovers)
    except (Failed, LabError, RuntimeError, subprocess.SubprocessError) as error:
        log("  %s: %s" % (kind, error))
        for metric in ("join0", "leave0", "router_leave0", "join2", "leave2", "router_leave2", "cpu", "queries",
                       "takeover"):
            results.setdefault(metric, error)
    finally:
        if sender is not None and sender.poll() is None:
            sender.terminate()
        for daemon in started:
            daemon.stop()
        for probe in probes:
            probe.stop()
        lab.down()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


# -- the table --------------------------------------------------------------------------------------
def log(text):
    print(text, file=sys.stderr, flush=True)


def cell(value, unit="s"):
    if isinstance(value, tuple):  # CPU: (seconds per hour, clock ticks in the window, window in s)
        per_hour, ticks, window = value
        if not ticks:  # below the resolution: one tick in the window
            return "< %.2f s (0 ticks in %.0f s)" % (3600.0 / os.sysconf("SC_CLK_TCK") / window, window)
        return "%.2f s (%d tick%s in %.0f s)" % (per_hour, ticks, "" if ticks == 1 else "s", window)
    if isinstance(value, Exception):
        return "FAILED: %s" % value
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if not value:
            return "-"
        if len(value) == 1:
            return "%.3f %s" % (value[0], unit)
        return "%.3f %s (%.3f-%.3f)" % (statistics.median(value), unit, min(value), max(value))
    return ("%.3f" % value) if unit == "" else ("%.2f %s" % (value, unit))


def table(results, versions, options):
    lmqt = rfc_last_member_query_time(COMMON)
    oqpi = rfc_other_querier_present(COMMON)
    rows = []
    for version, host in ((0, "IGMPv3 host"), (2, "IGMPv2 host")):
        rows += [
            ("%s: join -> first datagram at the receiver (median of %d)" % (host, options.repeats), "-",
             "join%d" % version, "s"),
            ("%s: leave -> last datagram at the receiver" % host, "<= %.1f s (LMQT)" % lmqt, "leave%d" % version, "s"),
            ("%s: leave -> last datagram from the router" % host, "<= %.1f s (LMQT)" % lmqt,
             "router_leave%d" % version, "s"),
        ]
    rows += [
        ("takeover after the querier dies (median of %d)" % options.takeovers, "%.1f s (OQPI)" % oqpi,
         "takeover", "s"),
        ("general queries per query interval", "1", "queries", ""),
        ("CPU seconds per hour, idle", "-", "cpu", "s"),
    ]
    header = ["metric", "RFC 9776"] + ["%s %s" % (kind, versions[kind]) for kind in KINDS]
    lines = [header] + [[label, rfc] + [cell(results[kind].get(key, Failed("not measured")), unit)
                                        if kind in results else "not run" for kind in KINDS]
                        for label, rfc, key, unit in rows]
    out = ["| " + " | ".join(line) + " |" for line in lines]
    out.insert(1, "|" + "---|" * len(header))
    out.append("")
    for kind in KINDS:
        timers = TIMERS[kind]
        out.append("%s timers: query interval %g s, query response %g s, robustness %d, last member interval %g s"
                   " -> RFC LMQT %.1f s, OQPI %.1f s%s" % (
                       kind, timers["query_interval"], timers["query_response_interval"], timers["robustness"],
                       timers["last_member_interval"], rfc_last_member_query_time(timers),
                       rfc_other_querier_present(timers), " (fixed in the program)" if kind == "igmpproxy" else ""))
    for kind in KINDS:
        if results.get(kind, {}).get("versions"):
            out.append("%s sent IGMPv%s general queries%s" % (
                kind, "/".join(str(version) for version in results[kind]["versions"]),
                "; a host that hears an IGMPv2 query answers in v2 (RFC 9776 7.2.1), so the rows of "
                "the IGMPv3 host measure IGMPv2 here" if results[kind]["versions"] == [2] else ""))
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5, help="join/leave trials per daemon (default 5)")
    parser.add_argument("--takeovers", type=int, default=3, help="querier deaths per daemon (default 3)")
    parser.add_argument("--idle", type=float, default=120.0, help="idle window for the CPU figure, s (default 120)")
    parser.add_argument("--only", choices=KINDS, action="append", help="run only this daemon (repeatable)")
    options = parser.parse_args(argv)
    if min(options.repeats, options.takeovers) < 1 or options.idle <= 0:
        parser.error("--repeats and --takeovers must be at least 1 and --idle above 0")
    if os.geteuid() != 0:
        print("bench_querier: needs root (network namespaces, multicast routing)", file=sys.stderr)
        return 2
    binaries = peer_binaries()
    versions = {"mcastd": "(checkout)", **{kind: peer_version(kind, binaries[kind]) for kind in PEER_PACKAGES}}
    subprocess.run([sys.executable, "-m", "compileall", "-q", MCASTD_PACKAGE], check=True)
    results = {}
    pimd_rundir = Path("/var/run/pimd")
    made_rundir = not pimd_rundir.exists()  # pimd creates it at start; leave the machine as it was
    try:
        for kind in KINDS:
            if not options.only or kind in options.only:
                results[kind] = run_daemon(kind, binaries, options)
    finally:
        if made_rundir and pimd_rundir.is_dir() and not any(pimd_rundir.iterdir()):
            pimd_rundir.rmdir()
    print(table(results, versions, options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
