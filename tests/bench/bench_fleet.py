"""make bench-fleet: the host role and the compliance playbook on 50 hosts, next to `ansible -m ping`.

Creates 50 network namespaces ``fl-h00`` ... ``fl-h49`` (each with a veth pair ``eth0``/``peer0``
inside it, addressed in IPv4 and IPv6), an inventory that reaches them through the mcast.linux.netns
connection with the host role's defaults (``mcast_host_interface: eth0``), and times with the same
forks, one after the other on the same hosts:

- ``ansible -m ansible.builtin.ping`` on all hosts: the floor of Ansible itself (its controller, one
  module per host over the same connection);
- ``mcast.linux.host``, the host role's playbook: a full converge of fresh namespaces, then a
  no-change re-run, which must change nothing;
- ``mcast.linux.compliance``, the compliance playbook (the same role in check mode, the facts, the
  reports), which must find every host compliant.

Each is reported in total, per host, and as a multiple of the ping floor. The goal (issue 11):
compliance at most 4 times the ping floor.

    .venv/bin/python tests/bench/bench_fleet.py [--hosts N] [--forks N] [--repeats N] [--profile]
                                                [--collections-path PATH] [--compare PATH]

``--compare`` runs everything a second time, on fresh namespaces, with the collection found in another
collections path (such as an unpacked older version, ``DIR/ansible_collections/mcast/linux``) and puts
both side by side. ``--profile`` adds ansible.posix.profile_tasks and prints the slowest tasks of the
compliance run. The namespaces share this machine's filesystem, so every file the role persists goes to
a temporary directory per host; the package step checks python3, nftables and iproute2 (those of them
that dpkg lists as installed, so it never installs anything here).
Timings are wall-clock seconds of the ansible commands, controller start included, on one machine in
one run: a comparison, not an absolute measure. Needs root (namespaces, veth links).
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
PREFIX = "fl"
# Written as the alias of each namespace's lo: cleanup deletes only namespaces that carry it.
MARK = "mcast-linux-bench-fleet"
GOAL = 4.0
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
PROFILE_LINE = re.compile(r"^(.+?) -{2,} (\d+\.\d+)s$", re.M)
# The role's persistence files, per host (the namespaces share one filesystem; real hosts each have their own).
HOST_FILES = {"udev_rules_file": "60-mcast-linux-link.rules", "sysctl_file": "60-mcast-linux.conf",
              "nftables_include_file": "mcast-linux.nft", "nftables_conf": "nftables.conf",
              "route_unit_file": "mcast-linux-routes.service", "routes_file": "routes.json",
              "route_keeper_file": "route_keeper.py"}


# The role's package step runs as on a real host (the query in check mode too), on the host role's packages
# that this machine has; the modules themselves run with the interpreter of this virtualenv and its pyroute2.
PACKAGES = ("python3", "nftables", "iproute2")


class BenchError(Exception):
    """A step failed or did not do what it must; the message says which and shows its output."""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=50, help="namespace hosts (default 50, at most 100)")
    parser.add_argument("--forks", type=int, default=10, help="ansible forks (default 10)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of ping, no-change and compliance; the median is reported (default 1)")
    parser.add_argument("--profile", action="store_true", help="print the slowest tasks of the compliance run")
    parser.add_argument("--collections-path", default=str(REPO / ".build" / "collections"),
                        help="where mcast.linux is found (default: this checkout, as make setup links it)")
    parser.add_argument("--compare", metavar="COLLECTIONS_PATH",
                        help="also run with mcast.linux from this collections path, side by side")
    args = parser.parse_args(argv)
    if not 1 <= args.hosts <= 100:
        parser.error(f"--hosts {args.hosts}: give 1 to 100 (the namespaces are named {PREFIX}-h00 to {PREFIX}-h99)")
    if args.forks < 1 or args.repeats < 1:
        parser.error("--forks and --repeats must be at least 1")
    for option, path in (("--collections-path", args.collections_path), ("--compare", args.compare)):
        if path and not (Path(path) / "ansible_collections" / "mcast" / "linux").is_dir():
            parser.error(f"{option} {path}: no ansible_collections/mcast/linux below it")
    return args


def ip(*argv, check=True):
    proc = subprocess.run(["ip", *argv], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise BenchError(f"ip {' '.join(argv)}: {proc.stderr.strip()}")
    return proc


def namespace_names(count):
    return [f"{PREFIX}-h{index:02d}" for index in range(count)]


def our_namespaces():
    """The bench's namespaces still present (a foreign namespace of the same prefix is left alone)."""
    listed = ip("netns", "list").stdout.split("\n")
    names = [line.split()[0] for line in listed if line.startswith(f"{PREFIX}-h")]
    return [name for name in names if MARK in ip("-n", name, "link", "show", "dev", "lo", check=False).stdout]


