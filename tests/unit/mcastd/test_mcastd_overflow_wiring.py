"""Routes beyond the kernel's VIFs: which outputs nftables copies (routes.py), the runner's state (nftrun.py),
the configuration check without nft, and what mcastctl shows."""
import errno
import json
import logging
import os
import struct
import subprocess
import sys
import types

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import daemon as mcastd_daemon
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import control, ctl, kernel, nftrun, plane, routes, runtime
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import overflow as ov
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.control import ControlError
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import Iface
from tests.unit.mcastd.test_mcastd_control_fuzz import FakeKernel

UP_MC = 0x1 | 0x1000
MODULE_UTILS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "plugins", "module_utils")
SENDER = "192.0.2.10"


def ifaces(*names):
    return {name: Iface(name, index, UP_MC) for index, name in enumerate(names, 2)}


def outs(first, last):
    return ["o%d" % number for number in range(first, last + 1)]


def line(group, names, source=None, iif="in0"):
    return "mroute from %s%s group %s to %s\n" % (iif, " source " + source if source else "", group, " ".join(names))


def planned(text, present, learned=None, family=4):
    """(VIF table, desired entries, {Flow: output names}) for a configuration and the interfaces present."""
    config = conf.parse_text(text, overflow=True)
    table = routes.RouteTable(config, family)
    vifs = routes.plan_vifs({}, routes.wanted_vifs(config, present, family))[0]
    entries = routes.desired_entries(table, vifs, learned or {})
    copies = routes.desired_overflow(table, vifs, learned or {}, present)
    return vifs, entries, dict((flow, [output.name for output in found]) for flow, found in copies.items())


def kernel_outputs(entry, vifs):
    names = dict((vif.index, name) for name, vif in vifs.items())
    return sorted(names[index] for index, ttl in enumerate(entry.ttls) if ttl)


# -- which outputs the kernel serves, and which nftables copies ------------------------------------------
def test_an_sg_route_to_100_outputs_has_31_in_its_entry_and_69_copied():
    present = ifaces(*(["in0"] + outs(1, 101)))
    vifs, entries, copies = planned(line("239.1.1.1", outs(1, 100), SENDER), present)
    assert len(vifs) == conf.MAX_VIFS and "in0" in vifs
    [entry] = entries.values()
    assert kernel_outputs(entry, vifs) == sorted(outs(1, 31))
    assert copies == {ov.Flow("in0", SENDER, "239.1.1.1"): outs(32, 100)}


def test_copies_carry_each_outputs_ifindex_so_a_recreated_output_is_rendered_again():
    present = ifaces(*(["in0"] + outs(1, 40)))
    first = routes.desired_overflow(*_inputs(line("239.1.1.1", outs(1, 40), SENDER), present))
    present["o40"] = Iface("o40", 999, UP_MC)
    again = routes.desired_overflow(*_inputs(line("239.1.1.1", outs(1, 40), SENDER), present))
    flow = ov.Flow("in0", SENDER, "239.1.1.1")
    assert list(first) == [flow] and first[flow][-1] == ov.Output("o40", 42)
    assert again[flow][-1] == ov.Output("o40", 999)
    assert ov.plan(again, first) != []  # the flow's chain is refilled: the old rule copies to a gone ifindex


def _inputs(text, present):
    config = conf.parse_text(text, overflow=True)
    table = routes.RouteTable(config, 4)
    return table, routes.plan_vifs({}, routes.wanted_vifs(config, present))[0], {}, present


def test_a_route_whose_input_has_no_vif_is_copied_to_every_output():
    inputs = ["i%d" % number for number in range(1, 32)] + ["o1"]  # 32 inputs named first: late0 gets no VIF
    present = ifaces(*(inputs + ["late0", "x0"]))
    text = "".join(line("239.2.2.%d" % number, ["x0"], SENDER, iif=name) for number, name in enumerate(inputs, 1))
    text += line("239.3.3.3", ["o1", "x0"], SENDER, iif="late0")
    vifs, entries, copies = planned(text, present)
    assert "o1" in vifs and "x0" not in vifs
    assert "late0" not in vifs and not any(key[1] == conf.aton("239.3.3.3") for key in entries)
    assert copies[ov.Flow("late0", SENDER, "239.3.3.3")] == ["o1", "x0"]  # o1 has a VIF, but no entry can use it


