"""mcast.linux.bridge against a real bridge in a namespace, through the netns connection.

The switch namespace has bridge ``br0`` with ports ``swp1`` and ``swp2`` and a third veth end ``swp3``
that is not enslaved; the other ends live in ``peer``. Readers look at the kernel with pyroute2 directly.
"""
import os
import subprocess
import time

import pytest
from pyroute2 import IPRoute

from tests.integration.harness import run_module
from tests.lab.fixtures import unique_prefix
from tests.lab.netlab import Lab

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces")]

SWITCH = "switch"
TOPOLOGY = {
    "hosts": {SWITCH: {}, "peer": {}},
    "segments": {
        "one": {"ends": [{"host": SWITCH, "iface": "swp1", "address": "192.0.2.11/24"},
                         {"host": "peer", "iface": "h1", "address": "192.0.2.1/24"}]},
        "two": {"ends": [{"host": SWITCH, "iface": "swp2", "address": "198.51.100.11/24"},
                         {"host": "peer", "iface": "h2", "address": "198.51.100.1/24"}]},
        "three": {"ends": [{"host": SWITCH, "iface": "swp3", "address": "203.0.113.11/24"},
                           {"host": "peer", "iface": "h3", "address": "203.0.113.1/24"}]},
    },
}
BRIDGE_ATTRIBUTES = {
    "snooping": "IFLA_BR_MCAST_SNOOPING", "querier": "IFLA_BR_MCAST_QUERIER",
    "igmp_version": "IFLA_BR_MCAST_IGMP_VERSION", "mld_version": "IFLA_BR_MCAST_MLD_VERSION",
    "query_interval": "IFLA_BR_MCAST_QUERY_INTVL", "query_response_interval": "IFLA_BR_MCAST_QUERY_RESPONSE_INTVL",
    "membership_interval": "IFLA_BR_MCAST_MEMBERSHIP_INTVL", "querier_interval": "IFLA_BR_MCAST_QUERIER_INTVL",
    "last_member_interval": "IFLA_BR_MCAST_LAST_MEMBER_INTVL",
    "startup_query_interval": "IFLA_BR_MCAST_STARTUP_QUERY_INTVL",
    "query_use_ifaddr": "IFLA_BR_MCAST_QUERY_USE_IFADDR",
}
PORT_ATTRIBUTES = {"mcast_flood": "IFLA_BRPORT_MCAST_FLOOD", "mcast_router": "IFLA_BRPORT_MULTICAST_ROUTER"}


class Switch:
    """The switch namespace: run the module there and read its bridge's settings (kernel units)."""

    def __init__(self, lab):
        self.lab = lab
        self.namespace = lab.ns(SWITCH)
        for argv in (["link", "add", "br0", "type", "bridge"], ["link", "set", "swp1", "master", "br0"],
                     ["link", "set", "swp2", "master", "br0"], ["link", "set", "br0", "up"]):
            lab.run(SWITCH, ["ip", *argv])

    def module(self, args, check=False, diff=False):
        """Run the module on br0; the running kernel only unless ``args`` asks for persistence."""
        return run_module(self.namespace, "mcast.linux.bridge", dict({"name": "br0", "persist": False}, **args),
                          check=check, diff=diff)

    def state(self):
        """Every bridge value and the port values of swp1/swp2, as the kernel reports them."""
        with IPRoute(netns=self.namespace) as ipr:
            links = dict((msg.get_attr("IFLA_IFNAME"), msg.get_attr("IFLA_LINKINFO")) for msg in ipr.get_links())
        data = links["br0"].get_attr("IFLA_INFO_DATA")
        state = dict((option, data.get_attr(attribute)) for option, attribute in BRIDGE_ATTRIBUTES.items())
        for port in ("swp1", "swp2"):
            port_data = links[port].get_attr("IFLA_INFO_SLAVE_DATA")
            state[port] = dict((option, port_data.get_attr(attribute)) for option, attribute in PORT_ATTRIBUTES.items())
        return state


@pytest.fixture(name="switch")
def fixture_switch(make_netns_lab):
    """A fresh switch for one test."""
    return Switch(make_netns_lab(TOPOLOGY, prefix=unique_prefix("fqbr")))


