"""The one definition of interface names, the wildcard, sd_notify and the signal wake-up (mcastd/linux.py)."""
import os
import signal
import socket

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import linux


@pytest.mark.parametrize("name, fragment", [
    ("", "empty"),
    ("x" * 16, "longer than 15 bytes"),
    ("\u00e9" * 8, "longer than 15 bytes"),  # 8 characters, 16 bytes: the kernel counts bytes
    (".", "cannot be an interface name"),
    ("..", "cannot be an interface name"),
    ("eth/0", "no '/'"),
    ("eth 0", "no whitespace"),
    ("eth\t0", "no whitespace"),
    ("eth0:1", "address label"),
])
def test_names_the_kernel_refuses_are_refused_with_the_reason(name, fragment):
    assert fragment in linux.interface_name_problem(name)


@pytest.mark.parametrize("name", ["eth0", "x" * 15, "trunk.10", "br-lan", "vlan@1", "\u00e9" * 7])
def test_names_the_kernel_accepts_pass(name):
    assert linux.interface_name_problem(name) is None
    assert linux.pattern_problem(name) is None


@pytest.mark.parametrize("pattern, fragment", [
    ("trunk.*", "(write trunk.+)"),
    ("eth[01]", "(write eth+)"),
    ("v?an", "(write v+)"),
    ("e+th", "may only end"),
    ("x" * 16 + "+", "longer than 15 bytes"),
    ("eth:+", "address label"),
])
def test_patterns_outside_the_one_style_are_refused_with_the_fix(pattern, fragment):
    assert fragment in linux.pattern_problem(pattern)


def test_the_wildcard_matches_by_prefix_and_a_name_only_itself():
    names = ["eth0", "eth1.10", "ethernet", "veth0", "lo"]
    assert [name for name in names if linux.name_matches("eth+", name)] == ["eth0", "eth1.10", "ethernet"]
    assert [name for name in names if linux.name_matches("eth0", name)] == ["eth0"]
    assert [name for name in names if linux.name_matches("+", name)] == names
    assert linux.pattern_problem("+") is None and linux.pattern_problem("eth+") is None


def test_the_interface_table_has_loopback_up_with_its_index():
    table = linux.interfaces()
    assert table["lo"].index == socket.if_nametoindex("lo")
    assert table["lo"].flags & linux.IFF_LOOPBACK


def test_sd_notify_sends_the_fields_and_says_false_without_systemd(tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert linux.sd_notify(READY=1, STATUS="keeping 2 routes") is True
        assert listener.recv(4096).decode().splitlines() == ["READY=1", "STATUS=keeping 2 routes"]
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert linux.sd_notify(READY=1) is False
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert linux.sd_notify(READY=1) is False


def test_a_signal_only_writes_its_number_to_the_wake_up_socket():
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    read, write = linux.watch_signals()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert linux.drain(read) == bytes([signal.SIGHUP])
        assert linux.drain(read) == b""
    finally:
        signal.set_wakeup_fd(-1)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        read.close()
        write.close()


def test_the_grammars_prefixes_are_the_shared_ones():
    # config.py builds its typed prefixes before it can parse text; they must say what linux.py says.
    from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config
    assert config.address_text(config.MULTICAST.addr) + "/%d" % config.MULTICAST.length == linux.MULTICAST_PREFIXES[4]
    assert config.address_text(config.LINK_LOCAL.addr) + "/%d" % config.LINK_LOCAL.length == \
        linux.LINK_LOCAL_GROUPS_IPV4
    assert config.parse_prefix(linux.MULTICAST_PREFIXES[6]) == config.MULTICAST6


def test_the_interface_table_opens_only_families_the_keepers_unit_allows(monkeypatch):
    # The keepers' units say RestrictAddressFamilies=...: a socket of another family fails there with
    # EAFNOSUPPORT (seen as "cannot read the kernel state: [Errno 97]" once). Refuse them here the same way.
    from ansible_collections.mcast.linux.plugins.module_utils import _keeper_deploy
    line = next(line for line in _keeper_deploy.UNIT_TEMPLATE.splitlines() if line.startswith("RestrictAddressFamilies="))
    allowed = {getattr(socket, name) for name in line.split("=", 1)[1].split()}
    real_socket = socket.socket

    def restricted(family=socket.AF_INET, *args, **kwargs):
        if family not in allowed:
            raise OSError(97, "Address family not supported by protocol")
        return real_socket(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", restricted)
    assert "lo" in linux.interfaces()
    linux.open_events(linux.RTMGRP_LINK).close()
