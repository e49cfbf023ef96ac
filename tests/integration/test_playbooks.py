"""The router, host and compliance playbooks against the netns lab, with real datagrams.

The lab's namespaces share this machine's filesystem, so every path the roles persist to (udev rule,
sysctl.d drop-in, route unit, nftables include and configuration, mcastd configuration and set) is
pointed into a temporary directory, and the router role runs with ``mcast_router_manage_service:
false`` next to an mcastd started from the checkout in the router namespace (there is no systemd
here; the unit and the package deployment are exercised by make lab and molecule in containers).
"""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.integration.harness import REPO, ansible_env
from tests.integration.mcastd.runner import Mcastd, wait_for

pytestmark = pytest.mark.integration

PLAYBOOKS = REPO / "playbooks"
PROBE = str(PLAYBOOKS / "files" / "mcast_probe.py")
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
GROUPS = {"239.1.1.1": 5001, "239.2.2.2": 5002, "239.3.3.3": 5003,
          "ff0e::1:1": 5011, "ff0e::2:2": 5012, "ff0e::3:3": 5013}
# What the lab plan (playbooks/vars/lab.yml) routes: group -> receivers that must get it. IPv4 and IPv6 side by
# side: an (S,G), a (*,G) (for IPv6 a kernel (*,G) entry) and a group without a route, each.
EXPECTED = {"239.1.1.1": {"recv20", "recv30"}, "239.2.2.2": {"recv20"}, "239.3.3.3": set(),
            "ff0e::1:1": {"recv20", "recv30"}, "ff0e::2:2": {"recv20"}, "ff0e::3:3": set()}


# The file name each role persists to, by the suffix of its variable.
PERSISTENCE_FILES = {"udev_rules_file": "60-mcast-linux-link.rules", "sysctl_file": "60-mcast-linux.conf",
                     "nftables_include_file": "mcast-linux.nft", "nftables_conf": "nftables.conf"}
HOST_ROUTE_FILES = {"route_unit_file": "mcast-linux-routes.service", "routes_file": "routes.json",
                    "route_keeper_file": "route_keeper.py"}


def persistence_vars(files, hosts):
    """Every persistence path of both roles, inside ``files``.

    The namespaces share one filesystem, but each real host has its own: the host role's files go to
    ``files/<inventory_hostname>/`` so that hosts converging in parallel never write the same routes
    file, which they could not do on separate machines.
    """
    for directory in [files] + [files / host for host in hosts]:
        directory.mkdir(exist_ok=True)
        (directory / "nftables.conf").write_text("#!/usr/sbin/nft -f\n")
    per_host = files / "{{ inventory_hostname }}"
    variables = {"mcast_router_" + key: str(files / name) for key, name in PERSISTENCE_FILES.items()}
    variables.update({"mcast_host_" + key: str(per_host / name)
                      for key, name in dict(PERSISTENCE_FILES, **HOST_ROUTE_FILES).items()})
    variables.update(mcast_router_install_packages=False, mcast_host_install_packages=False)
    return variables


