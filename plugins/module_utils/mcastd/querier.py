# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IGMP querier of one interface (RFC 9776 sections 6.6 and 8, RFC 2236): a pure state machine.

No sockets and no clock: every method takes ``now`` (float seconds, monotonic) and
returns a list of actions (namedtuples) for the caller to carry out.  Addresses are
integers (as ``config.Prefix.addr``), times are float seconds.

Election (RFC 9776 6.6.2): every router starts as the querier.  A query from a
lower source address makes us a non-querier until the Other Querier Present timer
runs out; that interval is computed from the timers in use (configured, or adopted
from the elected querier's QRV and QQIC), never a fixed number (mcd used 255 s
whatever the query interval).  A query from a higher address changes nothing.
Queries from 0.0.0.0 (snooping switches' proxy queries, RFC 4541 2.1.1) never win
the election: otherwise a switch would silence every real querier.

Versions (RFC 9776 7.3.1): a query of an older version heard on the link makes us
query in that version until no such query was heard for the Other Querier
Present interval, so hosts are never sent queries their querier cannot match.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import math
from collections import namedtuple

from .config import address_text
from .igmp import FLOAT_CODE_MAX, decode_float_code, encode_float_code

ALL_SYSTEMS = 0xE0000001
GENERAL = 0  # the group field of a general query
V2_MAX_RESPONSE = 25.5  # IGMPv2 Max Response Time is one byte of tenths of a second
MAX_QRV = 7  # the QRV field has 3 bits; larger robustness is sent as 0 (RFC 9776 4.1.6)

SendQuery = namedtuple("SendQuery", "version group sources max_resp_time s_flag qrv qqic")
SendQuery.__doc__ = """Send one query: group 0 is a general query (to 224.0.0.1), otherwise group-specific
(to the group) with ``sources`` for a group-and-source-specific one.  ``max_resp_time`` is in
seconds (0 for IGMPv1), ``qrv`` and ``qqic`` are the wire values (0 for v1/v2)."""
ElectionChange = namedtuple("ElectionChange", "is_querier querier reason")
ElectionChange.__doc__ = "We became (or stopped being) the querier; ``querier`` is the elected address."
VersionChange = namedtuple("VersionChange", "version reason")
VersionChange.__doc__ = "The version we query with changed (an older querier appeared or went away)."


def _positive(name, value, upper=None):
    """``value`` as a float; a clear ValueError when it is not a positive number (below ``upper``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a number of seconds, got %r" % (name, value))
    if not math.isfinite(number) or number <= 0:
        raise ValueError("%s must be more than 0 seconds, got %r" % (name, value))
    if upper is not None and number > upper:
        raise ValueError("%s must be at most %s seconds, got %r" % (name, upper, value))
    return number


def _count(name, value, upper=255):
    """``value`` as an int in 1..upper, or a clear ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
        raise ValueError("%s must be a whole number from 1 to %d, got %r" % (name, upper, value))
    return value


class Timers(
    namedtuple(
        "Timers",
        "query_interval query_response_interval robustness last_member_interval "
        "startup_query_interval startup_query_count last_member_count",
    )
):
    """RFC 9776 section 8 variables; ``None`` means the RFC default (derived ones from the others).

    Derived intervals are computed from the values actually in use, so a short lab query
    interval also shortens the Other Querier Present and Group Membership intervals.
    """

    __slots__ = ()

    def __new__(
        cls,
        query_interval=125.0,
        query_response_interval=10.0,
        robustness=2,
        last_member_interval=1.0,
        startup_query_interval=None,
        startup_query_count=None,
        last_member_count=None,
    ):
        query_interval = _positive("query-interval", query_interval, FLOAT_CODE_MAX)
        query_response_interval = _positive("query-response-interval", query_response_interval, FLOAT_CODE_MAX / 10.0)
        if query_response_interval >= query_interval:
            # RFC 9776 8.3: hosts must be able to answer before the next query
            raise ValueError(
                "query-response-interval (%s s) must be less than query-interval (%s s)"
                % (query_response_interval, query_interval)
            )
        robustness = _count("robustness", robustness)
        last_member_interval = _positive("last-member-interval", last_member_interval, FLOAT_CODE_MAX / 10.0)
        if startup_query_interval is None:
            startup_query_interval = query_interval / 4.0
        startup_query_interval = _positive("startup-query-interval", startup_query_interval, FLOAT_CODE_MAX)
        startup_query_count = _count("startup-query-count", robustness if startup_query_count is None else startup_query_count)
        last_member_count = _count("last-member-count", robustness if last_member_count is None else last_member_count)
        return super(Timers, cls).__new__(
            cls,
            query_interval,
            query_response_interval,
            robustness,
            last_member_interval,
            startup_query_interval,
            startup_query_count,
            last_member_count,
        )

    @property
    def group_membership_interval(self):
        """RFC 9776 8.4: RV * QI + QRI."""
        return self.robustness * self.query_interval + self.query_response_interval

    @property
    def other_querier_present(self):
        """RFC 9776 8.5: RV * QI + QRI / 2."""
        return self.robustness * self.query_interval + self.query_response_interval / 2.0

    @property
    def older_host_present(self):
        """RFC 9776 8.13: RV * QI + QRI (the same as the group membership interval)."""
        return self.group_membership_interval

    @property
    def last_member_query_time(self):
        """RFC 9776 8.14: LMQI * LMQC."""
        return self.last_member_interval * self.last_member_count

    def adopt(self, qrv, qqic):
        """The timers a non-querier uses after hearing QRV ``qrv`` and QQIC ``qqic`` (0: keep ours).

        RFC 9776 4.1.6/4.1.7.  Counts that were RFC defaults (tied to robustness) follow
        the adopted robustness; a QQI not above our query response interval is ignored
        because it would make every derived interval meaningless.
        """
        robustness = qrv if qrv else self.robustness
        query_interval = float(decode_float_code(qqic)) if qqic else self.query_interval
        if query_interval <= self.query_response_interval:
            query_interval = self.query_interval
        if robustness == self.robustness and query_interval == self.query_interval:
            return self
        return Timers(
            query_interval,
            self.query_response_interval,
            robustness,
            self.last_member_interval,
            self.startup_query_interval,
            robustness,
            robustness,
        )

    def as_dict(self):
        """All variables and derived intervals, for ``mcastctl show queriers``."""
        values = self._asdict()
        values.update(
            group_membership_interval=self.group_membership_interval,
            other_querier_present=self.other_querier_present,
            last_member_query_time=self.last_member_query_time,
        )
        return dict(values)


class Querier:
    """Querier state of one interface: election, general and specific query timers, version.

    ``memberships`` (optional, a ``membership.Memberships``) is asked for group and source
    timers when a specific query is built, for the Suppress Router-Side Processing flag,
    and is told about specific queries heard with the flag clear (RFC 9776 6.6.1).
    """

    def __init__(self, own_address, version=3, timers=None, now=0.0, memberships=None):
        if isinstance(own_address, bool) or not isinstance(own_address, int) or not (
                0 < own_address < 0xFFFFFFFF or 0xFFFFFFFF < own_address < 1 << 128):
            raise ValueError("the querier address must be an IPv4 or IPv6 address as an integer, got %r"
                             % (own_address,))
        if version not in (1, 2, 3):
            raise ValueError("the IGMP version must be 1, 2 or 3, got %r" % (version,))
        self.own_address = own_address
        self.configured_version = version
        self.configured = timers if timers is not None else Timers()
        self.timers = self.configured
        self.memberships = memberships
        self.now = float(now)
        self.is_querier = True
        self.started = False
        self.startup_left = 0
        self.next_general = self.now  # start() is due at once
        self.others = {}  # lower-addressed queriers heard: address -> expiry
        self.older = {}  # older versions heard: version -> expiry
        self.pending = {}  # group -> [group retransmissions left, {source: left}, next send time]
        self.counters = dict(general_sent=0, specific_sent=0, queries_heard=0, elections_lost=0, takeovers=0)

    # -- derived state ---------------------------------------------------

    @property
    def version(self):
        """The version we query with: the configured one, or the oldest heard within the interval."""
        return min([self.configured_version] + list(self.older))

    @property
    def querier_address(self):
        """The elected querier: the lowest address heard within the interval, or us."""
        return min(self.others) if self.others else self.own_address

    def other_querier_expires(self):
        """When we take over if nothing more is heard (None while we are the querier)."""
        return max(self.others.values()) if self.others else None

    def _clock(self, now):
        """Never let time run backwards inside the machine (a caller's bad clock is not fatal)."""
        self.now = max(self.now, float(now))
        return self.now

    # -- events ----------------------------------------------------------

    def start(self, now):
        """Begin querying: the startup burst (RFC 9776 6.6.2, 8.6-8.7)."""
        now = self._clock(now)
        self.started = True
        self.startup_left = self.timers.startup_query_count
        self.next_general = now
        return self._general_due(now)

    def tick(self, now):
        """Every action due at ``now``; call it at ``next_due()``."""
        now = self._clock(now)
        if not self.started:
            return self.start(now)
        actions = self._expire_older(now)
        actions.extend(self._expire_others(now))
        if self.is_querier:
            actions.extend(self._general_due(now))
            actions.extend(self._specific_due(now))
        return actions

    def next_due(self):
        """The next time ``tick`` has something to do; always finite and not before the last ``now``."""
        times = [self.next_general] if self.is_querier or not self.started else []
        times.extend(self.others.values())
        times.extend(self.older.values())
        times.extend(entry[2] for entry in self.pending.values())
        return max(self.now, min(times)) if times else self.now + self.timers.query_interval

    def on_query(
        self, now, source_address, version, max_resp_time=0.0, group=GENERAL, s_flag=False, qrv=0, qqic=0, sources=()
    ):  # pylint: disable=too-many-arguments
        """A query heard on the link (``qqic`` is the wire code, ``max_resp_time`` seconds)."""
        now = self._clock(now)
        if version not in (1, 2, 3):
            raise ValueError("the IGMP version of a query must be 1, 2 or 3, got %r" % (version,))
        if source_address == self.own_address:
            return []  # our own query looped back
        self.counters["queries_heard"] += 1
        actions = self._older_version_heard(now, version)
        if source_address and source_address < self.own_address:
            actions.extend(self._lower_querier_heard(now, source_address, version, qrv, qqic))
        if group and not s_flag and self.memberships is not None:
            self.memberships.on_query(now, group, self._lmqt_from(version, max_resp_time), tuple(sources))
        return actions

    def on_leave(self, now, group, sources=()):
        """Send group- (or group-and-source-) specific queries: RFC 9776 6.6.3, RFC 2236 3.

        Call it for each query request a report produced.  Does nothing unless we are
        the querier; v1 ignores leaves and v2 cannot name sources.
        """
        now = self._clock(now)
        if not self.started or not self.is_querier or not group or self.version == 1:
            return []
        if sources and self.version < 3:
            return []
        entry = self.pending.setdefault(group, [0, {}, now])
        if sources:
            for source in sources:
                entry[1][source] = self.timers.last_member_count
        else:
            entry[0] = self.timers.last_member_count
        entry[2] = now  # RFC 9776 6.6.3.2: send the merged query at once
        return self._specific_due(now)

    # -- election and version --------------------------------------------

    def _lower_querier_heard(self, now, source, version, qrv, qqic):
        if version == 3:
            # RFC 9776 4.1.6/4.1.7: a non-querier adopts the querier's QRV and QQI
            if source <= self.querier_address:
                self.timers = self.configured.adopt(qrv, qqic)
        self.others[source] = now + self.timers.other_querier_present
        if not self.is_querier:
            return []
        self.is_querier = False
        self.startup_left = 0
        self.pending.clear()
        self.counters["elections_lost"] += 1
        return [ElectionChange(False, source, "query from lower address %s" % address_text(source))]

    def _expire_others(self, now):
        for address in [a for a, expiry in self.others.items() if expiry <= now]:
            del self.others[address]
        if self.is_querier or self.others:
            return []
        # RFC 9776 6.6.2: the other querier is gone; query at once with our own timers
        self.is_querier = True
        self.timers = self.configured
        self.next_general = now
        self.counters["takeovers"] += 1
        return [ElectionChange(True, self.own_address, "other querier present interval expired")]

    def _older_version_heard(self, now, version):
        if version >= self.configured_version:
            return []
        before = self.version
        self.older[version] = now + self.timers.other_querier_present
        if self.version != before:
            self.pending.clear()  # queued specific queries were built for the newer version
            return [VersionChange(self.version, "IGMPv%d query heard" % version)]
        return []

    def _expire_older(self, now):
        before = self.version
        for version in [v for v, expiry in self.older.items() if expiry <= now]:
            del self.older[version]
        if self.version != before:
            return [VersionChange(self.version, "no older querier heard")]
        return []

    def _lmqt_from(self, version, max_resp_time):
        """Last member query time for a specific query heard: RFC 2236 3 uses the query's own time."""
        interval = max_resp_time if version > 1 and max_resp_time and max_resp_time > 0 else self.timers.last_member_interval
        return interval * self.timers.last_member_count

    # -- building queries --------------------------------------------------

    def _general_due(self, now):
        if not self.started or not self.is_querier or self.next_general > now:
            return []
        if self.startup_left > 0:
            self.startup_left -= 1
        interval = self.timers.startup_query_interval if self.startup_left > 0 else self.timers.query_interval
        self.next_general = now + interval
        self.counters["general_sent"] += 1
        return [self._query(GENERAL, (), self.timers.query_response_interval, False)]

    def _query(self, group, sources, max_resp_time, s_flag):
        version = self.version
        if version == 1:
            return SendQuery(1, GENERAL, (), 0.0, False, 0, 0)
        if version == 2:
            return SendQuery(2, group, (), min(max_resp_time, V2_MAX_RESPONSE), False, 0, 0)
        qrv = self.timers.robustness if self.timers.robustness <= MAX_QRV else 0
        # QQIC is whole seconds: a sub-second lab interval is sent as 1 s, never as 0 (= default)
        qqic = encode_float_code(min(FLOAT_CODE_MAX, max(1, int(round(self.timers.query_interval)))))
        return SendQuery(3, group, tuple(sources), max_resp_time, s_flag, qrv, qqic)

    def _specific_due(self, now):
        actions = []
        for group in sorted(self.pending):
            entry = self.pending[group]
            if entry[2] > now:
                continue
            actions.extend(self._send_specific(now, group, entry))
            if entry[0] <= 0 and not entry[1]:
                del self.pending[group]
            else:
                entry[2] = now + self.timers.last_member_interval
        return actions

    def _send_specific(self, now, group, entry):
        lmqt = self.timers.last_member_query_time
        mrt = self.timers.last_member_interval
        actions = []
        if entry[0] > 0:
            entry[0] -= 1
            actions.append(self._query(group, (), mrt, self._remaining(now, group, None) > lmqt))
        if entry[1]:
            # RFC 9776 6.6.3.2: one query with S set for sources whose timer is above LMQT, one without
            above = sorted(s for s in entry[1] if self._remaining(now, group, s) > lmqt)
            below = sorted(s for s in entry[1] if s not in above)
            for sources, s_flag in ((above, True), (below, False)):
                if sources:
                    actions.append(self._query(group, sources, mrt, s_flag))
            for source in list(entry[1]):
                entry[1][source] -= 1
                if entry[1][source] <= 0:
                    del entry[1][source]
        self.counters["specific_sent"] += len(actions)
        return actions

    def _remaining(self, now, group, source):
        if self.memberships is None:
            return 0.0
        if source is None:
            return self.memberships.group_timer(now, group)
        return self.memberships.source_timer(now, group, source)

    # -- reporting -------------------------------------------------------

    def state(self):
        """Everything ``mcastctl show queriers`` prints, as plain values (times are absolute)."""
        querier = self.querier_address
        return dict(
            querier=querier,
            querier_text=address_text(querier),
            own_address=self.own_address,
            is_us=self.is_querier,
            version=self.version,
            configured_version=self.configured_version,
            timers=self.timers.as_dict(),
            next_query=self.next_general if self.is_querier else None,
            startup_left=self.startup_left,
            other_querier_expires=self.other_querier_expires(),
            older_version_expires=max(self.older.values()) if self.older else None,
            pending_specific=len(self.pending),
            counters=dict(self.counters),
        )
