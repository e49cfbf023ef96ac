"""mldrouter: the MLD querier interfaces, driven with built MLD messages, fake sockets and a fake clock.

The state machines are IGMP's (tested in test_mcastd_querier/membership/igmprouter); these tests
prove MLD's part: link-local sources, the version twins on the wire and in what people read,
reports and dones as membership events, and the if-joined question answered for IPv6 groups.
"""
import struct

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import mld, mldrouter
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import Iface

A = mld.aton
IFACES = {"sw0": Iface("sw0", 5, 0x1043), "v4only": Iface("v4only", 6, 0x1043)}
OWN = "fe80::1"
ADDRESSES = {5: [(A("2001:db8:20::1"), 64), (A("fe80::9"), 64), (A(OWN), 64)], 6: []}
TIMERS = "igmp query-interval 2 query-response-interval 1 last-member-interval 0.5\n"
GROUP = "ff0e::1:2"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class FakeSocket:
    def __init__(self, ifname, ifindex, source):
        self.ifname, self.ifindex, self.source = ifname, ifindex, source
        self.sent = []

    def send(self, message, destination):
        self.sent.append((destination, message))

    def close(self):
        pass


class FakeListener:
    def __init__(self):
        self.joined = set()

    def join(self, group, ifindex):
        self.joined.add((group, ifindex))

    def leave(self, group, ifindex):
        self.joined.discard((group, ifindex))


def make(text="phyint sw+ querier\n"):
    clock = Clock()
    sockets = []

    def opener(ifname, ifindex, source):
        sockets.append(FakeSocket(ifname, ifindex, source))
        return sockets[-1]

    listener = FakeListener()
    router = mldrouter.MldRouter(listener, clock=clock, opener=opener)
    router.sync(conf.parse_text(TIMERS + text + "phyint v4only querier\n"), IFACES, ADDRESSES)
    return router, clock, sockets, listener


def report_v2(kind, group, sources=()):
    record = struct.pack("!BBH16s", kind, 0, len(sources), A(group).to_bytes(16, "big"))
    record += b"".join(A(source).to_bytes(16, "big") for source in sources)
    return struct.pack("!BBHHH", 143, 0, 0, 0, 1) + record


def v1_message(kind, group):
    return struct.pack("!BBHHH16s", kind, 0, 0, 0, 0, A(group).to_bytes(16, "big"))


def test_the_lowest_link_local_address_queries_and_the_router_groups_are_joined():
    router, _clock, sockets, listener = make()
    assert [(s.ifname, mld.ntoa(s.source)) for s in sockets] == [("sw0", OWN)]  # v4only has none: not queried
    assert router.problems == {}
    assert listener.joined == {(A("ff02::16"), 5), (A("ff02::2"), 5)}
    destination, message = sockets[0].sent[0]  # the startup general query, MLDv2
    query = mld.parse(message)
    assert (destination, query.version, query.group, query.max_resp_time, query.qrv, query.qqi) == (
        A("ff02::1"), 2, 0, 1.0, 2, 2)


def test_mldv1_configured_sends_24_byte_queries_and_shows_version_1():
    router, _clock, sockets, _listener = make("phyint sw0 querier mldv1\n")
    _destination, message = sockets[0].sent[0]
    assert len(message) == 24 and mld.parse(message).version == 1
    [row] = [row for row in router.querier_rows({}, IFACES) if row["interface"] == "sw0"]
    assert (row["protocol"], row["version"], row["own_address"], row["role"]) == ("MLD", 1, OWN, "querier")


@pytest.mark.parametrize("message, compat", [
    (report_v2(mld.CHANGE_TO_EXCLUDE_MODE, GROUP), 3),
    (v1_message(mld.V1_MULTICAST_LISTENER_REPORT, GROUP), 2),
])
def test_reports_make_listeners_that_if_joined_routes_see(message, compat):
    router, clock, _sockets, _listener = make()
    assert router.on_packet(5, message, clock.now, A("fe80::20")) == {A(GROUP)}
    assert router.listening("sw0", A("2001:db8:10::10"), A(GROUP))
    assert not router.listening("sw0", A("2001:db8:10::10"), A("ff0e::9"))
    [row] = router.member_rows()
    assert (row["protocol"], row["group"], row["compat"]) == ("MLD", GROUP, compat)


def test_a_done_is_a_leave_two_specific_queries_then_gone():
    router, clock, sockets, _listener = make()
    router.on_packet(5, v1_message(mld.V1_MULTICAST_LISTENER_REPORT, GROUP), clock.now, A("fe80::20"))
    before = len(sockets[0].sent)
    router.on_packet(5, v1_message(mld.V1_MULTICAST_LISTENER_DONE, GROUP), clock.now, A("fe80::20"))
    for _step in range(4):
        clock.now += 0.5
        changed = router.on_timer(clock.now)
        if changed:
            break
    specific = [mld.parse(message) for _dest, message in sockets[0].sent[before:]]
    assert [query.group for query in specific if query.group] == [A(GROUP), A(GROUP)]
    assert [query.version for query in specific if query.group] == [2, 2]  # the querier's version, not the host's
    assert changed == {A(GROUP)} and not router.listening("sw0", 1, A(GROUP))


def test_a_query_from_a_lower_link_local_address_wins_the_election():
    router, clock, sockets, _listener = make()
    query = mld.build_query(2, 1.0, qqi_s=2)
    router.on_packet(5, query, clock.now, A("fe80::"))
    [row] = [row for row in router.querier_rows({}, IFACES) if row["interface"] == "sw0"]
    assert (row["role"], row["querier"]) == ("non-querier", "fe80::")
    sent = len(sockets[0].sent)
    clock.now += 3
    router.on_timer(clock.now)
    assert len(sockets[0].sent) == sent  # a non-querier sends no general query


@pytest.mark.parametrize("data", [b"", b"\x82\x00", b"\x83" + bytes(10), v1_message(131, "ff0e::1")[:20],
                                  report_v2(4, GROUP)[:-4]])
def test_malformed_messages_are_counted_and_change_nothing(data):
    router, clock, _sockets, _listener = make()
    assert router.on_packet(5, data, clock.now, A("fe80::20")) == ()
    assert router.counters["mld_malformed"] == 1 and router.member_rows() == []
