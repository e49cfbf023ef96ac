"""The IGMP querier state machine (RFC 9776 6.6, 7.3.1, 8; RFC 2236) on a fake clock."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import igmp
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import membership as mb
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import querier as qr


def ip(text):
    a, b, c, d = (int(part) for part in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


US = ip("10.0.0.5")
LOWER = ip("10.0.0.1")
MIDDLE = ip("10.0.0.3")
HIGHER = ip("10.0.0.9")
GROUP = ip("239.1.2.3")
S1, S2 = ip("192.168.1.1"), ip("192.168.1.2")


def queries(actions):
    return [a for a in actions if isinstance(a, qr.SendQuery)]


def general(actions):
    return [a for a in queries(actions) if a.group == 0]


def run(querier, until):
    """Tick at every due time up to ``until``; returns (time, action) pairs."""
    seen = []
    while querier.next_due() <= until:
        when = querier.next_due()
        seen.extend((when, action) for action in querier.tick(when))
        if querier.next_due() <= when:  # nothing may be due twice at one instant
            raise AssertionError("tick(%s) left work due at %s" % (when, querier.next_due()))
    querier.tick(until)
    return seen


def started(timers=None, version=3, memberships=None):
    querier = qr.Querier(US, version=version, timers=timers or qr.Timers(), now=0.0, memberships=memberships)
    querier.start(0.0)
    return querier


# -- timers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, gmi, oqpi, sqi, sqc, lmqt",
    [
        ({}, 260.0, 255.0, 31.25, 2, 2.0),
        ({"query_interval": 10, "query_response_interval": 2, "robustness": 3}, 32.0, 31.0, 2.5, 3, 3.0),
        ({"query_interval": 60, "query_response_interval": 5, "last_member_interval": 0.5}, 125.0, 122.5, 15.0, 2, 1.0),
        ({"query_interval": 1.5, "query_response_interval": 0.5, "startup_query_interval": 0.2}, 3.5, 3.25, 0.2, 2, 2.0),
    ],
)
def test_timers_derive_from_configured_values(kwargs, gmi, oqpi, sqi, sqc, lmqt):
    timers = qr.Timers(**kwargs)
    assert timers.group_membership_interval == gmi
    assert timers.older_host_present == gmi
    assert timers.other_querier_present == oqpi
    assert timers.startup_query_interval == sqi
    assert timers.startup_query_count == sqc
    assert timers.last_member_query_time == lmqt
    assert timers.as_dict()["other_querier_present"] == oqpi


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"query_interval": 10, "query_response_interval": 10}, "must be less than query-interval"),
        ({"query_interval": 0}, "query-interval must be more than 0"),
        ({"query_interval": -1}, "query-interval must be more than 0"),
        ({"query_interval": float("nan")}, "query-interval must be more than 0"),
        ({"query_interval": "x"}, "query-interval must be a number"),
        ({"query_interval": 40000}, "query-interval must be at most"),
        ({"robustness": 0}, "robustness must be a whole number from 1 to 255"),
        ({"robustness": True}, "robustness must be a whole number"),
        ({"robustness": 2.0}, "robustness must be a whole number"),
        ({"last_member_interval": 0}, "last-member-interval must be more than 0"),
        ({"startup_query_interval": 0}, "startup-query-interval must be more than 0"),
    ],
)
def test_bad_timers_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        qr.Timers(**kwargs)


# -- startup and general queries ----------------------------------------------


@pytest.mark.parametrize(
    "timers, expected_times",
    [
        (qr.Timers(), [0.0, 31.25, 156.25, 281.25]),
        (qr.Timers(query_interval=10, query_response_interval=2, robustness=3), [0.0, 2.5, 5.0, 15.0, 25.0]),
        (qr.Timers(query_interval=20, startup_query_interval=1, startup_query_count=4), [0.0, 1.0, 2.0, 3.0, 23.0]),
    ],
)
def test_startup_burst_then_query_interval(timers, expected_times):
    querier = qr.Querier(US, timers=timers, now=0.0)
    assert querier.next_due() == 0.0
    first = querier.start(0.0)
    seen = [(0.0, action) for action in first] + run(querier, expected_times[-1])
    assert [when for when, action in seen] == expected_times
    assert all(isinstance(a, qr.SendQuery) and a.group == 0 and a.version == 3 for a in [pair[1] for pair in seen])
    sent = seen[0][1]
    assert sent.max_resp_time == timers.query_response_interval
    assert sent.qrv == timers.robustness and igmp.decode_float_code(sent.qqic) == round(timers.query_interval)
    assert querier.state()["counters"]["general_sent"] == len(expected_times)


def test_tick_before_start_starts():
    querier = qr.Querier(US, now=5.0)
    assert len(general(querier.tick(5.0))) == 1
    assert querier.next_due() == 5.0 + 31.25


def test_sub_second_query_interval_never_sends_qqic_zero():
    querier = started(qr.Timers(query_interval=0.6, query_response_interval=0.2))
    assert [a.qqic for a in general(querier.tick(0.15))] == [1]


def test_robustness_above_seven_is_sent_as_qrv_zero():
    querier = qr.Querier(US, timers=qr.Timers(robustness=9), now=0.0)
    assert querier.start(0.0)[0].qrv == 0


# -- election -------------------------------------------------------------------


@pytest.mark.parametrize(
    "timers",
    [qr.Timers(), qr.Timers(query_interval=10, query_response_interval=2), qr.Timers(query_interval=3, query_response_interval=1, robustness=3)],
)
def test_lower_address_wins_and_we_take_over_exactly_at_other_querier_present(timers):
    querier = started(timers)
    heard_at = 0.5
    qqic = igmp.encode_float_code(int(timers.query_interval))
    actions = querier.on_query(heard_at, LOWER, 3, timers.query_response_interval, 0, False, timers.robustness, qqic)
    assert actions == [qr.ElectionChange(False, LOWER, "query from lower address 10.0.0.1")]
    takeover = heard_at + timers.other_querier_present
    assert querier.state()["other_querier_expires"] == takeover
    assert querier.next_due() == takeover
    assert querier.tick(takeover - 1e-6) == []
    assert querier.state()["is_us"] is False and querier.state()["querier"] == LOWER
    actions = querier.tick(takeover)
    assert actions[0] == qr.ElectionChange(True, US, "other querier present interval expired")
    assert len(general(actions)) == 1
    assert querier.next_due() == takeover + timers.query_interval
    assert querier.state()["counters"]["takeovers"] == 1


def test_a_non_querier_sends_nothing_and_stays_quiet_while_the_querier_is_heard():
    timers = qr.Timers(query_interval=10, query_response_interval=2)
    querier = started(timers)
    querier.on_query(1.0, LOWER, 3, 2.0, 0, False, 2, 10)
    sent = []
    for second in range(1, 200):  # the other querier queries every 10 s for 200 s
        if second % 10 == 0:
            sent += querier.on_query(float(second), LOWER, 3, 2.0, 0, False, 2, 10)
        sent += querier.tick(float(second))
    assert queries(sent) == []
    assert querier.state()["other_querier_expires"] == 190.0 + 21.0


def test_startup_burst_stops_when_a_lower_querier_is_heard():
    querier = started()
    querier.on_query(1.0, LOWER, 3, 10.0, 0, False, 2, 125)
    assert queries(run(querier, 200.0)) == []


@pytest.mark.parametrize("source", [HIGHER, US, 0])
def test_queries_from_higher_own_or_zero_address_change_nothing(source):
    querier = started()
    due = querier.next_due()
    assert querier.on_query(3.0, source, 3, 10.0, 0, False, 3, 60) == []
    state = querier.state()
    assert state["is_us"] is True and state["querier"] == US and state["other_querier_expires"] is None
    assert state["timers"]["robustness"] == 2 and querier.next_due() == due


def test_lowest_of_several_is_shown_and_a_middle_querier_keeps_us_quiet_after_it_dies():
    querier = started()
    querier.on_query(1.0, MIDDLE, 3, 10.0, 0, False, 2, 125)
    querier.on_query(2.0, LOWER, 3, 10.0, 0, False, 2, 125)
    assert querier.state()["querier"] == LOWER
    # LOWER dies; MIDDLE queries once more at 100 s
    querier.on_query(100.0, MIDDLE, 3, 10.0, 0, False, 2, 125)
    querier.tick(257.0)  # LOWER's interval ran out at 2 + 255
    assert querier.state()["querier"] == MIDDLE and querier.state()["is_us"] is False
    assert querier.tick(354.9) == []
    assert querier.tick(355.0)[0].is_querier is True


# -- QRV / QQIC adoption --------------------------------------------------------


def test_non_querier_adopts_qrv_and_qqic_and_reverts_on_takeover():
    querier = started()
    querier.on_query(1.0, LOWER, 3, 10.0, 0, False, 3, 60)
    timers = querier.state()["timers"]
    assert (timers["robustness"], timers["query_interval"]) == (3, 60.0)
    assert timers["other_querier_present"] == 3 * 60 + 5.0
    assert timers["last_member_count"] == 3 and timers["group_membership_interval"] == 190.0
    actions = querier.tick(1.0 + 185.0)
    assert general(actions)[0].qrv == 2 and general(actions)[0].qqic == 125
    assert querier.state()["timers"]["robustness"] == 2


@pytest.mark.parametrize(
    "qrv, qqic, robustness, interval",
    [(0, 0, 2, 125.0), (5, 0, 5, 125.0), (0, 0x8F, 2, 248.0), (1, 30, 1, 30.0), (2, 5, 2, 125.0)],
)
def test_qrv_and_qqic_zero_or_unusable_keep_our_values(qrv, qqic, robustness, interval):
    querier = started()
    querier.on_query(1.0, LOWER, 3, 10.0, 0, False, qrv, qqic)
    timers = querier.state()["timers"]
    assert (timers["robustness"], timers["query_interval"]) == (robustness, interval)


def test_values_of_a_querier_that_is_not_elected_are_not_adopted():
    querier = started()
    querier.on_query(1.0, LOWER, 3, 10.0, 0, False, 3, 60)
    querier.on_query(2.0, MIDDLE, 3, 10.0, 0, False, 7, 100)
    assert querier.state()["timers"]["robustness"] == 3


# -- version compatibility --------------------------------------------------------


def test_v2_query_heard_switches_to_v2_until_the_interval_runs_out():
    querier = started(qr.Timers(query_interval=10, query_response_interval=2))
    actions = querier.on_query(1.0, HIGHER, 2, 2.0)
    assert actions == [qr.VersionChange(2, "IGMPv2 query heard")]
    sent = general(querier.tick(2.5))
    assert sent == [qr.SendQuery(2, 0, (), 2.0, False, 0, 0)]
    assert querier.state()["older_version_expires"] == 22.0
    actions = querier.tick(22.0)
    assert qr.VersionChange(3, "no older querier heard") in actions
    assert querier.version == 3


def test_v1_query_heard_queries_in_v1_and_ignores_leaves():
    querier = started()
    querier.on_query(1.0, HIGHER, 1, 0.0)
    assert general(querier.tick(31.25)) == [qr.SendQuery(1, 0, (), 0.0, False, 0, 0)]
    assert querier.on_leave(32.0, GROUP) == []


def test_configured_v2_querier_sends_v2_queries_and_no_source_specific_ones():
    querier = started(version=2)
    assert querier.on_query(1.0, HIGHER, 3, 10.0, 0, False, 2, 125) == []
    assert querier.version == 2
    assert querier.on_leave(2.0, GROUP, (S1,)) == []
    assert querier.on_leave(2.0, GROUP) == [qr.SendQuery(2, GROUP, (), 1.0, False, 0, 0)]


def test_v2_max_response_time_is_capped_at_25_5_seconds():
    querier = qr.Querier(US, version=2, timers=qr.Timers(query_response_interval=30), now=0.0)
    assert querier.start(0.0)[0].max_resp_time == 25.5


# -- group-specific queries ---------------------------------------------------------


def test_leave_sends_last_member_query_count_queries_at_last_member_interval():
    timers = qr.Timers(last_member_interval=0.5, robustness=3)
    querier = started(timers)
    run(querier, 100.0)
    first = querier.on_leave(100.0, GROUP)
    assert first == [qr.SendQuery(3, GROUP, (), 0.5, False, 3, 125)]
    seen = run(querier, 101.9)
    assert [(when, a.group) for when, a in seen] == [(100.5, GROUP), (101.0, GROUP)]
    assert querier.state()["pending_specific"] == 0


def test_non_querier_sends_no_specific_queries():
    querier = started()
    querier.on_query(1.0, LOWER, 3, 10.0, 0, False, 2, 125)
    assert querier.on_leave(2.0, GROUP) == []
    assert querier.on_leave(2.0, GROUP, (S1,)) == []


def test_losing_the_election_cancels_pending_specific_queries():
    querier = started()
    querier.on_leave(1.0, GROUP)
    querier.on_query(1.2, LOWER, 3, 10.0, 0, False, 2, 125)
    assert queries(querier.tick(2.0)) == []


def test_suppress_flag_follows_the_group_timer_at_each_retransmission():
    members = mb.Memberships()
    querier = started(memberships=members)
    members.on_report(10.0, 3, mb.MODE_IS_EXCLUDE, GROUP, ())
    result = members.on_report(20.0, 3, mb.CHANGE_TO_INCLUDE, GROUP, ())
    assert result.queries == [mb.QueryRequest(GROUP, ())]
    assert [a.s_flag for a in querier.on_leave(20.0, GROUP, ())] == [False]
    members.on_report(20.5, 3, mb.MODE_IS_EXCLUDE, GROUP, ())  # a listener answers: group timer back to GMI
    assert [a.s_flag for a in querier.tick(21.0)] == [True]
    assert members.group_timer(21.0, GROUP) == 259.5


def test_group_and_source_queries_split_by_source_timer():
    members = mb.Memberships()
    querier = started(memberships=members)
    members.on_report(10.0, 3, mb.MODE_IS_INCLUDE, GROUP, (S1, S2))
    result = members.on_report(20.0, 3, mb.BLOCK_OLD_SOURCES, GROUP, (S1, S2))
    assert result.queries == [mb.QueryRequest(GROUP, (S1, S2))]
    first = querier.on_leave(20.0, *result.queries[0])
    assert first == [qr.SendQuery(3, GROUP, (S1, S2), 1.0, False, 2, 125)]
    members.on_report(20.4, 3, mb.ALLOW_NEW_SOURCES, GROUP, (S2,))
    second = querier.tick(21.0)
    assert second == [qr.SendQuery(3, GROUP, (S2,), 1.0, True, 2, 125), qr.SendQuery(3, GROUP, (S1,), 1.0, False, 2, 125)]
    assert queries(querier.tick(22.0)) == []
    members.expire(22.0)
    assert not members.forwarding(GROUP, S1) and members.forwarding(GROUP, S2)


def test_heard_specific_query_with_s_clear_lowers_a_non_queriers_timers():
    members = mb.Memberships()
    querier = started(memberships=members)
    querier.on_query(1.0, LOWER, 3, 10.0, 0, False, 2, 125)
    members.on_report(5.0, 2, mb.REPORT, GROUP, (), is_querier=False)
    assert members.on_report(6.0, 2, mb.LEAVE, GROUP, (), is_querier=False).queries == []
    assert members.group_timer(6.0, GROUP) == 259.0  # a non-querier waits for the querier's query
    querier.on_query(6.1, LOWER, 3, 1.0, GROUP, True, 2, 125)
    assert members.group_timer(6.1, GROUP) == pytest.approx(258.9)  # S set: nothing lowered
    querier.on_query(6.2, LOWER, 2, 1.0, GROUP)
    assert members.group_timer(6.2, GROUP) == pytest.approx(2.0)  # v2 query: its max response time x LMQC
    assert members.expire(8.2) == [GROUP]


# -- state and bad input ----------------------------------------------------------


def test_state_reports_what_show_queriers_needs():
    querier = started(qr.Timers(query_interval=30, query_response_interval=5))
    state = querier.state()
    assert state["querier_text"] == "10.0.0.5" and state["is_us"] is True and state["version"] == 3
    assert state["next_query"] == 7.5 and state["startup_left"] == 1
    assert state["timers"]["other_querier_present"] == 62.5
    querier.on_query(1.0, LOWER, 3, 5.0, 0, False, 2, 30)
    state = querier.state()
    assert state["querier_text"] == "10.0.0.1" and state["next_query"] is None and state["other_querier_expires"] == 63.5


@pytest.mark.parametrize(
    "args, message",
    [((0,), "IPv4 or IPv6 address as an integer"), (("10.0.0.1",), "IPv4 or IPv6 address as an integer"),
     ((1 << 128,), "IPv4 or IPv6 address as an integer"), ((US, 4), "version must be 1, 2 or 3")],
)
def test_bad_querier_arguments_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        qr.Querier(*args)


def test_query_with_bad_version_is_refused():
    with pytest.raises(ValueError, match="must be 1, 2 or 3"):
        started().on_query(1.0, LOWER, 4)


# -- property: any sequence of events --------------------------------------------

ADDRESSES = st.sampled_from([LOWER, MIDDLE, US, HIGHER, 0])
GROUPS = st.sampled_from([GROUP, ip("239.9.9.9"), ip("224.0.0.251")])
SOURCES = st.lists(st.sampled_from([S1, S2, ip("192.168.1.3")]), max_size=3)
EVENTS = st.one_of(
    st.tuples(st.just("tick")),
    st.tuples(st.just("query"), ADDRESSES, st.sampled_from([1, 2, 3]), st.sampled_from([0.0, 1.0, 10.0]),
              st.sampled_from([0, GROUP]), st.booleans(), st.integers(0, 7), st.integers(0, 255), SOURCES),
    st.tuples(st.just("report"), st.sampled_from([(3, t) for t in range(1, 7)] + [(2, mb.REPORT), (2, mb.LEAVE), (1, mb.REPORT)]),
              GROUPS, SOURCES),
)


@settings(max_examples=150, deadline=None)
@given(
    version=st.sampled_from([1, 2, 3]),
    interval=st.sampled_from([1.0, 10.0, 125.0]),
    steps=st.lists(st.tuples(st.floats(0, 300, allow_nan=False), EVENTS), max_size=40),
)
def test_any_event_sequence_keeps_next_due_finite_and_not_in_the_past(version, interval, steps):
    members = mb.Memberships()
    querier = qr.Querier(US, version=version, timers=qr.Timers(query_interval=interval, query_response_interval=interval / 2), now=0.0,
                         memberships=members)
    members._timers = lambda: querier.timers  # pylint: disable=protected-access
    now = 0.0
    told = {querier: 0.0, members: 0.0}  # the latest time each machine was given
    for delta, event in steps:
        now += delta
        if event[0] == "tick":
            now = max(now, querier.next_due())
            querier.tick(now)
            members.expire(now)
            told[querier] = told[members] = now
        elif event[0] == "query":
            querier.on_query(now, *event[1:8], sources=event[8])
            told[querier] = now
            if event[4] and not event[5] and event[1] != US:  # a specific query reaches the memberships
                told[members] = now
        else:
            (ver, kind), group, sources = event[1:]
            result = members.on_report(now, ver, kind, group, sources if ver == 3 else (), is_querier=querier.is_querier)
            told[members] = now
            for request in result.queries:
                querier.on_leave(now, request.group, request.sources)
                told[querier] = now
        for machine, latest in told.items():
            due = machine.next_due()
            assert math.isfinite(due) and due >= latest
        assert querier.is_querier == (querier.state()["querier"] == US)
