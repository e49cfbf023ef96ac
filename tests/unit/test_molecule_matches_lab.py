"""Molecule's platforms are the lab's hosts: one description of the lab, kept in step.

Every scenario (default: Debian 12; debian11, debian13: the other tested releases) runs the same lab
under its own prefix, with the default scenario's playbooks, on the image of its release.
"""
import re
from pathlib import Path

import pytest
import yaml

from tests.lab import image
from tests.lab.netlab import load_topology

REPO = Path(__file__).resolve().parents[2]
MOLECULE = REPO / "molecule"
SCENARIOS = sorted(path.parent.name for path in MOLECULE.glob("*/molecule.yml"))
# The prefix the shared playbooks use: MCAST_MOL_PREFIX, mol when a scenario sets none.
PREFIX_EXPRESSION = "{{ lookup('ansible.builtin.env', 'MCAST_MOL_PREFIX', default='mol') }}"
# Which image variable names which release (the Makefile exports each from `labctl build-image --suite`).
IMAGE_VARIABLES = {"MCAST_LAB_IMAGE": "bookworm", "MCAST_LAB_IMAGE_BULLSEYE": "bullseye",
                   "MCAST_LAB_IMAGE_TRIXIE": "trixie"}


def _scenario(name):
    return yaml.safe_load((MOLECULE / name / "molecule.yml").read_text())


def _prefix(scenario):
    return scenario["provisioner"].get("env", {}).get("MCAST_MOL_PREFIX", "mol")


def test_the_tested_releases_each_have_a_scenario():
    releases = sorted(IMAGE_VARIABLES[_image_variable(_scenario(name))] for name in SCENARIOS)
    assert releases == sorted(image.SUITES), "each release the lab image can be built for is tested by one scenario"


def _image_variable(scenario):
    variables = {re.fullmatch(r"\$\{(\w+)\}", platform["image"]).group(1) for platform in scenario["platforms"]}
    assert len(variables) == 1, f"one image for every platform of a scenario, not {variables}"
    return variables.pop()


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_platforms_are_the_topology_hosts(name):
    scenario = _scenario(name)
    prefix = _prefix(scenario)
    topology = load_topology()
    platforms = {p["hostname"]: p for p in scenario["platforms"]}
    assert set(platforms) == set(topology["hosts"])
    for host, spec in topology["hosts"].items():
        platform = platforms[host]
        assert platform["name"] == f"{prefix}-{host}", f"labctl wire --prefix {prefix} finds containers by this name"
        assert platform["groups"] == spec["groups"]
        assert platform["network"] == "none", "containers must never join a podman bridge on the host"
        assert platform["extra_opts"] == ["--label", f"mcast-lab={prefix}"], "labctl only wires containers it owns"


def test_scenarios_never_share_containers_or_namespaces():
    prefixes = [_prefix(_scenario(name)) for name in SCENARIOS]
    assert len(set(prefixes)) == len(prefixes), f"each scenario needs its own MCAST_MOL_PREFIX: {prefixes}"


@pytest.mark.parametrize("name", [name for name in SCENARIOS if name != "default"])
def test_other_releases_reuse_the_default_playbooks(name):
    """converge, verify (datagrams of every route) and the wiring are written once, in molecule/default."""
    scenario = _scenario(name)
    playbooks = scenario["provisioner"]["playbooks"]
    for step in ("prepare", "converge", "verify", "cleanup"):
        assert playbooks[step] == f"../default/{step}.yml"
        assert (MOLECULE / name / playbooks[step]).is_file()
    assert [path.name for path in (MOLECULE / name).iterdir()] == ["molecule.yml"], "no copies of default's playbooks"
    assert {"converge", "idempotence", "verify"} <= set(scenario["scenario"]["test_sequence"])


def test_makefile_exports_the_image_of_every_scenario():
    recipe = (REPO / "Makefile").read_text().split("\ntest-molecule:", 1)[1].split("\n\n", 1)[0]
    for name in SCENARIOS:
        variable = _image_variable(_scenario(name))
        suite = IMAGE_VARIABLES[variable]
        option = "" if suite == image.DEFAULT_SUITE else f" --suite {suite}"
        assert f"export {variable}=$$($(LABCTL) build-image{option})" in recipe, f"{name} needs {variable}"


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
    scenario = MOLECULE / "default"
    wire = ["wire", "--mode", "containers", "--prefix", PREFIX_EXPRESSION]
    assert _labctl_argvs(scenario / "prepare.yml") == [wire]
    assert _labctl_argvs(scenario / "restart.yml") == [wire]
    assert _labctl_argvs(scenario / "lab_vars.yml") == [["inventory", "--mode", "containers", "--prefix", PREFIX_EXPRESSION]]
    assert _labctl_argvs(scenario / "cleanup.yml") == [["down", "--mode", "containers", "--prefix", PREFIX_EXPRESSION]]
    for playbook in [*scenario.glob("*.yml"), *scenario.glob("tasks/*.yml")]:
        text = playbook.read_text()
        for words in ("addr add", "addr replace", "address add", "address replace", "nodad"):
            assert words not in text, f"{playbook.name} sets addresses itself ({words!r}): take them from labctl"
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert playbook.name == "molecule.yml" or "mol-" not in code, \
            f"{playbook.name} names a container or namespace of one scenario: use the prefix"
    assert all(end.get("address6") for segment in load_topology()["segments"].values() for end in segment["ends"])
