"""The route keeper against a real kernel: routes come back when their interface comes (back) up.

The keeper runs from the checkout inside the host's namespace with Debian's own python3 (as on a
target), and the tests do to the interfaces what happens on real machines: a route deleted, a link
set down and up (the kernel flushes its routes), a veth deleted and created again, an interface
that appears only after the keeper started.
"""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from tests.integration.harness import REPO
from tests.integration.modules.ipv6_multicast import PEER, add_addresses, egress, kernel_first, only, route_get

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces")]

KEEPER = REPO / "plugins" / "module_utils" / "_route_keeper.py"
PYTHON = "/usr/bin/python3"  # the targets' interpreter, not the test virtualenv
COMES_BACK_WITHIN = 1.0
ROUTES = [
    {"dest": "224.0.0.0/4", "dev": "trunk.10", "table": 254, "metric": 0, "family": 4},
    {"dest": "239.10.0.0/16", "dev": "trunk.20", "table": 100, "metric": 10, "family": 4},
    # IPv6 in table local, where the kernel uses it (and where mcast.linux.route puts it)
    {"dest": "ff0e::/16", "dev": "trunk.10", "table": 255, "metric": 255, "family": 6},
]
MAIN_V4 = ("224.0.0.0/4", "trunk.10", None, 0)
TABLE_100_V4 = ("239.10.0.0/16", "trunk.20", None, 10)
LOCAL_V6 = ("ff0e::/16", "trunk.10", None, 255)
GROUP_V6 = "ff0e::db8:7"


def kept_routes(host):
    """The keeper's routes as the kernel has them now (pyroute2, not the keeper's own reading)."""
    found = set(host.routes()) | set(host.routes(table=100)) | set(host.routes(family=socket.AF_INET6, table=255))
    return found & {MAIN_V4, TABLE_100_V4, LOCAL_V6}


def wait_for(host, routes, limit=COMES_BACK_WITHIN):
    """Seconds until ``kept_routes`` equals ``routes``; fails after ``limit`` seconds."""
    start = time.monotonic()
    while kept_routes(host) != routes:
        assert time.monotonic() - start < limit, "after %.1f s the kernel has %s, not %s" % (
            limit, sorted(kept_routes(host)), sorted(routes))
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture(name="routes_file")
def fixture_routes_file(tmp_path):
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(ROUTES))
    return path


@pytest.fixture(name="notify_socket")
def fixture_notify_socket(tmp_path):
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        yield sock, path


@pytest.fixture(name="keeper")
def fixture_keeper(host, routes_file, notify_socket):
    """The keeper running in the host's namespace; stopped by its PID afterwards, and must exit cleanly."""
    sock, path = notify_socket
    env = dict(os.environ, NOTIFY_SOCKET=str(path))
    argv = ["ip", "netns", "exec", host.namespace, PYTHON, str(KEEPER), str(routes_file)]
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)  # pylint: disable=consider-using-with
    try:
        ready = sock.recv(4096).decode()
        assert "READY=1" in ready.splitlines(), ready
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            stderr = proc.communicate(timeout=5)[1]
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0, stderr


def test_routes_are_added_at_start_and_come_back_after_a_delete(host, keeper):
    assert kept_routes(host) == {MAIN_V4, TABLE_100_V4, LOCAL_V6}, "READY comes after the first pass"
    host.ip("route", "del", "224.0.0.0/4", "dev", "trunk.10")
    host.ip("route", "del", "239.10.0.0/16", "table", "100")
    host.ip("-6", "route", "del", "ff0e::/16", "dev", "trunk.10", "table", "local")
    wait_for(host, {MAIN_V4, TABLE_100_V4, LOCAL_V6})
    assert keeper.poll() is None


def test_routes_come_back_when_the_link_comes_back_up(host, keeper):
    host.ip("link", "set", "dev", "trunk.10", "down")
    wait_for(host, {TABLE_100_V4})  # the kernel flushed the routes of trunk.10, and they stay away while it is down
    time.sleep(0.3)
    assert kept_routes(host) == {TABLE_100_V4}, "a route through a down interface was forced in"
    host.ip("link", "set", "dev", "trunk.10", "up")
    wait_for(host, {MAIN_V4, TABLE_100_V4, LOCAL_V6})
    assert keeper.poll() is None


