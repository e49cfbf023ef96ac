"""mrdisc (RFC 4286): the per-interface state machine on a fake clock, and the manager with fake sockets."""
import argparse
import errno
import itertools
import logging
import random
import socket
import struct

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import igmp, main, mrdisc
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import Iface
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.routes import Vif

UP_MC = 0x1 | 0x1000
DOWN_MC = 0x1000
ADVERTISEMENT_20 = bytes.fromhex("3014cfeb00000000")
ADVERTISEMENT_4 = bytes.fromhex("3004cffb00000000")
TERMINATION = bytes.fromhex("3200cdff")


def constant(value):
    return lambda: value


def sequence(*values):
    values = iter(values)
    return lambda: next(values)


def send_times(advertiser, until, step=0.125, start=0.0):
    """Poll like the daemon's loop does, every ``step`` seconds (exact in binary); the times something was due."""
    times = []
    for tick in range(int(round((until - start) / step)) + 1):
        now = start + tick * step
        if advertiser.poll(now):
            times.append(now)
    return times


# -- -m SEC ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [("4", 4), ("20", 20), ("180", 180)])
def test_interval_in_range(text, value):
    assert mrdisc.parse_interval(text) == value


@pytest.mark.parametrize("text", ["3", "181", "0", "-5", "4.5", "abc", ""])
def test_interval_out_of_range_says_the_range(text):
    with pytest.raises(argparse.ArgumentTypeError, match="whole number of seconds from 4 to 180"):
        mrdisc.parse_interval(text)


def test_command_line_default_and_usage_error(capsys):
    assert main.parse_args([]).mrdisc_interval == 20
    assert main.parse_args(["-m", "4"]).mrdisc_interval == 4
    with pytest.raises(SystemExit) as exited:
        main.parse_args(["-m", "200"])
    assert exited.value.code == main.EXIT_USAGE
    assert "-m/--mrdisc-interval: the mrdisc advertisement interval must be a whole number of seconds from 4 to 180" \
        in capsys.readouterr().err


# -- which interfaces ----------------------------------------------------------------------------------
def vifs(*names):
    return {name: Vif(slot, name, 10 + slot, 1) for slot, name in enumerate(names)}


def test_wildcard_phyint_lines_apply_to_every_matching_interface_with_a_vif():
    config = conf.parse_text("phyint trunk+ mrdisc\nphyint eth0 enable\nmroute from eth0 group 225.1.1.1 to trunk.10\n")
    wanted = mrdisc.wanted_interfaces(config, vifs("eth0", "trunk.10", "trunk.20"))
    assert wanted == {"trunk.10": 11, "trunk.20": 12}


def test_no_vif_no_mrdisc_and_no_line_no_mrdisc():
    config = conf.parse_text("phyint a0 mrdisc\nphyint b0 enable\n")
    assert mrdisc.wanted_interfaces(config, vifs("b0")) == {}  # a0 is absent: no VIF
    assert mrdisc.wanted_interfaces(config, vifs("a0", "b0")) == {"a0": 10}


# -- the state machine ---------------------------------------------------------------------------------
def test_startup_burst_then_periodic_at_the_interval():
    advertiser = mrdisc.Advertiser(20, now=0.0, rand=constant(0.5))  # 1 s initial delays, no jitter
    times = send_times(advertiser, until=70.0)
    assert times == pytest.approx([1.0, 2.0, 3.0, 23.0, 43.0, 63.0])


def test_every_advertisement_carries_the_interval_and_zero_querier_fields():
    advertiser = mrdisc.Advertiser(20, now=0.0, rand=constant(0.0))
    assert advertiser.poll(0.0) == [ADVERTISEMENT_20]
    assert igmp.parse(advertiser.poll(0.0)[0]) == igmp.Advertisement(20, 0, 0)


def test_jitter_stays_within_a_fortieth_of_the_interval():
    advertiser = mrdisc.Advertiser(40, now=0.0, rand=sequence(0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.5))
    times = send_times(advertiser, until=130.0)
    # 3 initial ones without delay (one per turn of the loop), then 40 + 1 (rand 1.0), 40 - 1 (rand 0.0), 40 + 1
    assert times == [0.0, 0.125, 0.25, 41.25, 80.25, 121.25]


