"""The mcast.linux.netns connection against real network namespaces, through the real ``ansible`` CLI.

The lab's standard topology (``netns_lab``) gives the namespaces: A is the sender, whose only link
``eth0`` is the peer of the router's ``trunk.10``; B is the router with ``trunk.10``/``.20``/``.30``.
A command that really runs inside A sees ``lo`` and ``eth0`` and nothing else: neither the router's
ends nor any link of the machine itself.
"""
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.integration.harness import ANSIBLE, ansible_env
from tests.unit.plugins.connection.netns_probe import run_probe

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces and veth links"),
]


@dataclass(frozen=True)
class NamespacePair:
    a: str
    b: str
    a_links: frozenset
    b_links: frozenset

    @staticmethod
    def net_inode(name):
        """What `readlink /proc/self/ns/net` prints inside namespace ``name``."""
        return f"net:[{os.stat(f'/run/netns/{name}').st_ino}]"


@pytest.fixture(scope="module", name="pair")
def fixture_pair(netns_lab):
    """A (sender) and B (router) of the lab, with the links the topology gives each besides lo."""
    hosts = netns_lab.inventory()["all"]["hosts"]
    pair = NamespacePair(a=netns_lab.ns("sender"), b=netns_lab.ns("router"),
                         a_links=frozenset(hosts["sender"]["lab_interfaces"]),
                         b_links=frozenset(hosts["router"]["lab_interfaces"]))
    assert pair.a_links == {"eth0"} and "trunk.10" in pair.b_links, "the lab's standard topology changed"
    return pair


def run_ansible(inventory, module, args=None, *options, env=None):
    """Run one ad hoc task over the netns connection; return (exit code, {host: result})."""
    argv = [str(ANSIBLE), "all", "-i", inventory, "-c", "mcast.linux.netns",
            "-e", f"ansible_python_interpreter={sys.executable}", "-m", module, *options]
    if args is not None:
        argv += ["-a", args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(**(env or {})), timeout=120, check=False)
    try:
        return proc.returncode, json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError(f"no result from {argv} (rc={proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}") from exc


def run_in(namespace, module, args=None, *options, env=None):
    """Run one task in ``namespace`` (the inventory host name) and return its result, which must not fail."""
    _rc, hosts = run_ansible(namespace + ",", module, args, *options, env=env)
    result = hosts[namespace]
    assert not result.get("failed") and not result.get("unreachable"), result
    return result


def link_names(ip_o_link_output):
    """Interface names from `ip -o link` lines such as '2: a0@if3: <BROADCAST,...'."""
    return {line.split(": ")[1].split("@")[0] for line in ip_o_link_output.splitlines() if line.strip()}


@pytest.mark.parametrize("pipelining", ["false", "true"])
def test_command_lists_only_the_namespace_links(pair, pipelining):
    result = run_in(pair.a, "command", "ip -o link", env={"ANSIBLE_PIPELINING": pipelining})
    # Exactly these: so neither the peer trunk.10 in the router nor the machine's own links (the machine's
    # eth0, if it has one, is told apart by the raw test below, which compares namespace inodes).
    assert link_names(result["stdout"]) == {"lo", *pair.a_links}


def test_setup_reports_only_the_namespace_interfaces(pair):
    facts = run_in(pair.b, "setup", "gather_subset=network")["ansible_facts"]
    # dotted names like trunk.10 included: the router's own links, and only those
    assert sorted(facts["ansible_interfaces"]) == sorted({"lo", *pair.b_links})


def test_raw_runs_in_the_namespace(pair):
    result = run_in(pair.a, "raw", "readlink /proc/self/ns/net")
    assert result["stdout"].strip() == pair.net_inode(pair.a)


def test_copy_and_fetch_round_trip_binary_content(pair, tmp_path):
    content = bytes(range(256)) * 64 + os.urandom(100_000)
    source = tmp_path / "source.bin"
    source.write_bytes(content)
    target = tmp_path / "in-namespace.bin"
    copied = run_in(pair.a, "copy", f"src={source} dest={target} mode=0640")
    assert copied["changed"] and target.read_bytes() == content
    assert target.stat().st_mode & 0o777 == 0o640

    fetched_dir = tmp_path / "fetched"
    run_in(pair.a, "fetch", f"src={target} dest={fetched_dir}/ flat=true")
    assert (fetched_dir / target.name).read_bytes() == content


