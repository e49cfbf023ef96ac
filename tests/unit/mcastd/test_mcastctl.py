"""mcastctl's command line, as smcroutectl's: argument order, abbreviations, batch mode, exit codes.

Table-driven: each row is a command line and the request it must send (or the usage error).
The request is also checked by the daemon's own protocol parser, so client and daemon agree.
"""
import io
import json
import socket
import threading

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import control, ctl

SOURCE = "192.0.2.10"

REQUESTS = [
    ([], {"command": "show", "what": "routes"}),
    (["show"], {"command": "show", "what": "routes"}),
    (["s", "g"], {"command": "show", "what": "groups"}),
    (["sh", "i"], {"command": "show", "what": "interfaces"}),
    (["show", "pending"], {"command": "show", "what": "pending"}),
    (["status"], {"command": "status"}),
    (["reload"], {"command": "reload"}),
    (["r"], {"command": "reload"}),
    (["restart"], {"command": "reload"}),
    (["f"], {"command": "flush"}),
    (["kill"], {"command": "kill"}),
    (["add", "eth0", SOURCE, "225.1.2.3", "eth1", "eth2"],
     {"command": "add", "iif": "eth0", "source": SOURCE, "group": "225.1.2.3", "oifs": ["eth1", "eth2"]}),
    (["add", "eth0", "225.0.0.0/24", "eth1"],
     {"command": "add", "iif": "eth0", "source": None, "group": "225.0.0.0/24", "oifs": ["eth1"]}),
    (["a", "eth+", "10.0.0.0/8", "239.1.0.0/16", "eth+"],
     {"command": "add", "iif": "eth+", "source": "10.0.0.0/8", "group": "239.1.0.0/16", "oifs": ["eth+"]}),
    (["remove", "eth0", SOURCE, "225.1.2.3"],
     {"command": "del", "iif": "eth0", "source": SOURCE, "group": "225.1.2.3", "oifs": []}),
    (["rem", "eth1", "225.3.4.5", "eth3"],
     {"command": "del", "iif": "eth1", "source": None, "group": "225.3.4.5", "oifs": ["eth3"]}),
    (["del", "eth0", "225.1.2.3"], {"command": "del", "iif": "eth0", "source": None, "group": "225.1.2.3", "oifs": []}),
    (["join", "eth0", "225.1.2.3"], {"command": "join", "iif": "eth0", "source": None, "group": "225.1.2.3"}),
    (["j", "eth0", SOURCE, "232.1.1.1"], {"command": "join", "iif": "eth0", "source": SOURCE, "group": "232.1.1.1"}),
    (["leave", "eth1", "225.3.4.5"], {"command": "leave", "iif": "eth1", "source": None, "group": "225.3.4.5"}),
]


@pytest.mark.parametrize("words, expected", REQUESTS, ids=lambda value: " ".join(value) if isinstance(value, list) else "")
def test_command_lines_become_the_requests_smcroutectl_would_send(words, expected):
    options, rest = ctl.parse_options(words)
    request = ctl.request_for(rest or ["show"])
    assert request == expected
    assert control.parse_request(json.dumps(dict(request, version=1)).encode()) == request
    assert options["socket"] == ctl.DEFAULT_SOCKET


USAGE_ERRORS = [
    (["bogus"], "unknown command 'bogus'"),
    (["add", "eth0", "225.1.2.3"], "add needs IIF [SOURCE[/LEN]] GROUP[/LEN] OIF"),
    (["add", "eth0", SOURCE, "225.1.2.3"], "add needs at least one output interface"),
    (["join", "eth0"], "join needs IIF"),
    (["join", "eth0", "225.1.2.3", "eth1"], "join takes no output interfaces"),
    (["del", "eth0", SOURCE], "is not a multicast group"),
    (["show", "nothing"], "show takes one of"),
    (["reload", "now"], "reload takes no arguments"),
    (["-i", "foo", "show"], "-i NAME (a daemon identity) is not supported"),
    (["--timeout", "0", "show"], "--timeout needs a number of seconds above 0"),
    (["-x"], "option -x not recognized"),
]


@pytest.mark.parametrize("words, message", USAGE_ERRORS, ids=lambda value: " ".join(value) if isinstance(value, list) else "")
def test_bad_command_lines_say_what_to_write_and_exit_64(words, message, capsys):
    assert ctl.main(words) == ctl.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_options_may_follow_the_command_as_gnu_getopt_allows():
    options, rest = ctl.parse_options(["show", "routes", "--json", "-u", "/tmp/x.sock", "-t"])
    assert (rest, options["json"], options["socket"], options["headings"]) == (["show", "routes"], True, "/tmp/x.sock", False)


def test_help_and_version_need_no_daemon(capsys):
    assert ctl.main(["help"]) == 0 and "add      IIF [SOURCE[/LEN]] GROUP[/LEN] OIF [OIF ...]" in capsys.readouterr().out
    assert ctl.main(["-v"]) == 0 and capsys.readouterr().out.startswith("mcastctl ")


def test_no_daemon_exits_69_as_ex_unavailable(tmp_path, capsys):
    assert ctl.main(["-u", str(tmp_path / "none.sock"), "status"]) == ctl.EXIT_NO_DAEMON == 69
    assert "no answer from mcastd" in capsys.readouterr().err


class FakeDaemon:
    """A control socket answering every request with ok (or refusing 'del'); records what it got."""

    def __init__(self, path):
        self.requests = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _addr = self.server.accept()
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                request = json.loads(line)
                self.requests.append(request)
                reply = control.error_reply("no such route") if request["command"] == "del" else control.ok_reply(
                    {"added": 1, "updated": 0, "removed": 0, "warnings": []})
                conn.sendall((json.dumps(reply) + "\n").encode())


def test_batch_mode_sends_every_line_on_one_connection_and_reports_the_first_failure(tmp_path, capsys):
    path = str(tmp_path / "ctl.sock")
    daemon = FakeDaemon(path)
    batch = io.StringIO("# comment\n\njoin eth0 225.1.2.3\nadd eth0 %s 225.1.2.3 eth1 eth2\n"
                        "rem eth1 225.3.4.5 eth3   # trailing comment\nleave eth1 225.3.4.5\n" % SOURCE)
    assert ctl.main(["-u", path, "-b"], stdin=batch) == ctl.EXIT_REFUSED
    daemon.thread.join(timeout=5)
    assert [request["command"] for request in daemon.requests] == ["join", "add", "del", "leave"]
    assert "no such route" in capsys.readouterr().err


def test_a_usage_error_in_a_batch_names_its_line_and_sends_nothing(tmp_path, capsys):
    batch = io.StringIO("join eth0 225.1.2.3\nadd eth0 225.1.2.3\n")
    assert ctl.main(["-u", str(tmp_path / "none.sock"), "-b"], stdin=batch) == ctl.EXIT_USAGE
    assert "line 2: add needs" in capsys.readouterr().err
