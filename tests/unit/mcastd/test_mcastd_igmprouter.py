"""igmprouter: the querier interfaces of the daemon, driven with built packets, fake sockets and a fake clock."""
import errno
import socket
import struct

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import igmp, igmprouter, routes
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import Iface

A = conf.aton
IFACES = {"sw0": Iface("sw0", 5, 0x1043), "src0": Iface("src0", 4, 0x1043)}
ADDRESSES = {5: [(A("198.51.100.1"), 24)], 4: [(A("192.0.2.1"), 24)]}
TIMERS = "igmp query-interval 2 query-response-interval 1 last-member-interval 0.5\n"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class FakeSocket:
    def __init__(self, ifname, ifindex, source, fail=None):
        self.ifname, self.ifindex, self.source = ifname, ifindex, source
        self.sent = []
        self.fail = fail
        self.closed = False

    def send(self, message, destination):
        if self.fail:
            raise OSError(self.fail, "Network is down")
        self.sent.append((destination, message))

    def close(self):
        self.closed = True


class FakeMroute:
    def __init__(self):
        self.joined = set()

    def join(self, group, ifindex):
        self.joined.add((group, ifindex))

    def leave(self, group, ifindex):
        self.joined.discard((group, ifindex))


def make(text, addresses=None, fail=None):
    clock = Clock()
    sockets = []

    def opener(ifname, ifindex, source):
        sockets.append(FakeSocket(ifname, ifindex, source, fail))
        return sockets[-1]

    mroute = FakeMroute()
    router = igmprouter.IgmpRouter(mroute, clock=clock, opener=opener)
    changed = router.sync(conf.parse_text(text), IFACES, ADDRESSES if addresses is None else addresses)
    return router, clock, sockets, mroute, changed


def packet(source, destination, message, ttl=1):
    header = struct.pack("!BBHHHBBH4s4s", 0x46, 0xC0, 24 + len(message), 0, 0, ttl, 2, 0, socket.inet_aton(source),
                         socket.inet_aton(destination))
    return header + igmp.ROUTER_ALERT + message


def v2_report(group):
    return igmp._with_checksum(igmp.GROUP_MESSAGE.pack(igmp.V2_MEMBERSHIP_REPORT, 0, 0, A(group)))  # pylint: disable=protected-access


def v2_leave(group):
    return igmp._with_checksum(igmp.GROUP_MESSAGE.pack(igmp.V2_LEAVE_GROUP, 0, 0, A(group)))  # pylint: disable=protected-access


def v3_report(*records):
    body = b"".join(struct.pack("!BBHI", kind, 0, len(sources), A(group)) + b"".join(socket.inet_aton(s) for s in sources)
                    for kind, group, sources in records)
    return igmp._with_checksum(struct.pack("!BBHHH", 0x22, 0, 0, 0, len(records)) + body)  # pylint: disable=protected-access


# -- which interfaces query, from which address ------------------------------------------------------------
@pytest.mark.parametrize("text, addresses, queriers, problem", [
    ("phyint sw0 enable querier\n", None, {"sw0": "198.51.100.1"}, None),
    ("phyint sw+ enable querier igmpv2\n", None, {"sw0": "198.51.100.1"}, None),
    ("phyint sw0 enable querier address 198.51.100.1\n", None, {"sw0": "198.51.100.1"}, None),
    ("phyint sw0 enable\n", None, {}, None),
    ("phyint sw0 enable querier address 10.99.0.1\n", None, {}, "10.99.0.1 is not on the interface's subnet"),
    ("phyint sw0 enable querier address 198.51.100.7\n", None, {}, "on the interface's subnet but not configured"),
    ("phyint sw0 enable querier\n", {5: []}, {}, "has no IPv4 address"),
    # a link-local address is used only while there is no real one
    ("phyint sw0 enable querier\n", {5: [(A("169.254.1.1"), 16), (A("198.51.100.9"), 24)]},
     {"sw0": "198.51.100.9"}, None),
    ("phyint sw0 enable querier\n", {5: [(A("169.254.1.1"), 16)]}, {"sw0": "169.254.1.1"}, None),
    ("phyint absent0 enable querier\n", None, {}, None),
])
def test_sync_picks_the_querier_interfaces_and_their_source(text, addresses, queriers, problem):
    router, _clock, sockets, mroute, _changed = make(text, addresses)
    assert {name: conf.ntoa(port.source) for name, port in router.ports.items()} == queriers
    assert [(s.ifname, conf.ntoa(s.source)) for s in sockets] == list(queriers.items())
    if problem:
        assert problem in router.problems["sw0"]
    else:
        assert router.problems == {}
    expected = {(group, 5) for group in igmprouter.ROUTER_GROUPS} if queriers else set()
    assert mroute.joined == expected


