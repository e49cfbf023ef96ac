"""Control protocol, mcastctl rendering, and the kernel structures (pure parts, no routing socket)."""
import json
import logging
import os
import socket
import stat
import struct
import threading

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import control, ctl, kernel, notify
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.routes import KernelEntry

LOG = logging.getLogger("test")


def reply_to(line, handler=lambda request: {"echo": request["command"]}):
    return json.loads(control.answer(line, handler, LOG))


# -- protocol --------------------------------------------------------------------------------------
def test_a_valid_request_gets_an_ok_reply_with_the_version():
    assert reply_to(b'{"version": 1, "command": "status"}') == {"version": 1, "ok": True, "result": {"echo": "status"}}


@pytest.mark.parametrize("line, words", [
    (b"not json", "malformed request"),
    (b"\xff\xfe", "malformed request"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"command": "status"}', "unsupported protocol version None"),
    (b'{"version": 2, "command": "status"}', "this daemon speaks version 1"),
    (b'{"version": 1, "command": "explode"}', "unknown command 'explode'"),
    (b'{"version": 1, "command": "show"}', "show needs 'what'"),
    (b'{"version": 1, "command": "show", "what": "secrets"}', "show needs 'what'"),
])
def test_malformed_requests_get_an_error_reply(line, words):
    reply = reply_to(line)
    assert reply["ok"] is False and reply["version"] == 1 and words in reply["error"]


def test_a_failing_handler_costs_one_reply_not_the_daemon():
    def broken(_request):
        raise KeyError("bug")
    reply = reply_to(b'{"version": 1, "command": "status"}', broken)
    assert reply["ok"] is False and reply["error"].startswith("internal error")


def test_refusal_details_reach_the_client():
    def refuse(_request):
        raise control.ControlError("configuration invalid, nothing changed", ["a.conf:3: bad"])
    assert reply_to(b'{"version": 1, "command": "reload"}', refuse)["details"] == ["a.conf:3: bad"]


def test_client_answers_each_line_and_refuses_oversized_requests():
    ours, theirs = socket.socketpair()
    client = control.Client(ours)
    theirs.sendall(b'{"version": 1, "command": "status"}\n{"version": 1, "command": "flush"}\n')
    assert client.receive(lambda request: request["command"], LOG)
    replies = [json.loads(line) for line in client.outbuf.decode().splitlines()]
    assert [reply["result"] for reply in replies] == ["status", "flush"]
    client.outbuf = b""
    theirs.sendall(b"x" * (control.MAX_REQUEST + 10))
    while len(client.outbuf) == 0:
        client.receive(lambda request: None, LOG)
    assert "longer than" in json.loads(client.outbuf)["error"]
    theirs.close()
    client.outbuf = b""
    assert client.receive(lambda request: None, LOG) is False and client.eof
    client.close()


