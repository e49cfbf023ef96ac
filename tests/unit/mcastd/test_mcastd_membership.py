"""IGMP router group state (RFC 9776 6.2-6.6.3, 7.3.2) on a fake clock: every row of the 6.4 tables."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import membership as mb
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import querier as qr


def ip(text):
    a, b, c, d = (int(part) for part in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


G = ip("239.1.2.3")
S1, S2, S3, S4, S5 = (ip("192.168.1.%d" % n) for n in range(1, 6))
NOW = 100.0
GMI = NOW + 260.0  # default timers: 2 * 125 + 10
LMQT = NOW + 2.0  # 1 s * 2
OLD = 150.0  # source timers before the report (above LMQT)
GT = 200.0  # group timer before the report

IS_IN, IS_EX, TO_IN, TO_EX, ALLOW, BLOCK = (
    mb.MODE_IS_INCLUDE, mb.MODE_IS_EXCLUDE, mb.CHANGE_TO_INCLUDE, mb.CHANGE_TO_EXCLUDE, mb.ALLOW_NEW_SOURCES, mb.BLOCK_OLD_SOURCES,
)


def with_state(mode, sources, timer=None):
    """Memberships holding one group in ``mode`` with ``sources`` {address: expiry or None}."""
    members = mb.Memberships()
    entry = mb.Group()
    entry.mode, entry.sources, entry.timer = mode, dict(sources), timer
    members.table[G] = entry
    return members


def state_of(members):
    entry = members.table.get(G)
    if entry is None:
        return None
    return entry.mode, dict(entry.sources), entry.timer


INCLUDE_A = {S1: OLD, S2: OLD}  # A = {S1, S2}
EXCLUDE_XY = {S1: OLD, S2: OLD, S3: None, S4: None}  # X = {S1, S2}, Y = {S3, S4}


# Each row: (state before, record, record sources) -> (state after, queries)
@pytest.mark.parametrize(
    "before, record, sources, after, queries",
    [
        # RFC 9776 6.4.1, INCLUDE (A) with B = {S2, S3}
        pytest.param((mb.INCLUDE, INCLUDE_A, None), IS_IN, {S2, S3},
                     (mb.INCLUDE, {S1: OLD, S2: GMI, S3: GMI}, None), [], id="IN+IS_IN: INCLUDE(A+B); (B)=GMI"),
        pytest.param((mb.INCLUDE, INCLUDE_A, None), IS_EX, {S2, S3},
                     (mb.EXCLUDE, {S2: OLD, S3: None}, GMI), [], id="IN+IS_EX: EXCLUDE(A*B,B-A); (B-A)=0; Delete(A-B); GT=GMI"),
        # RFC 9776 6.4.1, EXCLUDE (X, Y) with A = {S2, S3, S5}
        pytest.param((mb.EXCLUDE, EXCLUDE_XY, GT), IS_IN, {S2, S3, S5},
                     (mb.EXCLUDE, {S1: OLD, S2: GMI, S3: GMI, S4: None, S5: GMI}, GT), [], id="EX+IS_IN: EXCLUDE(X+A,Y-A); (A)=GMI"),
        pytest.param((mb.EXCLUDE, EXCLUDE_XY, GT), IS_EX, {S2, S3, S5},
                     (mb.EXCLUDE, {S2: OLD, S3: None, S5: GMI}, GMI), [],
                     id="EX+IS_EX: EXCLUDE(A-Y,Y*A); (A-X-Y)=GMI; Delete(X-A),(Y-A); GT=GMI"),
        # RFC 9776 6.4.2, INCLUDE (A) with B = {S2, S3}
        pytest.param((mb.INCLUDE, INCLUDE_A, None), ALLOW, {S2, S3},
                     (mb.INCLUDE, {S1: OLD, S2: GMI, S3: GMI}, None), [], id="IN+ALLOW: INCLUDE(A+B); (B)=GMI"),
        pytest.param((mb.INCLUDE, INCLUDE_A, None), BLOCK, {S2, S3},
                     (mb.INCLUDE, {S1: OLD, S2: LMQT}, None), [(S2,)], id="IN+BLOCK: INCLUDE(A); Send Q(G,A*B)"),
        pytest.param((mb.INCLUDE, INCLUDE_A, None), TO_EX, {S2, S3},
                     (mb.EXCLUDE, {S2: LMQT, S3: None}, GMI), [(S2,)],
                     id="IN+TO_EX: EXCLUDE(A*B,B-A); (B-A)=0; Delete(A-B); Send Q(G,A*B); GT=GMI"),
        pytest.param((mb.INCLUDE, INCLUDE_A, None), TO_IN, {S2, S3},
                     (mb.INCLUDE, {S1: LMQT, S2: GMI, S3: GMI}, None), [(S1,)], id="IN+TO_IN: INCLUDE(A+B); (B)=GMI; Send Q(G,A-B)"),
        # RFC 9776 6.4.2, EXCLUDE (X, Y) with A = {S2, S3, S5}
        pytest.param((mb.EXCLUDE, EXCLUDE_XY, GT), ALLOW, {S2, S3, S5},
                     (mb.EXCLUDE, {S1: OLD, S2: GMI, S3: GMI, S4: None, S5: GMI}, GT), [], id="EX+ALLOW: EXCLUDE(X+A,Y-A); (A)=GMI"),
        pytest.param((mb.EXCLUDE, EXCLUDE_XY, GT), BLOCK, {S2, S3, S5},
                     (mb.EXCLUDE, {S1: OLD, S2: LMQT, S3: None, S4: None, S5: LMQT}, GT), [(S2, S5)],
                     id="EX+BLOCK: EXCLUDE(X+(A-Y),Y); (A-X-Y)=GT; Send Q(G,A-Y)"),
        pytest.param((mb.EXCLUDE, EXCLUDE_XY, GT), TO_EX, {S2, S3, S5},
                     (mb.EXCLUDE, {S2: LMQT, S3: None, S5: LMQT}, GMI), [(S2, S5)],
                     id="EX+TO_EX: EXCLUDE(A-Y,Y*A); (A-X-Y)=GT; Delete(X-A),(Y-A); Send Q(G,A-Y); GT=GMI"),
        pytest.param((mb.EXCLUDE, EXCLUDE_XY, GT), TO_IN, {S2, S3, S5},
                     (mb.EXCLUDE, {S1: LMQT, S2: GMI, S3: GMI, S4: None, S5: GMI}, LMQT), [(S1,), ()],
                     id="EX+TO_IN: EXCLUDE(X+A,Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)"),
        # no record yet is INCLUDE ({})
        pytest.param(None, IS_IN, {S1}, (mb.INCLUDE, {S1: GMI}, None), [], id="new+IS_IN"),
        pytest.param(None, TO_EX, set(), (mb.EXCLUDE, {}, GMI), [], id="new+TO_EX({}): a plain join"),
        pytest.param(None, TO_IN, set(), None, [], id="new+TO_IN({}): nothing to leave"),
        pytest.param(None, BLOCK, {S1}, None, [], id="new+BLOCK: nothing to block"),
    ],
)
def test_report_tables(before, record, sources, after, queries):
    members = with_state(*before) if before else mb.Memberships()
    result = members.on_report(NOW, 3, record, G, sources)
    assert state_of(members) == after
    assert result.queries == [mb.QueryRequest(G, q) for q in queries]


@pytest.mark.parametrize(
    "before, record, sources, after",
    [
        ((mb.INCLUDE, INCLUDE_A, None), BLOCK, {S2, S3}, (mb.INCLUDE, INCLUDE_A, None)),
        ((mb.EXCLUDE, EXCLUDE_XY, GT), TO_IN, {S2, S3, S5}, (mb.EXCLUDE, {S1: OLD, S2: GMI, S3: GMI, S4: None, S5: GMI}, GT)),
        ((mb.EXCLUDE, EXCLUDE_XY, GT), BLOCK, {S2, S3, S5}, (mb.EXCLUDE, {S1: OLD, S2: OLD, S3: None, S4: None, S5: GT}, GT)),
    ],
)
def test_non_querier_lowers_nothing_and_asks_nothing(before, record, sources, after):
    members = with_state(*before)
    assert members.on_report(NOW, 3, record, G, sources, is_querier=False).queries == []
    assert state_of(members) == after


def test_only_sources_above_lmqt_are_asked_about_again():
    members = with_state(mb.INCLUDE, {S1: NOW + 1.0, S2: OLD})
    result = members.on_report(NOW, 3, BLOCK, G, {S1, S2})
    assert result.queries == [mb.QueryRequest(G, (S2,))]
    assert state_of(members) == (mb.INCLUDE, {S1: NOW + 1.0, S2: LMQT}, None)


# -- forwarding, changes and expiry -------------------------------------------------


def test_forwarding_follows_filter_mode():
    members = with_state(mb.EXCLUDE, EXCLUDE_XY, GT)
    members.now = NOW
    assert [members.forwarding(G, s) for s in (S1, S2, S3, S4, S5)] == [True, True, False, False, True]
    members = with_state(mb.INCLUDE, INCLUDE_A)
    members.now = NOW
    assert [members.forwarding(G, s) for s in (S1, S2, S3)] == [True, True, False]
    assert not members.forwarding(ip("239.9.9.9"), S1)


def test_changed_lists_groups_whose_forwarding_changed():
    members = mb.Memberships()
    assert members.on_report(0.0, 3, IS_IN, G, {S1}).changed == [G]
    assert members.on_report(1.0, 3, IS_IN, G, {S1}).changed == []  # only a timer refresh
    assert members.on_report(2.0, 3, ALLOW, G, {S2}).changed == [G]
    assert members.on_report(3.0, 3, TO_EX, G, {S3}).changed == [G]


def test_silent_receiver_expires_at_group_membership_interval():
    members = mb.Memberships()
    members.on_report(10.0, 2, mb.REPORT, G)
    assert members.next_due() == 270.0
    assert members.expire(269.999) == [] and members.forwarding(G, S1)
    assert members.expire(270.0) == [G]
    assert not members.forwarding(G, S1) and members.groups() == []


def test_silent_receiver_expiry_follows_configured_timers():
    members = mb.Memberships(qr.Timers(query_interval=10, query_response_interval=2, robustness=3))
    members.on_report(0.0, 3, TO_EX, G, ())
    assert members.expire(31.9) == [] and members.expire(32.0) == [G]


def test_leave_then_last_member_queries_then_expiry_at_lmqi_times_lmqc():
    timers = qr.Timers(last_member_interval=0.5, robustness=3)
    members = mb.Memberships(timers)
    querier = qr.Querier(ip("10.0.0.5"), timers=timers, now=0.0, memberships=members)
    querier.start(0.0)
    members.on_report(5.0, 2, mb.REPORT, G)
    result = members.on_report(10.0, 2, mb.LEAVE, G)
    sent = [q for request in result.queries for q in querier.on_leave(10.0, *request)]
    for when in (10.5, 11.0):
        sent += [a for a in querier.tick(when) if isinstance(a, qr.SendQuery) and a.group]
        assert members.expire(when) == []
    assert [(q.group, q.s_flag, q.max_resp_time) for q in sent] == [(G, False, 0.5)] * 3
    assert members.next_due() == 11.5
    assert members.expire(11.4999) == [] and members.forwarding(G, S1)
    assert members.expire(11.5) == [G] and not members.forwarding(G, S1)
    assert [a for a in querier.tick(15.0) if isinstance(a, qr.SendQuery) and a.group] == []


def test_exclude_source_timer_moves_it_to_the_excluded_list_then_group_timer_returns_to_include():
    members = mb.Memberships()
    members.on_report(0.0, 3, IS_EX, G, {S1})  # EXCLUDE ({}, {S1}), group timer 260
    members.on_report(100.0, 3, ALLOW, G, {S2, S3})  # S2, S3 requested until 360
    members.on_report(200.0, 3, IS_IN, G, {S3})  # S3 until 460
    assert members.expire(260.0) == [G]  # group timer: INCLUDE with S2, S3 (S1 deleted)
    assert state_of(members) == (mb.INCLUDE, {S2: 360.0, S3: 460.0}, None)
    assert [members.forwarding(G, s) for s in (S1, S2, S3, S4)] == [False, True, True, False]
    assert members.expire(360.0) == [G] and state_of(members) == (mb.INCLUDE, {S3: 460.0}, None)
    assert members.expire(460.0) == [G] and state_of(members) is None


def test_requested_source_in_exclude_mode_becomes_excluded_when_its_timer_runs_out():
    members = with_state(mb.EXCLUDE, {S1: 50.0}, GT)
    assert members.forwarding(G, S1)
    assert members.expire(50.0) == [G]
    assert state_of(members) == (mb.EXCLUDE, {S1: None}, GT) and not members.forwarding(G, S1)
    assert members.expire(GT) == [G] and state_of(members) is None


# -- compatibility modes (RFC 9776 7.3.2) ----------------------------------------------


def test_v2_host_makes_block_ignored_and_to_ex_sources_dropped():
    members = mb.Memberships()
    members.on_report(0.0, 2, mb.REPORT, G)
    assert members.groups()[0]["compat"] == 2
    members.on_report(1.0, 3, TO_EX, G, {S1})
    assert state_of(members) == (mb.EXCLUDE, {}, 261.0)  # TO_EX({S1}) read as TO_EX({})
    result = members.on_report(2.0, 3, BLOCK, G, {S2})
    assert result == mb.Result([], []) and members.counters["ignored"] == 1
    assert members.forwarding(G, S2)
    # after the older host present interval, v3 rules again
    members.on_report(300.0, 3, IS_EX, G, ())
    assert members.groups()[0]["compat"] == 3
    result = members.on_report(301.0, 3, BLOCK, G, {S2})
    assert state_of(members) == (mb.EXCLUDE, {S2: 303.0}, 560.0)  # (A-X-Y)=GT, then lowered by Q(G,A-Y)
    assert result.queries == [mb.QueryRequest(G, (S2,))]


def test_v1_host_makes_v2_leaves_ignored():
    members = mb.Memberships()
    members.on_report(0.0, 1, mb.REPORT, G)
    result = members.on_report(1.0, 2, mb.LEAVE, G)
    assert result.queries == [] and state_of(members) == (mb.EXCLUDE, {}, 260.0)
    # v1 host present ran out: the leave works
    members.on_report(259.0, 2, mb.REPORT, G)
    assert members.groups()[0]["compat"] == 1
    members.on_report(262.0, 2, mb.REPORT, G)
    assert members.groups()[0]["compat"] == 2
    result = members.on_report(263.0, 2, mb.LEAVE, G)
    assert result.queries == [mb.QueryRequest(G, ())] and state_of(members)[2] == 265.0


def test_v2_leave_in_exclude_mode_asks_group_and_requested_sources():
    members = with_state(mb.EXCLUDE, {S1: OLD, S2: None}, GT)
    result = members.on_report(NOW, 2, mb.LEAVE, G)
    assert result.queries == [mb.QueryRequest(G, (S1,)), mb.QueryRequest(G, ())]


def test_source_specific_queries_are_not_asked_of_an_older_version_group():
    members = mb.Memberships()
    members.on_report(0.0, 3, IS_IN, G, {S1})
    members.on_report(1.0, 2, mb.REPORT, G)
    members.on_report(2.0, 3, ALLOW, G, {S1})
    result = members.on_report(3.0, 2, mb.LEAVE, G)
    assert result.queries == [mb.QueryRequest(G, ())]


# -- reporting, bad input ------------------------------------------------------------


def test_groups_rows_for_show_members():
    members = mb.Memberships()
    members.on_report(0.0, 3, IS_EX, G, {S2})
    members.on_report(0.0, 3, IS_IN, ip("239.0.0.9"), {S1})
    assert members.groups() == [
        dict(group=ip("239.0.0.9"), group_text="239.0.0.9", mode="include", compat=3, source=S1, source_text="192.168.1.1",
             forwarding=True, expires=260.0),
        dict(group=G, group_text="239.1.2.3", mode="exclude", compat=3, source=None, source_text="*", forwarding=True, expires=260.0),
        dict(group=G, group_text="239.1.2.3", mode="exclude", compat=3, source=S2, source_text="192.168.1.2", forwarding=False,
             expires=None),
    ]


def test_link_local_groups_are_not_tracked():
    members = mb.Memberships()
    assert members.on_report(0.0, 2, mb.REPORT, ip("224.0.0.251")) == mb.Result([], [])
    assert members.groups() == [] and members.counters["ignored"] == 1


def test_timers_callable_follows_the_querier():
    querier = qr.Querier(ip("10.0.0.5"), now=0.0)
    members = mb.Memberships(lambda: querier.timers)
    querier.start(0.0)
    querier.on_query(1.0, ip("10.0.0.1"), 3, 10.0, 0, False, 3, 60)  # adopt RV 3, QI 60: GMI 190
    members.on_report(2.0, 2, mb.REPORT, G)
    assert members.group_timer(2.0, G) == 190.0


@pytest.mark.parametrize(
    "version, record, group, message",
    [
        (3, 7, G, "record type must be 1 to 6"),
        (3, mb.REPORT, G, "record type must be 1 to 6"),
        (2, IS_IN, G, "IGMPv2 message must be"),
        (1, mb.LEAVE, G, "v1 has no leave"),
        (4, IS_IN, G, "version of a report must be 1, 2 or 3"),
        (3, IS_IN, ip("10.1.1.1"), "must be a multicast address"),
        (3, IS_IN, "239.1.1.1", "must be a multicast address"),
    ],
)
def test_bad_reports_are_refused_with_the_reason(version, record, group, message):
    members = mb.Memberships()
    with pytest.raises(ValueError, match=message):
        members.on_report(0.0, version, record, group, ())
    assert members.table == {}


def test_next_due_without_groups_is_finite():
    members = mb.Memberships()
    members.expire(5.0)
    assert members.next_due() == 130.0


def test_heard_source_specific_query_lowers_only_the_named_sources():
    members = with_state(mb.INCLUDE, {S1: OLD, S2: OLD, S3: NOW + 1.0})
    members.on_query(NOW, G, 2.0, (S1, S3))
    assert state_of(members) == (mb.INCLUDE, {S1: LMQT, S2: OLD, S3: NOW + 1.0}, None)
    members.on_query(NOW, ip("239.9.9.9"), 2.0)  # unknown group: nothing to lower
    assert list(members.table) == [G]


RECORDS = st.sampled_from([(3, t) for t in range(1, 7)] + [(2, mb.REPORT), (2, mb.LEAVE), (1, mb.REPORT)])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 200, allow_nan=False), RECORDS, st.sampled_from([G, ip("239.9.9.9")]),
                          st.frozensets(st.sampled_from([S1, S2, S3]), max_size=3), st.booleans(), st.booleans()), max_size=40))
def test_any_report_sequence_keeps_the_state_consistent(steps):
    members = mb.Memberships(qr.Timers(query_interval=60, query_response_interval=5))
    now = 0.0
    for delta, (version, record), group, sources, is_querier, expire_first in steps:
        now += delta
        if expire_first:
            members.expire(now)
        result = members.on_report(now, version, record, group, sources if version == 3 else (), is_querier=is_querier)
        assert all(request.group == group for request in result.queries)
        due = members.next_due()
        assert math.isfinite(due) and due >= now
        for entry in members.table.values():
            if entry.mode == mb.INCLUDE:
                assert entry.sources and None not in entry.sources.values() and entry.timer is None
            else:
                assert entry.timer is not None
    members.expire(now + 10000.0)
    assert members.table == {}