class Fleet:
    """The netns lab as an inventory, the lab plan as extra vars, and ansible-playbook runs."""

    def __init__(self, lab, workdir):
        self.lab = lab
        self.workdir = workdir
        files = workdir / "etc"
        files.mkdir()
        self.mcastd = Mcastd(lab, workdir / "mcastd")
        self.mcastd.workdir.mkdir()
        conf_dir = self.mcastd.workdir / "conf.d"
        conf_dir.mkdir()
        self.mcastd.write_config("phyint trunk.10 enable\nphyint trunk.20 enable\nphyint trunk.30 enable\n"
                                 "include %s/*.conf\n" % conf_dir)
        self.inventory = workdir / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump(lab.inventory()))
        plan = yaml.safe_load((PLAYBOOKS / "vars" / "lab.yml").read_text())
        plan.update(persistence_vars(files, lab.hosts))
        plan.update(mcast_router_manage_service=False, mcast_router_config=str(self.mcastd.config),
                    mcast_router_conf_dir=str(conf_dir), mcast_router_socket=self.mcastd.socket,
                    mcast_play_hosts="senders:receivers", mcast_compliance_report_dir=str(workdir / "report"))
        self.extra_vars = workdir / "vars.yml"
        self.extra_vars.write_text(yaml.safe_dump(plan))

    def play(self, playbook, *extra):
        """Run a playbook of the collection; the JSON callback's report and the exit code."""
        argv = [PLAYBOOK, "-i", str(self.inventory), "-e", "@%s" % self.extra_vars, *extra, str(PLAYBOOKS / playbook)]
        proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), timeout=300, check=False)
        try:
            return json.loads(proc.stdout), proc.returncode
        except ValueError as exc:
            raise AssertionError("no JSON from %s (rc %d):\n%s\n%s"
                                 % (playbook, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])) from exc

    def converge(self):
        """router.yml then host.yml; the number of changed tasks per host."""
        changed = {}
        for playbook in ("router.yml", "host.yml"):
            report, returncode = self.play(playbook)
            assert returncode == 0, failures(report)
            changed.update({host: stats["changed"] for host, stats in report["stats"].items()})
        return changed

    def send_and_count(self):
        """Receivers join every group; the sender sends 10 numbered datagrams to each; counts per receiver."""
        group_args = ["--group=%s:%d" % item for item in GROUPS.items()]
        listeners = {host: self.lab.popen(host, [sys.executable, PROBE, "recv", "--interface", "eth0",
                                                 "--seconds", "3", *group_args], stdout=subprocess.PIPE, text=True)
                     for host in ("recv20", "recv30")}
        for host in listeners:
            assert wait_for(lambda host=host: self.joined(host) >= set(GROUPS), timeout=10), "%s did not join" % host
        self.lab.run("sender", [sys.executable, PROBE, "send", "--count", "10", "--interval", "0.02", *group_args])
        counts = {}
        for host, proc in listeners.items():
            output, _stderr = proc.communicate(timeout=30)
            counts[host] = {group: result["received"] for group, result in json.loads(output)["groups"].items()}
        return counts

    def joined(self, host):
        """The IPv4 and IPv6 groups joined on the host's eth0 (ip maddr)."""
        rows = json.loads(self.lab.run(host, ["ip", "-j", "maddr", "show", "dev", "eth0"]).stdout or "[]")
        return {entry["address"] for row in rows for entry in row.get("maddr", [])
                if entry.get("family") in ("inet", "inet6")}


def failures(report):
    return [(task["task"]["name"], host, result.get("msg"))
            for play in report["plays"] for task in play["tasks"]
            for host, result in task["hosts"].items() if result.get("failed")]


@pytest.fixture(scope="module", name="fleet")
def fixture_fleet(netns_lab, tmp_path_factory):
    fleet = Fleet(netns_lab, tmp_path_factory.mktemp("playbooks"))
    fleet.mcastd.start()
    try:
        yield fleet
    finally:
        fleet.mcastd.stop()


def test_converge_changes_then_nothing_and_every_route_forwards_only_where_it_should(fleet):
    first = fleet.converge()
    assert first["router"] > 0 and first["sender"] > 0
    assert fleet.converge() == {"router": 0, "sender": 0, "recv20": 0, "recv30": 0}

    counts = fleet.send_and_count()
    for group, receivers in EXPECTED.items():
        for host in ("recv20", "recv30"):
            assert counts[host][group] == (10 if host in receivers else 0), (group, host, counts)
    assert fleet.lab.run("sender", ["ip", "-j", "route", "show", "224.0.0.0/4"]).stdout.count('"dev":"eth0"') == 1
    # the host role's IPv6 route is in table local, where the kernel chooses the interface of IPv6 multicast
    local = json.loads(fleet.lab.run("sender", ["ip", "-6", "-j", "route", "show", "table", "local", "ff0e::/16"]).stdout)
    assert [(route["dev"], route.get("metric")) for route in local] == [("eth0", 255)]
    routed = fleet.lab.run("router", ["ip", "-6", "mroute", "show"]).stdout
    assert "(2001:db8:10::10,ff0e::1:1)" in routed and "(::,ff0e::2:2)" in routed, routed