def create_host(name, index):
    """A namespace with lo and a veth pair eth0/peer0 up, so the host role has an interface to manage."""
    if os.path.exists(f"/run/netns/{name}"):
        raise BenchError(f"network namespace {name} exists but was not made by this bench: remove it "
                         f"(ip netns delete {name}) or keep it and run elsewhere")
    ip("netns", "add", name)
    commands = ["link set dev lo alias " + MARK, "link set dev lo up",
                "link add eth0 type veth peer name peer0", "link set dev eth0 up", "link set dev peer0 up",
                f"address add 192.0.2.{index + 1}/24 dev eth0",
                f"address add 2001:db8::{index + 1:x}/64 dev eth0 nodad"]
    proc = subprocess.run(["ip", "-n", name, "-batch", "-"], input="\n".join(commands) + "\n",
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        ip("netns", "delete", name, check=False)  # perhaps not marked yet: cleanup would not find it
        raise BenchError(f"setting up {name}: {proc.stderr.strip()}")


def destroy_namespaces():
    for name in our_namespaces():
        ip("netns", "delete", name, check=False)


def installed_packages(names):
    """Those of ``names`` that dpkg lists as installed: the role checks them and never has to install one here."""
    try:
        proc = subprocess.run(["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status}\\n", *names],
                              capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return []
    return [line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" installed")]


def write_inventory(workdir, names, interpreter):
    """Group mcast_hosts with the role's variables; each host's files below workdir/etc/HOST."""
    files = workdir / "etc"
    for name in names:
        (files / name).mkdir(parents=True, exist_ok=True)
        (files / name / "nftables.conf").write_text("#!/usr/sbin/nft -f\n", encoding="utf-8")
    packages = installed_packages(PACKAGES)
    group_vars = {"ansible_connection": "mcast.linux.netns", "ansible_python_interpreter": interpreter,
                  "mcast_host_interface": "eth0", "mcast_host_install_packages": bool(packages),
                  "mcast_host_packages": packages}
    group_vars.update({f"mcast_host_{key}": f"{files}/{{{{ inventory_hostname }}}}/{name}"
                       for key, name in HOST_FILES.items()})
    inventory = {"mcast_hosts": {"hosts": {name: None for name in names}, "vars": group_vars}}
    path = workdir / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    return path


def ansible_env(collections_path, profile):
    env = dict(os.environ)
    env.update({
        "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_STDOUT_CALLBACK": "default",
    })
    for inherited in ("ANSIBLE_CONFIG", "ANSIBLE_PIPELINING", "ANSIBLE_STRATEGY", "ANSIBLE_CALLBACKS_ENABLED"):
        env.pop(inherited, None)
    if profile:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
        env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "all"
    return env


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ansible(argv, env, workdir, what):
    """Run an ansible command (cwd workdir: no ansible.cfg of a checkout applies).

    Returns (seconds, cpu seconds, recaps, output). The CPU time is that of the command and every process it
    waited for (workers, ip netns exec, the modules: all run on this machine), which the load of others
    does not inflate as much as the wall-clock time.
    """
    start, cpu_start = time.monotonic(), children_cpu_seconds()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, cwd=workdir)
    seconds, cpu = time.monotonic() - start, children_cpu_seconds() - cpu_start
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise BenchError(f"{what} failed (exit {proc.returncode}):\n{output[-4000:]}")
    recaps = {host: dict(zip(("ok", "changed", "unreachable", "failed", "skipped"), map(int, numbers)))
              for host, *numbers in RECAP.findall(output)}
    return seconds, cpu, recaps, output


