"""mcast.linux.facts, subset platform: the facts the roles' platform check reads, and the package query.

The roles run this subset before any package is installed (without pyroute2), and the compliance playbook
runs it together with the multicast subset: one module run for both.
"""
import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils import _facts, _platform
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
    monkeypatch.setattr(_platform, "distribution_facts", lambda os_release, debian_version: dict(DEBIAN))
    monkeypatch.setattr(_facts, "require_pyroute2", lambda module: pytest.fail("the platform subset needs no pyroute2"))
    return FakeCommands(monkeypatch, {"dpkg-query": "/usr/bin/dpkg-query"}, DPKG_ANSWER)


def test_installed_packages_are_those_the_database_lists_as_installed():
    assert _platform.parse_installed(DPKG_ANSWER) == {"python3": "3.11.2-1+b1", "python3-pyroute2": "0.7.2-2"}
    assert _platform.parse_installed(RPM_ANSWER) == {"python3": "3.9.18"}
    assert _platform.parse_installed("") == {}


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
    assert _platform.query_packages(module, family, ["python3", "python3-pyroute2"]) == expected
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


OS_RELEASES = {
    "debian12": ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
                 'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n', "12.11\n"),
    "trixie": ('NAME="Debian GNU/Linux"\nVERSION_ID="13"\nVERSION_CODENAME=trixie\nID=debian\n', "13.1\n"),
    "ubuntu": ('NAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n',
               "trixie/sid\n"),
    "rocky": ('NAME="Rocky Linux"\nVERSION_ID="9.4"\nID="rocky"\nID_LIKE="rhel centos fedora"\n', ""),
    "rhel": ('NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\nID_LIKE="fedora"\n', ""),
    "leap": ('NAME="openSUSE Leap"\nVERSION_ID="15.6"\nID="opensuse-leap"\nID_LIKE="suse opensuse"\n', ""),
    "arch": ('NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n', ""),
    "alpine": ('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.0\n', ""),
    "empty": ("", ""),
}


@pytest.mark.parametrize("release, expected", [
    ("debian12", ("Debian", "Debian", "12.11", "12", "bookworm")),
    ("trixie", ("Debian", "Debian", "13.1", "13", "trixie")),
    # Ubuntu's /etc/debian_version names Debian's release, not Ubuntu's: os-release's VERSION_ID counts.
    ("ubuntu", ("Debian", "Ubuntu", "24.04", "24", "noble")),
    ("rocky", ("RedHat", "Rocky", "9.4", "9", "NA")),
    ("rhel", ("RedHat", "RedHat", "9.4", "9", "NA")),
    ("leap", ("Suse", "openSUSE Leap", "15.6", "15", "NA")),
    ("arch", ("Archlinux", "Archlinux", "NA", "NA", "NA")),
    # A family mcast.linux has no package names for is the distribution, as setup reports it.
    ("alpine", ("Alpine", "Alpine", "3.20.0", "3", "NA")),
    ("empty", ("NA", "NA", "NA", "NA", "NA")),
])
def test_the_distribution_facts_come_from_os_release(release, expected):
    text, debian_version = OS_RELEASES[release]
    got = _platform.distribution_facts(_platform.parse_os_release(text), debian_version)
    assert (got["os_family"], got["distribution"], got["distribution_version"], got["distribution_major_version"],
            got["distribution_release"]) == expected


def test_os_release_values_may_be_quoted_and_comments_are_skipped():
    assert _platform.parse_os_release("# c\nID='a b'\nX=\"it's\"\nBAD=\"open\n\nY=plain\n") == {
        "ID": "a b", "X": "it's", "BAD": '"open', "Y": "plain"}


def test_this_machine_is_read_as_setup_reads_it():
    """The facts of this machine equal ansible.builtin.setup's (Debian here; it reads the same files)."""
    from ansible.module_utils.facts.system.distribution import Distribution  # pylint: disable=import-outside-toplevel
    module = type("Module", (), {"get_bin_path": lambda self, *a, **k: None, "run_command": None, "params": {}})()
    setup = Distribution(module=module).get_distribution_facts()
    mine, _packages = _platform.platform_facts(module, [])
    for key in ("os_family", "distribution", "distribution_version", "distribution_major_version",
                "distribution_release"):
        assert mine[key] == setup[key], key
    assert mine["python"]["version_info"][:3] == list(__import__("sys").version_info[:3])
