"""Molecule's platforms are the lab's hosts: one description of the lab, kept in step."""
from pathlib import Path

import yaml

from tests.lab.netlab import load_topology

REPO = Path(__file__).resolve().parents[2]


def test_default_scenario_platforms_are_the_topology_hosts():
    scenario = yaml.safe_load((REPO / "molecule" / "default" / "molecule.yml").read_text())
    topology = load_topology()
    platforms = {p["hostname"]: p for p in scenario["platforms"]}
    assert set(platforms) == set(topology["hosts"])
    for host, spec in topology["hosts"].items():
        platform = platforms[host]
        assert platform["name"] == "mol-" + host, "labctl wire --prefix mol finds containers by this name"
        assert platform["groups"] == spec["groups"]
        assert platform["network"] == "none", "containers must never join a podman bridge on the host"
        assert platform["extra_opts"] == ["--label", "mcast-lab=mol"], "labctl only wires containers it owns"


def _labctl_argvs(playbook):
    """The argv tails (after the labctl path) of every command task of a playbook that runs labctl."""
    tails = []
    for play in yaml.safe_load(playbook.read_text()):
        for task in play.get("tasks", []):
            command = task.get("ansible.builtin.command")
            argv = command.get("argv", []) if isinstance(command, dict) else []
            tails.extend([argv[index + 1:] for index, arg in enumerate(argv) if str(arg).endswith("/tests/lab/labctl")])
    return tails


def test_molecule_containers_get_their_addresses_from_the_lab_both_families():
    """prepare wires the containers with `labctl wire` (and restart re-wires them), lab_vars reads lab_interfaces
    from `labctl inventory`, and no play of the scenario adds addresses itself: so molecule's containers carry
    the topology's IPv4 and IPv6 addresses, as the lab does, and cannot drift from them."""
    scenario = REPO / "molecule" / "default"
    wire = ["wire", "--mode", "containers", "--prefix", "mol"]
    assert _labctl_argvs(scenario / "prepare.yml") == [wire]
    assert _labctl_argvs(scenario / "restart.yml") == [wire]
    assert _labctl_argvs(scenario / "lab_vars.yml") == [["inventory", "--mode", "containers", "--prefix", "mol"]]
    for playbook in [*scenario.glob("*.yml"), *scenario.glob("tasks/*.yml")]:
        text = playbook.read_text()
        for words in ("addr add", "addr replace", "address add", "address replace", "nodad"):
            assert words not in text, f"{playbook.name} sets addresses itself ({words!r}): take them from labctl"
    assert all(end.get("address6") for segment in load_topology()["segments"].values() for end in segment["ends"])
