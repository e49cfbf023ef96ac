"""Persistence of mcast.linux.bridge: the settings merged, the files planned and written (temporary paths)."""
import json
import os

import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _bridge_keeper as keeper
from ansible_collections.mcast.linux.plugins.modules import bridge
from tests.unit.plugins.fake_module import FakeModule, ModuleFailed
from tests.unit.plugins.modules.test_bridge_plan import params


class FilesModule(FakeModule):
    """A FakeModule that finds ip, moves files like AnsibleModule and must not run commands."""

    _diff = True

    def get_bin_path(self, name):
        return {"ip": "/usr/sbin/ip"}.get(name)

    @staticmethod
    def atomic_move(source, destination):
        os.replace(source, destination)

    def run_command(self, argv):
        raise AssertionError("no systemctl outside systemd unit directories: %r" % (argv,))


def paths(tmp_path, **given):
    return params(persist=True, settings_file=str(tmp_path / "etc" / "bridges.json"),
                  keeper_file=str(tmp_path / "lib" / "bridge_keeper.py"),
                  unit_file=str(tmp_path / "system" / "mcast-linux-bridges.service"), service_control="auto", **given)


def test_the_entry_holds_the_given_options_in_module_units():
    entry = bridge.persisted_entry(params(querier=True, query_interval=20.0, ports=[
        {"name": "swp1", "mcast_flood": False, "mcast_router": None}]))
    assert entry == {"querier": True, "query_interval": 20.0, "ports": {"swp1": {"mcast_flood": False}}}


def test_settings_merge_over_the_bridges_earlier_ones_and_leave_others():
    settings = {"br0": {"snooping": True, "querier": False, "ports": {"swp1": {"mcast_router": 2}}},
                "br1": {"querier": True, "ports": {}}}
    entry = {"querier": True, "ports": {"swp1": {"mcast_flood": False}, "swp2": {"mcast_router": 0}}}
    merged = bridge.updated_settings(settings, "br0", entry)
    assert merged == {"br0": {"snooping": True, "querier": True,
                              "ports": {"swp1": {"mcast_router": 2, "mcast_flood": False}, "swp2": {"mcast_router": 0}}},
                      "br1": {"querier": True, "ports": {}}}
    assert settings["br0"]["querier"] is False and "swp2" not in settings["br0"]["ports"]  # not modified in place
    assert bridge.updated_settings(settings, "br2", {"ports": {}}) == settings  # nothing given, nothing added


def test_the_unit_runs_the_keeper_on_the_settings_file_and_starts_before_the_network():
    unit = bridge.render_unit("/usr/lib/mcast-linux/bridge_keeper.py", "/etc/mcast-linux/bridges.json")
    assert "ExecStart=/usr/bin/python3 /usr/lib/mcast-linux/bridge_keeper.py /etc/mcast-linux/bridges.json\n" in unit
    assert "Type=notify\n" in unit and "ExecReload=/bin/kill -HUP $MAINPID\n" in unit
    assert "Before=network.target\n" in unit and "WantedBy=multi-user.target\n" in unit
    assert "CapabilityBoundingSet=CAP_NET_ADMIN\n" in unit and "\nProtectSystem=" not in unit
    assert "RestartPreventExitStatus=2 3\n" in unit
    assert keeper.EXIT_CONFIG == 2 and keeper.EXIT_NO_IP == 3


def test_the_keeper_script_is_the_module_utils_source_and_imports_only_the_standard_library():
    source = bridge.keeper_source()
    assert source.startswith(bridge.KEEPER_HEADER)
    assert "def plan_commands(" in source and "\nif __name__ == '__main__':\n" in source
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports and all("ansible" not in line for line in imports)


def test_check_mode_plans_every_file_and_writes_none(tmp_path):
    module = FilesModule(paths(tmp_path, querier=True), check_mode=True)
    persistence = bridge.Persistence(module)
    planned = persistence.plan("br0", bridge.persisted_entry(module.params))
    link = str(tmp_path / "system" / "multi-user.target.wants" / "mcast-linux-bridges.service")
    assert planned == {"files": [module.params["settings_file"], module.params["keeper_file"],
                                 module.params["unit_file"], link], "service": []}
    diff = dict((entry["after_header"], entry) for entry in persistence.diff())
    assert json.loads(diff[module.params["settings_file"]]["after"]) == {"br0": {"ports": {}, "querier": True}}
    assert diff[module.params["keeper_file"]]["after"].startswith("bridge keeper (bridge_keeper.py), sha1 ")
    assert diff[link]["after"] == "-> %s\n" % module.params["unit_file"]
    assert not os.listdir(tmp_path)


def test_apply_writes_the_files_and_a_second_run_changes_nothing(tmp_path):
    module = FilesModule(paths(tmp_path, querier=True, query_interval=20.0))
    persistence = bridge.Persistence(module)
    persistence.plan("br0", bridge.persisted_entry(module.params))
    persistence.apply()
    assert keeper.load_settings(module.params["settings_file"]) == {
        "br0": {"querier": True, "query_interval": 20.0, "ports": {}}}
    assert os.readlink(str(tmp_path / "system" / "multi-user.target.wants" / "mcast-linux-bridges.service")) == \
        module.params["unit_file"]
    again = bridge.Persistence(FilesModule(paths(tmp_path, querier=True)))
    assert again.plan("br0", {"querier": True, "ports": {}}) == {"files": [], "service": []}
    changed = bridge.Persistence(FilesModule(paths(tmp_path, querier=False)))
    assert changed.plan("br0", {"querier": False, "ports": {}})["files"] == [module.params["settings_file"]]


def test_an_unusable_settings_file_fails_and_says_what_to_do(tmp_path):
    module = FilesModule(paths(tmp_path, querier=True))
    os.makedirs(os.path.dirname(module.params["settings_file"]))
    with open(module.params["settings_file"], "w", encoding="utf-8") as stream:
        stream.write('{"br0": {"querier": "yes"}}')
    with pytest.raises(ModuleFailed) as failure:
        bridge.Persistence(module).plan("br0", {"querier": True, "ports": {}})
    assert "bridges.json cannot be read: bridge br0: querier must be true or false" in str(failure.value)
    assert "Fix it or delete it" in str(failure.value)


def test_no_ip_command_fails_before_anything_is_written(tmp_path):
    module = FilesModule(paths(tmp_path, querier=True))
    module.get_bin_path = lambda name: None
    with pytest.raises(ModuleFailed, match="the bridge keeper runs 'ip', which is not installed"):
        bridge.Persistence(module).plan("br0", {"querier": True, "ports": {}})
    assert not os.listdir(tmp_path)


def test_values_the_keeper_would_set_back_are_named():
    settings = {"br0": {"querier": True, "query_interval": 20.0, "ports": {"swp1": {"mcast_router": 2}}}}
    entry = {"querier": False, "query_interval": 20.0, "snooping": True,
             "ports": {"swp1": {"mcast_router": 0, "mcast_flood": True}, "swp2": {"mcast_router": 0}}}
    assert bridge.keeper_conflicts(settings, "br0", entry) == ["br0 querier", "swp1 mcast_router"]
    assert bridge.keeper_conflicts(settings, "br1", entry) == []
    assert bridge.keeper_conflicts({}, "br0", entry) == []
