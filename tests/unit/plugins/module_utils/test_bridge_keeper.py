"""The bridge keeper's settings file and the ip commands it plans from ``ip -j -d link show`` (no kernel)."""
import json

import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _bridge_keeper as keeper

IP = "/usr/sbin/ip"
KERNEL_DEFAULTS = {"mcast_snooping": 1, "mcast_querier": 0, "mcast_igmp_version": 2, "mcast_mld_version": 1,
                   "mcast_query_intvl": 12500, "mcast_query_response_intvl": 1000, "mcast_membership_intvl": 26000,
                   "mcast_querier_intvl": 25500, "mcast_last_member_intvl": 100, "mcast_startup_query_intvl": 3124,
                   "mcast_query_use_ifaddr": 0}


def bridge_link(name, **data):
    return {"ifname": name, "linkinfo": {"info_kind": "bridge", "info_data": dict(KERNEL_DEFAULTS, **data)}}


def port_link(name, master, mcast_flood=True, multicast_router=1):
    # ip prints mcast_flood as a JSON boolean and multicast_router as a number.
    return {"ifname": name, "master": master,
            "linkinfo": {"info_kind": "veth", "info_slave_kind": "bridge",
                         "info_slave_data": {"mcast_flood": mcast_flood, "multicast_router": multicast_router}}}


def test_json_keys_are_the_attribute_names_ip_prints():
    assert [keeper.json_key(attribute) for _option, attribute, _keyword, _kind in keeper.BRIDGE_OPTIONS] == [
        "mcast_snooping", "mcast_querier", "mcast_igmp_version", "mcast_mld_version", "mcast_query_intvl",
        "mcast_query_response_intvl", "mcast_membership_intvl", "mcast_querier_intvl", "mcast_last_member_intvl",
        "mcast_startup_query_intvl", "mcast_query_use_ifaddr"]
    assert [keeper.json_key(attribute) for _o, attribute, _w, _k in keeper.PORT_OPTIONS] == [
        "mcast_flood", "multicast_router"]


def test_the_file_round_trips_in_a_stable_layout():
    settings = {"br1": {"querier": True, "query_interval": 20, "ports": {"swp1": {"mcast_router": 2}}},
                "br0": {"snooping": False}}
    text = keeper.dump_settings(settings)
    assert keeper.parse_settings(text) == {
        "br0": {"snooping": False, "ports": {}},
        "br1": {"querier": True, "query_interval": 20.0, "ports": {"swp1": {"mcast_router": 2}}}}
    assert keeper.dump_settings(keeper.parse_settings(text)) == text
    assert list(json.loads(text)) == ["br0", "br1"]


@pytest.mark.parametrize("content, fragment", [
    ("not json", "not JSON"),
    ("[]", "must hold a JSON object of bridge name -> settings"),
    ('{"br 0": {}}', "bridge: 'br 0' cannot be an interface name"),
    ('{"br0": {"ports": {"swp1:2": {"mcast_flood": true}}}}',
     "port of bridge br0: 'swp1:2' cannot be an interface name: a ':' marks an address label"),
    ('{"br0": []}', "bridge br0: its settings must be an object"),
    ('{"br0": {"snoop": true}}', "bridge br0: unknown settings snoop"),
    ('{"br0": {"querier": 1}}', "bridge br0: querier must be true or false, not 1"),
    ('{"br0": {"igmp_version": 1}}', "bridge br0: igmp_version must be one of 2, 3, not 1"),
    ('{"br0": {"query_interval": 0}}', "bridge br0: query_interval must be seconds above 0"),
    ('{"br0": {"query_interval": "125"}}', "query_interval must be seconds above 0 and at most 86400, not '125'"),
    ('{"br0": {"ports": []}}', "bridge br0: ports must be an object"),
    ('{"br0": {"ports": {"swp1": {}}}}', "port swp1 of bridge br0: give mcast_flood, mcast_router or both"),
    ('{"br0": {"ports": {"swp1": {"mcast_router": 3}}}}', "port swp1 of bridge br0: mcast_router must be one of 0, 1, 2"),
])
def test_an_unusable_file_is_refused_with_the_reason(content, fragment):
    with pytest.raises(keeper.SettingsFileError) as error:
        keeper.parse_settings(content)
    assert fragment in str(error.value)


def test_missing_file_means_no_bridges(tmp_path):
    assert keeper.load_settings(str(tmp_path / "absent.json")) == {}
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(keeper.SettingsFileError, match="broken.json: not JSON"):
        keeper.load_settings(str(broken))