def test_a_template_of_one_group_is_copied_by_group_from_its_first_datagram():
    present = ifaces(*(["in0"] + outs(1, 40)))
    _vifs, entries, copies = planned(line("239.1.1.1", outs(1, 40)), present)
    assert entries == {} and copies == {ov.Flow("in0", None, "239.1.1.1"): outs(32, 40)}


def test_a_template_another_route_could_own_flows_of_is_copied_per_learned_flow():
    present = ifaces(*(["in0"] + outs(1, 40)))
    text = line("239.1.1.1", outs(1, 40)) + line("239.1.1.1", ["o1"], SENDER)  # the (S,G) route owns SENDER's flow
    config = conf.parse_text(text, overflow=True)
    table = routes.RouteTable(config, 4)
    [template] = table.templates
    assert not table.copied_by_group(template)
    vifs = routes.plan_vifs({}, routes.wanted_vifs(config, present))[0]
    flow = routes.Learned("in0", template, 0.0)
    key = (conf.aton("198.51.100.7"), conf.aton("239.1.1.1"))
    copies = routes.desired_overflow(table, vifs, {key: flow}, present)
    assert [output.name for output in copies[ov.Flow("in0", "198.51.100.7", "239.1.1.1")]] == outs(32, 40)
    assert ov.Flow("in0", None, "239.1.1.1") not in copies and ov.Flow("in0", SENDER, "239.1.1.1") not in copies


def test_if_joined_outputs_are_copied_only_while_someone_listens():
    present = ifaces(*(["in0"] + outs(1, 40)))
    text = line("239.1.1.1", outs(1, 40), SENDER).replace("\n", " if-joined\n")
    table, vifs, learned, _present = _inputs(text, present)
    copies = routes.desired_overflow(table, vifs, learned, present, lambda name, _s, _g: name in ("o35", "o1"))
    assert [output.name for output in copies[ov.Flow("in0", SENDER, "239.1.1.1")]] == ["o35"]


def test_wildcard_outputs_never_copy_back_to_the_input_nor_to_a_disabled_interface():
    present = ifaces(*(["eth0"] + ["eth%d" % n for n in range(1, 40)]))
    text = "phyint eth39 disable\n" + line("239.1.1.1", ["eth+"], SENDER, iif="eth0")
    _vifs, _entries, copies = planned(text, present)
    [names] = copies.values()
    assert "eth0" not in names and "eth39" not in names and len(names) == 38 - 31


def test_without_outputs_beyond_the_vifs_nothing_is_copied():
    _vifs, _entries, copies = planned(line("239.1.1.1", outs(1, 3), SENDER), ifaces("in0", "o1", "o2", "o3"))
    assert copies == {}


def test_ipv6_routes_are_copied_in_their_own_family():
    present = ifaces(*(["in0"] + outs(1, 40)))
    _vifs, _entries, copies = planned(line("ff0e::1", outs(1, 40)), present, family=6)
    assert copies == {ov.Flow("in0", None, "ff0e::1"): outs(32, 40)}  # a kernel (*,G) entry and its copies


def test_pending_lists_no_output_that_nftables_serves():
    config = conf.parse_text(line("239.1.1.1", outs(1, 40), SENDER) + line("239.2.2.2", ["gone0"], SENDER),
                             overflow=True)
    present = ifaces(*(["in0"] + outs(1, 40)))
    vifs = routes.plan_vifs({}, routes.wanted_vifs(config, present))[0]
    rows = routes.pending(config, present, {4: vifs, 6: {}}, overflow=True)
    assert [(row["missing"], row["state"]) for row in rows] == [(["gone0"], "partial")]
    without = routes.pending(config, present, {4: vifs, 6: {}})
    assert without[0]["missing"] == outs(32, 40)