@pytest.mark.parametrize("seed", range(5))
def test_random_timeline_keeps_the_rfc_bounds(seed):
    advertiser = mrdisc.Advertiser(4, now=0.0, rand=random.Random(seed).random)
    times = send_times(advertiser, until=60.0, step=0.01)
    initial, periodic = times[:3], times[2:]
    assert initial[0] <= 2.0
    assert all(0.0 <= later - earlier <= 2.0 + 0.01 for earlier, later in zip(initial, initial[1:]))
    gaps = [later - earlier for earlier, later in zip(periodic, periodic[1:])]
    assert gaps and all(4 - 0.1 - 0.01 <= gap <= 4 + 0.1 + 0.01 for gap in gaps)
    assert 3 + 13 <= len(times) <= 3 + 15  # 54 s or more of 4 s +- 0.1 s after the burst


def test_a_late_loop_sends_one_advertisement_not_a_catch_up_burst():
    advertiser = mrdisc.Advertiser(4, now=0.0, rand=constant(0.5))
    for now in (1.0, 2.0, 3.0):
        assert advertiser.poll(now)
    assert len(advertiser.poll(30.0)) == 1
    assert advertiser.poll(30.0) == [] and advertiser.next_at == pytest.approx(34.0)


def test_solicitations_are_answered_up_to_ten_per_second():
    advertiser = mrdisc.Advertiser(20, now=0.0, rand=constant(0.99))
    answers = [bool(advertiser.solicited(0.5 + index * 0.01)) for index in range(15)]
    assert answers == [True] * 10 + [False] * 5
    assert advertiser.solicited(1.49) == []  # the first answer (0.50) is still within the last second
    assert advertiser.solicited(1.51) == [ADVERTISEMENT_20]  # it has left the window


def test_periodic_advertisements_count_towards_the_message_rate():
    advertiser = mrdisc.Advertiser(20, now=0.0, rand=constant(0.0))
    assert advertiser.poll(0.0)
    assert sum(bool(advertiser.solicited(0.1)) for _attempt in range(12)) == 9


def test_restart_starts_the_burst_again_and_stop_terminates():
    advertiser = mrdisc.Advertiser(20, now=0.0, rand=constant(0.5))
    assert len(send_times(advertiser, until=30.0)) == 4
    advertiser.restart(100.0)
    assert send_times(advertiser, start=100.0, until=104.0) == pytest.approx([101.0, 102.0, 103.0])
    assert advertiser.stop() == [TERMINATION]


# -- the manager, with fake sockets and a fake selector ---------------------------------------------------
class FakeSocket:
    def __init__(self, name, ifindex):
        self.name, self.ifindex = name, ifindex
        self.sent, self.queue, self.closed, self.error = [], [], False, None

    def send(self, message):
        if self.error:
            raise OSError(self.error, "fake error")
        self.sent.append(message)

    def receive(self):
        packets, self.queue = self.queue, []
        return packets

    def close(self):
        self.closed = True


class FakeSelector:
    def __init__(self):
        self.registered = {}

    def register(self, sock, _events, callback):
        self.registered[sock] = callback

    def unregister(self, sock):
        del self.registered[sock]


class Harness:
    """A Mrdisc with everything faked: clock, sockets, selector, interfaces."""

    def __init__(self, config_text, names=("trunk.10", "trunk.20"), interval=4, opener=None):
        self.now = 0.0
        self.sockets = []
        self.selector = FakeSelector()
        self.config = conf.parse_text(config_text)
        self.vifs = vifs(*names)
        self.ifaces = {name: Iface(name, vif.ifindex, UP_MC) for name, vif in self.vifs.items()}
        self.mrdisc = mrdisc.Mrdisc(self.selector, interval, logging.getLogger("test-mrdisc"), clock=lambda: self.now,
                                    opener=opener or self.open, rand=constant(0.5))

    def open(self, name, ifindex):
        sock = FakeSocket(name, ifindex)
        self.sockets.append(sock)
        return sock

    def sock(self, name):
        return [sock for sock in self.sockets if sock.name == name and not sock.closed][-1]

    def sync(self):
        self.mrdisc.sync(self.config, self.vifs, self.ifaces)

    def run(self, until, step=0.01):
        while self.now < until - 1e-9:
            self.now = round(self.now + step, 6)
            self.mrdisc.on_timer(self.now)

    def deliver(self, name, *packets):
        sock = self.sock(name)
        sock.queue.extend(packets)
        self.selector.registered[sock](sock, 1)