def test_server_socket_is_root_only_and_replaces_a_stale_one(tmp_path):
    path = str(tmp_path / "c.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # a socket file nobody listens on, as kill -9 leaves it
    server = control.ControlServer(path)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with pytest.raises(control.SocketInUse):
            control.ControlServer(path)
    finally:
        server.close()
    assert not os.path.exists(path)


def serve_once(server, handler):
    """Answer one client in a thread, like the daemon's loop would."""
    def run():
        server.sock.setblocking(True)
        sock = server.sock.accept()[0]
        client = control.Client(sock)
        while not client.eof and b"\n" not in client.outbuf:
            client.sock.setblocking(True)
            client.receive(handler, LOG)
        client.sock.setblocking(True)
        client.sock.sendall(client.outbuf)
        client.close()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_mcastctl_prints_a_table_for_people_and_json_for_programs(tmp_path, capsys):
    path = str(tmp_path / "c.sock")
    server = control.ControlServer(path)
    rows = [{"source": "10.0.0.1", "group": "225.1.1.1", "iif": "a0", "oifs": ["b0", "c0"], "kind": "static",
             "packets": 5, "bytes": 500, "age": None, "origin": "x.conf:1"}]
    try:
        thread = serve_once(server, lambda request: rows)
        assert ctl.main(["-u", path, "show", "routes"]) == 0
        thread.join()
        table = capsys.readouterr().out.splitlines()
        assert table[0].split() == ["SOURCE", "GROUP", "IIF", "OIFS", "KIND", "PACKETS", "BYTES", "NFT-PACKETS", "AGE",
                                    "ORIGIN"]
        assert table[1].split() == ["10.0.0.1", "225.1.1.1", "a0", "b0,c0", "static", "5", "500", "-", "-", "x.conf:1"]
        thread = serve_once(server, lambda request: rows)
        assert ctl.main(["-u", path, "show", "routes", "--json"]) == 0
        thread.join()
        assert json.loads(capsys.readouterr().out)["result"] == rows
    finally:
        server.close()


def test_mcastctl_exit_codes_refused_and_no_daemon(tmp_path, capsys):
    path = str(tmp_path / "c.sock")
    server = control.ControlServer(path)

    def refuse(_request):
        raise control.ControlError("configuration invalid, nothing changed", ["m.conf:2: group 10.0.0.1 is not"])
    try:
        thread = serve_once(server, refuse)
        assert ctl.main(["-u", path, "reload"]) == ctl.EXIT_REFUSED
        thread.join()
        assert "m.conf:2: group 10.0.0.1" in capsys.readouterr().err
    finally:
        server.close()
    assert ctl.main(["-u", path, "status"]) == ctl.EXIT_NO_DAEMON


# -- kernel structures -------------------------------------------------------------------------------
def test_struct_sizes_match_linux_mroute_h():
    assert kernel.VIFCTL.size == 16
    assert kernel.MFCCTL.size == 60
    assert kernel.IGMPMSG.size == 20


def upcall_bytes(msgtype, vif, source, group, mbz=0):
    return bytes(8) + struct.pack("=BBBB4s4s", msgtype, mbz, vif, 0, socket.inet_aton(source), socket.inet_aton(group))


def test_upcalls_are_told_from_igmp_packets_by_byte_nine():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    mroute = kernel.MrouteSocket.__new__(kernel.MrouteSocket)
    mroute.sock = ours
    ours.setblocking(False)
    theirs.send(upcall_bytes(kernel.IGMPMSG_NOCACHE, 3, "10.0.0.1", "225.1.1.1"))
    theirs.send(upcall_bytes(kernel.IGMPMSG_WRONGVIF, 4, "10.0.0.2", "225.1.1.1"))  # a known flow, another VIF
    theirs.send(upcall_bytes(3, 3, "10.0.0.3", "225.1.1.1"))  # WHOLEPKT (PIM register): not ours
    # a real IGMP report as the raw socket sees it: IP header with protocol 2 at byte 9
    theirs.send(struct.pack("!BBHHHBBH4s4s", 0x46, 0, 32, 0, 0, 1, 2, 0, socket.inet_aton("10.0.0.9"),
                            socket.inet_aton("224.0.0.22")) + bytes(12))
    theirs.send(b"short")
    upcalls, packets = mroute.drain()
    assert [(ifindex, data[9]) for ifindex, data in packets] == [(0, 2)]  # no IP_PKTINFO on a socketpair
    assert upcalls == [kernel.Upcall(3, conf_aton("10.0.0.1"), conf_aton("225.1.1.1"), kernel.IGMPMSG_NOCACHE),
                       kernel.Upcall(4, conf_aton("10.0.0.2"), conf_aton("225.1.1.1"), kernel.IGMPMSG_WRONGVIF)]
    ours.close()
    theirs.close()


def conf_aton(text):
    return int.from_bytes(socket.inet_aton(text), "big")


class FakeRouteMessage:
    """Stands in for a pyroute2 rtmsg: only get_attr() is used (pure decoding under test)."""

    def __init__(self, attrs):
        self.attrs = attrs

    def get_attr(self, name):
        return self.attrs.get(name)


def test_mfc_rows_decode_raw_attributes_as_both_pyroute2_versions_return_them():
    stats = struct.pack("=HH", 28, 17) + struct.pack("=QQQ", 7, 700, 1)  # with its NLA header
    row = kernel._row(FakeRouteMessage({  # pylint: disable=protected-access
        "RTA_SRC": b"\n\x00\x00\x01", "RTA_DST": b"\xe1\x01\x01\x01", "RTA_IIF": 3,
        "RTA_MULTIPATH": [{"oif": 4, "hops": 1}, {"oif": 5, "hops": 1}], "RTA_MFC_STATS": stats}))
    assert row == kernel.MfcRow(conf_aton("10.0.0.1"), conf_aton("225.1.1.1"), 3, [4, 5], 7, 700, 1)
    bare = kernel._row(FakeRouteMessage({"RTA_SRC": "10.0.0.2", "RTA_DST": "225.1.1.2",  # pylint: disable=protected-access
                                         "RTA_MFC_STATS": struct.pack("=QQQ", 1, 2, 3)}))
    assert (bare.source, bare.oifs, bare.packets) == (conf_aton("10.0.0.2"), [], 1)


def test_mfcctl_packing_puts_parent_and_ttls_where_the_kernel_reads_them():
    entry = KernelEntry(2, bytes([0, 0, 0, 5] + [0] * 28))
    data = kernel.MFCCTL.pack(socket.inet_aton("10.0.0.1"), socket.inet_aton("225.1.1.1"), entry.parent, entry.ttls, 0, 0, 0, 0)
    assert data[8:10] == struct.pack("@H", 2) and data[10 + 3] == 5


def test_sd_notify_sends_ready_to_the_notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert notify.ready("running")
    message = listener.recv(4096).decode()
    assert "READY=1" in message.splitlines() and "STATUS=running" in message
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert notify.ready("running") is False
    listener.close()
