# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mcastctl: ask a running mcastd over its control socket; tables for people, --json for programs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import argparse
import json
import sys

from . import control

DEFAULT_SOCKET = "/run/mcastd/mcastd.sock"

EXIT_OK = 0
EXIT_REFUSED = 1  # the daemon answered with an error (e.g. reload of an invalid configuration)
EXIT_USAGE = 2
EXIT_NO_DAEMON = 3  # nothing answers on the control socket

COLUMNS = {
    "routes": [("SOURCE", "source"), ("GROUP", "group"), ("IIF", "iif"), ("OIFS", "oifs"), ("KIND", "kind"),
               ("PACKETS", "packets"), ("BYTES", "bytes"), ("AGE", "age"), ("ORIGIN", "origin")],
    "interfaces": [("NAME", "name"), ("IFINDEX", "ifindex"), ("VIF", "vif"), ("TTL", "threshold"), ("UP", "up"),
                   ("MULTICAST", "multicast"), ("PROBLEMS", "problems")],
    "groups": [("INTERFACE", "interface"), ("GROUP", "group"), ("SOURCE", "source"), ("STATE", "state")],
    "pending": [("KIND", "kind"), ("STATE", "state"), ("MISSING", "missing"), ("ORIGIN", "origin"), ("LINE", "line")],
}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="mcastctl", description="Control and inspect a running mcastd.")
    parser.add_argument("-u", "--socket", default=DEFAULT_SOCKET, help="mcastd control socket (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the daemon's JSON reply")
    parser.add_argument("-t", "--timeout", type=float, default=60.0, help="seconds to wait for a reply")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    show = commands.add_parser("show", help="show routes, interfaces, groups or pending entries")
    show.add_argument("what", choices=control.SHOW_TABLES)
    show.add_argument("--json", action="store_true", dest="json_after", help=argparse.SUPPRESS)
    for name, text in (("reload", "re-read the configuration (validated first)"),
                       ("flush", "forget learned and stop entries"), ("status", "daemon state and counters")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--json", action="store_true", dest="json_after", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    options.json = options.json or getattr(options, "json_after", False)
    return options


def say(text, error=False):
    """Write a line for the person at the terminal (stdout, or stderr for problems)."""
    stream = sys.stderr if error else sys.stdout
    stream.write(text + "\n")
    stream.flush()


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


def render(options, result):
    if options.command == "show":
        return table(result, COLUMNS[options.what])
    if options.command == "status":
        return "\n".join("%-16s %s" % (key, json.dumps(value) if isinstance(value, (dict, list)) else _cell(value))
                         for key, value in sorted(result.items()))
    if options.command == "reload":
        text = "reloaded in %.3f s: %d added, %d updated, %d removed" % (
            result["seconds"], result["added"], result["updated"], result["removed"])
        return "\n".join([text] + ["warning: %s" % line for line in result.get("warnings", [])])
    return "flushed %d learned entries" % result["flushed"]


def main(argv=None):
    options = parse_args(argv)
    fields = {"what": options.what} if options.command == "show" else {}
    try:
        reply = control.request(options.socket, options.command, timeout=options.timeout, **fields)
    except (OSError, ValueError) as exc:
        say("mcastctl: no answer from mcastd on %s: %s" % (options.socket, exc), error=True)
        return EXIT_NO_DAEMON
    if options.json:
        say(json.dumps(reply, indent=2, sort_keys=True))
        return EXIT_OK if reply.get("ok") else EXIT_REFUSED
    if not reply.get("ok"):
        say("mcastctl: %s" % reply.get("error"), error=True)
        for detail in reply.get("details", []):
            say("  %s" % detail, error=True)
        return EXIT_REFUSED
    say(render(options, reply["result"]))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