def test_role_inputs_of_the_wrong_family_or_scope_fail_before_any_change(fleet):
    """The roles refuse what mcastd (or the kernel) would refuse for IPv6, with the reason, before a task changes anything."""
    bad = fleet.workdir / "bad.yml"
    bad.write_text(yaml.safe_dump({
        "mcast_router_routes": [{"source": "192.0.2.10", "group": "ff0e::1:1", "from": "trunk.10", "to": ["trunk.20"]},
                                {"group": "ff02::1:3", "from": "trunk.10", "to": ["trunk.20"]}],
        "mcast_host_route_dest": ["224.0.0.0/4", "ff02::/16"]}))
    for playbook, words in (("router.yml", ["the route of ff0e::1:1 from trunk.10 has the source 192.0.2.10, of the "
                                            "other address family", "the route of ff02::1:3 from trunk.10 has an IPv6 "
                                            "group of interface-local or link-local scope"]),
                            ("host.yml", ["mcast_host_route_dest ff02::/16 is an IPv6 prefix of interface-local or "
                                          "link-local scope"])):
        report, returncode = fleet.play(playbook, "-e", "@%s" % bad)
        assert returncode != 0
        failed = failures(report)
        assert failed and all(task.split(" : ")[-1].startswith("Fail on") for task, _host, _msg in failed), failed
        for word in words:
            assert word in failed[0][2], failed
        assert sum(stats["changed"] for stats in report["stats"].values()) == 0


def test_compliance_passes_on_the_converged_lab_and_names_each_drift(fleet):
    fleet.converge()
    report, returncode = fleet.play("compliance.yml")
    summary = json.loads((fleet.workdir / "report" / "compliance.json").read_text())
    assert returncode == 0, failures(report)
    assert summary["compliant"] and sorted(summary["hosts"]) == ["recv20", "recv30", "router", "sender"]

    # Drift: strict rp_filter where routes enter, and the route set emptied behind the daemon's back.
    fleet.lab.run("router", ["sysctl", "-q", "-w", "net/ipv4/conf/trunk.10/rp_filter=1"])
    fleet.lab.run("recv20", ["ip", "route", "del", "224.0.0.0/4"])
    _report, returncode = fleet.play("compliance.yml")
    summary = json.loads((fleet.workdir / "report" / "compliance.json").read_text())
    assert returncode != 0 and not summary["compliant"]
    assert [drift["setting"] for drift in summary["hosts"]["router"]["drifts"]] == ["rp_filter"]
    assert [drift["setting"] for drift in summary["hosts"]["recv20"]["drifts"]] == ["multicast route"]
    assert summary["hosts"]["sender"]["compliant"]
    junit = ET.parse(fleet.workdir / "report" / "compliance.xml").getroot()
    failed = sorted((suite.get("name"), case.get("name")) for suite in junit for case in suite if case.find("failure") is not None)
    assert ("router", "setting: rp_filter") in failed and ("recv20", "setting: multicast route") in failed

    fleet.converge()
    _report, returncode = fleet.play("compliance.yml")
    assert returncode == 0

    # A package the host role needs is missing: the platform check finds it, the settings are checked by the
    # run after the (check mode: skipped) package step, and the missing package is the only drift.
    absent = fleet.workdir / "absent.yml"
    absent.write_text(yaml.safe_dump({"mcast_host_install_packages": True,
                                      "mcast_host_packages": ["python3", "mcast-linux-test-absent"]}))
    _report, returncode = fleet.play("compliance.yml", "-e", "@%s" % absent)
    summary = json.loads((fleet.workdir / "report" / "compliance.json").read_text())
    assert returncode != 0
    for host in ("sender", "recv20", "recv30"):
        row = summary["hosts"][host]
        assert [(drift["setting"], drift["changes"]) for drift in row["drifts"]] == [
            ("packages", ["packages: + mcast-linux-test-absent"])], json.dumps(row)
        assert {"interface flags", "multicast route"} <= set(row["checked"]), row
    assert summary["hosts"]["router"]["compliant"]
