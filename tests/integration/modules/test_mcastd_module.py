"""mcast.linux.mcastd deploys a complete mcastd: the package, commands and configuration it writes route.

The module runs through the netns connection in the lab's router namespace and deploys into a temporary
root (``service_control: never``: the machine's systemd is not the router's; the molecule scenario covers
the unit under systemd). Then the deployed ``mcastd`` command (its wrapper, the package it wrote, the
unit's interpreter /usr/bin/python3) runs in the router namespace with the configuration the module wrote,
the deployed ``mcastctl`` asks it for its state, and datagrams from the sender reach the two receivers.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.harness import run_module
from tests.integration.mcastd.traffic import Receiver, send_datagrams

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the routing socket"),
              pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="the unit's interpreter is missing")]

GROUP = "225.7.7.7"
CONFIG = ("phyint trunk.10 enable\nphyint trunk.20 enable\nphyint trunk.30 enable\n"
          "mroute from trunk.10 source 192.0.2.10 group %s to trunk.20 trunk.30\n" % GROUP)


@pytest.fixture(name="root")
def fixture_root():
    root = Path(tempfile.mkdtemp(prefix="mcastd-module-it-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def args(root, **extra):
    values = {"libdir": str(root / "lib"), "bindir": str(root / "bin"), "unit_file": str(root / "system" / "mcastd.service"),
              "config": str(root / "etc" / "mcastd.conf"), "socket": str(root / "run" / "mcastd.sock"),
              "sandbox": "full", "service_control": "never", "config_content": CONFIG}
    values.update(extra)
    return values


def received(lab, count=50):
    listening = {host: Receiver(lab, host, "eth0", GROUP) for host in ("recv20", "recv30")}
    send_datagrams(lab, "sender", "eth0", GROUP, count=count, interval=0.002)
    time.sleep(0.2)
    return dict((host, receiver.stop()["unique"]) for host, receiver in listening.items())


def test_the_deployed_commands_run_the_deployed_package_and_it_routes(netns_lab, root):
    namespace = netns_lab.ns("router")
    check = run_module(namespace, "mcast.linux.mcastd", args(root), check=True, diff=True)
    assert check.get("changed") is True and not list(root.rglob("*.py")), check
    result = run_module(namespace, "mcast.linux.mcastd", args(root), diff=True)
    assert result.get("changed") is True and result["files"] == check["files"], result
    assert result["service"] == [] and (root / "lib" / "mcastd" / "__pycache__").is_dir()
    assert (root / "system" / "multi-user.target.wants" / "mcastd.service").is_symlink()
    os.makedirs(root / "run")
    (root / "run").chmod(0o700)
    daemon = netns_lab.popen("router", [str(root / "bin" / "mcastd"), "-n", "-p", str(root / "run" / "mcastd.pid")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        status = None
        for _attempt in range(100):
            status = netns_lab.run("router", [str(root / "bin" / "mcastctl"), "status"], check=False)
            if status.returncode == 0:
                break
            assert daemon.poll() is None, daemon.communicate()[1]
            time.sleep(0.05)
        assert status.returncode == 0, status.stderr
        assert received(netns_lab) == {"recv20": 50, "recv30": 50}
        again = run_module(namespace, "mcast.linux.mcastd", args(root))
        assert again.get("changed") is False, again
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)


def test_a_configuration_mcastd_refuses_fails_and_writes_nothing(netns_lab, root):
    result = run_module(netns_lab.ns("router"), "mcast.linux.mcastd",
                        args(root, config_content="phyint trunk.* enable\n"))
    assert result.get("failed") and "write trunk.+" in result["msg"], result
    assert not any(root.iterdir())
