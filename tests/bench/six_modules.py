"""Benchmark: a no-change run of all six mcast.linux modules against one namespace host.

Run as root: ``tests/bench/six_modules.sh [--runs N]``. A netns lab (the standard topology) comes up with
mcastd from the checkout in the router namespace; one playbook runs link, rp_filter, nftables, route,
mroute and facts against the router through the mcast.linux.netns connection, with every persistence
file in a temporary directory. The first run converges; then the same playbook runs N more times,
each of which must change nothing. Printed: a table of wall time per run (ansible-playbook start to
exit), the sum of the six task times, and each module's task time in the last run. A script that
prints numbers, not a timed test: it asserts only that the runs change nothing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.integration.harness import ansible_env  # noqa: E402  pylint: disable=wrong-import-position
from tests.integration.mcastd.runner import Mcastd  # noqa: E402  pylint: disable=wrong-import-position
from tests.lab.fixtures import unique_prefix  # noqa: E402  pylint: disable=wrong-import-position
from tests.lab.netlab import Lab  # noqa: E402  pylint: disable=wrong-import-position

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
MODULES = ("link", "rp_filter", "nftables", "route", "mroute", "facts")


def playbook(workdir, daemon):
    files = Path(workdir)
    (files / "nftables.conf").write_text("#!/usr/sbin/nft -f\n")
    tasks = [
        {"name": "link", "mcast.linux.link": {"interfaces": ["trunk.*"], "flags": ["multicast", "allmulti"],
                                              "udev_rules_file": str(files / "udev" / "70-mcast.rules")}},
        {"name": "rp_filter", "mcast.linux.rp_filter": {"interfaces": ["trunk.*"], "mode": "off",
                                                        "sysctl_file": str(files / "sysctl" / "60-mcast.conf")}},
        {"name": "nftables", "mcast.linux.nftables": {"include_file": str(files / "nft" / "mcast.nft"),
                                                      "nftables_conf": str(files / "nftables.conf")}},
        {"name": "route", "mcast.linux.route": {"dev": "trunk.20", "unit_file": str(files / "systemd" / "routes.service"),
                                                "routes_file": str(files / "routes.json"),
                                                "keeper_file": str(files / "route_keeper.py")}},
        {"name": "mroute", "mcast.linux.mroute": {
            "set": "bench", "conf_dir": str(files / "conf.d"), "socket": daemon.socket,
            "routes": [{"source": "192.0.2.10", "group": "225.1.2.3", "iif": "trunk.10", "oifs": ["trunk.20", "trunk.30"]},
                       {"group": "239.10.0.0/16", "iif": "trunk.10", "oifs": ["trunk.20"]}],
            "mgroups": [{"iif": "trunk.10", "group": "239.10.1.1"}]}},
        {"name": "facts", "mcast.linux.facts": {"mcastd_socket": daemon.socket}},
    ]
    path = files / "six.yml"
    path.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}], indent=1))
    return path


def run(namespace, book):
    started = time.monotonic()
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", namespace + ",", "-c", "mcast.linux.netns", str(book)],
                          capture_output=True, text=True, env=ansible_env(), check=False)
    wall = time.monotonic() - started
    report = json.loads(proc.stdout)
    tasks = {}
    for task in report["plays"][0]["tasks"]:
        result = task["hosts"][namespace]
        if result.get("failed"):
            raise SystemExit("%s failed: %s" % (task["task"]["name"], result.get("msg")))
        duration = task["task"]["duration"]
        tasks[task["task"]["name"]] = (_seconds(duration["end"]) - _seconds(duration["start"]), result.get("changed"))
    return wall, tasks


def _seconds(stamp):
    # ansible.posix.json prints ISO 8601 with microseconds and a trailing Z.
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="no-change runs after the first (default %(default)s)")
    options = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates network namespaces")
    workdir = tempfile.mkdtemp(prefix="bench-six-")
    lab = Lab(prefix=unique_prefix("bsix"))
    daemon = None
    try:
        lab.up()
        (Path(workdir) / "conf.d").mkdir()
        daemon = Mcastd(lab, workdir)
        daemon.write_config("include conf.d/*.conf\n")
        daemon.start()
        book = playbook(workdir, daemon)
        namespace = lab.ns("router")
        first_wall, first = run(namespace, book)
        rows = []
        last = None
        for _run in range(options.runs):
            wall, last = run(namespace, book)
            changed = [name for name, (_seconds_taken, was_changed) in last.items() if was_changed]
            if changed:
                raise SystemExit("a no-change run changed: %s" % ", ".join(changed))
            rows.append((wall, sum(seconds for seconds, _changed in last.values())))
        print("six modules against one namespace host (%s), ansible-core via the netns connection" % namespace)
        print("first run (converges): %.2f s wall, changed: %s" % (
            first_wall, ", ".join(name for name, (_s, was_changed) in first.items() if was_changed) or "nothing"))
        print("%-8s %10s %14s" % ("run", "wall (s)", "6 tasks (s)"))
        for index, (wall, tasks_total) in enumerate(rows, 1):
            print("%-8s %10.2f %14.2f" % ("no-change %d" % index, wall, tasks_total))
        walls = sorted(wall for wall, _total in rows)
        print("median no-change run: %.2f s wall" % walls[len(walls) // 2])
        print("per task in the last run: " + ", ".join("%s %.2f s" % (name, last[name][0]) for name in MODULES))
    finally:
        if daemon is not None:
            daemon.stop()
        lab.down()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
