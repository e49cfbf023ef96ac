# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Group memberships of one interface (RFC 9776 section 6, 7.3.2): a pure state machine.

Per group: filter mode INCLUDE or EXCLUDE, source records with timers, a group
timer, and the compatibility mode set by older hosts.  Reports update the state by
the tables of RFC 9776 6.4; timers run out in ``expire`` (6.2, 6.5).  No sockets and
no clock: every method takes ``now`` (float seconds).  Addresses are integers.

A source timer is stored as its absolute expiry, or ``None`` for "timer = 0": in
EXCLUDE mode those are the excluded sources (Y), the running ones the requested
sources (X).  In INCLUDE mode every source record has a running timer.

When we are the querier, the table actions "Send Q(G)" and "Send Q(G,X)" lower the
timers at once (RFC 9776 6.6.3) and come back as ``QueryRequest`` values for the
querier to send and repeat.  A non-querier lowers them when it hears the querier's
specific query (``on_query``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from collections import namedtuple

from .config import address_text, scope6
from .linux import MAX_U32
from .querier import Timers

INCLUDE = "include"
EXCLUDE = "exclude"

# IGMPv3 group record types (RFC 9776 4.2.12), as on the wire
MODE_IS_INCLUDE = 1
MODE_IS_EXCLUDE = 2
CHANGE_TO_INCLUDE = 3
CHANGE_TO_EXCLUDE = 4
ALLOW_NEW_SOURCES = 5
BLOCK_OLD_SOURCES = 6
RECORD_NAMES = {1: "IS_IN", 2: "IS_EX", 3: "TO_IN", 4: "TO_EX", 5: "ALLOW", 6: "BLOCK"}

# IGMPv1/v2 messages, given with version 1 or 2
REPORT = "report"
LEAVE = "leave"

QueryRequest = namedtuple("QueryRequest", "group sources")
QueryRequest.__doc__ = "The querier must send Q(G) (``sources`` empty) or Q(G,sources): pass to Querier.on_leave."
Result = namedtuple("Result", "changed queries")
Result.__doc__ = "``changed``: groups whose forwarding may have changed; ``queries``: QueryRequests to send."

_LOCAL_MASK = 0xFFFFFF00
_LOCAL_NET = 0xE0000000  # 224.0.0.0/24 is never forwarded, so never tracked (RFC 9776 6)


class Group:
    """State of one group: mode, group timer, source timers, older host present timers."""

    __slots__ = ("mode", "timer", "sources", "v1_host", "v2_host")

    def __init__(self):
        self.mode = INCLUDE
        self.timer = None
        self.sources = {}
        self.v1_host = None
        self.v2_host = None

    def compat(self, now):
        """Group compatibility mode (RFC 9776 7.3.2): the oldest host version heard recently."""
        if self.v1_host is not None and self.v1_host > now:
            return 1
        if self.v2_host is not None and self.v2_host > now:
            return 2
        return 3

    def running(self, now):
        """Sources with a running timer: INCLUDE's list, EXCLUDE's requested list X."""
        return set(s for s, expiry in self.sources.items() if expiry is not None and expiry > now)

    def excluded(self):
        """EXCLUDE mode's list Y: sources whose timer is 0."""
        return set(s for s, expiry in self.sources.items() if expiry is None)


class Memberships:
    """All groups heard on one interface.

    ``timers`` is a ``querier.Timers`` or a callable returning one (pass the querier's
    ``lambda: querier.timers`` so adopted robustness and query interval apply here too).
    """

    def __init__(self, timers=None):
        self._timers = timers if timers is not None else Timers()
        self.table = {}
        self.now = 0.0
        self.counters = dict(reports=0, ignored=0, queries_requested=0, expired=0)

    @property
    def timers(self):
        return self._timers() if callable(self._timers) else self._timers

    def _clock(self, now):
        self.now = max(self.now, float(now))
        return self.now

    # -- reports ---------------------------------------------------------

    def on_report(self, now, version, record_type, group, sources=(), is_querier=True):
        """One IGMPv3 group record, or an IGMPv1/v2 ``REPORT``/``LEAVE`` message; returns a Result."""
        now = self._clock(now)
        _check_group(group)
        record_type = _check_record(version, record_type)
        sources = frozenset(sources)
        changed = set(self.expire(now))
        if _never_routed(group):
            self.counters["ignored"] += 1
            return Result(sorted(changed), [])
        self.counters["reports"] += 1
        entry = self.table.get(group) or Group()
        record_type, sources = self._translate(now, entry, version, record_type, sources)
        if record_type is None:
            self.counters["ignored"] += 1
            return Result(sorted(changed), [])
        before = _snapshot(entry, now)
        requests = self._apply(now, entry, record_type, sources)
        queries = self._requests(now, group, entry, requests, is_querier)
        self._store(group, entry)
        if _snapshot(self.table.get(group), now) != before:
            changed.add(group)
        return Result(sorted(changed), queries)

    def _translate(self, now, entry, version, record_type, sources):
        """Older host messages and compatibility mode rules (RFC 9776 7.3.2)."""
        ohpi = self.timers.older_host_present
        if version == 1:
            entry.v1_host = now + ohpi
            return MODE_IS_EXCLUDE, frozenset()
        if version == 2:
            if record_type == LEAVE:
                if entry.compat(now) == 1:
                    return None, sources  # v1 hosts cannot be asked: leaves are ignored
                return CHANGE_TO_INCLUDE, frozenset()
            entry.v2_host = now + ohpi
            return MODE_IS_EXCLUDE, frozenset()
        if entry.compat(now) < 3:
            if record_type == BLOCK_OLD_SOURCES:
                return None, sources
            if record_type == CHANGE_TO_EXCLUDE:
                return record_type, frozenset()
        return record_type, sources

    def _apply(self, now, entry, record_type, sources):
        """RFC 9776 6.4.1 and 6.4.2; returns the Send Q() actions as (sources or None for Q(G))."""
        if entry.mode == INCLUDE:
            return self._apply_include(now, entry, record_type, sources)
        return self._apply_exclude(now, entry, record_type, sources)

    def _apply_include(self, now, entry, record_type, new):
        gmi = now + self.timers.group_membership_interval
        current = set(entry.sources)
        if record_type in (MODE_IS_INCLUDE, ALLOW_NEW_SOURCES):
            _set(entry, new, gmi)  # INCLUDE (A+B); (B)=GMI
            return []
        if record_type == CHANGE_TO_INCLUDE:
            _set(entry, new, gmi)  # INCLUDE (A+B); (B)=GMI; Send Q(G,A-B)
            return [current - new]
        if record_type == BLOCK_OLD_SOURCES:
            return [current & new]  # INCLUDE (A); Send Q(G,A*B)
        # IS_EX / TO_EX: EXCLUDE (A*B, B-A); (B-A)=0; Delete (A-B); Group Timer=GMI
        _delete(entry, current - new)
        _set(entry, new - current, None)
        entry.mode = EXCLUDE
        entry.timer = gmi
        return [current & new] if record_type == CHANGE_TO_EXCLUDE else []  # TO_EX: Send Q(G,A*B)

    def _apply_exclude(self, now, entry, record_type, new):
        gmi = now + self.timers.group_membership_interval
        requested, excluded = entry.running(now), entry.excluded()
        if record_type in (MODE_IS_INCLUDE, ALLOW_NEW_SOURCES):
            _set(entry, new, gmi)  # EXCLUDE (X+A, Y-A); (A)=GMI
            return []
        if record_type == CHANGE_TO_INCLUDE:
            _set(entry, new, gmi)  # EXCLUDE (X+A, Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)
            return [requested - new, None]
        if record_type == BLOCK_OLD_SOURCES:
            # EXCLUDE (X+(A-Y), Y); (A-X-Y)=Group Timer; Send Q(G,A-Y)
            _set(entry, new - requested - excluded, entry.timer)
            return [new - excluded]
        # IS_EX / TO_EX: EXCLUDE (A-Y, Y*A); Delete (X-A); Delete (Y-A); Group Timer=GMI
        # (A-X-Y) = GMI for IS_EX, = the old Group Timer for TO_EX
        fresh = gmi if record_type == MODE_IS_EXCLUDE else entry.timer
        _delete(entry, (requested | excluded) - new)
        _set(entry, new - requested - excluded, fresh)
        entry.timer = gmi
        return [new - excluded] if record_type == CHANGE_TO_EXCLUDE else []  # TO_EX: Send Q(G,A-Y)

    def _requests(self, now, group, entry, requests, is_querier):
        """Lower the timers for each Send Q() and return the queries (RFC 9776 6.6.3)."""
        if not is_querier:
            return []  # the querier asks; we lower our timers when we hear it (on_query)
        lmqt = now + self.timers.last_member_query_time
        queries = []
        for sources in requests:
            if sources is None:
                if entry.timer is not None and entry.timer > lmqt:
                    entry.timer = lmqt
                queries.append(QueryRequest(group, ()))
                continue
            # only sources whose timer is above LMQT are lowered and asked about (6.6.3.2)
            asked = sorted(s for s in sources if _above(entry.sources.get(s), lmqt))
            if asked and entry.compat(now) == 3:
                for source in asked:
                    entry.sources[source] = lmqt
                queries.append(QueryRequest(group, tuple(asked)))
        self.counters["queries_requested"] += len(queries)
        return queries

    def on_query(self, now, group, lmqt, sources=()):
        """A group(-and-source)-specific query with S clear was heard: lower timers to LMQT.

        RFC 9776 6.6.1 (RFC 2236 3 for v2): the group timer for Q(G), the timers of the
        named sources for Q(G,S); timers already lower are left alone.
        """
        now = self._clock(now)
        entry = self.table.get(group)
        if entry is None:
            return []
        limit = now + lmqt
        if sources:
            for source in sources:
                if _above(entry.sources.get(source), limit):
                    entry.sources[source] = limit
        elif entry.timer is not None and entry.timer > limit:
            entry.timer = limit
        return []

    # -- timers ----------------------------------------------------------

    def expire(self, now):
        """Run out the timers due at ``now`` (RFC 9776 6.2, 6.5); returns the groups that changed."""
        now = self._clock(now)
        changed = []
        for group in sorted(self.table):
            entry = self.table[group]
            if self._expire_group(now, entry):
                changed.append(group)
            self._store(group, entry)
        self.counters["expired"] += len(changed)
        return changed

    def _expire_group(self, now, entry):
        """Timers of one group; True when forwarding changed."""
        changed = False
        for source, expiry in list(entry.sources.items()):
            if expiry is None or expiry > now:
                continue
            changed = True
            if entry.mode == INCLUDE:
                del entry.sources[source]  # stop forwarding that source
            else:
                entry.sources[source] = None  # EXCLUDE: it joins the excluded list Y
        if entry.mode == EXCLUDE and entry.timer is not None and entry.timer <= now:
            # RFC 9776 6.5: back to INCLUDE with the sources that still have timers
            changed = True
            entry.mode = INCLUDE
            entry.timer = None
            for source in [s for s, expiry in entry.sources.items() if expiry is None]:
                del entry.sources[source]
        if entry.v1_host is not None and entry.v1_host <= now:
            entry.v1_host = None
        if entry.v2_host is not None and entry.v2_host <= now:
            entry.v2_host = None
        return changed

    def _store(self, group, entry):
        """Keep the record while it means something; an empty INCLUDE record is deleted."""
        if entry.mode == INCLUDE and not entry.sources:
            self.table.pop(group, None)
        else:
            self.table[group] = entry

    def next_due(self):
        """When ``expire`` next has something to do; finite and not before the last ``now``."""
        times = []
        for entry in self.table.values():
            times.extend(t for t in entry.sources.values() if t is not None)
            times.extend(t for t in (entry.timer, entry.v1_host, entry.v2_host) if t is not None)
        return max(self.now, min(times)) if times else self.now + self.timers.query_interval

    # -- queries about the state -------------------------------------------

    def forwarding(self, group, source):
        """Is there a listener for (source, group) here (as of the last ``now``)?"""
        entry = self.table.get(group)
        if entry is None:
            return False
        if entry.mode == INCLUDE:
            return source in entry.running(self.now)
        expiry = entry.sources.get(source, 0)
        return expiry is not None

    def group_timer(self, now, group):
        """Seconds left on the group timer (0 when none runs): the querier's S flag."""
        entry = self.table.get(group)
        if entry is None or entry.timer is None:
            return 0.0
        return max(0.0, entry.timer - now)

    def source_timer(self, now, group, source):
        """Seconds left on a source timer (0 when none runs)."""
        entry = self.table.get(group)
        expiry = entry.sources.get(source) if entry is not None else None
        return max(0.0, expiry - now) if expiry is not None else 0.0

    def groups(self, now=None):
        """Rows for ``mcastctl show members``: one per (group, source); source None for EXCLUDE's "any"."""
        now = self.now if now is None else now
        rows = []
        for group in sorted(self.table):
            entry = self.table[group]
            base = dict(group=group, group_text=address_text(group), mode=entry.mode, compat=entry.compat(now))
            if entry.mode == EXCLUDE:
                rows.append(dict(base, source=None, source_text="*", forwarding=True, expires=entry.timer))
            for source in sorted(entry.sources):
                expiry = entry.sources[source]
                forwarding = expiry is not None
                rows.append(dict(base, source=source, source_text=address_text(source), forwarding=forwarding, expires=expiry))
        return rows


def _set(entry, sources, expiry):
    for source in sources:
        entry.sources[source] = expiry


def _delete(entry, sources):
    for source in sources:
        entry.sources.pop(source, None)


def _above(expiry, limit):
    return expiry is not None and expiry > limit


def _snapshot(entry, now):
    """What forwarding depends on: mode and which sources are forwarded or blocked."""
    if entry is None:
        return None
    if entry.mode == INCLUDE:
        return (INCLUDE, frozenset(entry.running(now)))
    return (EXCLUDE, frozenset(entry.excluded()))


def _check_group(group):
    if isinstance(group, bool) or not isinstance(group, int) or not (
            group >> 28 == 0xE and group <= MAX_U32 or group >> 120 == 0xFF and group < 1 << 128):
        raise ValueError("a report's group must be a multicast address (224.0.0.0/4, ff00::/8) as an integer, got %r"
                         % (group,))


def _never_routed(group):
    """Groups the kernel never forwards, so never tracked: 224.0.0.0/24 (RFC 9776 6), IPv6 scopes 0 to 2 (RFC 9777 6)."""
    if group <= MAX_U32:
        return group & _LOCAL_MASK == _LOCAL_NET
    return scope6(group) <= 2


def _check_record(version, record_type):
    if version == 3:
        if record_type not in RECORD_NAMES:
            raise ValueError("an IGMPv3 group record type must be 1 to 6, got %r" % (record_type,))
        return record_type
    if version == 1:
        if record_type != REPORT:
            raise ValueError("an IGMPv1 message must be %r (v1 has no leave), got %r" % (REPORT, record_type))
        return record_type
    if version == 2:
        if record_type not in (REPORT, LEAVE):
            raise ValueError("an IGMPv2 message must be %r or %r, got %r" % (REPORT, LEAVE, record_type))
        return record_type
    raise ValueError("the IGMP version of a report must be 1, 2 or 3, got %r" % (version,))