def test_only_differing_values_of_existing_bridges_and_enslaved_ports_are_set():
    settings = keeper.parse_settings(json.dumps({
        "br0": {"snooping": True, "querier": True, "query_interval": 20, "startup_query_interval": 5.25,
                "ports": {"swp1": {"mcast_flood": False, "mcast_router": 2}, "swp2": {"mcast_router": 2},
                          "swp3": {"mcast_router": 0}}},
        "br9": {"querier": True}}))
    links = [bridge_link("br0", mcast_startup_query_intvl=524),  # jiffies rounding: counts as 5.25 s
             port_link("swp1", "br0"), port_link("swp2", "br0", multicast_router=2),
             port_link("swp3", "br7"), {"ifname": "lo"}]
    assert keeper.plan_commands(IP, settings, links) == [
        [IP, "link", "set", "dev", "br0", "type", "bridge", "mcast_querier", "1", "mcast_query_interval", "2000"],
        [IP, "link", "set", "dev", "swp1", "type", "bridge_slave", "mcast_flood", "off", "mcast_router", "2"]]


def test_nothing_to_do_when_the_kernel_has_the_values_or_the_bridge_is_missing():
    settings = keeper.parse_settings('{"br0": {"querier": true, "ports": {"swp1": {"mcast_flood": true}}}}')
    assert keeper.plan_commands(IP, settings, [bridge_link("br0", mcast_querier=1), port_link("swp1", "br0")]) == []
    assert keeper.plan_commands(IP, settings, [{"ifname": "br0", "linkinfo": {"info_kind": "veth"}}]) == []
    assert keeper.plan_commands(IP, settings, []) == []


def test_kernel_units():
    assert keeper.to_kernel("interval", 0.1) == 10 and keeper.to_kernel("bool", False) == 0
    assert keeper.from_kernel("interval", 3124) == 31.24 and keeper.from_kernel("int", None) is None
    assert keeper.same_value("interval", 524, 525) and not keeper.same_value("interval", 523, 525)


class FakeKernel:
    """Stands in for ``ip``: answers ``ip -j -d link show`` and records ``ip link set``, clamping as told."""

    def __init__(self, clamp_query_interval=None):
        self.bridge = dict(KERNEL_DEFAULTS)
        self.sets = []
        self.clamp_query_interval = clamp_query_interval

    def run(self, argv, **_kwargs):
        if argv[1:] == ["-j", "-d", "link", "show"]:
            link = dict(bridge_link("br0", **self.bridge), ifindex=4)
            return FakeDone(json.dumps([link]))
        self.sets.append(argv)
        words = argv[7:]
        for keyword, value in zip(words[::2], words[1::2]):
            key = {"mcast_query_interval": "mcast_query_intvl"}.get(keyword, keyword)
            self.bridge[key] = int(value)
            if keyword == "mcast_query_interval" and self.clamp_query_interval:
                self.bridge[key] = max(int(value), self.clamp_query_interval)
        return FakeDone("")


class FakeDone:
    def __init__(self, stdout):
        self.returncode, self.stdout, self.stderr = 0, stdout, ""


def keeper_with(monkeypatch, tmp_path, kernel, settings):
    path = tmp_path / "bridges.json"
    path.write_text(keeper.dump_settings(settings))
    monkeypatch.setattr(keeper.subprocess, "run", kernel.run)
    return keeper.Keeper(str(path), IP)


def test_a_value_the_kernel_keeps_is_set_once(monkeypatch, tmp_path):
    kernel = FakeKernel()
    running = keeper_with(monkeypatch, tmp_path, kernel, {"br0": {"querier": True, "query_interval": 20}})
    assert running.reconcile() == 1 and running.reconcile() == 0
    assert kernel.sets == [[IP, "link", "set", "dev", "br0", "type", "bridge",
                            "mcast_querier", "1", "mcast_query_interval", "2000"]]
    assert running.refused == set()


def test_a_value_the_kernel_clamps_is_not_set_again_and_again(monkeypatch, tmp_path, caplog):
    kernel = FakeKernel(clamp_query_interval=100)
    running = keeper_with(monkeypatch, tmp_path, kernel, {"br0": {"query_interval": 0.5}})
    assert running.reconcile() == 1
    assert running.reconcile() == 0 and running.reconcile() == 0
    assert len(kernel.sets) == 1
    assert "the kernel does not keep br0 type bridge mcast_query_interval 50" in caplog.text
    running.reload()  # a corrected file (or the same one) is tried again
    assert running.reconcile() == 1 and len(kernel.sets) == 2