def test_start_sends_the_startup_burst_then_one_query_per_interval():
    router, clock, [sock], _mroute, _changed = make("phyint sw0 enable querier\n" + TIMERS)
    assert len(sock.sent) == 1 and sock.sent[0][0] == igmprouter.ALL_SYSTEMS
    sent_at = [clock.now]
    while clock.now < 110:
        clock.now = router.next_due()
        before = len(sock.sent)
        router.on_timer(clock.now)
        if len(sock.sent) > before:
            sent_at.append(clock.now)
    assert [round(b - a, 3) for a, b in zip(sent_at, sent_at[1:])][:4] == [0.5, 2.0, 2.0, 2.0]
    query = igmp.parse(sock.sent[0][1])
    assert (query.version, query.max_resp_time, query.qrv, query.qqi) == (3, 1.0, 2, 2)


def test_a_lower_querier_silences_us_and_we_take_over_after_the_other_querier_present_interval():
    lower = igmp.build_query(3, 1.0, qrv=2, qqi_s=2)
    router, clock, [sock], _m, _c = make("phyint sw0 enable querier\n" + TIMERS,
                                         {5: [(A("198.51.100.5"), 24)], 4: []})
    router.on_packet(5, packet("198.51.100.1", "224.0.0.1", lower), clock.now)
    assert router.ports["sw0"].querier.is_querier is False
    row = router.querier_rows({}, IFACES)[0]
    assert (row["role"], row["querier"], row["own_address"], row["last_query"]["source"]) == \
        ("non-querier", "198.51.100.1", "198.51.100.5", "198.51.100.1")
    sent = len(sock.sent)
    clock.now += 4.49
    router.on_timer(clock.now)
    assert len(sock.sent) == sent and router.ports["sw0"].querier.is_querier is False
    clock.now += 0.02
    router.on_timer(clock.now)
    assert router.ports["sw0"].querier.is_querier is True and len(sock.sent) == sent + 1


def test_reports_make_listeners_a_leave_asks_and_the_group_goes_after_the_last_member_query_time():
    router, clock, [sock], _mroute, _changed = make("phyint sw0 enable querier\n" + TIMERS)
    group = A("225.9.3.7")
    assert router.on_packet(5, packet("198.51.100.20", "225.9.3.7", v2_report("225.9.3.7")), clock.now) == {group}
    assert router.listening("sw0", A("192.0.2.10"), group) is True
    assert router.listening("src0", A("192.0.2.10"), group) is False  # not a querier interface: nobody known
    assert router.on_packet(5, packet("198.51.100.20", "224.0.0.2", v2_leave("225.9.3.7")), clock.now) == set()
    specific = [igmp.parse(message) for destination, message in sock.sent if destination == group]
    # the query's version is the querier's (RFC 9776 7.3.1); a v2 host reads the first 8 bytes of a v3 query
    assert [(q.version, q.group) for q in specific] == [(3, group)]
    clock.now += 0.99
    assert router.on_timer(clock.now) == set()
    clock.now += 0.02
    assert router.on_timer(clock.now) == {group}
    assert router.listening("sw0", A("192.0.2.10"), group) is False
    assert len([1 for destination, _message in sock.sent if destination == group]) == 2  # robustness 2


