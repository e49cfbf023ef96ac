"""mcast.linux.nftables: validation, check mode, persistence and the order of actions (no kernel access).

``nft`` is replaced by a recorder that serves a ruleset recorded from a real namespace
(``tests/unit/plugins/module_utils/data/nft``) and notes every other command.
"""
import json
from pathlib import Path

import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _nftables as nftables
from tests.unit.plugins.fake_module import FakeModule, ModuleFailed

DATA = Path(__file__).resolve().parents[1] / "module_utils" / "data" / "nft"
CONF = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n}\n"


class FakeNftModule(FakeModule):
    """FakeModule plus run_command (a fake nft), get_bin_path, atomic_move and diff mode."""

    def __init__(self, params, ruleset="host_drop", check_mode=False, check_rc=0, nft="/usr/sbin/nft"):
        super().__init__(params, check_mode)
        self.listing = (DATA / (ruleset + ".json")).read_text(encoding="utf-8")
        self.commands = []
        self.check_rc = check_rc
        self.nft = nft
        self._diff = True

    def get_bin_path(self, name):
        return self.nft if name == "nft" else None

    def run_command(self, argv, data=None, binary_data=False):
        self.commands.append((argv[1:], data))
        if argv[1:] == ["-j", "list", "ruleset"]:
            return 0, self.listing, ""
        if argv[1] == "-c":
            rc = self.check_rc if isinstance(self.check_rc, int) else self.check_rc.pop(0)
            return rc, "", "" if rc == 0 else "Error: syntax error"
        return 0, "", ""

    @staticmethod
    def atomic_move(source, destination):
        Path(source).replace(destination)

    def batches(self):
        return [json.loads(data)["nftables"] for args, data in self.commands if args == ["-j", "-f", "-"]]


def params(tmp_path, **overrides):
    conf = tmp_path / "nftables.conf"
    if not conf.exists():
        conf.write_text(CONF, encoding="utf-8")
    values = {"state": "present", "mld": False, "ipv6_rpf": False, "pim": False, "forward": [], "persist": True,
              "include_file": str(tmp_path / "nftables.d" / "mcast-linux.nft"), "nftables_conf": str(conf)}
    values.update(overrides)
    return values


def run(module):
    forward = nftables.validate(module)
    return nftables.NftablesAcceptance(module, forward).run()


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("overrides, message", [
    ({"state": "absent", "pim": True}, "state=absent removes every rule this module added; leave out pim"),
    ({"state": "absent", "forward": [{"group": "239.1.1.1", "ports": []}]}, "leave out forward"),
    ({"forward": [{"group": "192.0.2.1", "ports": []}]}, "is not multicast"),
    ({"forward": [{"group": "239.1.1.1", "ports": ["5004", "x"]}]}, "not a port number"),
    ({"include_file": "mcast.nft"}, "include_file 'mcast.nft' is not an absolute path"),
    ({"nftables_conf": "nftables.conf"}, "nftables_conf 'nftables.conf' is not an absolute path"),
])
def test_bad_options_fail_before_nft_runs(tmp_path, overrides, message):
    module = FakeNftModule(params(tmp_path, **overrides))
    with pytest.raises(ModuleFailed, match=message):
        run(module)
    assert module.commands == []


def test_include_file_equal_to_the_configuration_is_refused(tmp_path):
    module = FakeNftModule(params(tmp_path, include_file=str(tmp_path / "nftables.conf")))
    with pytest.raises(ModuleFailed, match="the same file"):
        run(module)


def test_include_file_that_is_a_directory_is_refused(tmp_path):
    module = FakeNftModule(params(tmp_path, include_file=str(tmp_path)))
    with pytest.raises(ModuleFailed, match="is a directory"):
        run(module)


def test_missing_configuration_is_refused_unless_persist_is_off(tmp_path):
    missing = str(tmp_path / "absent.conf")
    with pytest.raises(ModuleFailed, match="does not exist, so nothing would load the rules at boot"):
        run(FakeNftModule(params(tmp_path, nftables_conf=missing)))
    result = run(FakeNftModule(params(tmp_path, nftables_conf=missing, persist=False), check_mode=True))
    assert result["changed"] is True and result["persist"]["changed"] is False


def test_missing_nft_says_which_package_to_install(tmp_path):
    with pytest.raises(ModuleFailed, match="install the nftables package"):
        run(FakeNftModule(params(tmp_path), nft=None))


def test_firewalld_is_explained_and_left_alone(tmp_path):
    module = FakeNftModule(params(tmp_path), ruleset="firewalld")
    with pytest.raises(ModuleFailed, match="firewalld manages this host's firewall"):
        run(module)
    assert module.batches() == []
    assert not (tmp_path / "nftables.d").exists()


# --------------------------------------------------------------------------- check mode and diff

