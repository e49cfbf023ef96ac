"""WRONGVIF: a known (S,G) arriving on another input (smcroute 2.6, issue #143).

The decision (routes.on_wrongvif) is table-driven; then the kernel side (PIM mode at MRT_INIT,
idle expiry that ignores wrong_if packets) and the daemon's dispatch with a fake routing socket.
"""
import errno
import logging
import types

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import daemon as mcastd_daemon
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import kernel, routes
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import Iface

A = conf.aton
S, G = A("192.0.2.10"), A("239.1.1.1")
KEY = (S, G)
UP_MC = 0x1 | 0x1000
NAMES = ("up1", "up2", "up3", "dn1", "dn2")

CONFIGS = {
    # the case: two upstreams may carry the group
    "both": "mroute from up1 group 239.1.1.1 to dn1\nmroute from up2 group 239.1.1.0/24 to dn1 dn2\n",
    # only up1 may carry it
    "up1-only": "phyint up2 enable\nmroute from up1 group 239.1.1.1 to dn1\n",
    # only up2 may carry it (a flow from up1 gets a stop entry)
    "up2-only": "mroute from up2 group 239.1.1.1 to dn2\n",
    # a source-specific template on up2 that does not cover 192.0.2.10
    "up2-other-source": "mroute from up1 group 239.1.1.1 to dn1\nmroute from up2 source 10.0.0.0/8 group 239.1.1.1 to dn2\n",
    # one template for both inputs (wildcard)
    "wildcard": "mroute from up+ group 239.1.1.1 to dn1\n",
    # a static (S,G) route: it names its input
    "static": "mroute from up1 source 192.0.2.10 group 239.1.1.1 to dn1\nmroute from up2 group 239.1.1.1 to dn2\n",
}


def table_of(name):
    return routes.RouteTable(conf.parse_text(CONFIGS[name]))


def learned_on(table, ifname):
    return {KEY: table.learn(ifname, S, G, now=1.0)}


@pytest.mark.parametrize("config, learned_iif, arrives_on, outcome, new_kind, new_oifs", [
    # a learned flow moves to an input a template allows, with that template's outputs
    ("both", "up1", "up2", routes.MOVED, "learned", ("dn1", "dn2")),
    ("both", "up2", "up1", routes.MOVED, "learned", ("dn1",)),
    ("wildcard", "up1", "up2", routes.MOVED, "learned", ("dn1",)),
    # a stop entry whose flow now matches a template on the new input becomes a learned entry
    ("up2-only", "up1", "up2", routes.MOVED, "learned", ("dn2",)),
    # no route allows the new input: left blocked
    ("up1-only", "up1", "up2", "no-route", None, None),
    ("up2-other-source", "up1", "up2", "no-route", None, None),
    ("up2-only", "up1", "up3", "no-route", None, None),
    # a static (S,G) route names its input: never moved (also while it is a stop entry)
    ("static", "up1", "up2", "static", None, None),
    # races: already moved, or the entry is gone (flushed or expired meanwhile)
    ("both", "up2", "up2", "same-input", None, None),
    ("both", None, "up2", "unknown-flow", None, None),
    # a VIF that is not (or no longer) ours
    ("both", "up1", None, "unknown-vif", None, None),
])
def test_wrongvif_decision(config, learned_iif, arrives_on, outcome, new_kind, new_oifs):
    table = table_of(config)
    learned = learned_on(table, learned_iif) if learned_iif else {}
    before = dict(learned)
    decision = routes.on_wrongvif(table, learned, KEY, arrives_on, now=9.0)
    assert decision.outcome == outcome
    assert learned == before  # the caller records the flow only once the kernel took it
    if outcome == routes.MOVED:
        assert (decision.flow.iif, decision.flow.kind, decision.flow.route.oifs) == (arrives_on, new_kind, new_oifs)
        assert decision.flow.since == 9.0
    else:
        assert decision.flow is None
        assert outcome in routes.WRONGVIF_REASONS


