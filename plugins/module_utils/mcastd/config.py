# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mcastd configuration grammar: smcroute.conf, parsed and validated.

Directives (smcroute's, unchanged in meaning)::

    phyint IFNAME [enable|disable] [mrdisc] [ttl-threshold 1-255]
    mroute from IIF [source ADDR[/LEN]] group GROUP[/LEN] to OIF [OIF ...]
    mgroup from IIF [source ADDR[/LEN]] group GROUP[/LEN]
    include GLOB
    # comment

Keywords of a line may come in any order, as smcroute accepts them.  Interface
names may end in ``+`` (``eth+`` matches eth0, eth10, ...).  Every problem is
reported as ``FILE:LINE: sentence`` and all of them are collected before the
configuration is refused, so one ``--check`` run shows everything to fix.

This module is pure (no sockets, no pyroute2): Ansible modules import it to
validate and render routes with exactly the daemon's grammar.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import errno
import fnmatch
import glob
import os
import socket
from collections import namedtuple

MAX_VIFS = 32  # MAXVIFS in linux/mroute.h
MAX_GROUP_JOINS = 4096  # refuse mgroup prefixes that would expand past this
MAX_INCLUDE_DEPTH = 8
IFNAMSIZ = 16
WILDCARD = "+"


class Origin(namedtuple("Origin", "file line")):
    """Where a directive was read: kept for error messages and ``show`` output."""

    __slots__ = ()

    def __str__(self):
        return "%s:%d" % (self.file, self.line)


MASKS = tuple((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF for length in range(33))


class Prefix(namedtuple("Prefix", "addr length")):
    """An IPv4 address or prefix as integers: cheap to parse, hash and compare."""

    __slots__ = ()

    @property
    def mask(self):
        return MASKS[self.length]

    @property
    def is_host(self):
        return self.length == 32

    def contains(self, addr):
        return (addr & self.mask) == self.addr

    def within(self, other):
        """True if every address of this prefix lies inside ``other``."""
        return self.length >= other.length and other.contains(self.addr)

    def addresses(self):
        return range(self.addr, self.addr + (1 << (32 - self.length)))

    def __str__(self):
        text = ntoa(self.addr)
        return text if self.length == 32 else "%s/%d" % (text, self.length)


MULTICAST = Prefix(0xE0000000, 4)  # 224.0.0.0/4
LINK_LOCAL = Prefix(0xE0000000, 24)  # 224.0.0.0/24, never forwarded by the kernel


class Phyint(namedtuple("Phyint", "ifname enable threshold mrdisc origin")):
    """``phyint``: whether an interface may get a VIF, and its TTL threshold."""

    __slots__ = ()

    def settings(self):
        return (self.enable, self.threshold, self.mrdisc)


class Mroute(namedtuple("Mroute", "iif source group oifs origin")):
    """``mroute``: forward (source, group) arriving on ``iif`` out of ``oifs``.

    ``source`` is None for any source.  An (S,G) route has a host source and a
    host group; everything else is a template matched against new flows.
    """

    __slots__ = ()

    @property
    def is_template(self):
        return self.source is None or not (self.source.is_host and self.group.is_host)

    def matches(self, ifname, source, group):
        """True if a flow (source, group) arriving on ``ifname`` fits this route."""
        if not ifname_matches(self.iif, ifname) or not self.group.contains(group):
            return False
        return self.source is None or self.source.contains(source)

    def specificity(self):
        """Sort key: longer group prefix first, then longer source prefix, then file order."""
        source_len = -1 if self.source is None else self.source.length
        return (-self.group.length, -source_len, self.iif.endswith(WILDCARD))

    def to_line(self):
        """Render the route in the canonical grammar (what the modules write to conf.d)."""
        words = ["mroute", "from", self.iif]
        if self.source is not None:
            words += ["source", str(self.source)]
        words += ["group", str(self.group), "to"] + list(self.oifs)
        return " ".join(words)


class Mgroup(namedtuple("Mgroup", "ifname source group origin")):
    """``mgroup``: join ``group`` (from ``source`` only, if given) on an interface."""

    __slots__ = ()

    def count(self):
        """How many joins the prefixes expand to, without expanding them."""
        sources = 1 if self.source is None else 1 << (32 - self.source.length)
        return sources << (32 - self.group.length)

    def memberships(self):
        """Expand prefixes into (ifname, group, source-or-None) joins."""
        sources = [None] if self.source is None else list(self.source.addresses())
        return [(self.ifname, group, source) for group in self.group.addresses() for source in sources]

    def to_line(self):
        words = ["mgroup", "from", self.ifname]
        if self.source is not None:
            words += ["source", str(self.source)]
        return " ".join(words + ["group", str(self.group)])


class Config:
    """A whole validated configuration: what the daemon should make true."""

    def __init__(self, phyints=None, mroutes=None, mgroups=None, files=None, warnings=None, known_lines=None):
        self.phyints = phyints or {}
        self.mroutes = mroutes or []
        self.mgroups = mgroups or []
        self.files = files or []
        self.warnings = warnings or []
        # {mroute line text: Mroute}: lets the next load skip re-parsing lines that did not change
        self.known_lines = known_lines or {}

    @property
    def static_routes(self):
        return [route for route in self.mroutes if not route.is_template]

    @property
    def templates(self):
        return sorted((route for route in self.mroutes if route.is_template), key=Mroute.specificity)

    def threshold(self, ifname):
        phyint = self.phyints.get(ifname)
        return phyint.threshold if phyint else 1

    def vif_names(self):
        """Interface names and patterns that need a VIF, in order of first mention."""
        names = {}
        for phyint in self.phyints.values():
            if phyint.enable:
                names.setdefault(phyint.ifname, None)
        for route in self.mroutes:
            names.setdefault(route.iif, None)
            for oif in route.oifs:
                names.setdefault(oif, None)
        return list(names)

    def memberships(self):
        joins = {}
        for mgroup in self.mgroups:
            for key in mgroup.memberships():
                joins.setdefault(key, mgroup)
        return joins


class ConfigError(Exception):
    """The configuration is invalid; ``errors`` holds one ``FILE:LINE: sentence`` each."""

    def __init__(self, errors, warnings=None):
        super(ConfigError, self).__init__("\n".join(errors))
        self.errors = list(errors)
        self.warnings = list(warnings or [])


def ntoa(addr):
    return socket.inet_ntoa(addr.to_bytes(4, "big"))


def aton(text):
    """Dotted quad to integer; None unless it is exactly four decimal octets."""
    if text.count(".") != 3:
        return None
    try:
        return int.from_bytes(socket.inet_aton(text), "big")
    except OSError:
        return None


def parse_prefix(text):
    """``A.B.C.D[/LEN]`` to a Prefix with host bits cleared; raises ValueError."""
    addr_text, slash, len_text = text.partition("/")
    addr = aton(addr_text)
    if addr is None:
        raise ValueError("%r is not an IPv4 address" % text)
    length = 32
    if slash:
        if not len_text.isdigit() or int(len_text) > 32:
            raise ValueError("%r has an invalid prefix length (0-32)" % text)
        length = int(len_text)
    prefix = Prefix(addr, length)
    if addr & ~prefix.mask & 0xFFFFFFFF:
        raise ValueError("%r has host bits set; did you mean %s?" % (text, Prefix(addr & prefix.mask, length)))
    return prefix


def ifname_matches(pattern, ifname):
    if pattern.endswith(WILDCARD):
        return ifname.startswith(pattern[:-1])
    return pattern == ifname


def check_ifname(name):
    """Return a sentence saying what is wrong with an interface name, or None."""
    if len(name) >= IFNAMSIZ:
        return "interface name %r is longer than 15 characters" % name
    if "/" in name or name in (".", ".."):
        return "%r is not a valid interface name" % name
    if WILDCARD in name[:-1] or name == WILDCARD:
        return "%r: the wildcard '+' may only end an interface name, as in eth+" % name
    return None


def _is_multicast(prefix):
    return prefix.addr >> 28 == 0xE and prefix.length >= 4


class _Line:
    """One tokenised line with the keywords it uses, for one directive parser."""

    def __init__(self, origin, words):
        self.origin = origin
        self.directive = words[0]
        self.words = words[1:]
        self.errors = []

    def error(self, sentence):
        self.errors.append("%s: %s" % (self.origin, sentence))

    def keywords(self, single, flags=(), tail=None, positional=0):
        """Split the words into {keyword: value}; ``tail`` keyword takes the rest of the line."""
        found = {}
        words = self.words
        position = 0
        while position < min(positional, len(words)):
            found.setdefault("_positional", []).append(words[position])
            position += 1
        while position < len(words):
            word = words[position]
            if word in found:
                self.error("'%s' is given twice" % word)
            if word == tail:
                found[word] = words[position + 1:]
                break
            if word in flags:
                found[word] = True
                position += 1
            elif word in single:
                if position + 1 >= len(words):
                    self.error("'%s' needs a value" % word)
                    break
                found[word] = words[position + 1]
                position += 2
            else:
                expected = sorted(set(single) | set(flags) | ({tail} if tail else set()))
                self.error("unknown keyword '%s' in %s (expected one of: %s)" % (word, self.directive, ", ".join(expected)))
                break  # the rest of the line cannot be read reliably; one clear error is enough
        return found


class Parser:
    """Reads files (following includes) and collects directives, errors and warnings.

    ``overrides`` maps file paths to the text they are about to have (None: about to be
    removed); they are read instead of the disk, and found by include patterns even before
    they exist, so a drop-in can be validated within the whole configuration before it is
    written.
    """

    def __init__(self, overrides=None, known_lines=None):
        self.overrides = dict((os.path.realpath(path), text) for path, text in (overrides or {}).items())
        self.known_lines = known_lines or {}  # from the previous load: a reload re-parses only changed lines
        self.lines = {}
        self.phyints = {}
        self.mroutes = []
        self.mgroups = []
        self.files = []
        self.errors = []
        self.warnings = []
        self._stack = []
        self._names = {}  # interface name -> (the one shared string, problem or None)

    # -- reading ---------------------------------------------------------------------------
    def read_file(self, path, origin=None):
        real = os.path.realpath(path)
        if real in self._stack:
            self._fail(origin, "include loop: %s includes itself" % path)
            return
        if len(self._stack) >= MAX_INCLUDE_DEPTH:
            self._fail(origin, "includes nested deeper than %d levels at %s" % (MAX_INCLUDE_DEPTH, path))
            return
        try:
            lines = self._read(path, real)
        except (OSError, UnicodeDecodeError) as exc:
            self._fail(origin, "cannot read configuration %s: %s" % (path, getattr(exc, "strerror", None) or exc))
            return
        self.files.append(path)
        self._stack.append(real)
        try:
            self._read_lines(lines, path)
        finally:
            self._stack.pop()

    def _read(self, path, real):
        """The file's lines (a list of lines holds 10,000 routes in far less memory than text + copies)."""
        if real in self.overrides:
            if self.overrides[real] is None:
                raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
            return self.overrides[real].splitlines(True)
        with open(path, encoding="utf-8") as handle:
            return handle.readlines()

    def _glob(self, pattern):
        """Files an include pattern names, with the overrides as they are about to be."""
        paths = set(path for path in glob.glob(pattern) if os.path.isfile(path))
        directory = os.path.dirname(pattern)
        for real, text in self.overrides.items():
            candidate = os.path.join(directory, os.path.basename(real))
            if os.path.realpath(candidate) != real or not fnmatch.fnmatch(candidate, pattern):
                continue
            if text is None:
                paths.discard(candidate)
            else:
                paths.add(candidate)
        return sorted(paths)

    def read_text(self, text, filename="<config>"):
        self._read_lines(text.splitlines(True), filename)

    def _read_lines(self, lines, filename):
        handlers = {
            "phyint": self._phyint,
            "mroute": self._mroute,
            "mgroup": self._mgroup,
            "ssmgroup": self._mgroup,  # smcroute's compatibility spelling of mgroup
            "include": self._include,
        }
        for number, raw in enumerate(lines, 1):
            known = self.known_lines.get(raw)
            if known is not None:
                self._reuse(known, raw, filename, number)
                continue
            text = raw.split("#", 1)[0] if "#" in raw else raw
            words = text.split()
            if not words:
                continue
            line = _Line(Origin(filename, number), words)
            handler = handlers.get(line.directive)
            if handler is None:
                line.error("unknown directive '%s' (expected phyint, mroute, mgroup or include)" % line.directive)
            elif ":" in text and line.directive != "include":
                self.warnings.append("%s: IPv6 line ignored: mcastd routes IPv4 only" % (line.origin,))
            else:
                handler(line)
                self._remember(line, raw)
            self.errors.extend(line.errors)

    def _reuse(self, route, raw, filename, number):
        """An unchanged mroute line: the route parsed last time, at its new place."""
        if route.origin.line != number or route.origin.file != filename:
            route = route._replace(origin=Origin(filename, number))
        self.mroutes.append(route)
        self.lines[raw] = route

    def _remember(self, line, raw):
        # Only lines that parsed cleanly on their own; cross-line checks run again in finish().
        if line.directive == "mroute" and not line.errors and self.mroutes and self.mroutes[-1].origin is line.origin:
            self.lines[raw] = self.mroutes[-1]

    def _fail(self, origin, sentence):
        self.errors.append("%s: %s" % (origin, sentence) if origin else sentence)

    # -- directives ------------------------------------------------------------------------
    def _phyint(self, line):
        found = line.keywords(("ttl-threshold",), flags=("enable", "disable", "mrdisc"), positional=1)
        if line.errors:
            return
        names = found.get("_positional")
        if not names or names[0] in ("enable", "disable", "mrdisc", "ttl-threshold"):
            line.error("phyint needs an interface name: phyint IFNAME [enable|disable] [ttl-threshold N]")
            return
        ifname = self._ifname(line, names[0])
        if found.get("enable") and found.get("disable"):
            line.error("phyint %s says both enable and disable" % ifname)
        threshold = 1
        if "ttl-threshold" in found:
            text = found["ttl-threshold"]
            if not text.isdigit() or not 1 <= int(text) <= 255:
                line.error("ttl-threshold must be a number from 1 to 255, not %r" % text)
            else:
                threshold = int(text)
        if found.get("mrdisc"):
            self.warnings.append("%s: mrdisc (RFC 4286 announcements) is accepted but not sent by mcastd" % (line.origin,))
        phyint = Phyint(ifname, not found.get("disable"), threshold, bool(found.get("mrdisc")), line.origin)
        previous = self.phyints.get(ifname)
        if previous and previous.settings() != phyint.settings():
            line.error("phyint %s conflicts with the one at %s" % (ifname, previous.origin))
        elif not line.errors:
            self.phyints.setdefault(ifname, phyint)

    def _endpoints(self, line, found):
        """Common part of mroute and mgroup: from, source, group."""
        iif = found.get("from")
        if iif is None:
            line.error("%s needs 'from IFNAME'" % line.directive)
        else:
            iif = self._ifname(line, iif)
        group = self._address(line, found.get("group"), "group")
        source = self._address(line, found.get("source"), "source")
        if group is not None and not _is_multicast(group):
            line.error("group %s is not a multicast address (multicast groups are in 224.0.0.0/4)" % (group,))
            group = None
        if source is not None and source.length and _is_multicast(source):
            line.error("source %s is a multicast address; a source is the unicast address of a sender" % (source,))
            source = None
        if source is not None and source.addr == 0 and source.length in (0, 32):
            source = None  # smcroute: source 0.0.0.0 means any source
        return iif, source, group

    def _address(self, line, text, what):
        if text is None:
            if what == "group":
                line.error("%s needs 'group GROUP[/LEN]'" % line.directive)
            return None
        try:
            return parse_prefix(text)
        except ValueError as exc:
            line.error("%s %s" % (what, exc))
            return None

    def _mroute(self, line):
        found = line.keywords(("from", "source", "group"), tail="to")
        if line.errors:
            return
        iif, source, group = self._endpoints(line, found)
        oifs = found.get("to")
        if not oifs:
            line.error("mroute needs at least one output interface: ... to OIF [OIF ...]")
            return
        oifs = tuple(self._ifname(line, oif) for oif in oifs)
        if len(set(oifs)) != len(oifs):
            line.error("an output interface is listed twice: %s" % " ".join(oifs))
        if iif is not None and iif in oifs:
            line.error("input interface %s is also an output; the kernel never forwards a packet back out of "
                       "the interface it came in on" % iif)
        if group is not None and group.within(LINK_LOCAL):
            line.error("group %s is link-local (224.0.0.0/24): the kernel never routes these groups, "
                       "whatever route is set" % (group,))
        if line.errors or iif is None or group is None:
            return
        self.mroutes.append(Mroute(iif, source, group, oifs, line.origin))

    def _mgroup(self, line):
        found = line.keywords(("from", "source", "group"))
        if line.errors:
            return
        ifname, source, group = self._endpoints(line, found)
        if line.errors or ifname is None or group is None:
            return
        mgroup = Mgroup(ifname, source, group, line.origin)
        if mgroup.count() > MAX_GROUP_JOINS:
            line.error("mgroup expands to more than %d group joins; use shorter prefixes" % MAX_GROUP_JOINS)
            return
        self.mgroups.append(mgroup)

    def _include(self, line):
        if len(line.words) != 1:
            line.error("include takes exactly one path or glob pattern")
            return
        pattern = line.words[0]
        if not os.path.isabs(pattern):
            pattern = os.path.join(os.path.dirname(line.origin.file), pattern)
        paths = self._glob(pattern)
        if not glob.has_magic(pattern) and not paths and not os.path.isdir(pattern):
            line.error("include: %s does not exist" % pattern)
            return
        for path in paths:
            self.read_file(path, line.origin)

    def _ifname(self, line, name):
        """Check an interface name once, and share one string per name (10,000 routes, 3 names)."""
        known = self._names.get(name)
        if known is None:
            known = self._names[name] = (name, check_ifname(name))
        if known[1]:
            line.error(known[1])
        return known[0]

    # -- whole-configuration checks ----------------------------------------------------------
    def finish(self):
        """Cross-line validation, then the Config or a ConfigError with every problem."""
        self._check_duplicates()
        self._check_disabled()
        self._check_vif_limit()
        if self.errors:
            raise ConfigError(self.errors, self.warnings)
        return Config(self.phyints, self.mroutes, self.mgroups, self.files, self.warnings, self.lines)

    def _check_duplicates(self):
        # The kernel keys (S,G) entries by source and group only, whatever the input interface.
        seen = {}
        unique = []
        for route in self.mroutes:
            key = (route.source, route.group) if not route.is_template else (route.iif, route.source, route.group)
            previous = seen.get(key)
            if previous is None:
                seen[key] = route
                unique.append(route)
            elif (previous.iif, previous.oifs) != (route.iif, route.oifs):
                self.errors.append("%s: %s conflicts with %s at %s" % (
                    route.origin, route.to_line(), previous.to_line(), previous.origin))
            else:
                self.warnings.append("%s: duplicate of the mroute at %s, ignored" % (route.origin, previous.origin))
        self.mroutes = unique

    def _check_disabled(self):
        for route in self.mroutes:
            for name in (route.iif,) + route.oifs:
                phyint = self.phyints.get(name)
                if phyint is not None and not phyint.enable:
                    self.errors.append("%s: mroute uses %s, which 'phyint %s disable' at %s keeps from routing" % (
                        route.origin, name, name, phyint.origin))

    def _check_vif_limit(self):
        names = Config(self.phyints, self.mroutes).vif_names()
        fixed = [name for name in names if not name.endswith(WILDCARD)]
        if len(fixed) > MAX_VIFS:
            self.errors.append("the kernel offers %d VIFs but the configuration routes %d interfaces; "
                               "left out: %s" % (MAX_VIFS, len(fixed), ", ".join(fixed[MAX_VIFS:])))


def load(path, overrides=None, previous=None):
    """Read and validate a configuration file (and its includes); raises ConfigError.

    ``overrides``: {path: text or None} for files about to be written or removed (see Parser).
    ``previous``: the Config loaded before (a reload): its unchanged mroute lines are not parsed again.
    """
    parser = Parser(overrides, previous.known_lines if previous is not None else None)
    parser.read_file(path)
    return parser.finish()


def parse_text(text, filename="<config>"):
    """Validate configuration text, e.g. a drop-in a module is about to write."""
    parser = Parser()
    parser.read_text(text, filename)
    return parser.finish()


def parse_mroute(text):
    """Parse one ``mroute ...`` line; returns an Mroute or raises ConfigError."""
    config = parse_text(text, "<mroute>")
    if len(config.mroutes) != 1 or config.phyints or config.mgroups:
        raise ConfigError(["<mroute>: expected exactly one mroute line"])
    return config.mroutes[0]