# -- the configuration without nft --------------------------------------------------------------------------
def test_without_nft_more_interfaces_than_vifs_are_refused_with_what_to_install():
    text = line("239.1.1.1", outs(1, 40))
    with pytest.raises(conf.ConfigError) as raised:
        conf.parse_text(text)
    [error] = raised.value.errors
    assert "nft, with which mcastd copies to the others, is not installed (install the nftables package" in error
    assert error.endswith("left out: " + ", ".join(outs(32, 40)))
    assert len(conf.parse_text(text, overflow=True).mroutes) == 1


def test_a_runtime_add_beyond_the_vifs_is_refused_only_without_nft():
    config = conf.parse_text(line("239.1.1.1", outs(1, 31)), overflow=True)
    request = {"command": "add", "iif": "in0", "source": None, "group": "239.1.1.1", "oifs": ["o32"]}
    with pytest.raises(ControlError) as raised:
        runtime.change(config, request, 1)
    assert "not installed" in raised.value.details[0]
    new, _warnings = runtime.change(config, request, 1, overflow=True)
    assert new.mroutes[0].oifs[-1] == "o32"


def test_a_request_may_name_up_to_1024_outputs():
    request = {"version": 1, "command": "add", "iif": "in0", "group": "239.1.1.1", "oifs": outs(1, 1024)}
    assert len(control.parse_request(json.dumps(request).encode())["oifs"]) == 1024
    with pytest.raises(ControlError) as raised:
        control.parse_request(json.dumps(dict(request, oifs=outs(1, 1025))).encode())
    assert "at most 1024 interface names" in str(raised.value)


# -- the runner: one transaction per change, the table only when needed ---------------------------------------
class Recorder:
    """Stands in for nft: records each document, fails when told to."""

    def __init__(self):
        self.documents = []
        self.fail = False

    def __call__(self, nft, document):
        if self.fail:
            raise nftrun.NftError("nft refused the transaction: Error: Could not process rule")
        self.documents.append(json.loads(document)["nftables"])
        return ""


FLOW = ov.Flow("in0", SENDER, "239.1.1.1")
OUTPUTS = (ov.Output("o32", 34), ov.Output("o33", 35))


def test_a_start_clears_a_stale_table_once_and_then_runs_nothing_while_nothing_is_copied():
    recorder = Recorder()
    table = nftrun.OverflowTable("/usr/sbin/nft", runner=recorder)
    assert table.sync(4, {}) is True and recorder.documents == [ov.teardown(4)]
    assert table.sync(4, {}) is False and table.close() == [] and len(recorder.documents) == 1


def test_without_nft_nothing_runs_until_something_must_be_copied():
    table = nftrun.OverflowTable(None, runner=Recorder())
    assert table.sync(4, {}) is False and table.close() == []
    with pytest.raises(nftrun.NftError) as raised:
        table.sync(4, {FLOW: OUTPUTS})
    assert "install the nftables package" in str(raised.value)


def test_a_failed_transaction_is_made_anew_and_only_changes_run_otherwise():
    recorder = Recorder()
    table = nftrun.OverflowTable("/usr/sbin/nft", runner=recorder)
    recorder.fail = True
    with pytest.raises(nftrun.NftError):
        table.sync(4, {FLOW: OUTPUTS})
    recorder.fail = False
    assert table.sync(4, {FLOW: OUTPUTS}) is True
    assert recorder.documents[-1][:3] == ov.teardown(4) + [ov.teardown(4)[0]]  # the skeleton: the table anew
    assert table.sync(4, {FLOW: OUTPUTS}) is False
    assert table.sync(4, {FLOW: OUTPUTS[:1]}) is True and recorder.documents[-1] == ov.plan({FLOW: OUTPUTS[:1]},
                                                                                            {FLOW: OUTPUTS})


