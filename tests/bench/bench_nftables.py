"""Benchmark: a no-change run of mcast.linux.nftables on a ruleset of 1,000 unrelated rules.

Run as root: ``.venv/bin/python tests/bench/bench_nftables.py [--runs N]``. One lab namespace gets
a ruleset of 1,000 rules (800 in an input chain with policy drop, 200 drops by source address in
a prerouting chain) plus this module's rules for IGMP, MLD, PIM and one routed group, so each run
is a no-change run. Printed, as the median of N runs:

- ``nft -j list ruleset`` alone (the one read the module needs);
- the planner in-process on that JSON (parse, plan, drop report);
- the module run directly with python inside the namespace (no Ansible controller);
- the module through the ``ansible`` CLI and the netns connection, as a playbook task would run;
- side by side, ``ansible.builtin.command: nft -j list ruleset`` through the same CLI: what a
  hand-written task that only reads the ruleset costs.

This is a script that prints numbers, not a timed test: it asserts only that runs change nothing.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import tests.conftest  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
from tests.integration.harness import run_module  # noqa: E402  pylint: disable=wrong-import-position
from tests.lab.fixtures import unique_prefix  # noqa: E402  pylint: disable=wrong-import-position
from tests.lab.netlab import Lab  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.mcast.linux.plugins.module_utils import _nft  # noqa: E402  pylint: disable=wrong-import-position

HOST = "fw"
ARGS = {"mld": True, "pim": True, "forward": [{"group": "239.5.0.0/16", "ports": ["5004"]}], "persist": False}
MODULE = REPO / "plugins" / "modules" / "nftables.py"


def thousand_rules():
    accepts = "".join("  tcp dport %d accept\n" % port for port in range(10000, 10800))
    drops = "".join("  ip saddr 198.18.%d.0/24 counter drop\n" % index for index in range(200))
    return ("flush ruleset\ntable inet filter {\n chain input {\n  type filter hook input priority filter; policy drop;\n"
            + accepts + " }\n}\ntable ip extra {\n chain pre {\n  type filter hook prerouting priority -200;\n"
            + drops + " }\n}\n")


def median_seconds(action, runs):
    times = []
    for _run in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    lab = Lab({"hosts": {HOST: {}}, "segments": {}}, prefix=unique_prefix("mnftb"))
    try:
        lab.up()
        namespace = lab.ns(HOST)
        lab.run(HOST, ["nft", "-f", "-"], input=thousand_rules())
        assert run_module(namespace, "mcast.linux.nftables", ARGS)["changed"] is True
        listing = lab.run(HOST, ["nft", "-j", "list", "ruleset"]).stdout
        rules = sum(1 for item in json.loads(listing)["nftables"] if "rule" in item)
        traffics = _nft.build_traffic(True, True, _nft.parse_forward(ARGS["forward"]))

        def plan_in_process():
            ruleset = _nft.Ruleset(json.loads(listing))
            assert not _nft.plan(ruleset, traffics).changed
            _nft.drop_report(ruleset, traffics, skip=lambda rule: False)

        with tempfile.NamedTemporaryFile("w", suffix=".json") as args_file:
            json.dump({"ANSIBLE_MODULE_ARGS": ARGS}, args_file)
            args_file.flush()
            direct = ["env", "PYTHONPATH=%s" % tests.conftest.COLLECTIONS, sys.executable, str(MODULE), args_file.name]

            def module_direct():
                assert json.loads(lab.run(HOST, direct).stdout)["changed"] is False

            def module_cli():
                assert run_module(namespace, "mcast.linux.nftables", ARGS)["changed"] is False

            def peer_cli():
                assert run_module(namespace, "ansible.builtin.command", {"argv": ["nft", "-j", "list", "ruleset"]})["rc"] == 0

            rows = [
                ("nft -j list ruleset", median_seconds(lambda: lab.run(HOST, ["nft", "-j", "list", "ruleset"]), runs)),
                ("planner in-process (parse, plan, report)", median_seconds(plan_in_process, runs)),
                ("module run directly in the namespace", median_seconds(module_direct, runs)),
                ("module through ansible CLI + netns", median_seconds(module_cli, runs)),
                ("peer: command nft -j list ruleset via CLI", median_seconds(peer_cli, runs)),
            ]
        print("no-change run, %d rules in the ruleset (%d of them the module's), median of %d runs"
              % (rules, len(_nft.Ruleset(json.loads(listing)).managed_rules()), runs))
        print("%-45s %10s" % ("what", "seconds"))
        for name, seconds in rows:
            print("%-45s %10.3f" % (name, seconds))
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