def test_igmpv3_include_report_forwards_only_the_named_source():
    router, clock, _sockets, _mroute, _changed = make("phyint sw0 enable querier\n" + TIMERS)
    report = v3_report((igmp.ALLOW_NEW_SOURCES, "232.1.1.1", ["192.0.2.10"]))
    assert router.on_packet(5, packet("198.51.100.20", "224.0.0.22", report), clock.now) == {A("232.1.1.1")}
    assert router.listening("sw0", A("192.0.2.10"), A("232.1.1.1")) is True
    assert router.listening("sw0", A("192.0.2.11"), A("232.1.1.1")) is False
    [row] = router.member_rows()
    assert (row["group"], row["source"], row["mode"], row["forwarding"]) == ("232.1.1.1", "192.0.2.10", "include", True)


@pytest.mark.parametrize("data", [
    b"",
    b"\x45" + bytes(30),
    packet("198.51.100.20", "224.0.0.22", b"\x22\x00\xff\xff\x00\x00\x00\x05"),  # bad checksum
    packet("198.51.100.20", "239.1.1.1", igmp._with_checksum(igmp.GROUP_MESSAGE.pack(0x16, 0, 0, A("10.0.0.1")))),  # pylint: disable=protected-access
])
def test_malformed_packets_are_counted_and_change_nothing(data):
    router, clock, _sockets, _mroute, _changed = make("phyint sw0 enable querier\n")
    assert router.on_packet(5, data, clock.now) == ()
    assert router.counters["igmp_malformed"] == 1 and router.member_rows() == []


def test_reports_on_an_interface_without_querier_are_not_tracked_but_queries_are_heard():
    router, clock, _sockets, _mroute, _changed = make("phyint sw0 enable querier\nphyint src0 enable\n")
    assert router.on_packet(4, packet("192.0.2.10", "225.1.1.1", v2_report("225.1.1.1")), clock.now) == ()
    router.on_packet(4, packet("192.0.2.99", "224.0.0.1", igmp.build_query(2, 10)), clock.now)
    rows = {row["interface"]: row for row in router.querier_rows({"src0": None}, IFACES)}
    assert rows["src0"]["role"] == "listener" and rows["src0"]["querier"] == "192.0.2.99"
    assert rows["src0"]["version"] == 2
    clock.now += 300  # older than the other querier present interval: nobody is known to query
    rows = {row["interface"]: row for row in router.querier_rows({"src0": None}, IFACES)}
    assert rows["src0"]["querier"] is None and rows["src0"]["last_query"]["age"] == 300.0


def test_a_send_error_is_logged_once_counted_and_the_daemon_goes_on(caplog):
    router, clock, [_sock], _mroute, _changed = make("phyint sw0 enable querier\n" + TIMERS, fail=errno.ENETDOWN)
    for _turn in range(5):
        clock.now = router.next_due()
        router.on_timer(clock.now)
    assert router.counters["query_send_errors"] >= 5 and router.counters["queries_sent"] == 0
    assert sum("cannot send a query" in record.message for record in caplog.records) == 1


def test_reconfiguring_closes_the_old_socket_and_reports_the_groups_that_lost_listeners():
    router, clock, [sock], mroute, _changed = make("phyint sw0 enable querier\n")
    router.on_packet(5, packet("198.51.100.20", "225.9.9.9", v2_report("225.9.9.9")), clock.now)
    assert router.sync(conf.parse_text("phyint sw0 enable querier\n"), IFACES, ADDRESSES) == set()  # unchanged: kept
    changed = router.sync(conf.parse_text("phyint sw0 enable\n"), IFACES, ADDRESSES)
    assert changed == {A("225.9.9.9")} and sock.closed and mroute.joined == set() and router.ports == {}