@pytest.fixture(scope="module", name="unchanging_switch")
def fixture_unchanging_switch():
    """One switch for the refusal tests, which each assert that nothing changed."""
    lab = Lab(TOPOLOGY, prefix=unique_prefix("fqbu"))
    try:
        lab.up()
        yield Switch(lab)
    finally:
        lab.down()


QUERIER_SWITCH = {"snooping": True, "querier": True, "igmp_version": 3, "mld_version": 2,
                  "query_interval": 20, "query_response_interval": 2.5, "membership_interval": 42.5,
                  "querier_interval": 41, "last_member_interval": 0.5, "startup_query_interval": 5.25,
                  "query_use_ifaddr": True}


def test_defaults_are_the_kernels(switch):
    state = switch.state()
    assert state["snooping"] == 1 and state["querier"] == 0
    assert state["query_interval"] == 12500 and state["membership_interval"] == 26000
    assert state["swp1"] == {"mcast_flood": 1, "mcast_router": 1}


def test_every_bridge_option_set_read_back_and_idempotent(switch):
    before = switch.state()
    preview = switch.module(QUERIER_SWITCH, check=True, diff=True)
    assert preview["changed"] is True
    assert switch.state() == before, "check mode changed the kernel"
    assert preview["before"]["query_interval"] == 125.0 and preview["after"]["query_interval"] == 20.0
    assert {change["option"] for change in preview["changes"]} == set(QUERIER_SWITCH) - {"snooping"}
    assert "br0 query_interval=125.0" in preview["diff"][0]["before"]
    assert "br0 query_interval=20.0" in preview["diff"][0]["after"]

    applied = switch.module(QUERIER_SWITCH)
    assert applied["changed"] is True, applied
    state = switch.state()
    assert state["querier"] == 1 and state["igmp_version"] == 3 and state["mld_version"] == 2
    assert state["query_use_ifaddr"] == 1
    assert state["query_interval"] == 2000 and state["query_response_interval"] == 250
    assert state["membership_interval"] == 4250 and state["querier_interval"] == 4100
    assert state["last_member_interval"] == 50 and state["startup_query_interval"] in (524, 525)
    assert applied["after"]["query_interval"] == 20.0 and applied["after"]["querier"] is True
    assert len(applied["changes"]) == 10

    again = switch.module(QUERIER_SWITCH, diff=True)
    assert again["changed"] is False, again["changes"]
    assert again["changes"] == [] and again["diff"] == []
    assert switch.state() == state


def test_snooping_off_and_back(switch):
    off = switch.module({"snooping": False})
    assert off["changed"] is True and switch.state()["snooping"] == 0
    assert off["changes"] == [{"interface": "br0", "option": "snooping", "before": True, "after": False}]
    assert switch.module({"snooping": True})["changed"] is True
    assert switch.state()["snooping"] == 1


def test_per_port_flood_and_router(switch):
    args = {"ports": [{"name": "swp1", "mcast_router": 2}, {"name": "swp2", "mcast_flood": False, "mcast_router": 0}]}
    preview = switch.module(args, check=True)
    assert preview["changed"] is True and switch.state()["swp1"]["mcast_router"] == 1
    assert preview["after"]["ports"]["swp2"] == {"mcast_flood": False, "mcast_router": 0}

    applied = switch.module(args)
    assert applied["changed"] is True
    state = switch.state()
    assert state["swp1"] == {"mcast_flood": 1, "mcast_router": 2}
    assert state["swp2"] == {"mcast_flood": 0, "mcast_router": 0}
    assert applied["before"]["ports"]["swp2"] == {"mcast_flood": True, "mcast_router": 1}
    assert switch.module(args)["changed"] is False

    back = switch.module({"ports": [{"name": "swp2", "mcast_flood": True, "mcast_router": 1}]})
    assert back["changed"] is True and switch.state()["swp2"] == {"mcast_flood": 1, "mcast_router": 1}