def test_check_mode_reports_the_chains_that_drop_igmp_and_changes_nothing(tmp_path):
    module = FakeNftModule(params(tmp_path), check_mode=True)
    result = run(module)
    assert result["changed"] is True
    assert [(d["family"], d["table"], d["chain"], d["reason"]) for d in result["igmp_drops"]] == \
        [("inet", "filter", "input", "policy drop")]
    assert [command[0] for command in module.commands] == [["-j", "list", "ruleset"]]
    assert (tmp_path / "nftables.conf").read_text(encoding="utf-8") == CONF
    assert not (tmp_path / "nftables.d").exists()
    ruleset_diff, include_diff, conf_diff = result["diff"]
    assert ruleset_diff["before"] == ""
    assert ruleset_diff["after"] == 'inet filter input: ip protocol 2 accept comment "mcast.linux:igmp:d795f203a198"\n'
    assert include_diff["before_header"].endswith("(absent)") and "insert rule inet filter input" in include_diff["after"]
    assert conf_diff["after"].endswith('include "%s"\n' % params(tmp_path)["include_file"])


def test_moved_rules_are_marked_in_the_diff(tmp_path):
    result = run(FakeNftModule(params(tmp_path, persist=False), ruleset="managed", check_mode=True))
    assert "ip raw pre: ip protocol igmp accept (below a rule that drops: moved to the top)" in result["diff"][0]["before"]
    assert len(result["removed"]) == 4 and [rule["chain"] for rule in result["added"]] == ["pre"]


# --------------------------------------------------------------------------- applying

def test_apply_is_one_batch_then_the_include_then_the_configuration_check(tmp_path):
    module = FakeNftModule(params(tmp_path, pim=True))
    result = run(module)
    assert len(module.batches()) == 1 and module.batches()[0] == result["commands"]
    actions = [command[0][0] for command in module.commands]
    assert actions == ["-j", "-j", "-c", "-c"]  # list, batch, configuration before and after the write
    include = Path(params(tmp_path)["include_file"]).read_text(encoding="utf-8")
    assert 'insert rule inet filter input meta l4proto 103 accept comment "mcast.linux:pim:' in include
    assert (tmp_path / "nftables.conf").read_text(encoding="utf-8").endswith('include "%s"\n' % params(tmp_path)["include_file"])
    assert result["persist"]["changed"] is True


def test_a_configuration_that_stops_loading_is_put_back(tmp_path):
    module = FakeNftModule(params(tmp_path), check_rc=[0, 1])
    with pytest.raises(ModuleFailed, match="no longer loads with the include"):
        run(module)
    assert (tmp_path / "nftables.conf").read_text(encoding="utf-8") == CONF
    assert not Path(params(tmp_path)["include_file"]).exists()


def test_a_configuration_that_did_not_load_before_gives_a_warning(tmp_path):
    module = FakeNftModule(params(tmp_path), check_rc=1)
    run(module)
    assert any("did not load before this run either" in warning for warning in module.warnings)


def test_absent_removes_the_include_line_before_the_file(tmp_path):
    include_file = params(tmp_path)["include_file"]
    run(FakeNftModule(params(tmp_path)))
    module = FakeNftModule(params(tmp_path, state="absent"), ruleset="managed")
    result = run(module)
    assert len(result["removed"]) == 5 and result["added"] == []
    assert (tmp_path / "nftables.conf").read_text(encoding="utf-8") == CONF
    assert not Path(include_file).exists()
    assert [d["before_header"] for d in result["diff"][1:]] == [str(tmp_path / "nftables.conf"), include_file]


def test_nothing_to_do_runs_nft_once(tmp_path):
    module = FakeNftModule(params(tmp_path, persist=False), ruleset="debian_default")
    result = run(module)
    assert result["changed"] is False and result["commands"] == [] and result["diff"] == []
    assert len(module.commands) == 1


# --------------------------------------------------------------------------- IPv6

def test_ipv6_rpf_with_state_absent_is_refused(tmp_path):
    module = FakeNftModule(params(tmp_path, state="absent", ipv6_rpf=True))
    with pytest.raises(ModuleFailed, match="leave out ipv6_rpf"):
        run(module)
    assert module.commands == []


def test_mld_and_ipv6_rpf_are_planned_reported_and_persisted(tmp_path):
    module = FakeNftModule(params(tmp_path, mld=True, ipv6_rpf=True), ruleset="ipv6")
    result = run(module)
    assert result["ipv6_rpf"] == {"wanted": True, "table": "ip6 mcast_linux_rpf", "changed": True}
    added = [(a["family"], a["table"], a["chain"], a["kind"]) for a in result["added"]]
    assert ("ip6", "mcast_linux_rpf", "prerouting", "rpf6") in added
    assert sorted(a[:3] for a in added if a[3] == "mld") == [("bridge", "sw", "bridged"), ("inet", "filter", "output"),
                                                             ("ip6", "guard6", "in")]
    assert [d["chain"] for d in result["drops"]["mld"]] == ["bridged", "output", "in"]
    assert module.batches()[0][-3:] == [command for command in result["commands"] if "add" in command]
    assert "fib saddr . iif oif missing drop" in result["diff"][0]["after"]
    include = Path(params(tmp_path)["include_file"]).read_text(encoding="utf-8")
    assert "table ip6 mcast_linux_rpf {" in include


def test_check_mode_previews_the_rpf_table_and_sends_nothing(tmp_path):
    module = FakeNftModule(params(tmp_path, ipv6_rpf=True, persist=False), ruleset="debian_default", check_mode=True)
    result = run(module)
    assert result["changed"] is True and result["ipv6_rpf"]["changed"] is True
    assert [a["kind"] for a in result["added"]] == ["rpf6"]
    assert module.batches() == []
