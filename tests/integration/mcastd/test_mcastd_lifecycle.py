"""Start, stop, crash and restart; distinct start-up failures; control socket; systemd readiness."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.mcastd.runner import MCASTD, Mcastd, wait_for
from tests.integration.mcastd.traffic import Receiver, send_datagrams

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket")]

S = "192.0.2.10"
ROUTE = "mroute from trunk.10 source %s group 225.30.0.1 to trunk.20\n" % S
# sysexits(3), as smcrouted: EX_CONFIG, EX_NOPERM, EX_UNAVAILABLE
EXIT_CONFIG, EXIT_PERMISSION, EXIT_IN_USE = 78, 77, 69
HOLD_ROUTING_SOCKET = ("import socket, struct, sys, time\n"
                       "s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)\n"
                       "s.setsockopt(socket.IPPROTO_IP, 200, struct.pack('i', 1))\n"
                       "print('held', flush=True)\n"
                       "sys.stdin.read()\n")


def forwarded(lab, group="225.30.0.1", count=10):
    rx = Receiver(lab, "recv20", "eth0", group)
    send_datagrams(lab, "sender", "eth0", group, count=count, interval=0.002)
    time.sleep(0.15)
    return rx.stop()["unique"]


@pytest.fixture(name="workdir")
def fixture_workdir():
    path = tempfile.mkdtemp(prefix="mcastd-it-")
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_mcastd(lab, workdir, config_text, *extra, prefix=()):
    """Run mcastd to completion (start-up failures), returning the CompletedProcess."""
    config = workdir / "bad.conf"
    config.write_text(config_text)
    return lab.run("router", [*prefix, sys.executable, MCASTD, "-n", "-f", str(config), "-u", str(workdir / "s.sock"),
                              "-p", str(workdir / "p.pid"), *extra], check=False, timeout=30)


def test_kill_9_drops_every_route_and_a_restart_restores_forwarding(netns_lab, mcastd):
    daemon = mcastd(netns_lab, ROUTE)
    assert forwarded(netns_lab) == 10
    daemon.signal(signal.SIGKILL)
    daemon.proc.wait(timeout=5)
    assert daemon.mfc() == {}, "the kernel keeps routes only while the routing socket is open"
    assert forwarded(netns_lab) == 0
    daemon.start()  # the stale control socket left by kill -9 is replaced
    assert daemon.mfc() == {(S, "225.30.0.1"): ("trunk.10", ["trunk.20"])}
    assert forwarded(netns_lab) == 10


def test_another_routing_socket_gives_eaddrinuse_exit_code_and_names_likely_holders(netns_lab, workdir):
    holder = netns_lab.popen("router", [sys.executable, "-c", HOLD_ROUTING_SOCKET], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_mcastd(netns_lab, workdir, ROUTE)
    finally:
        holder.stdin.close()
        holder.wait(timeout=5)
    assert result.returncode == EXIT_IN_USE, result.stderr
    assert "another multicast routing daemon already holds" in result.stderr
    assert "smcroute" in result.stderr and "pimd" in result.stderr and "igmpproxy" in result.stderr and "FRR" in result.stderr


@pytest.mark.skipif(not shutil.which("smcrouted"), reason="smcroute is not installed (apt install smcroute)")
def test_running_smcroute_gives_eaddrinuse(netns_lab, workdir):
    (workdir / "smcroute.conf").write_text("phyint trunk.10 enable\n")
    smcroute = netns_lab.popen("router", ["smcrouted", "-n", "-N", "-i", "mcastd-it", "-f", str(workdir / "smcroute.conf"),
                                          "-P", str(workdir / "smc.pid"), "-u", str(workdir / "smc.sock")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for((workdir / "smc.sock").exists, timeout=5.0)
        result = run_mcastd(netns_lab, workdir, ROUTE)
    finally:
        smcroute.terminate()
        smcroute.wait(timeout=5)
    assert result.returncode == EXIT_IN_USE and "smcroute" in result.stderr


def test_bad_configuration_exit_code_with_file_and_line(netns_lab, workdir):
    result = run_mcastd(netns_lab, workdir, ROUTE + "mroute from trunk.10 group 224.0.0.5 to trunk.20\n")
    assert result.returncode == EXIT_CONFIG
    assert "bad.conf:2: group 224.0.0.5 is link-local" in result.stderr
    assert not (workdir / "s.sock").exists()


def test_check_validates_without_touching_the_kernel(netns_lab, workdir):
    good = run_mcastd(netns_lab, workdir, ROUTE, "--check")
    assert good.returncode == 0 and "valid: 1 (S,G) routes" in good.stdout
    bad = run_mcastd(netns_lab, workdir, "mroute from a0 source 225.9.9.9 group 225.1.1.1 to b0\nphyint\n", "--check")
    assert bad.returncode == EXIT_CONFIG
    assert bad.stderr.splitlines()[:2] == [
        "%s:1: source 225.9.9.9 is a multicast address; a source is the unicast address of a sender (leave out "
        "'source' for any sender)" % (workdir / "bad.conf"),
        "%s:2: phyint needs an interface name: phyint IFNAME [enable|disable] [ttl-threshold N]" % (workdir / "bad.conf")]


def test_no_permission_has_its_own_exit_code(netns_lab, workdir):
    workdir.chmod(0o755)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
    result = run_mcastd(netns_lab, workdir, ROUTE, prefix=nobody)
    assert result.returncode == EXIT_PERMISSION, result.stderr
    assert "no permission to open the multicast routing socket" in result.stderr


def test_control_socket_is_root_only_and_survives_garbage(netns_lab, mcastd):
    daemon = mcastd(netns_lab, ROUTE)
    assert stat.S_IMODE(os.stat(daemon.socket).st_mode) == 0o600
    replies = []
    for garbage in (b"hello\n", b'{"version": 1, "command": "show", "what": "everything"}\n', b"\xff" * 70000 + b"\n"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(daemon.socket)
            sock.sendall(garbage)
            replies.append(json.loads(sock.makefile("rb").readline()))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(daemon.socket)
        sock.close()  # a client that hangs up without a word
    assert [reply["ok"] for reply in replies] == [False, False, False]
    assert "malformed request" in replies[0]["error"] and "show needs 'what'" in replies[1]["error"]
    assert daemon.query("status")["entries"] == 1
    assert daemon.proc.poll() is None


def test_readiness_and_reload_are_notified_to_systemd(netns_lab, mcastd, workdir):
    path = str(workdir / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(10)
    try:
        daemon = mcastd(netns_lab, ROUTE, env=dict(os.environ, NOTIFY_SOCKET=path))
        ready = dict(line.split("=", 1) for line in listener.recv(4096).decode().splitlines())
        assert ready["READY"] == "1" and ready["MAINPID"] == str(daemon.proc.pid)
        daemon.signal(signal.SIGHUP)
        assert "RELOADING=1" in listener.recv(4096).decode().splitlines()
        assert "READY=1" in listener.recv(4096).decode().splitlines()
    finally:
        listener.close()


def test_daemonized_start_reports_its_status_and_writes_the_pidfile(netns_lab, workdir):
    daemon = Mcastd(netns_lab, workdir)
    daemon.write_config(ROUTE)
    command = [arg for arg in daemon.command() if arg != "-n"]
    started = netns_lab.run("router", command, check=False, timeout=30)
    pid = int(Path(daemon.pidfile).read_text()) if os.path.exists(daemon.pidfile) else None
    try:
        assert started.returncode == 0, started.stderr
        assert pid and daemon.query("status")["pid"] == pid
        assert forwarded(netns_lab) == 10
        second = netns_lab.run("router", command, check=False, timeout=30)  # same socket: refused, own exit code
        assert second.returncode == EXIT_IN_USE and "another multicast routing daemon" in second.stderr
    finally:
        if pid:
            os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not os.path.exists(daemon.pidfile), timeout=5.0)