def test_every_reason_has_a_sentence_and_benign_ones_are_reasons():
    assert set(routes.BENIGN_WRONGVIF) <= set(routes.WRONGVIF_REASONS)
    assert all(text and not text.endswith(".") for text in routes.WRONGVIF_REASONS.values())


def test_moved_flow_entry_has_the_new_parent_and_outputs_for_the_new_input():
    config = conf.parse_text(CONFIGS["both"])
    present = {name: Iface(name, index, UP_MC) for index, name in enumerate(NAMES, 2)}
    vifs, _removals, _additions, _left = routes.plan_vifs({}, routes.wanted_vifs(config, present))
    table = routes.RouteTable(config)
    cache = routes.TtlCache(vifs)
    learned = learned_on(table, "up1")
    old = routes.learned_entry(learned[KEY], vifs, cache)
    moved = routes.on_wrongvif(table, learned, KEY, "up2", now=2.0).flow
    new = routes.learned_entry(moved, vifs, cache)
    outputs = [index for index, ttl in enumerate(new.ttls) if ttl]
    assert (old.parent, new.parent) == (vifs["up1"].index, vifs["up2"].index)
    assert outputs == [vifs["dn1"].index, vifs["dn2"].index]


@pytest.mark.parametrize("times, allowed", [
    ([0.0, 1.0, 59.9, 60.0, 60.5, 130.0], [True, False, False, True, False, True]),
    ([5.0, 5.0], [True, False]),
])
def test_log_limit_allows_one_line_per_key_per_interval(times, allowed):
    limit = routes.LogLimit(interval=60.0)
    assert [limit.allow("k", now) for now in times] == allowed


def test_log_limit_stays_bounded_under_a_flood_of_keys():
    limit = routes.LogLimit(interval=60.0, size=3)
    assert [limit.allow(key, 0.0) for key in "abcd"] == [True, True, True, False]
    assert len(limit.last) == 3
    assert limit.allow("d", 61.0) and len(limit.last) == 1  # the old keys went once their minute was over


# -- the kernel side -----------------------------------------------------------------------------------
class FakeSock:
    """setsockopt() records options and fails with the errno given per option."""

    def __init__(self, failures):
        self.failures = failures
        self.options = []

    def setsockopt(self, _level, option, _value):
        if option in self.failures:
            raise OSError(self.failures[option], errno.errorcode[self.failures[option]])
        self.options.append(option)


@pytest.mark.parametrize("failures, mode, options, error", [
    ({}, "pim", [kernel.MRT_PIM], None),
    ({kernel.MRT_PIM: errno.ENOPROTOOPT}, "assert", [kernel.MRT_ASSERT], "MRT_PIM: ENOPROTOOPT"),
    ({kernel.MRT_PIM: errno.ENOPROTOOPT, kernel.MRT_ASSERT: errno.EINVAL}, None, [],
     "MRT_PIM: ENOPROTOOPT; MRT_ASSERT: EINVAL"),
])
def test_wrongvif_upcalls_prefer_pim_mode_and_a_failure_is_reported_not_raised(failures, mode, options, error):
    mroute = kernel.MrouteSocket.__new__(kernel.MrouteSocket)
    mroute.sock = FakeSock(failures)
    assert mroute.enable_wrongvif() == (mode, error)
    assert mroute.sock.options == options


def test_idle_expiry_counts_only_packets_that_came_in_on_the_entry_input():
    mroute = kernel.MrouteSocket.__new__(kernel.MrouteSocket)
    mroute.counters = lambda source, group: {(1, 2): (50, 5000, 30)}.get((source, group))
    assert mroute.packets(1, 2) == 20
    assert mroute.packets(1, 3) is None


# -- the daemon's dispatch -------------------------------------------------------------------------------
class FakeMroute:
    """A routing socket that queues the upcalls a test gives it and records MFC writes."""

    def __init__(self, refuse=False):
        self.queue = []
        self.added = []
        self.refuse = refuse

    def drain(self):
        upcalls, self.queue = self.queue, []
        return upcalls, []

    def add_mfc(self, source, group, entry):
        if self.refuse:
            raise OSError(errno.EINVAL, "Invalid argument")
        self.added.append(((source, group), entry))


