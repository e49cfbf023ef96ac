"""The pure parts of the benchmark rows for routes beyond 31 outputs (tests/bench/bench_mcastd.py, mcast_blast.py)."""
import copy
import json
from pathlib import Path

import pytest

from tests.bench import bench_mcastd as bench
from tests.bench import mcast_blast

REPO = Path(__file__).resolve().parents[2]


def blast(sent=1000, seconds=2.0, self_ns=1_000_000_000, ksoftirqd_ns=0, idle_ns=0):
    return {"sent": sent, "seconds": seconds, "self_ns": self_ns, "ksoftirqd_ns": ksoftirqd_ns, "idle_seconds": 0.5,
            "ksoftirqd_idle_ns": idle_ns, "cpu": 1}


def test_a_trial_counts_the_outputs_reached_and_the_least_any_of_them_received():
    received = dict((n, 1000) for n in range(1, 101))
    received.update({5: 990, 40: 400, 77: 3})  # 40 got less than half: not reached
    figures = bench.trial_figures(blast(), received, 60)
    assert (figures["reached"], figures["delivered"], figures["outside"]) == (59, 990, 1000)
    assert bench.trial_figures(blast(), dict((n, 0) for n in range(1, 101)), 31)["reached"] == 0


def test_a_trial_charges_the_sender_and_its_ksoftirqd_less_what_ksoftirqd_did_before():
    # ksoftirqd: 0.3 s in the 2 s window, 0.025 s in the 0.5 s idle window before -> 0.1 s of others' work
    figures = bench.trial_figures(blast(self_ns=1_500_000_000, ksoftirqd_ns=300_000_000, idle_ns=25_000_000), {}, 0)
    assert figures["cpu_s"] == pytest.approx(1.7)
    assert bench.cpu_per_datagram_us(figures) == pytest.approx(1700.0)
    # never below the sender's own time, whatever ksoftirqd did before
    assert bench.trial_figures(blast(ksoftirqd_ns=0, idle_ns=10**9), {}, 0)["cpu_s"] == pytest.approx(1.0)


def trial(sent, cpu_s, reached, seconds=2.0):
    return {"sent": sent, "seconds": seconds, "reached": reached, "delivered": sent, "outside": 0, "cpu_s": cpu_s,
            "ksoftirqd_s": 0.0}


def results(exited=False):
    """A daemon's overflow results: 5 µs per datagram alone, then 45, 85 and 165 µs with 31, 60, 100 outputs."""
    found = {"alone": [trial(100000, 0.5, 0), trial(100000, 0.6, 0), trial(100000, 0.4, 0)]}
    for size, cost in ((31, 45), (60, 85), (100, 165)):
        if exited and size > 31:
            found["route%d" % size] = {"installed": False, "exited": -6, "said": "*** stack smashing ***",
                                       "trials": []}
        else:
            found["route%d" % size] = {"installed": True, "kernel_outputs": 31, "trials": [
                trial(10000, 10000 * cost / 1e6, size, seconds) for seconds in (1.0, 2.0, 4.0)]}
    found["install"] = ({"seconds": False, "entries": 0, "kernel_outputs": {}, "nft_copies": {}, "log_lines": 0,
                         "exited": -6, "said": "*** stack smashing ***"} if exited else
                        {"seconds": 0.5, "entries": 1000, "kernel_outputs": {"31": 1000}, "nft_copies": {"9": 1000},
                         "log_lines": 0})
    return found


def test_the_router_cpu_is_what_the_datagram_costs_beyond_the_sender_alone_relative_to_31_outputs():
    figures = bench.overflow_figures(results())
    assert figures["alone"] == pytest.approx(5.0)
    assert [figures[size]["router_us"] for size in (31, 60, 100)] == pytest.approx([40.0, 80.0, 160.0])
    assert [figures[size]["relative"] for size in (31, 60, 100)] == pytest.approx([1.0, 2.0, 4.0])
    assert figures[100]["reached"] == 100
    assert figures[100]["rate"] == pytest.approx(1e6 / 165)  # per second of the sending CPU
    assert figures[100]["wall"] == pytest.approx(10000 / 2.0)  # the median of 1, 2 and 4 s
    assert bench.overflow_figures(results(exited=True))[60] is None


def test_the_rows_show_a_daemon_that_exits_with_its_signal_and_last_words():
    rows = dict((row[0], row[1:]) for row in bench.overflow_rows(results(), results(exited=True)))
    assert rows["one route to 100 outputs: outputs reached"] == (
        "100 of 100", "exits at start (SIGABRT: `*** stack smashing ***`)", "-")
    assert rows["one route to 31 outputs: router CPU per datagram (× the 31-output MFC entry)"] == (
        "40.0 µs (1.00×)", "40.0 µs (1.00×)", "1.0")
    assert rows["one route to 60 outputs: router CPU per datagram (× the 31-output MFC entry)"][0] == "80.0 µs (2.00×)"
    assert rows["1,000 routes of 40 outputs: kernel entries, outputs of each"] == (
        "1000, 40 (31 kernel + 9 nftables)", "-", "-")
    assert rows["start until 1,000 (S,G) routes of 40 outputs are installed"][0] == "0.500 s"


