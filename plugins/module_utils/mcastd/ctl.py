# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mcastctl: control and inspect a running mcastd, with smcroutectl's commands and habits.

``mcastctl [-bdjpt] [-u SOCKET] [COMMAND [ARGS]]``: the commands and argument order of
smcroutectl 2.6 (``add IIF [SOURCE[/LEN]] GROUP[/LEN] OIF [OIF ...]``, ``del``/``remove``, ``join``,
``leave``, ``show [routes|interfaces|groups|pending|queriers|members]``, ``flush``, ``reload``, ``kill``), commands
abbreviated to a prefix as smcroutectl allows (``s g`` is ``show groups``), batch mode ``-b``
(one command per line on standard input, over one connection), and a bare ``mcastctl`` showing the
routes. Tables for people; ``-j``/``--json`` prints the daemon's replies for programs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import errno
import getopt
import json
import socket
import sys

from . import control
from .control import say
from .linux import DEFAULT_SOCKET

# sysexits(3), as smcrouted uses them; 1 when the daemon refused a request, as smcroutectl.
EXIT_OK = 0
EXIT_REFUSED = 1  # the daemon answered with an error (e.g. reload of an invalid configuration)
EXIT_USAGE = 64  # EX_USAGE: bad command line
EXIT_NO_DAEMON = 69  # EX_UNAVAILABLE: nothing answers on the control socket
EXIT_NO_PERMISSION = 77  # EX_NOPERM: the control socket is not ours to use (root only)

COLUMNS = {
    "routes": [("SOURCE", "source"), ("GROUP", "group"), ("IIF", "iif"), ("OIFS", "oifs"), ("KIND", "kind"),
               ("PACKETS", "packets"), ("BYTES", "bytes"), ("NFT-PACKETS", "nft_packets"), ("AGE", "age"),
               ("ORIGIN", "origin")],
    "interfaces": [("NAME", "name"), ("IFINDEX", "ifindex"), ("VIF", "vif"), ("MIF", "mif"), ("TTL", "threshold"),
                   ("UP", "up"),
                   ("MULTICAST", "multicast"), ("MRDISC", "mrdisc"), ("PROBLEMS", "problems")],
    "groups": [("INTERFACE", "interface"), ("GROUP", "group"), ("SOURCE", "source"), ("STATE", "state")],
    "pending": [("KIND", "kind"), ("STATE", "state"), ("MISSING", "missing"), ("ORIGIN", "origin"), ("LINE", "line"),
                ("REASON", "reason")],
    "queriers": [("INTERFACE", "interface"), ("PROTOCOL", "protocol"), ("ROLE", "role"), ("QUERIER", "querier"), ("VERSION", "version"),
                 ("OWN ADDRESS", "own_address"), ("OTHER EXPIRES", "other_querier_expires_in"),
                 ("NEXT QUERY", "next_query_in"), ("GROUPS", "groups"), ("PROBLEM", "problem")],
    "members": [("INTERFACE", "interface"), ("PROTOCOL", "protocol"), ("GROUP", "group"), ("SOURCE", "source"), ("MODE", "mode"),
                ("COMPAT", "compat"), ("EXPIRES", "expires_in"), ("FORWARDING", "forwarding")],
}


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value) or "-"
    return str(value)


def table(rows, columns):
    """Plain aligned columns, the way people read ``ip`` and ``smcroutectl`` output."""
    titles = [column[0] for column in columns]
    keys = [column[1] for column in columns]
    lines = [titles] + [[_cell(row.get(key)) for key in keys] for row in rows]
    widths = [max(len(line[index]) for line in lines) for index in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)


# smcroutectl's command table, in its order: an abbreviation means the first command it begins.
# name -> (protocol command, minimum arguments, usage of the arguments)
COMMANDS = (
    ("help", None, 0, "[COMMAND]"),
    ("version", None, 0, ""),
    ("flush", "flush", 0, ""),
    ("kill", "kill", 0, ""),
    ("reload", "reload", 0, ""),
    ("restart", "reload", 0, ""),  # smcroutectl's old alias
    ("show", "show", 0, "[routes|interfaces|groups|pending|queriers|members]"),
    ("status", "status", 0, ""),
    ("add", "add", 3, "IIF [SOURCE[/LEN]] GROUP[/LEN] OIF [OIF ...]"),
    ("remove", "del", 2, "IIF [SOURCE[/LEN]] GROUP[/LEN] [OIF ...]"),
    ("del", "del", 2, "IIF [SOURCE[/LEN]] GROUP[/LEN] [OIF ...]"),
    ("join", "join", 2, "IIF [SOURCE[/LEN]] GROUP[/LEN]"),
    ("leave", "leave", 2, "IIF [SOURCE[/LEN]] GROUP[/LEN]"),
)