def make_daemon(config_name):
    options = types.SimpleNamespace(config="m.conf", socket="unused", cache_timeout=60.0)
    daemon = mcastd_daemon.Daemon(options, log=logging.getLogger("mcastd-test-wrongvif"))
    config = conf.parse_text(CONFIGS[config_name])
    daemon.config = config
    daemon.table = routes.RouteTable(config)
    present = {name: Iface(name, index, UP_MC) for index, name in enumerate(NAMES, 2)}
    daemon.vifs, _removals, _additions, _left = routes.plan_vifs({}, routes.wanted_vifs(config, present))
    daemon.mroute = FakeMroute()
    return daemon


def upcall(daemon, kind, ifname, vif=None):
    index = daemon.vifs[ifname].index if ifname else vif
    daemon.mroute.queue.append(kernel.Upcall(index, S, G, kind))
    daemon.on_upcalls()


def test_daemon_moves_a_learned_flow_and_says_so(caplog):
    daemon = make_daemon("both")
    upcall(daemon, kernel.IGMPMSG_NOCACHE, "up1")
    assert daemon.installed[KEY].parent == daemon.vifs["up1"].index
    with caplog.at_level(logging.INFO, logger="mcastd-test-wrongvif"):
        upcall(daemon, kernel.IGMPMSG_WRONGVIF, "up2")
    assert daemon.installed[KEY].parent == daemon.vifs["up2"].index
    assert daemon.mroute.added[-1] == (KEY, daemon.installed[KEY])
    assert (daemon.learned[KEY].iif, daemon.learned[KEY].route.oifs) == ("up2", ("dn1", "dn2"))
    counters = daemon.counters
    assert (counters["upcalls"], counters["wrongvif"], counters["moved"], counters["wrongvif_ignored"]) == (1, 1, 1, 0)
    assert "moved (192.0.2.10,239.1.1.1) inbound from up1 to up2 after WRONGVIF" in caplog.text


def test_daemon_leaves_a_flow_no_route_allows_and_logs_once_a_minute(caplog):
    daemon = make_daemon("up1-only")
    upcall(daemon, kernel.IGMPMSG_NOCACHE, "up1")
    entry = daemon.installed[KEY]
    with caplog.at_level(logging.INFO, logger="mcastd-test-wrongvif"):
        for _repeat in range(3):
            upcall(daemon, kernel.IGMPMSG_WRONGVIF, "up2")
    assert daemon.installed[KEY] is entry and daemon.learned[KEY].iif == "up1"
    assert len(daemon.mroute.added) == 1
    assert (daemon.counters["wrongvif"], daemon.counters["moved"], daemon.counters["wrongvif_ignored"]) == (3, 0, 3)
    lines = [record.getMessage() for record in caplog.records if "not moved" in record.getMessage()]
    assert lines == ["(192.0.2.10,239.1.1.1) arrives on up2, not on its input: not moved, "
                     "no route allows that input (logged once a minute)"]


def test_daemon_survives_wrongvif_from_an_unknown_vif_and_a_refused_move(caplog):
    daemon = make_daemon("both")
    upcall(daemon, kernel.IGMPMSG_NOCACHE, "up1")
    with caplog.at_level(logging.INFO, logger="mcastd-test-wrongvif"):
        upcall(daemon, kernel.IGMPMSG_WRONGVIF, None, vif=31)
        daemon.mroute.refuse = True
        upcall(daemon, kernel.IGMPMSG_WRONGVIF, "up2")
    assert daemon.learned[KEY].iif == "up1" and daemon.installed[KEY].parent == daemon.vifs["up1"].index
    assert (daemon.counters["wrongvif"], daemon.counters["moved"], daemon.counters["wrongvif_ignored"]) == (2, 0, 2)
    assert "arrives on VIF 31" in caplog.text and "cannot install" in caplog.text