def test_routes_come_back_on_a_deleted_and_recreated_interface(host, keeper):
    host.ip("link", "del", "trunk.20")
    wait_for(host, {MAIN_V4, LOCAL_V6})
    host.ip("link", "add", "trunk.20", "type", "veth", "peer", "name", "back.20")
    host.ip("link", "set", "dev", "back.20", "up")
    host.ip("link", "set", "dev", "trunk.20", "up")
    wait_for(host, {MAIN_V4, TABLE_100_V4, LOCAL_V6})
    assert keeper.poll() is None


def test_an_interface_that_appears_later_gets_its_route_and_sighup_rereads_the_file(host, routes_file, keeper):
    late = {"dest": "239.99.0.0/16", "dev": "late0", "table": 254, "metric": 0, "family": 4}
    routes_file.write_text(json.dumps(ROUTES + [late]))
    os.kill(keeper.pid, signal.SIGHUP)
    time.sleep(0.3)
    host.ip("link", "add", "late0", "type", "veth", "peer", "name", "late1")
    host.ip("link", "set", "dev", "late0", "up")
    start = time.monotonic()
    while ("239.99.0.0/16", "late0", None, 0) not in host.routes():
        assert time.monotonic() - start < COMES_BACK_WITHIN, host.routes()
        time.sleep(0.02)
    assert kept_routes(host) == {MAIN_V4, TABLE_100_V4, LOCAL_V6}


def test_an_unusable_file_stops_the_start_with_exit_status_2(host, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"dest": "10.0.0.0/8", "dev": "eth0", "table": 254, "metric": 0, "family": 4}]')
    done = host.lab.run("host", [PYTHON, str(KEEPER), str(broken)], check=False)
    assert done.returncode == 2
    assert "10.0.0.0/8 is not a multicast prefix" in done.stderr
    assert kept_routes(host) == set()


def test_once_adds_what_is_missing_and_exits(host, routes_file):
    done = host.lab.run("host", [PYTHON, str(KEEPER), "--once", str(routes_file)], check=False)
    assert done.returncode == 0, done.stderr
    assert kept_routes(host) == {MAIN_V4, TABLE_100_V4, LOCAL_V6}


def test_ipv6_datagrams_leave_through_the_kept_interface_again_after_link_down_and_up(host, keeper):
    add_addresses(host)
    assert route_get(host, GROUP_V6) == "trunk.10" and egress(host, GROUP_V6) == only("trunk.10")
    host.ip("link", "set", "dev", "trunk.10", "down")
    wait_for(host, {TABLE_100_V4})
    assert route_get(host, GROUP_V6) != "trunk.10"
    host.ip("link", "set", "dev", "trunk.10", "up")
    wait_for(host, {MAIN_V4, TABLE_100_V4, LOCAL_V6})
    # The kernel's ff00::/8 route of trunk.10 came back last: without the kept route another interface would send.
    assert kernel_first(host) != "trunk.10"
    assert route_get(host, GROUP_V6) == "trunk.10" and egress(host, GROUP_V6) == only("trunk.10")
    assert keeper.poll() is None


def test_ipv6_datagrams_leave_through_an_interface_deleted_and_created_again(host, keeper):
    add_addresses(host)
    host.ip("link", "del", "trunk.10")  # its peer end p10 goes with it
    wait_for(host, {TABLE_100_V4})
    host.ip("link", "add", "trunk.10", "type", "veth", "peer", "name", "p10", "netns", host.lab.ns(PEER))
    host.lab.run(PEER, ["ip", "link", "set", "dev", "p10", "up"])
    host.ip("link", "set", "dev", "trunk.10", "up")
    wait_for(host, {MAIN_V4, TABLE_100_V4, LOCAL_V6})
    assert kernel_first(host) != "trunk.10"
    assert route_get(host, GROUP_V6) == "trunk.10" and egress(host, GROUP_V6) == only("trunk.10")
    assert keeper.poll() is None