class Contender:
    """One collection (one collections path) run through ping, converge, no-change run and compliance."""

    def __init__(self, label, collections_path, args, workdir):
        self.label = label
        self.args = args
        self.workdir = workdir
        self.env = ansible_env(collections_path, args.profile)
        self.results = {}
        self.profile = []

    def ansible(self, inventory, what, *argv):
        return run_ansible([str(VENV_BIN / "ansible"), "all", "-i", str(inventory), "-f", str(self.args.forks), *argv],
                           self.env, self.workdir, what)

    def playbook(self, inventory, what, *argv):
        return run_ansible([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "-f", str(self.args.forks),
                            *argv], self.env, self.workdir, what)

    def record(self, step, runs):
        seconds = [run[0] for run in runs]
        recaps = runs[-1][2]
        self.results[step] = {
            "seconds": statistics.median(seconds), "all": seconds, "cpu": statistics.median(run[1] for run in runs),
            "tasks": max((sum(recap[key] for key in ("ok", "changed", "skipped", "failed"))
                          for recap in recaps.values()), default=0),
            "changed": sum(recap["changed"] for recap in recaps.values()),
        }

    def run(self, names):
        """Fresh namespaces, then every step; the namespaces are gone afterwards whatever happened."""
        destroy_namespaces()
        try:
            for index, name in enumerate(names):
                create_host(name, index)
            self.run_steps(names)
        finally:
            destroy_namespaces()

    def run_steps(self, names):
        inventory = write_inventory(self.workdir, names, sys.executable)
        repeats = range(self.args.repeats)
        self.record("ping", [self.ansible(inventory, "ping", "-m", "ansible.builtin.ping") for _run in repeats])
        converge = self.playbook(inventory, "host role converge", "mcast.linux.host")
        self.check_all_hosts(converge[2], names, "converge")
        self.record("converge", [converge])
        nochange = [self.playbook(inventory, "host role re-run", "mcast.linux.host") for _run in repeats]
        for _seconds, _cpu, recaps, output in nochange:
            self.check_all_hosts(recaps, names, "no-change run")
            if any(recap["changed"] for recap in recaps.values()):
                raise BenchError(f"{self.label}: the no-change run changed something:\n{changed_tasks(output)}")
        self.record("no-change", nochange)
        report_dir = self.workdir / "report"
        compliance = [self.playbook(inventory, "compliance", "mcast.linux.compliance",
                                    "-e", f"mcast_compliance_report_dir={report_dir}") for _run in repeats]
        for _seconds, _cpu, _recaps, output in compliance:
            if f"All {len(names)} hosts are compliant." not in output:
                raise BenchError(f"{self.label}: compliance did not find all {len(names)} hosts compliant:\n"
                                 f"{output[-4000:]}")
        self.record("compliance", compliance)
        self.profile = slowest_tasks(compliance[-1][3])

    @staticmethod
    def check_all_hosts(recaps, names, what):
        missing = sorted(set(names) - set(recaps))
        if missing:
            raise BenchError(f"{what}: no recap for {', '.join(missing)}")


def changed_tasks(output):
    """The task headers followed by a changed host, with that host's line (the default callback's output)."""
    lines, task = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line.rstrip(" *")
        elif line.startswith("changed: ") and task:
            lines += [task, "  " + line[:300]]
            task = None
    return "\n".join(lines[:20]) or output[-4000:]


def slowest_tasks(output, count=8):
    return sorted(((float(sec), task.strip()) for task, sec in PROFILE_LINE.findall(output)), reverse=True)[:count]


STEPS = (("ping", "ansible -m ping (floor)"), ("converge", "host role: converge"),
         ("no-change", "host role: no-change run"), ("compliance", "compliance playbook"))


def table(contenders, hosts):
    header = ["run"]
    for contender in contenders:
        header += [f"{contender.label}: total", "per host", "x ping", "CPU", "x ping", "tasks/host"]
    rows = [header]
    for step, title in STEPS:
        row = [title]
        for contender in contenders:
            result = contender.results[step]
            floor = contender.results["ping"]["seconds"]
            cpu_floor = contender.results["ping"]["cpu"]
            row += [f"{result['seconds']:.1f} s", f"{result['seconds'] / hosts:.2f} s",
                    f"{result['seconds'] / floor:.1f}", f"{result['cpu']:.1f} s", f"{result['cpu'] / cpu_floor:.1f}",
                    str(result["tasks"] or 1)]
        rows.append(row)
    widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    if contenders[0].args.repeats > 1:
        for step, title in STEPS:
            lines.append(f"  every run, {title}: " + " | ".join(
                " ".join(f"{s:.1f}" for s in contender.results[step]["all"]) for contender in contenders))
    for contender in contenders:
        ratio = contender.results["compliance"]["seconds"] / contender.results["ping"]["seconds"]
        cpu_ratio = contender.results["compliance"]["cpu"] / contender.results["ping"]["cpu"]
        verdict = "met" if ratio <= GOAL else "MISSED"
        lines.append(f"goal ({contender.label}): compliance <= {GOAL:g} x the ping floor: {verdict} "
                     f"({ratio:.1f} x in time, {cpu_ratio:.1f} x in CPU)")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print("bench-fleet needs root: it creates network namespaces and veth links.", file=sys.stderr)
        return 1
    names = namespace_names(args.hosts)
    paths = [("measured", Path(args.collections_path))]
    if args.compare:
        paths.append(("compared", Path(args.compare)))
    contenders = []
    try:
        for label, path in paths:
            with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
                contender = Contender(label, path, args, Path(tmp))
                print(f"==> {label} ({path}): {args.hosts} hosts, forks {args.forks}", flush=True)
                contender.run(names)
                contenders.append(contender)
    except BenchError as error:
        print(f"bench-fleet: {error}", file=sys.stderr)
        return 1
    finally:
        destroy_namespaces()
    print(f"\nbench-fleet: {args.hosts} namespace hosts over mcast.linux.netns, forks {args.forks}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} (median of {args.repeats}):")
    print(table(contenders, args.hosts))
    if args.profile:
        for contender in contenders:
            print(f"\nslowest tasks of the compliance run, {contender.label}:")
            print("\n".join(f"  {seconds:6.2f} s  {task}" for seconds, task in contender.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