def test_close_removes_only_the_tables_this_daemon_made():
    recorder = Recorder()
    table = nftrun.OverflowTable("/usr/sbin/nft", runner=recorder)
    table.sync(4, {FLOW: OUTPUTS})
    assert table.close() == [] and recorder.documents[-1] == ov.teardown(4)
    assert all(document != ov.teardown(6) for document in recorder.documents)  # ip6 was never touched
    untouched = nftrun.OverflowTable("/usr/sbin/nft", runner=recorder)
    assert untouched.close() == [] and len(recorder.documents) == 2  # a start that failed removes nothing


def test_rule_counters_name_each_output_with_its_rules_counter():
    listing = {"nftables": [
        {"metainfo": {}}, {"table": {"family": "ip", "name": "mcastd"}},
        {"rule": {"chain": "prerouting", "expr": [{"vmap": {}}]}},
        {"rule": {"chain": "flow-abc", "expr": [{"counter": {"packets": 7, "bytes": 70}},
                                                {"dup": {"addr": "239.1.1.1", "dev": "o32"}},
                                                {"dup": {"addr": "239.1.1.1", "dev": "o33"}}]}}]}
    assert nftrun.rule_counters(listing) == {"flow-abc": {"o32": (7, 70), "o33": (7, 70)}}


def test_find_nft_looks_in_the_sbin_directories_then_in_path(tmp_path):
    program = tmp_path / "nft"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert nftrun.find_nft("/nonexistent:" + str(tmp_path), search=()) == str(program)
    assert nftrun.find_nft("/nonexistent", search=(str(tmp_path),)) == str(program)
    assert nftrun.find_nft("/nonexistent", search=()) is None
    with pytest.raises(nftrun.NftError) as raised:
        nftrun.run(None, "{}")
    assert "nft is not installed" in str(raised.value)


# -- what mcastctl shows ------------------------------------------------------------------------------------
ROW = {"source": SENDER, "group": "239.1.1.1", "iif": "in0", "oifs": ["o1", "o32"], "kind": "static",
       "packets": 5, "bytes": 500, "nft_packets": 4, "age": None, "origin": "x.conf:1",
       "outputs": [{"name": "o1", "served": "kernel", "packets": 5, "bytes": 500},
                   {"name": "o32", "served": "nftables", "packets": 4, "bytes": 400}]}


def test_show_routes_marks_the_outputs_nftables_serves_and_its_counter():
    text = ctl.render({"command": "show", "what": "routes"}, [ROW])
    heading, row = text.splitlines()
    assert "NFT-PACKETS" in heading.split()
    assert row.split() == [SENDER, "239.1.1.1", "in0", "o1,o32(nft)", "static", "5", "500", "4", "-", "x.conf:1"]


def test_show_routes_detailed_lists_each_output_where_it_is_served_and_its_counters():
    text = ctl.render({"command": "show", "what": "routes"}, [ROW], detailed=True)
    assert text.splitlines() == ["(192.0.2.10, 239.1.1.1) from in0, static, x.conf:1",
                                 "  o1               kernel    5 packets, 500 bytes",
                                 "  o32              nftables  4 packets, 400 bytes"]
    options, _rest = ctl.parse_options(["-d", "show"])
    assert options["detailed"] is True


# -- the daemon: what it renders on learning, flush and failure ------------------------------------------------
class QueuedKernel(FakeKernel):
    """FakeKernel that hands out the upcalls a test queues."""

    def __init__(self):
        super().__init__()
        self.queue = []

    def drain(self):
        upcalls, self.queue = self.queue, []
        return upcalls, []


class ListingRecorder(Recorder):
    """Recorder that also answers ``nft -j list table``: each chain it made copies to o32..o40, 9 packets counted."""

    def __call__(self, nft, document):
        if not isinstance(document, list):
            return super().__call__(nft, document)
        copies = [{"dup": {"addr": "239.1.1.1", "dev": name}} for name in outs(32, 40)]
        rules = [{"rule": {"chain": chain, "expr": [{"counter": {"packets": 9, "bytes": 90}}] + copies}}
                 for chain in self.chains()]
        return json.dumps({"nftables": rules})

    def chains(self):
        return [command["add"]["chain"]["name"] for document in self.documents for command in document
                if "add" in command and "chain" in command["add"] and "hook" not in command["add"]["chain"]]