def test_become_su_as_root_stays_in_the_namespace(pair):
    # Become to the connection's own user is skipped unless allowed; allowing it makes su really run.
    result = run_in(pair.a, "raw", "readlink /proc/self/ns/net; cat /proc/$PPID/comm", "-b", "--become-method", "su",
                    env={"ANSIBLE_BECOME_ALLOW_SAME_USER": "true"})
    assert result["stdout"].split() == [pair.net_inode(pair.a), "su"]


def test_become_su_to_another_user_stays_in_the_namespace(pair):
    # nobody cannot run the venv's interpreter below /work, but can run the system one; its login shell is nologin.
    result = run_in(pair.a, "shell", "id -un; readlink /proc/self/ns/net", "-b", "--become-method", "su",
                    "--become-user", "nobody", "-e", "ansible_become_flags='-s /bin/sh'",
                    "-e", "ansible_python_interpreter=/usr/bin/python3")
    assert result["stdout"].split() == ["nobody", pair.net_inode(pair.a)]


def test_missing_namespace_is_reported_at_connect(pair):
    missing = pair.a + "-missing"
    rc, hosts = run_ansible(missing + ",", "ping")
    assert rc != 0
    assert hosts[missing]["unreachable"]
    assert hosts[missing]["msg"].endswith(f"network namespace '{missing}' not found")


def test_ansible_host_and_netns_name_select_the_namespace(pair, tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"by_host ansible_host={pair.b}\n"
                         f"by_var ansible_host={pair.b} ansible_netns_name={pair.a}\n")
    rc, hosts = run_ansible(str(inventory), "raw", "readlink /proc/self/ns/net")
    assert rc == 0, hosts
    assert hosts["by_host"]["stdout"].strip() == pair.net_inode(pair.b)
    assert hosts["by_var"]["stdout"].strip() == pair.net_inode(pair.a)


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv (util-linux) to drop CAP_SYS_ADMIN")
def test_without_cap_sys_admin_the_error_says_so(pair):
    # setpriv keeps uid 0 but removes CAP_SYS_ADMIN from the bounding set of the ansible process.
    argv = ["setpriv", "--bounding-set", "-sys_admin", str(ANSIBLE), "all", "-i", pair.a + ",", "-c", "mcast.linux.netns",
            "-e", f"ansible_python_interpreter={sys.executable}", "-m", "ping"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), timeout=120, check=False)
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"][pair.a]
    assert result["unreachable"]
    assert "needs root (CAP_SYS_ADMIN)" in result["msg"]


def test_missing_ip_command_is_reported_at_connect(pair):
    _rc, hosts = run_ansible(pair.a + ",", "ping", None, "-e", "ansible_netns_ip_executable=/nonexistent/ip")
    assert hosts[pair.a]["unreachable"]
    assert "needs the 'ip' command of iproute2, but '/nonexistent/ip' was not found" in hosts[pair.a]["msg"]


def test_file_transfer_errors_name_the_cause(pair, tmp_path):
    # put_file and fetch_file called directly: the copy and fetch actions check these cases before transferring.
    source = tmp_path / "source"
    source.write_bytes(b"\x00\xff")
    missing = str(tmp_path / "absent")
    host = {"inventory_hostname": pair.a}
    put_missing, put_no_dir, fetch_missing = run_probe([
        {"vars": host, "call": ["put_file", missing, str(tmp_path / "out")]},
        {"vars": host, "call": ["put_file", str(source), str(tmp_path / "no-dir" / "out")]},
        {"vars": host, "call": ["fetch_file", missing, str(tmp_path / "fetched")]},
    ])
    assert put_missing["error"][0] == "AnsibleFileNotFound"
    assert put_missing["error"][1].startswith(f"file or module does not exist: {missing}\n")
    assert put_no_dir["error"][0] == "AnsibleError"
    assert put_no_dir["error"][1].startswith(f"failed to transfer {source} to {tmp_path}/no-dir/out in network namespace '{pair.a}': ")
    assert "nonexistent" in put_no_dir["error"][1]
    assert fetch_missing["error"][0] == "AnsibleError" and "No such file" in fetch_missing["error"][1]
    # a failed fetch leaves neither the target nor its partial file behind
    assert sorted(path.name for path in tmp_path.iterdir()) == ["source"]


def test_exec_command_feeds_stdin_and_returns_the_exit_code(pair):
    (outcome,) = run_probe([{"vars": {"inventory_hostname": pair.a},
                             "call": ["exec_command", "readlink /proc/self/ns/net; cat; exit 3"], "in_data": "from stdin"}])
    assert outcome["error"] is None
    assert outcome["returned"] == [3, f"{pair.net_inode(pair.a)}\nfrom stdin", ""]