USAGE = """Usage: mcastctl [-bdjpt] [-u SOCKET] [--timeout SECONDS] [COMMAND [ARGS]]

Options:
  -b            batch mode: one command per line from standard input ('#' comments)
  -d            detailed output: show routes lists each output, where it is served and its counters
  -j, --json    print the daemon's JSON replies
  -p            plain table headings (accepted for smcroutectl compatibility; always plain)
  -t            no table headings
  -u SOCKET     mcastd control socket (default %s)
  --timeout S   seconds to wait for a reply (default 60)
  -h, --help    this text; -v, --version: the version

Commands (any unambiguous prefix, e.g. 's g' for 'show groups'):
%s

Without a command: show routes. IIF and OIF may be wildcards such as eth+.
Runtime changes (add, del, join, leave) last until the next reload or restart.
Exit codes: 0 success, 1 the daemon refused, 64 usage, 69 no daemon answers, 77 no permission.
"""


class UsageError(Exception):
    """A command line mcastctl cannot understand; the message says what to write instead."""


def usage_text():
    lines = ["  %-8s %s" % (name, args) for name, command, _minimum, args in COMMANDS if name != "restart"]
    return USAGE % (DEFAULT_SOCKET, "\n".join(lines))


def parse_options(argv):
    """(options dict, remaining words); raises UsageError."""
    options = {"json": False, "batch": False, "headings": True, "detailed": False, "socket": DEFAULT_SOCKET,
               "timeout": 60.0, "help": False, "version": False}
    try:
        # Options may follow the command too (mcastctl show routes --json), as GNU getopt lets
        # smcroutectl take them.
        found, rest = getopt.gnu_getopt(argv, "bdjptu:hvI:i:", ["json", "socket=", "timeout=", "help", "version"])
    except getopt.GetoptError as exc:
        raise UsageError(str(exc))
    for flag, value in found:
        if flag == "-b":
            options["batch"] = True
        elif flag == "-d":
            options["detailed"] = True
        elif flag in ("-j", "--json"):
            options["json"] = True
        elif flag == "-t":
            options["headings"] = False
        elif flag in ("-u", "--socket"):
            options["socket"] = value
        elif flag == "--timeout":
            options["timeout"] = _positive(value)
        elif flag in ("-h", "--help"):
            options["help"] = True
        elif flag in ("-v", "--version"):
            options["version"] = True
        elif flag in ("-i", "-I"):
            raise UsageError("-i NAME (a daemon identity) is not supported: mcastd runs one instance per "
                             "network namespace; use -u SOCKET to reach another one")
    return options, rest