def solicitation_packet(destination="224.0.0.2", ttl=1, payload=None):
    payload = igmp.build_solicitation() if payload is None else payload
    header = struct.pack("!BBHHHBBH4s4s", 0x46, 0xC0, 24 + len(payload), 0, 0, ttl, 2, 0,
                         socket.inet_aton("198.51.100.20"), socket.inet_aton(destination))
    return header + igmp.ROUTER_ALERT + payload


def test_sync_opens_only_mrdisc_interfaces_and_registers_them():
    harness = Harness("phyint trunk.20 mrdisc\nmroute from trunk.10 group 225.1.1.1 to trunk.20\n")
    harness.sync()
    assert [(sock.name, sock.ifindex) for sock in harness.sockets] == [("trunk.20", 11)]
    assert list(harness.selector.registered) == harness.sockets
    assert harness.mrdisc.active("trunk.20") and not harness.mrdisc.active("trunk.10")
    assert harness.mrdisc.status() == {"interval": 4, "interfaces": ["trunk.20"]}


def test_burst_then_periodic_through_the_manager_and_next_due():
    harness = Harness("phyint trunk.20 mrdisc\n")
    harness.sync()
    assert harness.mrdisc.next_due() == pytest.approx(1.0)
    harness.run(until=11.5)
    # 1, 2, 3 (burst), then every 4 s: 7, 11
    assert harness.sock("trunk.20").sent == [ADVERTISEMENT_4] * 5
    assert harness.mrdisc.counters["mrdisc_advertisements"] == 5
    assert harness.mrdisc.next_due() == pytest.approx(15.0)


def test_no_mrdisc_interface_means_the_loop_never_wakes_for_it():
    harness = Harness("phyint trunk.20 enable\n")
    harness.sync()
    assert harness.sockets == [] and harness.mrdisc.next_due() == float("inf")


def test_line_removed_at_reload_sends_a_termination_and_closes():
    harness = Harness("phyint trunk.20 mrdisc\n")
    harness.sync()
    harness.run(until=1.5)
    sock = harness.sock("trunk.20")
    harness.config = conf.parse_text("phyint trunk.20 enable\n")
    harness.sync()
    assert sock.sent[-1] == TERMINATION and sock.closed and harness.selector.registered == {}
    assert harness.mrdisc.counters["mrdisc_terminations"] == 1
    assert not harness.mrdisc.active("trunk.20")
    harness.mrdisc.on_packets(sock)  # a wake-up that still lists the closed socket changes nothing
    assert sock.sent[-1] == TERMINATION


def test_no_termination_owed_before_any_advertisement():
    harness = Harness("phyint trunk.20 mrdisc\n")
    harness.sync()
    harness.config = conf.parse_text("phyint trunk.20 enable\n")
    harness.sync()
    assert harness.sockets[0].sent == [] and harness.sockets[0].closed


def test_interface_gone_or_recreated_closes_without_termination():
    harness = Harness("phyint trunk+ mrdisc\n")
    harness.sync()
    harness.run(until=3.5)
    old10, old20 = harness.sock("trunk.10"), harness.sock("trunk.20")
    del harness.vifs["trunk.10"], harness.ifaces["trunk.10"]  # gone
    harness.vifs["trunk.20"] = Vif(1, "trunk.20", 99, 1)  # re-created with a new ifindex
    harness.ifaces["trunk.20"] = Iface("trunk.20", 99, UP_MC)
    harness.sync()
    assert old10.closed and old20.closed
    assert TERMINATION not in old10.sent + old20.sent
    assert harness.sock("trunk.20").ifindex == 99 and not harness.mrdisc.active("trunk.10")


def test_down_interface_sends_nothing_and_comes_back_with_a_new_burst():
    harness = Harness("phyint trunk.20 mrdisc\n")
    harness.sync()
    harness.run(until=3.5)
    sock = harness.sock("trunk.20")
    assert len(sock.sent) == 3
    harness.ifaces["trunk.20"] = Iface("trunk.20", 11, DOWN_MC)
    harness.sync()
    harness.run(until=20.0)
    assert len(sock.sent) == 3
    harness.ifaces["trunk.20"] = Iface("trunk.20", 11, UP_MC)
    harness.sync()
    harness.run(until=23.5)
    assert len(sock.sent) == 6  # 21, 22, 23: the burst again


