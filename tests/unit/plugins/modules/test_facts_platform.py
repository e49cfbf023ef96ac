"""mcast.linux.facts, subset platform: the facts the roles' platform check reads, and the package query.

The roles run this subset before any package is installed (without pyroute2), and the compliance playbook
runs it together with the multicast subset: one module run for both.
"""
import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.modules import facts
from tests.unit.plugins.modules.uthelper import run_main

DEBIAN = {"distribution": "Debian", "distribution_version": "12.11", "distribution_major_version": "12",
          "distribution_release": "bookworm", "os_family": "Debian"}
# What dpkg-query prints for an installed package, one removed with its configuration kept, one never installed.
DPKG_ANSWER = ("python3 installed 3.11.2-1+b1\npython3-pyroute2 installed 0.7.2-2\n"
               "nftables config-files 1.0.6-2+deb12u2\niproute2 not-installed \n")
RPM_ANSWER = "python3 installed 3.9.18\npackage python3-pyroute2 is not installed\n"


class FakeCommands:
    """The package tools of a host: ``tools`` name -> path; ``answer`` what the query prints; the argv run."""

    def __init__(self, monkeypatch, tools, answer):
        self.argv = []
        self.answer = answer
        monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda _module, name, *_a, **_k: tools.get(name))
        monkeypatch.setattr(AnsibleModule, "run_command", lambda _module, argv, **_kwargs: self.run_command(argv))

    def run_command(self, argv):
        self.argv.append(argv)
        return 1, self.answer, ""


@pytest.fixture(name="debian")
def fixture_debian(monkeypatch):
    """A Debian 12 host with dpkg-query; pyroute2 must not be needed."""
    monkeypatch.setattr(facts.Distribution, "get_distribution_facts", lambda self: dict(DEBIAN))
    monkeypatch.setattr(facts, "require_pyroute2", lambda module: pytest.fail("the platform subset needs no pyroute2"))
    return FakeCommands(monkeypatch, {"dpkg-query": "/usr/bin/dpkg-query"}, DPKG_ANSWER)


def test_installed_packages_are_those_the_database_lists_as_installed():
    assert facts.parse_installed(DPKG_ANSWER) == {"python3": "3.11.2-1+b1", "python3-pyroute2": "0.7.2-2"}
    assert facts.parse_installed(RPM_ANSWER) == {"python3": "3.9.18"}
    assert facts.parse_installed("") == {}


def test_platform_returns_the_setup_facts_and_the_installed_versions(debian, monkeypatch):
    result = run_main(facts.main, {"gather_subset": ["platform"],
                                   "packages": ["python3-pyroute2", "python3", "nftables", "iproute2", "python3"]},
                      monkeypatch)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["packages"] == {"python3": "3.11.2-1+b1", "python3-pyroute2": "0.7.2-2"}
    assert result["packages_checked"] is True
    gathered = result["ansible_facts"]
    assert {key: gathered[key] for key in DEBIAN} == DEBIAN
    assert gathered["python"]["version"]["major"] == 3 and gathered["python"]["executable"]
    assert "mcast" not in gathered
    # One query, each name once, without a shell.
    assert debian.argv == [["/usr/bin/dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status} ${Version}\\n",
                            "iproute2", "nftables", "python3", "python3-pyroute2"]]


@pytest.mark.parametrize("family, tools, answer, expected", [
    ("RedHat", {"rpm": "/usr/bin/rpm"}, RPM_ANSWER, ({"python3": "3.9.18"}, True)),
    # The family's tool is missing, or the family has none: nothing is known, so nothing is taken as missing.
    ("RedHat", {}, RPM_ANSWER, ({}, False)),
    ("Archlinux", {"rpm": "/usr/bin/rpm", "dpkg-query": "/usr/bin/dpkg-query"}, DPKG_ANSWER, ({}, False)),
    # dpkg-query knows none of the names: it prints nothing, which is no answer.
    ("Debian", {"dpkg-query": "/usr/bin/dpkg-query"}, "", ({}, False)),
])
def test_the_query_answers_only_through_the_tool_of_the_family(monkeypatch, family, tools, answer, expected):
    commands = FakeCommands(monkeypatch, tools, answer)
    module = type("Module", (), {"get_bin_path": AnsibleModule.get_bin_path, "run_command": AnsibleModule.run_command})()
    assert facts.query_packages(module, family, ["python3", "python3-pyroute2"]) == expected
    if expected[1]:
        assert commands.argv[0][0] == tools["rpm" if family == "RedHat" else "dpkg-query"]


def test_without_package_names_nothing_is_queried(debian, monkeypatch):
    result = run_main(facts.main, {"gather_subset": ["platform"]}, monkeypatch)
    assert result["packages"] == {} and result["packages_checked"] is False and debian.argv == []


@pytest.mark.parametrize("args, message", [
    ({"gather_subset": []}, "gather_subset is empty: give multicast, platform or both."),
    ({"packages": ["python3"]}, "packages python3 are only queried with platform in gather_subset"),
    ({"gather_subset": ["platform", "routes"]}, "gather_subset"),
])
def test_a_subset_request_that_cannot_be_served_is_refused(debian, monkeypatch, args, message):
    result = run_main(facts.main, args, monkeypatch)
    assert result["failed"] and message in result["msg"], result
    assert debian.argv == []
