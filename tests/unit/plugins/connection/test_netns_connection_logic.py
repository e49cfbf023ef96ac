"""Pure logic of the mcast.linux.netns connection: command wrapping, option resolution, the connect-time checks.

Nothing here enters a namespace; the plugin is loaded through ansible's own plugin loader so that option
resolution is ansible's real configuration system reading the plugin's DOCUMENTATION.
"""
import stat

import pytest
from ansible.errors import AnsibleConnectionFailure

from ansible_collections.mcast.linux.plugins.connection.netns import (
    check_netns_exists, find_ip_executable, has_cap_sys_admin, netns_argv, resolve_netns_name)
from tests.unit.plugins.connection.netns_probe import run_probe

ROOT_STATUS = "Name:\tpython3\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n"


def test_command_is_wrapped_as_one_argument_of_the_namespace_shell():
    command = "/bin/sh -c 'echo ~root && sleep 0'"
    assert netns_argv("/usr/sbin/ip", "lab1", "/bin/sh", command) == [
        "/usr/sbin/ip", "netns", "exec", "lab1", "/bin/sh", "-c", command]


def test_explicit_netns_name_wins_over_remote_addr():
    assert resolve_netns_name("lab1", "router") == "lab1"
    assert resolve_netns_name(None, "router") == "router"
    assert resolve_netns_name("", "router") == "router"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../etc", "x\0y"])
def test_names_that_are_not_plain_entries_of_run_netns_are_refused(name):
    with pytest.raises(AnsibleConnectionFailure, match="invalid network namespace name"):
        resolve_netns_name(None, name)


@pytest.mark.parametrize("cap_eff, expected", [
    ("000001ffffffffff", True),   # root: every capability
    ("0000000000200000", True),   # CAP_SYS_ADMIN (bit 21) alone
    ("00000000001fffff", False),  # bits 0..20 only
    ("0000000000000000", False),  # an ordinary user
])
def test_cap_sys_admin_is_read_from_the_effective_set(cap_eff, expected):
    assert has_cap_sys_admin(ROOT_STATUS.replace("000001ffffffffff", cap_eff, 1)) is expected


def test_status_without_an_effective_set_means_no_capability():
    assert has_cap_sys_admin("Name:\tpython3\n") is False


def test_missing_namespace_gives_the_exact_message(tmp_path):
    with pytest.raises(AnsibleConnectionFailure) as failure:
        check_netns_exists("lab1", run_dir=str(tmp_path))
    assert str(failure.value) == "network namespace 'lab1' not found"


def test_left_over_file_without_a_namespace_mounted_is_not_a_namespace(tmp_path):
    (tmp_path / "stale").touch()
    with pytest.raises(AnsibleConnectionFailure, match="network namespace 'stale' not found .*exists but no namespace is mounted"):
        check_netns_exists("stale", run_dir=str(tmp_path))


def test_a_namespace_file_on_nsfs_is_accepted():
    # /proc/self/ns/net is this process's own namespace on nsfs, like a /run/netns entry; no root needed.
    check_netns_exists("net", run_dir="/proc/self/ns")


def test_ip_executable_given_as_path_is_used_as_is(tmp_path):
    fake_ip = tmp_path / "ip"
    fake_ip.write_text("#!/bin/sh\n")
    fake_ip.chmod(fake_ip.stat().st_mode | stat.S_IXUSR)
    assert find_ip_executable(str(fake_ip)) == str(fake_ip)


def test_missing_ip_executable_is_a_connection_failure(tmp_path):
    with pytest.raises(AnsibleConnectionFailure, match="needs the 'ip' command of iproute2"):
        find_ip_executable(str(tmp_path / "no-such-ip"))


@pytest.fixture(scope="module", name="probed")
def fixture_probed():
    """One fresh interpreter loads the plugin through ansible's loader for every case below."""
    cases = {
        "ansible_host": {"vars": {"inventory_hostname": "web1", "ansible_host": "lab-web1"}},
        "netns_var": {"vars": {"inventory_hostname": "web1", "ansible_host": "lab-web1", "ansible_netns_name": "lab1"}},
        "netns_env": {"vars": {"inventory_hostname": "web1"}, "env": {"ANSIBLE_NETNS_NAME": "lab2"}},
        "ip_var": {"vars": {"inventory_hostname": "web1", "ansible_netns_ip_executable": "/opt/iproute2/ip"}},
        "ip_env": {"vars": {"inventory_hostname": "web1"}, "env": {"ANSIBLE_NETNS_IP_EXECUTABLE": "/opt/ip"}},
        "defaults": {"vars": {"inventory_hostname": "web1"}},
        "invalid_name": {"vars": {"inventory_hostname": "web1", "ansible_netns_name": "../../etc"},
                         "call": ["exec_command", "true"]},
    }
    return dict(zip(cases, run_probe(list(cases.values()))))


def options(probed, case):
    return probed[case]["options"]


def test_namespace_comes_from_ansible_host_before_inventory_hostname(probed):
    assert options(probed, "ansible_host")["remote_addr"] == "lab-web1"
    assert options(probed, "ansible_host")["netns_name"] is None


def test_netns_name_is_read_from_its_variable_and_environment(probed):
    assert options(probed, "netns_var")["netns_name"] == "lab1"
    assert options(probed, "netns_env")["netns_name"] == "lab2"


def test_ip_executable_is_read_from_its_variable_and_environment(probed):
    assert options(probed, "ip_var")["ip_executable"] == "/opt/iproute2/ip"
    assert options(probed, "ip_env")["ip_executable"] == "/opt/ip"


def test_defaults_are_ip_from_path_bin_sh_and_pipelining(probed):
    assert options(probed, "defaults") == {
        "remote_addr": "web1", "netns_name": None, "ip_executable": "ip", "executable": "/bin/sh", "pipelining": True}


def test_invalid_name_fails_at_connect_before_anything_runs(probed):
    error_class, message = probed["invalid_name"]["error"]
    assert error_class == "AnsibleConnectionFailure"
    assert message.startswith("invalid network namespace name '../../etc'")