def test_the_docs_table_gains_the_overflow_rows_only_from_a_record_that_has_them():
    record = json.loads((REPO / "docs" / "bench" / "bench-mcastd.json").read_text(encoding="utf-8"))
    for daemon in ("mcastd", "smcroute"):
        record[daemon].pop("overflow", None)
    plain = bench.markdown_table(record)
    assert "routes beyond 31 outputs" not in plain
    full = copy.deepcopy(record)
    full["mcastd"]["overflow"], full["smcroute"]["overflow"] = results(), results(exited=True)
    full["overflow_setup"] = bench.overflow_setup()
    table = bench.markdown_table(full)
    assert table.startswith(plain + "\n\n| routes beyond 31 outputs (IPv4) | mcastd | smcroute | ratio |\n")
    assert table.count("\n| one route to ") == 9


def test_the_install_configuration_names_every_output_on_each_route():
    text = bench.install_config(routes=3, outputs=40)
    lines = text.splitlines()
    assert lines[:2] == ["phyint up0 enable", "phyint o1 enable"] and len(lines) == 41 + 3
    assert lines[-1] == "mroute from up0 source 10.1.0.10 group 239.3.0.3 to %s" % " ".join(
        "o%d" % n for n in range(1, 41))


def test_the_blaster_finds_its_cpus_ksoftirqd_and_reads_run_times(tmp_path):
    for pid, comm in (("7", "ksoftirqd/0"), ("22", "ksoftirqd/1"), ("self", "python")):
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "comm").write_text(comm + "\n")
    (tmp_path / "22" / "schedstat").write_text("123456789 1000 7\n")
    path = mcast_blast.ksoftirqd(1, proc=str(tmp_path))
    assert path == str(tmp_path / "22" / "schedstat") and mcast_blast.run_ns(path) == 123456789
    with pytest.raises(RuntimeError, match="ksoftirqd/3"):
        mcast_blast.ksoftirqd(3, proc=str(tmp_path))


def test_the_docs_describe_how_the_stored_run_charged_softirq_time():
    """docs/mcastd.md says the run's kernel charges softirq time to the task it interrupts: the record says so."""
    record = json.loads((REPO / "docs" / "bench" / "bench-mcastd.json").read_text(encoding="utf-8"))
    text = (REPO / "docs" / "mcastd.md").read_text(encoding="utf-8")
    if "overflow" not in record["mcastd"]:
        pytest.skip("the stored run has no rows for routes beyond 31 outputs")
    assert "this kernel has no `CONFIG_IRQ_TIME_ACCOUNTING`" in text
    assert record["irq_time_accounting"] is False


def test_the_cost_of_a_copy_the_docs_give_is_the_stored_runs():
    """Once a stored run has the overflow rows, "Costs and limits" in docs/mcastd.md quotes its figures."""
    record = json.loads((REPO / "docs" / "bench" / "bench-mcastd.json").read_text(encoding="utf-8"))
    if "overflow" not in record["mcastd"]:
        pytest.skip("the stored run has no rows for routes beyond 31 outputs")
    figures = bench.overflow_figures(record["mcastd"]["overflow"], tuple(record["overflow_setup"]["sizes"]))
    per_copy = (figures[100]["router_us"] - figures[31]["router_us"]) / 69  # the 69 outputs nftables copies to
    text = " ".join((REPO / "docs" / "mcastd.md").read_text(encoding="utf-8").split())
    assert "a copy nftables makes costs about %.1f µs of CPU" % per_copy in text
    assert "a route to 100 outputs costs %.1f times one 31-output MFC entry per datagram" % (
        figures[100]["relative"]) in text


def test_a_daemon_that_installs_every_route_and_then_exits_is_shown_with_both():
    gone = results(exited=True)
    gone["install"] = {"seconds": 0.9, "entries": 1000, "kernel_outputs": {"31": 1000}, "nft_copies": {},
                       "log_lines": 9, "log_first": "Not enough available VIFs to create o32", "exited": -6,
                       "said": "*** stack smashing ***"}
    rows = dict((row[0], row[1:]) for row in bench.overflow_rows(results(), gone))
    assert rows["start until 1,000 (S,G) routes of 40 outputs are installed"] == (
        "0.500 s", "0.900 s, then exits (SIGABRT: `*** stack smashing ***`)", "-")
    assert rows["1,000 routes of 40 outputs: kernel entries, outputs of each"][1] == "1000, 31 (kernel)"
