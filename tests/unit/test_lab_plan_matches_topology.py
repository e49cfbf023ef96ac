"""The lab's plan (playbooks/vars/lab.yml) and its topology (tests/lab/topology.yml) describe one lab."""
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_the_router_queries_often_enough_to_keep_the_switches_groups():
    """Robustness-many queries, each answered within the response interval, must fit one membership interval."""
    plan = yaml.safe_load((REPO / "playbooks" / "vars" / "lab.yml").read_text())
    switch = yaml.safe_load((REPO / "tests" / "lab" / "topology.yml").read_text())["switch"]
    igmp = plan["mcast_router_igmp"]
    assert igmp.get("robustness", 2) * igmp["query_interval"] + igmp["query_response_interval"] <= \
        switch["membership_interval"]


def test_the_switches_believe_in_a_vanished_querier_for_longer_than_the_querier_proof_lasts():
    """lab_querier.yml runs the router role (querier off) and then measures 2 membership intervals + 2 s:
    the switches must not go back to flooding meanwhile (they would, querier_interval after the last query)."""
    switch = yaml.safe_load((REPO / "tests" / "lab" / "topology.yml").read_text())["switch"]
    assert switch["querier_interval"] >= 60 + 2 * switch["membership_interval"] + 2
