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