def test_send_errors_are_logged_once_counted_and_never_raised(caplog):
    harness = Harness("phyint trunk.20 mrdisc\n")
    harness.sync()
    sock = harness.sock("trunk.20")
    sock.error = errno.ENETDOWN
    with caplog.at_level(logging.INFO, logger="test-mrdisc"):
        harness.run(until=11.5)
        assert [record.getMessage() for record in caplog.records if "cannot send" in record.getMessage()] == [
            "mrdisc on trunk.20: cannot send: fake error; further failures are only counted until a send works again"]
        assert harness.mrdisc.counters["mrdisc_send_errors"] == 5
        sock.error = None
        harness.run(until=15.5)
    assert "mrdisc on trunk.20: sending works again" in caplog.text
    assert harness.mrdisc.counters["mrdisc_advertisements"] == 1


def test_a_socket_that_cannot_open_is_retried_and_logged_once(caplog):
    attempts = itertools.count()
    harness = None

    def opener(name, ifindex):
        if next(attempts) < 2:
            raise OSError(errno.ENODEV, "No such device")
        return harness.open(name, ifindex)

    harness = Harness("phyint trunk.20 mrdisc\n", opener=opener)
    with caplog.at_level(logging.ERROR, logger="test-mrdisc"):
        harness.sync()
        assert harness.mrdisc.next_due() == pytest.approx(mrdisc.RETRY_INTERVAL)
        harness.run(until=12.0)
    assert len([record for record in caplog.records if "cannot open" in record.getMessage()]) == 1
    assert harness.mrdisc.active("trunk.20") and next(attempts) == 3


def test_a_valid_solicitation_is_answered():
    harness = Harness("phyint trunk.20 mrdisc\n")
    harness.sync()
    harness.run(until=3.5)
    harness.deliver("trunk.20", solicitation_packet())
    assert len(harness.sock("trunk.20").sent) == 4
    counters = harness.mrdisc.counters
    assert (counters["mrdisc_solicitations"], counters["mrdisc_answered"], counters["mrdisc_advertisements"]) == (1, 1, 4)


def test_malformed_and_invalid_packets_are_counted_and_ignored():
    harness = Harness("phyint trunk.20 mrdisc\n")
    harness.sync()
    harness.deliver("trunk.20",
                    solicitation_packet(payload=bytes.fromhex("3100cefe")),  # bad checksum
                    solicitation_packet()[:22],  # truncated
                    b"",  # empty
                    solicitation_packet(ttl=2),  # RFC 4286: TTL must be 1
                    solicitation_packet(destination="224.0.0.1"),  # not All-Routers
                    solicitation_packet(destination="224.0.0.1", payload=bytes.fromhex("1164ee9b00000000")))  # a query
    assert harness.sock("trunk.20").sent == []
    assert harness.mrdisc.counters["mrdisc_malformed"] == 5
    assert harness.mrdisc.counters["mrdisc_solicitations"] == 0


def test_a_flood_of_solicitations_is_rate_limited():
    harness = Harness("phyint trunk.20 mrdisc\n")
    harness.sync()
    harness.run(until=4.5)  # the burst (1, 2, 3 s) is more than a second ago
    harness.deliver("trunk.20", *[solicitation_packet()] * 15)
    counters = harness.mrdisc.counters
    assert (counters["mrdisc_solicitations"], counters["mrdisc_answered"], counters["mrdisc_rate_limited"]) == (15, 10, 5)


def test_close_terminates_on_every_announced_up_interface_and_survives_errors():
    harness = Harness("phyint trunk+ mrdisc\n")
    harness.sync()
    harness.run(until=3.5)
    harness.sock("trunk.10").error = errno.ENXIO
    sockets = list(harness.sockets)
    harness.mrdisc.close()
    assert [sock.sent[-1] for sock in sockets] == [ADVERTISEMENT_4, TERMINATION]
    assert all(sock.closed for sock in sockets) and harness.mrdisc.ports == {}
    assert harness.mrdisc.counters["mrdisc_send_errors"] == 1
    assert harness.mrdisc.counters["mrdisc_terminations"] == 1
