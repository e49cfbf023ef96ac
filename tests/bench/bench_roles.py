"""make bench-roles: the router role against a plain playbook, side by side on the same lab.

On the container lab of tests/lab/topology.yml (prefix ``rbench``), with the lab's multicast plan
(playbooks/vars/lab.yml) and the site baseline of the molecule scenario (a firewall that drops by
default, strict rp_filter: molecule/default/site.yml), it times for each of

- ``mcast.linux.router`` (the collection's router playbook), and
- ``tests/bench/plain_router.yml`` (the same router written with ansible.builtin/ansible.posix
  tasks: sysctl, command, template, copy, service),

a full converge of a freshly created router and then REPEATS idempotent re-runs, which must change
nothing. Between the two the lab is created anew, so both start from the same state. Both are
checked to have done the job (mcastd active, the lab's (S,G) route in the kernel). The goal: the
no-change run of the role takes at most half the time of the plain playbook's.

    .venv/bin/python tests/bench/bench_roles.py [--repeats N] [--profile] [--keep]

``--profile`` adds ansible.posix.profile_tasks and prints the slowest tasks of each no-change run.
Timings are wall-clock seconds of ansible-playbook, controller start included, on the same machine
in the same run; they are a comparison, not an absolute measure. Needs root (podman, veth links).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

# pylint: disable=wrong-import-position
from tests.lab import image  # noqa: E402
from tests.lab.errors import LabError  # noqa: E402
from tests.lab.netlab import Lab, require_root  # noqa: E402

PREFIX = "rbench"
VENV_BIN = REPO / ".venv" / "bin"
PLAN = REPO / "playbooks" / "vars" / "lab.yml"
SITE_BASELINE = REPO / "molecule" / "default" / "site.yml"
CONTENDERS = (
    ("mcast.linux.router role", "mcast.linux.router"),
    ("plain playbook", str(REPO / "tests" / "bench" / "plain_router.yml")),
)
GOAL = 0.5
RECAP = re.compile(r"^\S+\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
PROFILE_LINE = re.compile(r"^(.+?) -{2,} (\d+\.\d+)s$", re.M)


class BenchError(Exception):
    """A run failed or did not do what it must; the message says which and shows its output."""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=3, help="no-change re-runs per contender (median reported)")
    parser.add_argument("--profile", action="store_true", help="print the slowest tasks of the no-change runs")
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards (labctl down --prefix rbench)")
    return parser.parse_args(argv)


def ansible_env(profile):
    env = dict(image.podman_env())
    env.update({
        "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".build" / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    })
    if profile:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    return env


def run_playbook(inventory, playbook, env, extra_vars=()):
    """Run ansible-playbook on the routers; returns (seconds, recap dict, output)."""
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "--limit", "routers",
            *[arg for path in extra_vars for arg in ("-e", f"@{path}")], playbook]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, cwd=REPO)
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    match = RECAP.search(output)
    if proc.returncode != 0 or not match:
        raise BenchError(f"{playbook} failed (exit {proc.returncode}):\n{output[-3000:]}")
    recap = dict(zip(("ok", "changed", "unreachable", "failed", "skipped"), map(int, match.groups())))
    return seconds, recap, output


def fresh_lab(lab, inventory, env):
    """The lab created anew, with the site baseline on the router: every contender starts here."""
    lab.down()
    lab.up()
    inventory.write_text(yaml.safe_dump(lab.inventory(), sort_keys=False), encoding="utf-8")
    run_playbook(inventory, str(SITE_BASELINE), env)


def check_router_works(lab, name):
    """The contender did the job: mcastd runs and the plan's (S,G) route is in the kernel."""
    active = lab.run("router", ["systemctl", "is-active", "mcastd"], check=False).stdout.strip()
    mroutes = lab.run("router", ["ip", "mroute", "show"], check=False).stdout
    if active != "active" or "(192.0.2.10,239.1.1.1)" not in mroutes:
        raise BenchError(f"{name}: after its converge mcastd is {active!r} and the kernel's MFC is:\n{mroutes or '(empty)'}")


