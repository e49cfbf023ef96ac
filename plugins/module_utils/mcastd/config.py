# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mcastd configuration grammar: smcroute.conf, parsed and validated.

Directives (smcroute's, unchanged in meaning)::

    phyint IFNAME [enable|disable] [mrdisc] [ttl-threshold 1-255]
    mroute from IIF [source ADDR[/LEN]] group GROUP[/LEN] [to OIF [OIF ...]]
    mgroup from IIF [source ADDR[/LEN]] group GROUP[/LEN]
    include GLOB
    # comment

Addresses are IPv4 or IPv6 (smcroute 2.6 reads both): a route's family is its group's, and its
source must be of the same family.  Keywords of a line may come in any order, as smcroute
accepts them.  Interface names may end in ``+`` (``eth+`` matches eth0, eth10, ...).  Every problem is
reported as ``FILE:LINE: sentence`` and all of them are collected before the
configuration is refused, so one ``--check`` run shows everything to fix.

What smcroute 2.6 accepts keeps its meaning, with a warning where the meaning may
surprise: host bits of a prefix are cleared (smcroute masks them when it matches
and iterates a range from the network address), an output equal to the input is
kept (the kernel sends a copy back out), an mroute without outputs drops what it
matches, lines for the same route are merged into the union of their outputs,
and a word that begins with a keyword is read as that keyword.

mcastd's own additions (issue 9: parsed and validated here; smcroute has none of them)::

    phyint IFNAME [enable] querier [igmpv2|igmpv3] [mldv1|mldv2] [address A.B.C.D]
    igmp [query-interval S] [query-response-interval S] [robustness N]
         [last-member-interval S] [startup-query-interval S]
    mroute ... to OIF [OIF ...] if-joined

A querier queries IGMP (IGMPv3 unless igmpv2) from the address given or the interface's lowest
IPv4 address, and MLD (MLDv2 unless mldv1, issue 10) from the interface's lowest link-local IPv6
address wherever it has one; the igmp line's timers are used by both (MLD's are the same).
They are not prefix-matched as smcroute's keywords are (smcroute does not know them,
so no existing file spells them loosely).  Two igmp lines are merged when they agree
and refused when they give one setting two values (as two phyint lines are): a
silent "last one wins" would hide the line that is not in force.  ``if-joined`` is a
keyword only where it ends a route's outputs (or stands before ``to``): an output
interface literally named if-joined cannot be routed to (one as input still can).

This module is pure (no sockets, no pyroute2): Ansible modules import it to
validate and render routes with exactly the daemon's grammar.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import errno
import fnmatch
import glob
import io
import os
import re
import socket
from collections import namedtuple

from .linux import MAX_U32, WILDCARD, name_matches, pattern_problem

MAX_VIFS = 32  # MAXVIFS in linux/mroute.h
MAX_GROUP_JOINS = 4096  # refuse mgroup prefixes that would expand past this
MAX_INCLUDE_DEPTH = 8


class Origin(namedtuple("Origin", "file line")):
    """Where a directive was read: kept for error messages and ``show`` output."""

    __slots__ = ()

    def __str__(self):
        return "%s:%d" % (self.file, self.line)