def test_if_joined_routes_forward_only_to_outputs_with_listeners():
    config = conf.parse_text("phyint sw0 enable querier\nphyint dir0 enable querier\n"
                             "mroute from src0 source 192.0.2.10 group 225.9.3.7 to sw0 dir0 if-joined\n"
                             "mroute from src0 source 192.0.2.10 group 225.9.3.8 to sw0 dir0\n")
    table = routes.RouteTable(config)
    vifs = {"src0": routes.Vif(0, "src0", 4, 1), "sw0": routes.Vif(1, "sw0", 5, 1), "dir0": routes.Vif(2, "dir0", 6, 1)}
    listeners = {("sw0", A("225.9.3.7"))}

    def listening(ifname, _source, group):
        return (ifname, group) in listeners

    entries = routes.desired_entries(table, vifs, {}, listening)
    outputs = {conf.ntoa(key[1]): [i for i, ttl in enumerate(entry.ttls) if ttl] for key, entry in entries.items()}
    assert outputs == {"225.9.3.7": [1], "225.9.3.8": [1, 2]}
    listeners.add(("dir0", A("225.9.3.7")))
    changed = routes.joined_entries(table, vifs, {}, {A("225.9.3.7")}, listening)
    assert [[i for i, ttl in enumerate(entry.ttls) if ttl] for entry in changed.values()] == [[1, 2]]
    assert routes.joined_entries(table, vifs, {}, {A("225.9.3.8")}, listening) == {}  # static: not touched


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.integers(min_value=0, max_value=8))
def test_no_packet_stops_the_router(data, ifindex):
    router, clock, _sockets, _mroute, _changed = make("phyint sw0 enable querier\n")
    header = packet("198.51.100.20", "224.0.0.22", b"")[:24]
    for candidate in (data, header + data):
        result = router.on_packet(ifindex, candidate, clock.now)
        assert result == () or isinstance(result, set)


def test_mrdisc_advertisements_carry_the_querier_timers_of_the_interface():
    from ansible_collections.mcast.linux.plugins.module_utils.mcastd import mrdisc  # pylint: disable=import-outside-toplevel
    router, _clock, _sockets, _mroute, _changed = make("phyint sw0 enable querier\n" + TIMERS)
    assert router.advertised("sw0") == (2, 2) and router.advertised("src0") == (0, 0)
    advertiser = mrdisc.Advertiser(20, 0.0, rand=lambda: 0.0, igmp_values=lambda: router.advertised("sw0"))
    assert igmp.parse(advertiser.advertisement()) == igmp.Advertisement(20, 2, 2)
    assert igmp.parse(mrdisc.Advertiser(20, 0.0).advertisement()) == igmp.Advertisement(20, 0, 0)


def test_a_line_naming_the_interface_beats_a_wildcard_line():
    router, _clock, _sockets, _mroute, _changed = make("phyint sw+ enable querier\nphyint sw0 enable querier igmpv2\n")
    assert router.ports["sw0"].querier.configured_version == 2


class RefusingMroute(FakeMroute):
    """Refuses joins of ``refused`` (group) with ENOBUFS, as a socket that holds igmp_max_memberships."""

    def __init__(self, refused):
        super().__init__()
        self.refused = refused

    def join(self, group, ifindex):
        if group in self.refused:
            raise OSError(errno.ENOBUFS, "No buffer space available")
        super().join(group, ifindex)


@pytest.mark.parametrize("refused", [{igmprouter.IGMPV3_ROUTERS}, {igmprouter.ALL_ROUTERS},
                                     set(igmprouter.ROUTER_GROUPS)])
def test_a_failed_router_group_join_is_undone_counted_logged_and_retried_at_the_next_sync(refused, caplog):
    mroute = RefusingMroute(refused)
    sockets = []

    def opener(ifname, ifindex, source):
        sockets.append(FakeSocket(ifname, ifindex, source))
        return sockets[-1]

    router = igmprouter.IgmpRouter(mroute, clock=Clock(), opener=opener)
    config = conf.parse_text("phyint sw0 enable querier\n")
    router.sync(config, IFACES, ADDRESSES)
    assert router.ports == {} and mroute.joined == set() and sockets[0].closed
    assert router.counters["router_join_errors"] == 1
    assert "cannot join" in router.problems["sw0"] and "No buffer space available" in router.problems["sw0"]
    assert "retried" in caplog.text
    mroute.refused = set()
    router.sync(config, IFACES, ADDRESSES)
    assert list(router.ports) == ["sw0"] and mroute.joined == {(group, 5) for group in igmprouter.ROUTER_GROUPS}
    assert router.counters["router_join_errors"] == 1 and "sw0" not in router.problems