def started_daemon(text, recorder):
    """A daemon in the state start() leaves, with the kernel and nft recorded instead of called."""
    options = types.SimpleNamespace(config="m.conf", socket="unused", cache_timeout=60.0)
    mcastd = mcastd_daemon.Daemon(options, log=logging.getLogger("mcastd-test-overflow"))
    assert mcastd.overflow.nft is None  # a daemon that did not start never runs nft
    mcastd.overflow = nftrun.OverflowTable("/usr/sbin/nft", runner=recorder)
    mcastd.mroute = QueuedKernel()
    mcastd.ifaces = ifaces(*(["in0"] + outs(1, 40)))
    config = conf.parse_text(text, overflow=True)
    mcastd.config = mcastd.file_config = config
    mcastd.table = routes.RouteTable(config)
    mcastd.apply()
    mcastd.render_overflow()
    return mcastd


PER_FLOW = line("239.1.1.1", outs(1, 40)) + line("239.1.1.1", ["o1"], "10.9.9.9")  # copied per learned flow
LEARNED = ov.Flow("in0", SENDER, "239.1.1.1")


def test_a_learned_flow_is_rendered_shown_with_where_each_output_is_served_and_removed_by_a_flush():
    recorder = ListingRecorder()
    mcastd = started_daemon(PER_FLOW, recorder)
    assert recorder.documents == [ov.teardown(4)]  # a stale table of an earlier run goes; nothing to copy yet
    mcastd.mroute.queue.append(kernel.Upcall(mcastd.vifs["in0"].index, conf.aton(SENDER), conf.aton("239.1.1.1"),
                                             kernel.IGMPMSG_NOCACHE))
    mcastd.on_upcalls()
    assert recorder.chains() == [ov.chain_name(LEARNED)] and mcastd.counters["nft_transactions"] == 2
    [row] = [row for row in mcastd.show_routes() if row["kind"] == "learned"]
    assert [(output["name"], output["served"], output["packets"]) for output in row["outputs"]] == (
        [(name, "kernel", 0) for name in outs(1, 31)] + [(name, "nftables", 9) for name in outs(32, 40)])
    assert row["nft_oifs"] == outs(32, 40) and row["nft_packets"] == 9
    assert mcastd.status()["nftables"]["ipv4"] == {"flows": 1, "outputs": 9}
    mcastd.flush()
    assert recorder.documents[-1] == ov.teardown(4) and mcastd.v4.overflow == {}


def test_a_failed_transaction_is_counted_and_retried_and_the_daemon_carries_on():
    recorder = ListingRecorder()
    mcastd = started_daemon(line("239.1.1.1", outs(1, 40), SENDER), recorder)
    assert recorder.chains() == [ov.chain_name(ov.Flow("in0", SENDER, "239.1.1.1"))]
    recorder.documents, recorder.fail, mcastd.retry = [], True, False
    mcastd.ifaces = dict(mcastd.ifaces, o40=Iface("o40", 999, UP_MC))  # re-created: a new ifindex to render
    mcastd.apply()
    mcastd.render_overflow()
    assert (mcastd.counters["nft_errors"], mcastd.retry, recorder.documents) == (1, True, [])
    recorder.fail = False
    mcastd.render_overflow()  # what the next rescan does
    assert recorder.documents[-1][:3] == ov.teardown(4) + [ov.teardown(4)[0]]  # the table made anew
    assert mcastd.counters["nft_errors"] == 1