def _positive(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise UsageError("--timeout needs a number of seconds above 0, not %r" % text)
    return value


def lookup(word):
    """The command table row a word (or a prefix of a command) names; raises UsageError."""
    for row in COMMANDS:
        if row[0] == word:
            return row
    for row in COMMANDS:
        if word and row[0].startswith(word):
            return row
    raise UsageError("unknown command %r; expected one of: %s" % (
        word, ", ".join(row[0] for row in COMMANDS if row[0] != "restart")))


def _is_group(text):
    """True if text (ADDR or ADDR/LEN) is a multicast address, IPv4 or IPv6: smcroutectl's way to tell
    ``IIF SOURCE GROUP`` from ``IIF GROUP``."""
    address = text.split("/", 1)[0]
    if ":" in address:
        try:
            return socket.inet_pton(socket.AF_INET6, address)[0] == 0xFF
        except (OSError, ValueError):
            return False
    try:
        return socket.inet_aton(address)[0] >> 4 == 0xE and address.count(".") == 3
    except OSError:
        return False


def request_for(words):
    """The protocol request for one command line (without options); None for help/version."""
    name, command, minimum, args = lookup(words[0])
    rest = words[1:]
    if command is None:
        return None
    if len(rest) < minimum:
        raise UsageError("%s needs %s" % (name, args))
    if command == "show":
        what = "routes" if not rest else _show_what(rest[0])
        if len(rest) > 1:
            raise UsageError("show takes one of: %s" % ", ".join(control.SHOW_TABLES))
        return {"command": "show", "what": what}
    if command in ("add", "del", "join", "leave"):
        return _route_request(command, name, rest, args)
    if rest:
        raise UsageError("%s takes no arguments" % name)
    return {"command": command}


def _show_what(word):
    for what in control.SHOW_TABLES:
        if what.startswith(word):
            return what
    raise UsageError("show takes one of: %s, not %r" % (", ".join(control.SHOW_TABLES), word))


def _route_request(command, name, rest, args):
    """IIF [SOURCE[/LEN]] GROUP[/LEN] [OIF ...]: the second word is the group if it is multicast."""
    iif, rest = rest[0], rest[1:]
    if _is_group(rest[0]):
        source, group, oifs = None, rest[0], rest[1:]
    elif len(rest) >= 2:
        source, group, oifs = rest[0], rest[1], rest[2:]
    else:
        raise UsageError("%s needs %s: %r is not a multicast group" % (name, args, rest[0]))
    if command in ("join", "leave") and oifs:
        raise UsageError("%s takes no output interfaces: %s %s" % (name, name, args))
    if command == "add" and not oifs:
        raise UsageError("add needs at least one output interface: add %s" % args)
    request = {"command": command, "iif": iif, "source": source, "group": group}
    if command in ("add", "del"):
        request["oifs"] = oifs
    return request


NFT_MARK = "(nft)"  # an output that nftables copies to, in the OIFS column of show routes


def route_cells(row):
    """A show routes row for the table: outputs that nftables serves (the kernel has no VIF for them) marked."""
    served = dict((output["name"], output["served"]) for output in row.get("outputs") or [])
    oifs = [name + NFT_MARK if served.get(name) == "nftables" else name for name in row.get("oifs") or []]
    return dict(row, oifs=oifs)


def output_lines(rows):
    """show routes -d: each route, then one line per output with where it is served and its counters."""
    lines = []
    for row in rows:
        lines.append("(%s, %s) from %s, %s%s" % (row.get("source"), row.get("group"), row.get("iif"), row.get("kind"),
                                                 ", " + row["origin"] if row.get("origin") else ""))
        outputs = row.get("outputs") or [{"name": name, "served": "-", "packets": None, "bytes": None}
                                         for name in row.get("oifs") or []]
        lines += ["  %-16s %-9s %s packets, %s bytes" % (
            output["name"], output["served"], _cell(output["packets"]), _cell(output["bytes"])) for output in outputs]
    return "\n".join(lines)


def render(request, result, headings=True, detailed=False):
    """Text for people, or None when there is nothing to say (smcroutectl is silent on success)."""
    command = request["command"]
    if command == "show":
        if request["what"] == "routes":
            if detailed:
                return output_lines(result)
            result = [route_cells(row) for row in result]
        text = table(result, COLUMNS[request["what"]])
        return text if headings else "\n".join(text.split("\n")[1:])
    if command == "status":
        return "\n".join("%-16s %s" % (key, json.dumps(value) if isinstance(value, (dict, list)) else _cell(value))
                         for key, value in sorted(result.items()))
    if command == "reload":
        text = "reloaded in %.3f s: %d added, %d updated, %d removed" % (
            result["seconds"], result["added"], result["updated"], result["removed"])
        return "\n".join([text] + ["warning: %s" % line for line in result.get("warnings", [])])
    if command == "flush":
        return "flushed %d learned entries" % result["flushed"]
    if command in ("add", "del", "join", "leave"):
        return "\n".join("warning: %s" % line for line in result.get("warnings", [])) or None
    return None


def _report(request, reply, options):
    """Print one reply; its exit code."""
    if options["json"]:
        say(json.dumps(reply, indent=2, sort_keys=True))
        return EXIT_OK if reply.get("ok") else EXIT_REFUSED
    if not reply.get("ok"):
        say("mcastctl: %s" % reply.get("error"), error=True)
        for detail in reply.get("details", []):
            say("  %s" % detail, error=True)
        return EXIT_REFUSED
    text = render(request, reply["result"], options["headings"], options["detailed"])
    if text:
        say(text, error=request["command"] in ("add", "del", "join", "leave"))
    return EXIT_OK


def _exchange(options, requests):
    """Send requests over one connection and report each reply; the first failing exit code."""
    try:
        replies = control.requests(options["socket"], requests, timeout=options["timeout"])
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            say("mcastctl: no permission to use %s: run as root" % options["socket"], error=True)
            return EXIT_NO_PERMISSION
        say("mcastctl: no answer from mcastd on %s: %s" % (options["socket"], exc.strerror or exc), error=True)
        return EXIT_NO_DAEMON
    except ValueError as exc:
        say("mcastctl: unreadable answer from mcastd on %s: %s" % (options["socket"], exc), error=True)
        return EXIT_NO_DAEMON
    codes = [_report(request, reply, options) for request, reply in zip(requests, replies)]
    return next((code for code in codes if code), EXIT_OK)


def _batch_requests(lines):
    """Requests for the lines of a batch; a usage error names its line and stops before anything is sent."""
    requests = []
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            request = request_for(words)
        except UsageError as exc:
            raise UsageError("line %d: %s" % (number, exc))
        if request is None:
            raise UsageError("line %d: %s is not a batch command" % (number, words[0]))
        requests.append(request)
    return requests


def main(argv=None, stdin=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        options, words = parse_options(argv)
        if options["help"] or (words and lookup(words[0])[0] == "help"):
            say(usage_text())
            return EXIT_OK
        if options["version"] or (words and lookup(words[0])[0] == "version"):
            say("mcastctl %s" % control.VERSION)
            return EXIT_OK
        if options["batch"]:
            if words:
                raise UsageError("-b reads commands from standard input; give no command on the line")
            requests = _batch_requests((stdin or sys.stdin).read().splitlines())
        else:
            requests = [request_for(words or ["show"])]
    except UsageError as exc:
        say("mcastctl: %s (mcastctl -h for help)" % exc, error=True)
        return EXIT_USAGE
    if not requests:
        return EXIT_OK
    return _exchange(options, requests)


if __name__ == "__main__":
    raise SystemExit(main())
