# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The control socket: a root-only unix stream socket speaking JSON lines.

Protocol version 1 (docs/mcastd.md): each request is one JSON object on one
line, ``{"version": 1, "command": "show", "what": "routes"}`` or
``{"version": 1, "command": "add", "iif": "eth0", "source": null, "group": "225.1.2.3", "oifs": ["eth1"]}``; each reply is one
JSON object on one line, ``{"version": 1, "ok": true, "result": ...}`` or
``{"version": 1, "ok": false, "error": "sentence", "details": [...]}``.  Anything
malformed gets an error reply; nothing a client sends can stop the daemon.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import errno
import json
import os
import socket
import sys

# mcastd and mcastctl. 2.0.0: sysexits exit codes and smcroutectl's command line (see the changelog).
VERSION = "2.0.0"
PROTOCOL_VERSION = 1
MAX_REQUEST = 64 * 1024
SHOW_TABLES = ("routes", "interfaces", "groups", "pending", "queriers", "members")
# Fields each command takes besides version and command: name -> (types, required).
_TEXT = (str,)
_ROUTE = {"iif": (_TEXT, True), "source": (_TEXT + (type(None),), False), "group": (_TEXT, True),
          "oifs": ((list,), False)}
_JOIN = {"iif": (_TEXT, True), "source": (_TEXT + (type(None),), False), "group": (_TEXT, True)}
FIELDS = {
    "show": {"what": (_TEXT, False)}, "status": {}, "reload": {}, "flush": {}, "kill": {},
    "add": dict(_ROUTE, oifs=((list,), True)), "del": _ROUTE, "join": _JOIN, "leave": _JOIN,
}
COMMANDS = tuple(FIELDS)
# A route may have any number of outputs (beyond the kernel's 31, nftables copies); 1024 names of 15 bytes still
# fit in one request.
MAX_OIFS = 1024


class ControlError(Exception):
    """A request the daemon refuses, answered as an error reply."""

    def __init__(self, message, details=None):
        super(ControlError, self).__init__(message)
        self.details = details or []


class SocketInUse(Exception):
    """Another daemon answers on the control socket path."""


def say(text, error=False):
    """Write a line for the person at the terminal (stdout, or stderr for problems); mcastd and mcastctl."""
    stream = sys.stderr if error else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def error_reply(message, details=None):
    reply = {"version": PROTOCOL_VERSION, "ok": False, "error": message}
    if details:
        reply["details"] = list(details)
    return reply


def ok_reply(result):
    return {"version": PROTOCOL_VERSION, "ok": True, "result": result}


def parse_request(line):
    """Decode and check one request line; raises ControlError with the reason."""
    try:
        request = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ControlError("malformed request: not a JSON object on one line (%s)" % exc)
    if not isinstance(request, dict):
        raise ControlError("malformed request: expected a JSON object")
    version = request.get("version")
    if version != PROTOCOL_VERSION:
        raise ControlError("unsupported protocol version %r; this daemon speaks version %d" % (version, PROTOCOL_VERSION))
    command = request.get("command")
    if not isinstance(command, str) or command not in COMMANDS:
        raise ControlError("unknown command %r; expected one of: %s" % (command, ", ".join(COMMANDS)))
    _check_fields(command, request)
    if command == "show" and request.get("what") not in SHOW_TABLES:
        raise ControlError("show needs 'what', one of: %s" % ", ".join(SHOW_TABLES))
    # Only the fields this command takes, all checked: nothing unchecked reaches the daemon.
    return dict(((name, request[name]) for name in FIELDS[command] if name in request), command=command)


def _check_fields(command, request):
    """Every field a command needs, of the right type; a list of interface names for 'oifs'."""
    for name, (types, required) in FIELDS[command].items():
        if name not in request:
            if required:
                raise ControlError("%s needs the field %r" % (command, name))
            continue
        value = request[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise ControlError("%s: field %r has the wrong type (%s)" % (command, name, type(value).__name__))
        if name == "oifs" and (len(value) > MAX_OIFS or not all(isinstance(item, str) for item in value)):
            raise ControlError("%s: 'oifs' must be a list of at most %d interface names" % (command, MAX_OIFS))


def answer(line, handler, log):
    """The reply (bytes) to one request line; ``handler(request)`` returns the result."""
    try:
        reply = ok_reply(handler(parse_request(line)))
    except ControlError as exc:
        reply = error_reply(str(exc), exc.details)
    except Exception as exc:  # pylint: disable=broad-except
        # A bug while answering must cost one reply, not the routes of the whole site.
        log.exception("control request failed")
        reply = error_reply("internal error: %s" % exc)
    return (json.dumps(reply, sort_keys=True) + "\n").encode("utf-8")


class Client:
    """One connected client, with its partial input and pending output."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.setblocking(False)
        self.inbuf = b""
        self.outbuf = b""
        self.eof = False

    def fileno(self):
        return self.sock.fileno()

    def receive(self, handler, log):
        """Read what is there and answer complete lines; False when the client is gone."""
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not data:
            self.eof = True
            return bool(self.outbuf)
        self.inbuf += data
        while b"\n" in self.inbuf:
            line, self.inbuf = self.inbuf.split(b"\n", 1)
            if line.strip():
                self.outbuf += answer(line, handler, log)
        if len(self.inbuf) > MAX_REQUEST:
            self.inbuf = b""
            self.outbuf += (json.dumps(error_reply("request longer than %d bytes" % MAX_REQUEST)) + "\n").encode()
        return True

    def send(self):
        """Write pending output; False when the client is gone."""
        try:
            sent = self.sock.send(self.outbuf)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        self.outbuf = self.outbuf[sent:]
        return True

    def close(self):
        """Close, after a last attempt to deliver pending replies (e.g. the answer to ``kill``)."""
        if self.outbuf:
            try:
                self.sock.settimeout(1.0)
                self.sock.sendall(self.outbuf)
            except OSError:
                pass  # the client is gone or stuck: it has its answer in the daemon's log
        self.sock.close()


class ControlServer:
    """The listening socket, created mode 0600 (root only) at ``path``."""

    def __init__(self, path):
        self.path = path
        self._remove_stale()
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # no window in which the socket is reachable by others
        try:
            self.sock.bind(path)
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        self.sock.listen(16)
        self.sock.setblocking(False)

    def _remove_stale(self):
        if not os.path.exists(self.path):
            return
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.path)
        except OSError:
            os.unlink(self.path)  # left behind by a daemon that died (kill -9)
            return
        finally:
            probe.close()
        raise SocketInUse("another daemon answers on %s" % self.path)

    def fileno(self):
        return self.sock.fileno()

    def accept(self):
        try:
            sock, _addr = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        return Client(sock)

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise


def request(path, command, timeout=30.0, **fields):
    """Client side: send one request, return the decoded reply (raises OSError, ValueError)."""
    return requests(path, [dict(fields, command=command)], timeout)[0]


def requests(path, messages, timeout=30.0):
    """Client side: send requests on one connection, one after the other; their decoded replies.

    Raises OSError when the daemon cannot be reached or hangs up, ValueError on a reply that is
    not JSON.
    """
    replies = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        buffered = b""
        for message in messages:
            message = dict(message, version=PROTOCOL_VERSION)
            sock.sendall((json.dumps(message) + "\n").encode("utf-8"))
            while b"\n" not in buffered:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise OSError(errno.ECONNRESET, "mcastd closed the connection before replying")
                buffered += chunk
            line, buffered = buffered.split(b"\n", 1)
            replies.append(json.loads(line.decode("utf-8")))
    return replies