# -- nothing to copy costs nothing: no walk, no nft, no OpenSSL ------------------------------------------------
def test_without_an_interface_that_lacks_a_vif_nothing_is_copied_and_the_walk_is_skipped():
    """plane.unserved is what the planes test before walking every route and flow: empty must mean no copies."""
    cases = [(line("239.1.1.1", outs(1, 3), SENDER), ifaces("in0", "o1", "o2", "o3", "lo"), False),
             (line("239.1.1.1", ["eth+"], SENDER, iif="eth0"), ifaces(*("eth%d" % n for n in range(0, 31))), False),
             (line("239.1.1.1", outs(1, 40), SENDER), ifaces(*(["in0"] + outs(1, 40))), True),
             (line("239.1.1.1", ["eth+"], SENDER, iif="eth0"), ifaces(*("eth%d" % n for n in range(0, 40))), True),
             (line("239.2.2.2", outs(1, 40)) + line("239.1.1.1", ["o1", "x0"], SENDER, iif="late0"),
              ifaces(*(["in0"] + outs(1, 40) + ["late0", "x0"])), True)]  # late0, the input, has no VIF
    for text, present, copied in cases:
        config = conf.parse_text(text, overflow=True)
        table = routes.RouteTable(config, 4)
        wanted = routes.wanted_vifs(config, present)
        vifs = routes.plan_vifs({}, wanted)[0]
        assert bool(plane.unserved(wanted, vifs)) is copied
        assert bool(routes.desired_overflow(table, vifs, {}, present)) is copied


def test_a_daemon_whose_routes_fit_the_vifs_learns_flows_without_building_copies():
    recorder = ListingRecorder()
    mcastd = started_daemon(line("239.1.0.0/16", outs(1, 3)), recorder)
    assert mcastd.v4.unserved == [] and recorder.documents == [ov.teardown(4)]
    mcastd.mroute.queue.append(kernel.Upcall(mcastd.vifs["in0"].index, conf.aton(SENDER), conf.aton("239.1.2.3"),
                                             kernel.IGMPMSG_NOCACHE))
    mcastd.on_upcalls()
    assert mcastd.counters["learned"] == 1 and mcastd.v4.overflow == {} and len(recorder.documents) == 1
    [row] = [row for row in mcastd.show_routes() if row["kind"] == "learned"]
    assert row["nft_oifs"] == [] and [output["served"] for output in row["outputs"]] == ["kernel"] * 3


def test_a_start_runs_nft_only_when_the_probe_does_not_know_the_table_absent():
    for answer, documents in ((False, []), (True, [ov.teardown(4)]), (None, [ov.teardown(4)])):
        recorder = Recorder()
        asked = []
        table = nftrun.OverflowTable("/usr/sbin/nft", runner=recorder,
                                     probe=lambda family, name, answer=answer: asked.append((family, name)) or answer)
        assert table.sync(4, {}) is bool(documents) and recorder.documents == documents
        assert asked == [(4, "mcastd")] and table.sync(4, {}) is False and len(asked) == 1  # known from then on
        assert table.close() == [] and recorder.documents == documents  # the table is known absent: nothing to do


def _netlink(kind, payload):
    return struct.pack("=IHHII", 16 + len(payload), kind, 0, 1, 0) + payload


def test_table_exists_reads_the_kernels_answer():
    assert nftrun.table_answer(_netlink(nftrun.NFT_MSG_NEWTABLE, bytes(8))) is True
    assert nftrun.table_answer(_netlink(2, struct.pack("=i", -errno.ENOENT) + bytes(16))) is False
    assert nftrun.table_answer(_netlink(2, struct.pack("=i", -errno.EPERM) + bytes(16))) is None
    assert nftrun.table_answer(b"") is None


def test_importing_the_daemon_loads_neither_openssl_nor_subprocess():
    """hashlib (OpenSSL, 3.7 MB of RSS) and subprocess (0.45 MB) only when nftables copies something."""
    code = ("import sys; sys.path.insert(0, %r); import mcastd.main; "
            "print(sorted(set(sys.modules) & {'hashlib', '_hashlib', 'subprocess'}))" % MODULE_UTILS)
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