def slowest_tasks(output, count=6):
    return sorted(((float(sec), task.strip()) for task, sec in PROFILE_LINE.findall(output)), reverse=True)[:count]


def unit_vars(directory):
    """The unit and container drop-in mcast.linux.mcastd writes, as variables for the plain playbook."""
    sys.path.insert(0, str(REPO / ".build" / "collections"))
    from ansible_collections.mcast.linux.plugins.modules import mcastd  # pylint: disable=import-outside-toplevel
    path = Path(directory) / "plain-units.yml"
    unit = mcastd.render_unit({"libdir": "/usr/lib/mcastd", "config": "/etc/mcastd/mcastd.conf",
                               "socket": "/run/mcastd/mcastd.sock"})
    path.write_text(yaml.safe_dump({"plain_unit": unit, "plain_container_dropin": mcastd.CONTAINER_DROPIN}),
                    encoding="utf-8")
    return path


def bench_contender(lab, inventory, env, name, playbook, repeats):
    fresh_lab(lab, inventory, env)
    extra = [PLAN, unit_vars(inventory.parent)]
    converge, converge_recap, _output = run_playbook(inventory, playbook, env, extra)
    check_router_works(lab, name)
    reruns = []
    for _run in range(repeats):
        seconds, recap, output = run_playbook(inventory, playbook, env, extra)
        if recap["changed"]:
            raise BenchError(f"{name}: the no-change run changed {recap['changed']} task(s):\n{output[-3000:]}")
        reruns.append((seconds, recap, output))
    return {
        "name": name,
        "converge": converge,
        "converge_changed": converge_recap["changed"],
        "nochange": statistics.median(seconds for seconds, _recap, _output in reruns),
        "nochange_all": [seconds for seconds, _recap, _output in reruns],
        "tasks": reruns[0][1]["ok"] + reruns[0][1]["skipped"],
        "profile": slowest_tasks(reruns[-1][2]),
    }


def table(results):
    role, plain = results
    rows = [
        ("run", role["name"], plain["name"], "role / plain"),
        ("full converge", f"{role['converge']:.1f} s ({role['converge_changed']} changed)",
         f"{plain['converge']:.1f} s ({plain['converge_changed']} changed)", f"{role['converge'] / plain['converge']:.2f}"),
        ("no-change re-run (median)", f"{role['nochange']:.1f} s (0 changed)", f"{plain['nochange']:.1f} s (0 changed)",
         f"{role['nochange'] / plain['nochange']:.2f}"),
        ("  every no-change run", " ".join(f"{s:.1f}" for s in role["nochange_all"]),
         " ".join(f"{s:.1f}" for s in plain["nochange_all"]), ""),
        ("tasks per no-change run", str(role["tasks"]), str(plain["tasks"]), ""),
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    ratio = role["nochange"] / plain["nochange"]
    verdict = "met" if ratio <= GOAL else "MISSED"
    lines.append(f"goal: no-change run of the role <= {GOAL:.0%} of the plain playbook's: {verdict} ({ratio:.0%})")
    return "\n".join(lines)


def profile_report(results):
    lines = []
    for result in results:
        lines.append(f"slowest tasks of a no-change run, {result['name']}:")
        lines += [f"  {seconds:6.2f} s  {task}" for seconds, task in result["profile"]]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = ansible_env(args.profile)
    lab = Lab(prefix=PREFIX, mode="containers")
    results = []
    try:
        require_root()
        with tempfile.TemporaryDirectory(prefix="bench-roles-") as tmp:
            inventory = Path(tmp) / "inventory.yml"
            for name, playbook in CONTENDERS:
                print(f"==> {name}: fresh lab, full converge, {args.repeats} no-change runs", flush=True)
                results.append(bench_contender(lab, inventory, env, name, playbook, args.repeats))
    except (BenchError, LabError) as error:
        print(f"bench-roles: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            lab.down()
    print(f"\nbench-roles on the container lab ({os.cpu_count()} CPUs), router only, same variables:")
    print(table(results))
    if args.profile:
        print()
        print(profile_report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
