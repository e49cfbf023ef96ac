# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runtime changes (``mcastctl add|del|join|leave``): the configuration they lead to.

smcroutectl's commands, with its meaning (msg.c, mroute.c and mcgroup.c in smcroute 2.6):
``add`` creates a route or adds outputs to an existing one (same input, source and group);
``del`` without outputs removes the route, with outputs removes just those (a route left
without outputs is a stop filter); ``join``/``leave`` add and remove ``mgroup`` joins.  Each
request is written as a configuration line and read by the same grammar as the file, so it is
validated exactly like it; the whole resulting configuration is then checked again (conflicts,
disabled interfaces, the VIF limit) before the daemon applies it.  Nothing here touches the
kernel: the daemon swaps the result in only when it is valid.

Runtime changes last until the next reload or restart, which apply the file alone (as smcroute
documents for ``smcroutectl reload``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from . import config as conf
from .control import ControlError

ORIGIN_FILE = "mcastctl"  # routes and joins made at run time show this as their origin


def describe(request):
    """The request the way smcroutectl spells it, for replies and the log."""
    words = [request["command"], request.get("iif") or "?"]
    if request.get("source"):
        words.append(request["source"])
    words.append(request.get("group") or "?")
    return " ".join(words + list(request.get("oifs") or []))


def _line(request):
    """The request as a configuration line of the shared grammar."""
    directive = "mroute" if request["command"] in ("add", "del") else "mgroup"
    words = [directive, "from", request["iif"]]
    if request.get("source"):
        words += ["source", request["source"]]
    words += ["group", request["group"]]
    if directive == "mroute" and request.get("oifs"):
        words += ["to"] + list(request["oifs"])
    return " ".join(words)


def _parse(request, sequence):
    """(directive object, warnings) read by the file's grammar; ControlError naming the request."""
    what = describe(request)
    if any(any(char.isspace() or char == "#" for char in str(word)) for word in _words(request)):
        raise ControlError("%s: an interface or address may not contain spaces or '#'" % what)
    parser = conf.Parser()
    parser.read_text(_line(request) + "\n", ORIGIN_FILE)
    # The grammar says FILE:LINE; a request is named by its own words instead.
    errors = _for_request(what, parser.errors)
    warnings = _for_request(what, parser.warnings)
    found = parser.mroutes if request["command"] in ("add", "del") else parser.mgroups
    if not errors and len(found) != 1:
        errors = warnings or ["%s: not understood" % what]
    if errors:
        raise ControlError("%s: refused, nothing changed" % what, errors)
    return found[0]._replace(origin=conf.Origin(ORIGIN_FILE, sequence)), warnings


def _for_request(what, sentences):
    prefix = "%s:1: " % ORIGIN_FILE
    return ["%s: %s" % (what, text[len(prefix):] if text.startswith(prefix) else text) for text in sentences]


def _words(request):
    return [request.get("iif") or "", request.get("source") or "", request.get("group") or ""] + list(
        request.get("oifs") or [])


def _same_route(route, other):
    return (route.iif, route.source, route.group) == (other.iif, other.source, other.group)


def change(config, request, sequence, overflow=False):
    """(new Config, warnings) for one add/del/join/leave request; raises ControlError.

    ``overflow``: nftables copies to interfaces beyond the kernel's VIFs (see config.Parser)."""
    item, warnings = _parse(request, sequence)
    mroutes = list(config.mroutes)
    mgroups = list(config.mgroups)
    command = request["command"]
    if command == "add":
        mroutes = _add(mroutes, item)
    elif command == "del":
        mroutes, skipped = _delete(mroutes, item, request)
        warnings += skipped
    elif command == "join":
        mgroups = _join(mgroups, item, request)
    else:
        mgroups = _leave(mgroups, item, request)
    return _validated(config, mroutes, mgroups, request, overflow), warnings


def _add(mroutes, route):
    for index, existing in enumerate(mroutes):
        if _same_route(existing, route):
            merged = existing.oifs + tuple(oif for oif in route.oifs if oif not in existing.oifs)
            mroutes[index] = existing._replace(oifs=merged)
            return mroutes
    return mroutes + [route]


def _delete(mroutes, route, request):
    for index, existing in enumerate(mroutes):
        if not _same_route(existing, route):
            continue
        if not route.oifs:
            return mroutes[:index] + mroutes[index + 1:], []
        # As smcroutectl: unmatched outputs are skipped; a route left without outputs is a stop filter.
        skipped = ["%s: %s is not an output of this route, skipped" % (describe(request), oif)
                   for oif in route.oifs if oif not in existing.oifs]
        mroutes[index] = existing._replace(oifs=tuple(oif for oif in existing.oifs if oif not in route.oifs))
        return mroutes, skipped
    raise ControlError("%s: no such route (mcastctl show routes lists them; input, source and group must "
                       "match the route as it was added)" % describe(request))


def _same_join(join, other):
    return (join.ifname, join.source, join.group) == (other.ifname, other.source, other.group)


def _join(mgroups, join, request):
    if any(_same_join(existing, join) for existing in mgroups):
        raise ControlError("%s: already joined (mcastctl show groups)" % describe(request))
    return mgroups + [join]


def _leave(mgroups, join, request):
    kept = [existing for existing in mgroups if not _same_join(existing, join)]
    if len(kept) == len(mgroups):
        raise ControlError("%s: no such join (mcastctl show groups lists them; a source-specific join is left "
                           "with its source)" % describe(request))
    return kept


def _validated(config, mroutes, mgroups, request, overflow):
    """The whole configuration checked again, as the file is: conflicts, disabled interfaces, VIF limit."""
    parser = conf.Parser(overflow=overflow)
    parser.phyints = dict(config.phyints)
    parser.mroutes = mroutes
    parser.mgroups = mgroups
    try:
        new = parser.finish()
    except conf.ConfigError as exc:
        raise ControlError("%s: refused, nothing changed" % describe(request), exc.errors)
    new.files = config.files
    new.warnings = config.warnings
    return new