MASKS = tuple((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF for length in range(33))
MASKS6 = tuple(((1 << 128) - 1) ^ ((1 << (128 - length)) - 1) for length in range(129))


class Prefix(namedtuple("Prefix", "addr length")):
    """An IPv4 address or prefix as integers: cheap to parse, hash and compare."""

    __slots__ = ()
    BITS = 32
    family = 4

    @property
    def mask(self):
        return MASKS[self.length]

    @property
    def is_host(self):
        return self.length == self.BITS

    def contains(self, addr):
        return (addr & self.mask) == self.addr

    def within(self, other):
        """True if every address of this prefix lies inside ``other`` (of the same family)."""
        return self.length >= other.length and other.contains(self.addr)

    def addresses(self):
        return range(self.addr, self.addr + (1 << (self.BITS - self.length)))

    def __str__(self):
        text = ntop(self.addr, self.family)
        return text if self.length == self.BITS else "%s/%d" % (text, self.length)


class Prefix6(Prefix):
    """An IPv6 address or prefix as integers; a separate type, so ::1.2.3.4 is never taken for 1.2.3.4."""

    __slots__ = ()
    BITS = 128
    family = 6

    @property
    def mask(self):
        return MASKS6[self.length]


MULTICAST = Prefix(0xE0000000, 4)  # linux.MULTICAST_PREFIXES[4] (a unit test holds them equal)
LINK_LOCAL = Prefix(0xE0000000, 24)  # linux.LINK_LOCAL_GROUPS_IPV4, never forwarded by the kernel
MULTICAST6 = Prefix6(0xFF << 120, 8)  # linux.MULTICAST_PREFIXES[6]


def group_family(group):
    """The family of a multicast group given as an integer: every IPv6 group begins with ff, far above 2**32."""
    return 6 if group > MAX_U32 else 4


def scope6(group):
    """The scope nibble of an IPv6 multicast group (RFC 4291 2.7): 1 interface-, 2 link-local, 5 site, 14 global."""
    return (group >> 112) & 0xF


PHYINT_FIELDS = "ifname enable threshold mrdisc origin querier querier_address mld"  # new ones last, with defaults


class Phyint(namedtuple("Phyint", PHYINT_FIELDS, defaults=(None, None, None))):
    """``phyint``: whether an interface may get a VIF, its TTL threshold, and its IGMP and MLD querier.

    ``querier`` is None (no querier), 2 or 3 (the IGMP version queried with);
    ``querier_address`` is None (the daemon picks one of the interface's addresses) or
    the integer address given with ``address``; ``mld`` is the MLD version (1 or 2) the
    querier queries with where the interface has an IPv6 link-local address (None without a
    querier: a querier line always queries both families).
    """

    __slots__ = ()

    def settings(self):
        return (self.enable, self.threshold, self.mrdisc, self.querier, self.querier_address, self.mld)


class Mroute(namedtuple("Mroute", "iif source group oifs origin if_joined", defaults=(False,))):
    """``mroute``: forward (source, group) arriving on ``iif`` out of ``oifs``.

    ``source`` is None for any source.  An (S,G) route has a host source and a
    host group; everything else is a template matched against new flows.
    ``if_joined``: forward to each output only while it has listeners (issue 9).
    """

    __slots__ = ()

    @property
    def is_template(self):
        """Matched against new flows; a wildcard input too, since the kernel needs one input per (S,G)."""
        source = self.source  # plain attribute reads: this runs for every route of every load
        group = self.group
        return source is None or source.length != group.BITS or group.length != group.BITS or self.iif[-1:] == WILDCARD

    @property
    def family(self):
        return self.group.family

    def matches(self, ifname, source, group):
        """True if a flow (source, group) arriving on ``ifname`` fits this route."""
        if not name_matches(self.iif, ifname) or not self.group.contains(group):
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
        words += ["group", str(self.group)]
        if self.oifs:  # no outputs: smcroute's spelling of a route that drops what it matches
            words += ["to"] + list(self.oifs)
        if self.if_joined:
            words.append(IF_JOINED)
        return " ".join(words)


class Mgroup(namedtuple("Mgroup", "ifname source group origin")):
    """``mgroup``: join ``group`` (from ``source`` only, if given) on an interface."""

    __slots__ = ()

    def count(self):
        """How many joins the prefixes expand to, without expanding them."""
        bits = self.group.BITS
        sources = 1 if self.source is None else 1 << (bits - self.source.length)
        return sources << (bits - self.group.length)

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

    def __init__(self, phyints=None, mroutes=None, mgroups=None, files=None, warnings=None, known_lines=None,
                 igmp=None):
        self.phyints = phyints or {}
        self.igmp = igmp if igmp is not None else make_timers({})  # querier.Timers: the RFC defaults
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

    def vif_names(self, family=4):
        """Interface names and patterns that need a VIF (family 4) or a MIF (6), in order of first mention.

        An enabled phyint gets both, as in smcroute: routes of either family may come at run time.
        """
        names = {}
        for phyint in self.phyints.values():
            if phyint.enable:
                names.setdefault(phyint.ifname, None)
        for route in self.mroutes:
            if route.group.family != family:
                continue
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


def ntop(addr, family):
    """An integer address of ``family`` (4 or 6) as text."""
    if family == 4:
        return socket.inet_ntoa(addr.to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, addr.to_bytes(16, "big"))


def address_text(addr):
    """An address of either family as text, told by its value: what a querier holds (IPv4 addresses, and IPv6
    link-local, global and multicast ones) never lies in ::/96, where an IPv6 address would read as IPv4."""
    return ntop(addr, 6 if addr > MAX_U32 else 4)


def group_text(group):
    """A multicast group integer as text, its family told by its value (group_family)."""
    return ntop(group, group_family(group))


def aton(text):
    """Dotted quad to integer; None unless it is exactly four decimal octets (inet_pton, as smcroute)."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):  # ValueError: an embedded NUL character
        return None


def split_lines(text):
    """Lines as reading a file splits them (\\n, \\r\\n or \\r), so FILE:LINE is the same for text and file."""
    return io.StringIO(text, newline=None).readlines()


def decimal(text):
    """A plain decimal number (ASCII digits only) as int, or None."""
    if text.isascii() and text.isdigit():
        return int(text)
    return None


def aton6(text):
    """IPv6 text to integer; None unless inet_pton takes it (as smcroute reads it)."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):
        return None


def read_prefix(text):
    """``A.B.C.D[/LEN]`` or ``X:X::X[/LEN]`` to (Prefix or Prefix6 with host bits cleared, the address as
    written); raises ValueError.

    smcroute keeps the host bits and masks them wherever it matches, and iterates a join
    range from the network address: clearing them here means the same.
    """
    addr_text, slash, len_text = text.partition("/")
    if ":" in addr_text:
        kind, addr, masks, name = Prefix6, aton6(addr_text), MASKS6, "IPv6"
    else:
        kind, addr, masks, name = Prefix, aton(addr_text), MASKS, "IPv4"
    if addr is None:
        raise ValueError("%r is not an %s address" % (text, name))
    length = kind.BITS
    if slash:
        length = decimal(len_text)
        if length is None or length > kind.BITS:
            raise ValueError("%r has an invalid prefix length (0-%d)" % (text, kind.BITS))
    return kind(addr & masks[length], length), addr


def parse_prefix(text):
    """``A.B.C.D[/LEN]`` or an IPv6 prefix to a Prefix (Prefix6) with host bits cleared; raises ValueError."""
    return read_prefix(text)[0]


def check_ifname(name):
    """Return a sentence saying what is wrong with an interface name or pattern of a directive, or None."""
    if name == WILDCARD:
        return ("'+' alone would match every interface (lo included) and use up the %d VIFs: "
                "name the interfaces, or a prefix such as eth+" % MAX_VIFS)
    return pattern_problem(name)


def prefixed_keyword(word, keywords):
    """The keyword ``word`` begins with, or None: smcroute compares only a keyword's length of each word."""
    for keyword in keywords:
        if word.startswith(keyword):
            return keyword
    return None


def _is_multicast(prefix):
    if prefix.family == 6:
        return prefix.addr >> 120 == 0xFF and prefix.length >= 8
    return prefix.addr >> 28 == 0xE and prefix.length >= 4


def never_routed(group):
    """Why the kernel never forwards a group (Prefix or Prefix6), or None: it accepts such entries all the same."""
    if group.family == 4:
        if group.within(LINK_LOCAL):
            return ("group %s is link-local (224.0.0.0/24): the kernel never routes these groups, whatever route "
                    "is set; send the stream to a routable group (e.g. in 239.0.0.0/8) with a TTL above 1" % (group,))
        return None
    if group.length >= 16 and scope6(group.addr) in (1, 2):
        scope = "interface-local" if scope6(group.addr) == 1 else "link-local"
        return ("group %s has %s scope (scope %d: ff0%d::/16, or the same scope with flags, as ff1%d:: or ff3%d::): "
                "the kernel accepts the route and never forwards it; send the stream to a group of wider scope, "
                "such as ff05:: (site) or ff0e:: (global), with a hop limit above 1"
                % (group, scope, scope6(group.addr), scope6(group.addr), scope6(group.addr), scope6(group.addr)))
    return None


# smcroute matches these in this order, each against the beginning of a word (conf.c, match())
DIRECTIVES = ("mgroup", "ssmgroup", "mroute", "phyint", "include")
KEYWORD_ORDER = ("from", "source", "group", "to", "enable", "disable", "mrdisc", "ttl-threshold")
# mcastd's own words (issue 9): matched whole, never by prefix
IF_JOINED = "if-joined"
QUERIER_FLAGS = ("querier", "igmpv2", "igmpv3", "mldv1", "mldv2")
IGMP_SECONDS = ("query-interval", "query-response-interval", "last-member-interval", "startup-query-interval")
IGMP_KEYWORDS = IGMP_SECONDS + ("robustness",)
IGMP_DEFAULTS = ("query-interval 125, query-response-interval 10, robustness 2, last-member-interval 1, "
                 "startup-query-interval a quarter of query-interval")
SECONDS = re.compile(r"\A[0-9]{1,9}(\.[0-9]{1,6})?\Z")
LINK_LOCAL_UNICAST = Prefix(0xA9FE0000, 16)  # 169.254.0.0/16
LOOPBACK = Prefix(0x7F000000, 8)


def make_timers(values):
    """A querier.Timers from {igmp keyword: value}; raises ValueError with a sentence."""
    # Imported here: querier imports this module (ntoa), and this grammar must stay importable alone.
    from .querier import Timers  # pylint: disable=import-outside-toplevel
    return Timers(**dict((keyword.replace("-", "_"), value) for keyword, value in values.items()))


def unicast_problem(addr):
    """Why the integer ``addr`` cannot be a querier's source address, or None."""
    text = ntoa(addr)
    if addr == 0:
        return "0.0.0.0 is no address: hosts with rp_filter and snooping switches ignore queries from it"
    if addr >> 28 == 0xE:
        return "%s is a multicast group, not an interface address" % text
    if addr >> 28 == 0xF:
        return "%s is a reserved or broadcast address, not an interface address" % text
    if LOOPBACK.contains(addr):
        return "%s is a loopback address, never seen on a network" % text
    if LINK_LOCAL_UNICAST.contains(addr):
        return ("%s is link-local (169.254/16): hosts with rp_filter drop queries from it while they have a real "
                "address" % text)
    return None


def querier_address_problem(address, interface_prefixes):
    """Why ``address`` (integer, None: pick one) cannot be the querier's source on an interface, or None.

    ``interface_prefixes``: the interface's IPv4 addresses as (addr, prefixlen) integers.
    The source must be one configured on the interface, and never 0.0.0.0 or 169.254/16
    while a real address exists: hosts with rp_filter drop queries from a source they
    would not route back to the same interface (mcd's queriers at 1.0.0.0 were dropped so).
    """
    usable = [(addr, length) for addr, length in interface_prefixes if addr]
    real = [(addr, length) for addr, length in usable if not LINK_LOCAL_UNICAST.contains(addr)]
    if not usable:
        return "the interface has no IPv4 address to send queries from: give it one"
    if address is None:
        return None
    listed = ", ".join("%s/%d" % (ntoa(addr), length) for addr, length in usable)
    problem = unicast_problem(address)
    if problem is not None and not (LINK_LOCAL_UNICAST.contains(address) and not real):
        return "%s; use one of the interface's addresses (%s)" % (problem, listed)
    if any(addr == address for addr, _length in usable):
        return None
    subnets = [Prefix(addr & MASKS[length], length) for addr, length in usable]
    if not any(subnet.contains(address) for subnet in subnets):
        return ("%s is not on the interface's subnet (%s): hosts with rp_filter drop queries from a source they "
                "would not route back through this interface; use one of %s"
                % (ntoa(address), ", ".join(str(subnet) for subnet in subnets), listed))
    return ("%s is on the interface's subnet but not configured on it: another host may own it and win or lose "
            "the election in its name; use one of %s, or add the address to the interface" % (ntoa(address), listed))


def querier_source(interface_prefixes):
    """The address a querier without ``address`` sends from: the lowest real one (link-local only if alone)."""
    usable = sorted(addr for addr, _length in interface_prefixes if addr)
    real = [addr for addr in usable if not LINK_LOCAL_UNICAST.contains(addr)]
    return (real or usable or [None])[0]


class _Line:
    """One tokenised line with the keywords it uses, for one directive parser."""

    def __init__(self, origin, words):
        self.origin = origin
        self.directive = words[0]
        self.words = words[1:]
        self.errors = []
        self.warnings = []

    def error(self, sentence):
        self.errors.append("%s: %s" % (self.origin, sentence))

    def warn(self, sentence):
        self.warnings.append("%s: %s" % (self.origin, sentence))

    def read_as(self, word, keyword):
        self.warn("'%s' read as '%s', as smcroute reads a word that begins with a keyword; write '%s'"
                  % (word, keyword, keyword))

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
            if word not in single and word not in flags and word != tail:
                word = self._keyword(word, single, flags, tail)
                if word is None:
                    break  # the rest of the line cannot be read reliably; one clear error is enough
            if word in found:
                self.error("'%s' is given twice; smcroute silently uses the last one, mcastd does not guess: "
                           "give it once" % word)
            if word == tail:
                found[word] = words[position + 1:]
                break
            if word in flags:
                found[word] = True
                position += 1
            else:
                if position + 1 >= len(words):
                    self.error("'%s' needs a value" % word)
                    break
                found[word] = words[position + 1]
                position += 2
        return found

    def _keyword(self, word, single, flags, tail):
        """The keyword an unknown word stands for (it begins with one), or None after an error."""
        known = [keyword for keyword in KEYWORD_ORDER if keyword in single or keyword in flags or keyword == tail]
        keyword = prefixed_keyword(word, known)
        if keyword is not None:
            self.read_as(word, keyword)
            return keyword
        expected = set(single) | set(flags) | set([tail] if tail else [])
        self.error("unknown keyword '%s' in %s (expected one of: %s); smcroute would skip it silently, which "
                   "can change what the line means" % (word, self.directive, ", ".join(sorted(expected))))
        return None


class Parser:
    """Reads files (following includes) and collects directives, errors and warnings.

    ``overrides`` maps file paths to the text they are about to have (None: about to be
    removed); they are read instead of the disk, and found by include patterns even before
    they exist, so a drop-in can be validated within the whole configuration before it is
    written.

    ``overflow``: outputs beyond the kernel's VIFs can be copied by nftables (mcastd found nft), so
    more than MAX_VIFS interfaces per family are fine; without it they are refused.
    """

    def __init__(self, overrides=None, known_lines=None, overflow=False):
        self.overflow = overflow
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
        self._joins = {}  # (interface, source, group) -> the first mgroup line for it
        self._igmp = {}  # igmp keyword -> (value, Origin of the line that gave it)

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
            return split_lines(self.overrides[real])
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
        self._read_lines(split_lines(text), filename)

    def _read_lines(self, lines, filename):
        handlers = {
            "phyint": self._phyint,
            "mroute": self._mroute,
            "mgroup": self._mgroup,
            "ssmgroup": self._mgroup,  # smcroute's compatibility spelling of mgroup
            "include": self._include,
            "igmp": self._igmp_line,
        }
        for number, raw in enumerate(lines, 1):
            # Taken out of the previous load's cache as it is reused: the old lines are freed while the
            # new ones are read, so a reload of 10,000 routes never holds both (a line repeated is
            # simply parsed again; a refused load leaves a smaller cache, so the next one parses more).
            known = self.known_lines.pop(raw, None)
            if known is not None:
                self._reuse(known, raw, filename, number)
                continue
            text = raw.split("#", 1)[0] if "#" in raw else raw
            words = text.split()
            if not words:
                continue
            line = _Line(Origin(filename, number), words)
            handler = handlers.get(line.directive) or self._prefixed_directive(line, handlers)
            if handler is None:
                line.error("unknown directive '%s' (expected phyint, mroute, mgroup, igmp or include)" % line.directive)
            else:
                handler(line)
                self._remember(line, raw)
            self.errors.extend(line.errors)
            self.warnings.extend(line.warnings)

    @staticmethod
    def _prefixed_directive(line, handlers):
        directive = prefixed_keyword(line.directive, DIRECTIVES)
        if directive is None:
            return None
        line.read_as(line.directive, directive)
        line.directive = directive
        return handlers[directive]

    def _reuse(self, route, raw, filename, number):
        """An unchanged mroute line: the route parsed last time, at its new place."""
        if route.origin.line != number or route.origin.file != filename:
            route = route._replace(origin=Origin(filename, number))
        self.mroutes.append(route)
        self.lines[raw] = route

    def _remember(self, line, raw):
        # Only lines that parsed cleanly and quietly on their own (a reused line repeats no warning);
        # cross-line checks and merges run again in finish().
        if line.directive == "mroute" and not line.errors and not line.warnings and self.mroutes \
                and self.mroutes[-1].origin is line.origin:
            self.lines[raw] = self.mroutes[-1]

    def _fail(self, origin, sentence):
        self.errors.append("%s: %s" % (origin, sentence) if origin else sentence)

    # -- directives ------------------------------------------------------------------------
    def _phyint(self, line):
        found = line.keywords(("ttl-threshold", "address"), flags=("enable", "disable", "mrdisc") + QUERIER_FLAGS,
                              positional=1)
        if line.errors:
            return
        names = found.get("_positional")
        if not names or names[0] in ("enable", "disable", "mrdisc", "ttl-threshold", "address") + QUERIER_FLAGS:
            line.error("phyint needs an interface name: phyint IFNAME [enable|disable] [ttl-threshold N]")
            return
        ifname = self._ifname(line, names[0])
        if found.get("enable") and found.get("disable"):
            line.error("phyint %s says both enable and disable" % ifname)
        threshold = 1
        if "ttl-threshold" in found:
            threshold = decimal(found["ttl-threshold"])
            if threshold is None or not 1 <= threshold <= 255:
                line.error("ttl-threshold must be a number from 1 to 255, not %r" % found["ttl-threshold"])
        querier, querier_address = self._querier(line, ifname, found)
        mld = None
        if querier:
            if found.get("mldv1") and found.get("mldv2"):
                line.error("phyint %s says both mldv1 and mldv2: give the one MLD version to query with" % ifname)
            mld = 1 if found.get("mldv1") else 2
        if line.errors:
            return
        phyint = Phyint(ifname, not found.get("disable"), threshold, bool(found.get("mrdisc")), line.origin,
                        querier, querier_address, mld)
        previous = self.phyints.get(ifname)
        if previous is None:
            self.phyints[ifname] = phyint
        elif previous.settings() != phyint.settings():
            line.error("phyint %s conflicts with the one at %s: give each interface one phyint line "
                       "(smcroute applies them one after the other, the last one winning only in part)"
                       % (ifname, previous.origin))
        else:
            line.warn("duplicate of the phyint at %s, ignored" % (previous.origin,))

    @staticmethod
    def _querier(line, ifname, found):
        """(version or None, address or None) of ``querier [igmpv2|igmpv3] [address A]``."""
        if not found.get("querier"):
            for word in ("igmpv2", "igmpv3", "mldv1", "mldv2", "address"):
                if word in found:
                    line.error("'%s' belongs to the querier: write 'phyint %s querier %s%s'"
                               % (word, ifname, word, " A.B.C.D" if word == "address" else ""))
            return None, None
        if found.get("disable"):
            line.error("phyint %s says both disable and querier: a querier needs the interface; drop 'disable' "
                       "(or 'querier')" % ifname)
        if found.get("igmpv2") and found.get("igmpv3"):
            line.error("phyint %s says both igmpv2 and igmpv3: give the one version to query with" % ifname)
        version = 2 if found.get("igmpv2") else 3
        if "address" not in found:
            return version, None
        if ifname.endswith(WILDCARD):
            line.error("'address' names one interface's address, but %s matches several interfaces: write one "
                       "phyint line per interface, or leave out 'address' so each uses its own" % ifname)
            return version, None
        address = aton(found["address"])
        if address is None:
            line.error("querier address %r is not an IPv4 address: write it as A.B.C.D, without a prefix length"
                       % found["address"])
            return version, None
        problem = unicast_problem(address)
        if problem is not None:
            line.error("querier address: %s; give one of %s's own addresses, or leave out 'address'"
                       % (problem, ifname))
        return version, address

    def _igmp_line(self, line):
        found = line.keywords(IGMP_KEYWORDS)
        if line.errors:
            return
        if not found:
            line.error("igmp without settings: write e.g. 'igmp query-interval 125 robustness 2', or remove the line")
        for keyword in IGMP_KEYWORDS:
            if keyword not in found:
                continue
            value = self._igmp_value(line, keyword, found[keyword])
            if value is None:
                continue
            previous = self._igmp.get(keyword)
            if previous is None:
                self._igmp[keyword] = (value, line.origin)
            elif previous[0] != value:
                line.error("igmp %s %s conflicts with igmp %s %s at %s: give each setting one value"
                           % (keyword, found[keyword], keyword, _number(previous[0]), previous[1]))

    @staticmethod
    def _igmp_value(line, keyword, text):
        if keyword == "robustness":
            value = decimal(text)
            if value is None or not 1 <= value <= 255:
                line.error("igmp robustness must be a whole number from 1 to 255 (2 is the RFC default), not %r"
                           % text)
            return value if value is not None and 1 <= value <= 255 else None
        if not SECONDS.match(text):
            line.error("igmp %s takes seconds as a plain decimal number such as 125 or 0.5, not %r"
                       % (keyword, text))
            return None
        return float(text)

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
            line.error("group %s is not a multicast address (multicast groups are in 224.0.0.0/4, and in ff00::/8 "
                       "for IPv6)" % (group,))
            group = None
        if source is not None and source.length and _is_multicast(source):
            line.error("source %s is a multicast address; a source is the unicast address of a sender "
                       "(leave out 'source' for any sender)" % (source,))
            source = None
        if source is not None and group is not None and source.family != group.family:
            line.error("source %s and group %s are of different families: an IPv%d group needs an IPv%d source "
                       "(or none)" % (source, group, group.family, group.family))
            source = None
        return iif, source, group

    def _address(self, line, text, what):
        if text is None:
            if what == "group":
                line.error("%s needs 'group GROUP[/LEN]'" % line.directive)
            return None
        try:
            prefix, written = read_prefix(text)
        except ValueError as exc:
            line.error("%s %s" % (what, exc))
            return None
        if what == "source" and written == 0:
            if prefix.length not in (0, prefix.BITS):
                line.warn("source %s means any source, as in smcroute; leave out 'source'" % text)
            return None  # smcroute: source 0.0.0.0 (any length) is any source
        if prefix.length == 0:
            line.error(_zero_length(text, what))
            return None
        if what == "source" and prefix.addr == 0:
            zero = ntop(0, prefix.family)
            line.error("source %s is %s once its host bits are cleared, and %s/N reads as any source (in "
                       "smcroute too), so the line could not be written back as meant; leave out 'source' for any "
                       "sender, or list the senders as prefixes that do not start at %s" % (text, prefix, zero, zero))
            return None
        if written != prefix.addr:
            line.warn("%s %s has host bits set; used as %s" % (what, text, prefix))
        return prefix

    def _mroute(self, line):
        found = self._canonical_mroute(line.words)
        if found is None:
            found = line.keywords(("from", "source", "group"), flags=(IF_JOINED,), tail="to")
            if line.errors:
                return
        words = found.get("to") or ()
        if IF_JOINED in words:  # one test on the common path; the keyword is handled out of line
            words = self._if_joined_tail(line, found, words)
            if words is None:
                return
        iif, source, group = self._endpoints(line, found)
        oifs = self._outputs(line, words)
        if_joined = IF_JOINED in found
        if if_joined and not oifs:
            line.error("'if-joined' needs outputs to forward to while they have listeners: write "
                       "'to OIF [OIF ...] if-joined'")
        reason = None if group is None else never_routed(group)
        if reason is not None:
            line.error(reason)
        if line.errors or iif is None or group is None:
            return
        route = Mroute(iif, source, group, oifs, line.origin, if_joined)
        if oifs:
            self._check_loop(line, route)  # no outputs: said in finish(), as another line may add some
        self.mroutes.append(route)

    @staticmethod
    def _if_joined_tail(line, found, words):
        """The outputs without the ``if-joined`` that ends them (flag set in ``found``), or None after an error."""
        if words[-1] != IF_JOINED or IF_JOINED in words[:-1]:
            line.error("'if-joined' ends the line, after the outputs: write 'to %s if-joined'"
                       % " ".join(word for word in words if word != IF_JOINED))
            return None
        if found.get(IF_JOINED):
            line.error("'if-joined' is given twice; give it once, at the end of the line")
        found[IF_JOINED] = True
        return words[:-1]

    @staticmethod
    def _canonical_mroute(words):
        """The keywords of ``from IIF source S group G [to OIF ...]`` in this order, or None.

        The shape every generated configuration has (10,000-route files): read by position, it
        gives exactly what Line.keywords gives, in a fraction of the time.
        """
        if len(words) < 6 or words[0] != "from" or words[2] != "source" or words[4] != "group":
            return None
        found = {"from": words[1], "source": words[3], "group": words[5]}
        if len(words) > 6:
            if words[6] != "to":
                return None
            found["to"] = words[7:]
        return found

    def _outputs(self, line, words):
        oifs = tuple([self._ifname(line, oif) for oif in words])
        if len(oifs) > 1 and len(set(oifs)) != len(oifs):
            unique = tuple(sorted(set(oifs), key=oifs.index))
            line.warn("output %s listed more than once; used once" % ", ".join(
                name for name in unique if oifs.count(name) > 1))
            oifs = unique
        return oifs

    @staticmethod
    def _check_loop(line, route):
        """An output that may be the input: the kernel sends a copy back out of it (an (S,G) entry does)."""
        if route.iif not in route.oifs and not route.iif.endswith(WILDCARD):
            return
        for oif in route.oifs:
            if oif.endswith(WILDCARD):
                continue  # a wildcard output never includes the input (routes.TtlCache)
            if oif == route.iif or name_matches(route.iif, oif):
                line.warn(_loop_note(route, oif))
                return

    def _mgroup(self, line):
        found = line.keywords(("from", "source", "group"))
        if line.errors:
            return
        ifname, source, group = self._endpoints(line, found)
        if line.errors or ifname is None or group is None:
            return
        mgroup = Mgroup(ifname, source, group, line.origin)
        if mgroup.count() > MAX_GROUP_JOINS:
            line.error("mgroup expands to %d group joins, more than mcastd makes for one line (%d): split it "
                       "into narrower prefixes, or configure the switches to send the groups to the router "
                       "instead" % (mgroup.count(), MAX_GROUP_JOINS))
            return
        key = mgroup[:3]
        previous = self._joins.get(key)
        if previous is not None:
            line.warn("duplicate of the mgroup at %s, ignored" % (previous.origin,))
            return
        self._joins[key] = mgroup
        self.mgroups.append(mgroup)

    def _include(self, line):
        if len(line.words) != 1:
            line.error("include takes exactly one path or glob pattern (smcroute reads the first word "
                       "only); write one include line per path")
            return
        pattern = line.words[0]
        if not os.path.isabs(pattern):
            pattern = os.path.join(os.path.dirname(line.origin.file), pattern)
        paths = self._glob(pattern)
        if not glob.has_magic(pattern) and not paths and not os.path.isdir(pattern):
            line.error("include: %s does not exist; for a file that may be absent, write a pattern "
                       "(e.g. %s*) so that nothing matching is fine" % (pattern, pattern))
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
        self._merge_duplicates()
        self._check_disabled()
        self._check_if_joined()
        self._check_vif_limit()
        self._check_ipv6_thresholds()
        timers = self._timers()
        if self.errors:
            raise ConfigError(self.errors, self.warnings)
        return Config(self.phyints, self.mroutes, self.mgroups, self.files, self.warnings, self.lines, timers)

    def _timers(self):
        """querier.Timers from the igmp lines; a relation they break is reported at the line that set it."""
        try:
            return make_timers(dict((keyword, value) for keyword, (value, _origin) in self._igmp.items()))
        except ValueError as exc:
            sentence = str(exc)
            named = re.findall(r"(?<![\w-])(%s)(?![\w-])" % "|".join(IGMP_KEYWORDS), sentence)
            origins = [self._igmp[keyword][1] for keyword in named if keyword in self._igmp]
            origins = origins or [origin for _value, origin in self._igmp.values()]
            origin = max(origins, key=lambda where: (self.files.index(where.file) if where.file in self.files
                                                     else -1, where.line))
            self.errors.append("%s: igmp: %s; change the igmp line so the values fit (the RFC defaults stand for "
                               "what it leaves out: %s)" % (origin, sentence, IGMP_DEFAULTS))
            return None

    def _check_if_joined(self):
        """An if-joined output sees listeners only where a querier tracks them: say where none ever will."""
        queriers = [phyint.ifname for phyint in self.phyints.values() if phyint.querier]
        for route in self.mroutes:
            if not route.if_joined:
                continue
            blind = [oif for oif in route.oifs if not any(_covers(name, oif) for name in queriers)]
            if blind:
                self.warnings.append(
                    "%s: if-joined forwards to an output only while it has listeners, and mcastd sees listeners "
                    "only on interfaces with a querier: nothing will ever be forwarded to %s unless you add %s"
                    % (route.origin, ", ".join(blind), " and ".join("'phyint %s querier'" % oif for oif in blind)))

    def _merge_duplicates(self):
        """Lines for one kernel entry (or one template) become one route with the union of their outputs.

        smcroute's mroute_add_route does the same.  Only one (S,G) with two inputs is a
        contradiction: the kernel keys (S,G) entries by source and group, with one input.
        """
        seen = {}
        merged = []
        stops = []  # indexes of routes without outputs, until a later line adds some
        for route in self.mroutes:
            # What the kernel keys an entry by: (S,G) alone, or a template's input, source and group
            # (Mroute.is_template, inlined: this loop runs for every route of every load).
            source = route.source
            bits = route.group.BITS
            if source is None or source.length != bits or route.group.length != bits or route.iif.endswith(WILDCARD):
                key = (route.iif, source, route.group)
            else:
                key = (source, route.group)
            index = seen.get(key)
            if index is None:
                seen[key] = len(merged)
                if not route.oifs:
                    stops.append(len(merged))
                merged.append(route)
                continue
            first = merged[index]
            if first.iif == route.iif and first.if_joined != route.if_joined:
                joined, static = (first, route) if first.if_joined else (route, first)
                self.errors.append("%s: %s conflicts with %s at %s: the same route cannot both forward by "
                                   "membership (if-joined, at %s) and always (at %s); write one line, with or "
                                   "without if-joined" % (route.origin, route.to_line(), first.to_line(),
                                                          first.origin, joined.origin, static.origin))
                continue
            if first.iif != route.iif:
                self.errors.append("%s: %s conflicts with %s at %s: one (S,G) cannot arrive on two inputs (the "
                                   "kernel keeps one entry per source and group, with one input); keep one of the "
                                   "two lines" % (route.origin, route.to_line(), first.to_line(), first.origin))
                continue
            extra = tuple(oif for oif in route.oifs if oif not in first.oifs)
            if not extra:
                self.warnings.append(_nothing_to_merge(route, first))
                continue
            merged[index] = first._replace(oifs=first.oifs + extra)
            self.warnings.append("%s: same route as the mroute at %s, outputs merged as smcroute does: %s" % (
                route.origin, first.origin, merged[index].to_line()))
        for index in stops:
            if not merged[index].oifs:
                self.warnings.append("%s: %s" % (merged[index].origin, _no_outputs(merged[index])))
        self.mroutes = merged

    def _check_disabled(self):
        for route in self.mroutes:
            for name in (route.iif,) + route.oifs:
                phyint = self.phyints.get(name)
                if phyint is not None and not phyint.enable:
                    self.errors.append("%s: mroute uses %s, which 'phyint %s disable' at %s keeps from routing" % (
                        route.origin, name, name, phyint.origin))

    def _check_vif_limit(self):
        """At most MAX_VIFS named interfaces per family (VIFs for IPv4, MIFs for IPv6) unless nftables copies to
        the rest; the error names the line that mentions the first one left out."""
        if self.overflow:
            return
        for family, kind in ((4, "VIFs"), (6, "MIFs")):
            origins = {}
            for phyint in self.phyints.values():
                if phyint.enable:
                    origins.setdefault(phyint.ifname, phyint.origin)
            for route in self.mroutes:
                if route.group.family != family:
                    continue
                origins.setdefault(route.iif, route.origin)
                for oif in route.oifs:
                    origins.setdefault(oif, route.origin)
            fixed = [name for name in origins if not name.endswith(WILDCARD)]
            if len(fixed) > MAX_VIFS:
                self.errors.append("%s: the kernel offers %d %s but the configuration routes %d interfaces (IPv%d), "
                                   "and nft, with which mcastd copies to the others, is not installed (install the "
                                   "nftables package, or route fewer interfaces); left out: %s" % (
                                       origins[fixed[MAX_VIFS]], MAX_VIFS, kind, len(fixed), family,
                                       ", ".join(fixed[MAX_VIFS:])))

    def _check_ipv6_thresholds(self):
        """ttl-threshold on an interface that IPv6 routes use: the kernel ignores it for IPv6 (mif6ctl has the
        field, ip6_mr_forward never reads it), so the line would promise a filter that does not exist."""
        thresholds = [phyint for phyint in self.phyints.values() if phyint.threshold > 1]
        if not thresholds:
            return
        for route in self.mroutes:
            if route.group.family != 6:
                continue
            for phyint in thresholds:
                if any(name_matches(name, phyint.ifname) or name_matches(phyint.ifname, name)
                       for name in route.oifs):
                    self.errors.append(
                        "%s: ttl-threshold %d on %s (at %s) applies to IPv4 only: the kernel ignores it for IPv6, "
                        "so this IPv6 route would send every hop limit out of %s; remove ttl-threshold, or route "
                        "IPv6 through another interface" % (route.origin, phyint.threshold, phyint.ifname,
                                                            phyint.origin, phyint.ifname))
                    thresholds.remove(phyint)
                    break


def _covers(phyint_name, oif):
    """True if a querier on ``phyint_name`` (a name or eth+ pattern) covers every interface ``oif`` names."""
    if not phyint_name.endswith(WILDCARD):
        return phyint_name == oif
    return oif.rstrip(WILDCARD).startswith(phyint_name[:-1])


def _number(value):
    return "%g" % value if isinstance(value, float) else str(value)


def _zero_length(text, what):
    """The error for ``A.B.C.D/0`` with A.B.C.D not 0.0.0.0: smcroute and a prefix disagree on its meaning."""
    address = text.partition("/")[0]
    instead = "leave out 'source' for any sender" if what == "source" else "give the prefix length you mean"
    return ("%s %s is ambiguous: smcroute reads a /0 length as no length (%s alone), a /0 prefix is every "
            "address; write %s for that one address, or %s" % (what, text, address, address, instead))


def _nothing_to_merge(route, first):
    if route.oifs or not first.oifs:
        return "%s: duplicate of the mroute at %s, ignored" % (route.origin, first.origin)
    return ("%s: same route as the mroute at %s, but without outputs: it drops nothing, the outputs at %s stay "
            "(smcroute merges outputs the same way)" % (route.origin, first.origin, first.origin))


def _no_outputs(route):
    if route.is_template:
        return ("mroute without outputs ('to' missing or empty): every flow it matches gets an entry with no "
                "outputs, so its datagrams are dropped (as smcroute does)")
    return ("mroute without outputs ('to' missing or empty): the kernel gets an entry with no outputs for "
            "this (S,G), so its datagrams are dropped (as smcroute does)")


def _loop_note(route, oif):
    """The truth about an output that is also the input, verified with datagrams on this kernel."""
    if oif != route.iif:
        where = "output %s also matches the input %s" % (oif, route.iif)
        entry = ("for a flow arriving on %s, mcastd installs an (S,G) entry whose outputs include %s, and the kernel "
                 "sends every datagram of it back out of %s" % (oif, oif, oif))
    elif route.is_template:
        where = "input interface %s is also an output" % oif
        entry = ("mcastd installs an (S,G) entry for each flow this template matches, and the kernel sends every "
                 "datagram of such a flow back out of %s" % oif)
    else:
        where = "input interface %s is also an output" % oif
        entry = "the kernel sends every datagram of this (S,G) back out of %s" % oif
    return ("%s: %s with its TTL decremented, so hosts there receive each datagram twice; another router "
            "forwarding it back onto %s would make a loop that only the TTL ends" % (where, entry, oif))


def load(path, overrides=None, previous=None, overflow=False):
    """Read and validate a configuration file (and its includes); raises ConfigError.

    ``overrides``: {path: text or None} for files about to be written or removed (see Parser).
    ``previous``: the Config loaded before (a reload): its unchanged mroute lines are not parsed again.
    ``overflow``: nftables can copy to interfaces beyond the kernel's VIFs (see Parser).
    """
    parser = Parser(overrides, previous.known_lines if previous is not None else None, overflow)
    parser.read_file(path)
    return parser.finish()


def parse_text(text, filename="<config>", overflow=False):
    """Validate configuration text, e.g. a drop-in a module is about to write."""
    parser = Parser(overflow=overflow)
    parser.read_text(text, filename)
    return parser.finish()


def parse_mroute(text):
    """Parse one ``mroute ...`` line; returns an Mroute or raises ConfigError."""
    config = parse_text(text, "<mroute>")
    if len(config.mroutes) != 1 or config.phyints or config.mgroups:
        raise ConfigError(["<mroute>:1: expected exactly one mroute line"])
    return config.mroutes[0]