def test_clamped_query_interval_fails_and_says_what_to_write(switch):
    result = switch.module({"query_interval": 0.5, "query_response_interval": 0.2})
    assert result.get("failed") is True, result
    assert ("the kernel kept query_interval of br0 at 1.0 instead of 0.5 (it clamps values outside its range); "
            "write query_interval: 1.0 instead.") in result["msg"]
    assert switch.state()["query_interval"] == 100
    assert result["after"]["query_interval"] == 1.0


BAD_INPUTS = [
    ({"membership_interval": 0}, "membership_interval is 0: the kernel would accept it"),
    ({"query_interval": -1}, "query_interval is -1.0: an interval cannot be negative"),
    ({"last_member_interval": 0.005}, "last_member_interval is 0.005 s: the kernel keeps intervals in centiseconds"),
    ({"querier_interval": 100000}, "more than a day (86400 s) is no IGMP or MLD timer"),
    ({"query_response_interval": 125}, "query_response_interval (125.0 s) must be shorter than query_interval (125.0 s)"),
    ({"query_interval": 5}, "query_response_interval (10.0 s) must be shorter than query_interval (5.0 s)"),
    ({"query_interval": "often"}, "query_interval"),
    ({"igmp_version": 1}, "value of igmp_version must be one of: 2, 3"),
    ({"mld_version": 3}, "value of mld_version must be one of: 1, 2"),
    ({"name": "br9"}, "bridge br9 does not exist on this host; existing interfaces: br0, lo, swp1, swp2, swp3"),
    ({"name": "swp1"}, "swp1 is not a bridge (its kind is veth)"),
    ({"name": "br0:1"}, "cannot be an interface name"),
    ({"ports": [{"name": "swp3", "mcast_flood": False}]}, "swp3 is not a port of bridge br0; enslave it first"),
    ({"ports": [{"name": "swp9", "mcast_flood": False}]}, "port swp9 does not exist on this host"),
    ({"ports": [{"name": "swp1", "mcast_flood": False}, {"name": "swp1", "mcast_router": 2}]},
     "ports lists swp1 more than once"),
    ({"ports": [{"name": "swp1"}]}, "port swp1 has no setting"),
    ({"ports": [{"name": "swp1", "mcast_router": 3}]}, "value of mcast_router must be one of: 0, 1, 2"),
    ({"ports": [{"mcast_flood": True}]}, "missing required arguments: name"),
    ({"querier": True, "mcast_querier": True}, "Unsupported parameters"),
    # A good change next to a bad one: nothing is applied.
    ({"querier": True, "membership_interval": 0}, "membership_interval is 0"),
    ({"querier": True, "ports": [{"name": "swp3", "mcast_router": 2}]}, "swp3 is not a port of bridge br0"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_input_fails_with_the_reason_and_changes_nothing(unchanging_switch, args, message):
    before = unchanging_switch.state()
    result = unchanging_switch.module(args)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert unchanging_switch.state() == before


# --------------------------------------------------------------------------- persistence: the bridge keeper

PERSISTED = {"querier": True, "query_interval": 20, "query_response_interval": 2.5, "query_use_ifaddr": True,
             "ports": [{"name": "swp1", "mcast_router": 2, "mcast_flood": False}]}


def persistence_files(tmp_path):
    return {"settings_file": str(tmp_path / "etc" / "bridges.json"),
            "keeper_file": str(tmp_path / "lib" / "bridge_keeper.py"),
            "unit_file": str(tmp_path / "system" / "mcast-linux-bridges.service")}


def exec_start(unit_file):
    """The unit's ExecStart command as an argv list (the paths in it have no spaces)."""
    with open(unit_file, encoding="utf-8") as stream:
        [line] = [line for line in stream.read().splitlines() if line.startswith("ExecStart=")]
    return line[len("ExecStart="):].split()


def recreate_bridge(switch):
    """A fresh br0, as the network manager creates it at boot: the kernel's defaults, swp1 and swp2 enslaved."""
    switch.lab.run(SWITCH, ["ip", "link", "del", "br0"])
    for argv in (["link", "add", "br0", "type", "bridge"], ["link", "set", "swp1", "master", "br0"],
                 ["link", "set", "swp2", "master", "br0"], ["link", "set", "br0", "up"]):
        switch.lab.run(SWITCH, ["ip", *argv])


def persisted_state_applied(state):
    return (state["querier"] == 1 and state["query_interval"] == 2000 and state["query_response_interval"] == 250
            and state["query_use_ifaddr"] == 1 and state["swp1"] == {"mcast_flood": 0, "mcast_router": 2})


def test_check_mode_reports_the_files_and_writes_none(switch, tmp_path):
    files = persistence_files(tmp_path)
    before = switch.state()
    preview = switch.module(dict(PERSISTED, persist=True, **files), check=True, diff=True)
    assert preview["changed"] is True, preview
    assert preview["persistence"]["files"] == [
        files["settings_file"], files["keeper_file"], files["unit_file"],
        str(tmp_path / "system" / "multi-user.target.wants" / "mcast-linux-bridges.service")]
    assert preview["persistence"]["service"] == []  # no systemd as PID 1 here, and not a unit directory
    headers = [entry["after_header"] for entry in preview["diff"]]
    assert files["settings_file"] in headers and files["unit_file"] in headers
    assert not os.listdir(tmp_path) and switch.state() == before


def test_the_units_command_reapplies_the_settings_on_a_fresh_bridge(switch, tmp_path):
    files = persistence_files(tmp_path)
    applied = switch.module(dict(PERSISTED, persistent=True, **files))  # the alias the issue names
    assert applied["changed"] is True and len(applied["persistence"]["files"]) == 4, applied
    assert persisted_state_applied(switch.state())
    again = switch.module(dict(PERSISTED, persist=True, **files))
    assert again["changed"] is False and again["persistence"] == {"files": [], "service": []}, again
    kernel_only = switch.module({"querier": False, "persist": False, "settings_file": files["settings_file"]})
    assert "persists other values for br0 querier: its bridge keeper sets them back" in kernel_only["warnings"][0]

    recreate_bridge(switch)
    assert switch.state()["querier"] == 0, "a fresh bridge has the kernel's defaults"
    once = switch.lab.run(SWITCH, exec_start(files["unit_file"]) + ["--once"])
    assert persisted_state_applied(switch.state()), once.stderr
    assert "set br0 type bridge mcast_querier 1" in once.stderr


def test_the_running_keeper_applies_the_settings_when_the_bridge_appears_later(switch, tmp_path):
    files = persistence_files(tmp_path)
    assert switch.module(dict(PERSISTED, persist=True, **files))["changed"] is True
    switch.lab.run(SWITCH, ["ip", "link", "del", "br0"])
    keeper = switch.lab.popen(SWITCH, exec_start(files["unit_file"]), stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # the keeper is up and finds no bridge: nothing to do yet
        assert keeper.poll() is None, keeper.stderr.read()
        for argv in (["link", "add", "br0", "type", "bridge"], ["link", "set", "br0", "up"],
                     ["link", "set", "swp1", "master", "br0"],  # the ports enslaved after the bridge came up
                     ["link", "set", "swp2", "master", "br0"]):
            switch.lab.run(SWITCH, ["ip", *argv])
        deadline = time.monotonic() + 3
        while not persisted_state_applied(switch.state()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert persisted_state_applied(switch.state())
        # Changed behind its back (as a network manager might): set back again.
        switch.lab.run(SWITCH, ["ip", "link", "set", "dev", "br0", "type", "bridge", "mcast_querier", "0"])
        deadline = time.monotonic() + 3
        while switch.state()["querier"] != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert switch.state()["querier"] == 1
    finally:
        keeper.terminate()
        keeper.wait(timeout=5)
    assert keeper.returncode == 0, keeper.stderr.read()


def test_an_unusable_settings_file_fails_before_anything_changes(switch, tmp_path):
    files = persistence_files(tmp_path)
    os.makedirs(os.path.dirname(files["settings_file"]))
    with open(files["settings_file"], "w", encoding="utf-8") as stream:
        stream.write("{broken")
    before = switch.state()
    result = switch.module(dict(PERSISTED, persist=True, **files))
    assert result.get("failed") is True and "bridges.json cannot be read: not JSON" in result["msg"], result
    assert switch.state() == before
