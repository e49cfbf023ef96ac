"""mcast.linux.rp_filter against a real kernel in a namespace, through the netns connection."""
import os

import pytest

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces")]

STRICT, LOOSE, OFF = 1, 2, 0


@pytest.fixture(autouse=True)
def strict_all(request):
    """Every host starts strict everywhere through conf/all, as on many distributions."""
    for name in ("host", "unchanging_host"):
        if name in request.fixturenames:
            request.getfixturevalue(name).write_sysctl("net/ipv4/conf/all/rp_filter", STRICT)


@pytest.fixture(name="dropin")
def fixture_dropin(tmp_path):
    return tmp_path / "sysctl.d" / "60-mcast-linux.conf"


def test_off_on_one_trunk_keeps_every_other_effective_mode(host, dropin, root_rp_filters):
    root_before = root_rp_filters()
    before = host.rp_filters()
    args = {"interfaces": ["trunk.10"], "mode": "off", "sysctl_file": str(dropin)}

    preview = host.module("rp_filter", args, check=True, diff=True)
    assert preview["changed"] is True
    assert host.rp_filters() == before, "check mode changed the kernel"
    assert not dropin.exists(), "check mode wrote the drop-in"
    assert preview["interfaces"]["trunk.10"] == {"before": "strict", "after": "off"}
    assert preview["interfaces"]["trunk.20"] == {"before": "strict", "after": "strict"}
    kernel_diff, file_diff = preview["diff"]
    # trunk.10's own value is already 0: only the others are raised, then conf/all is lowered.
    assert "net/ipv4/conf/trunk.20/rp_filter = 0\n" in kernel_diff["before"]
    assert "net/ipv4/conf/trunk.20/rp_filter = 1\n" in kernel_diff["after"]
    assert "trunk.10" not in kernel_diff["after"]
    assert kernel_diff["after"].endswith("net/ipv4/conf/all/rp_filter = 0\n"), "conf/all must be lowered last"
    assert "net/ipv4/conf/trunk.10/rp_filter = 0" in file_diff["after"]

    applied = host.module("rp_filter", args)
    assert applied["changed"] is True
    assert host.effective_rp_filters() == {"default": STRICT, "eth0": STRICT, "lo": STRICT,
                                           "trunk.10": OFF, "trunk.20": STRICT}
    assert host.rp_filters()["all"] == OFF
    persisted = dropin.read_text()
    assert "net.ipv4.conf.all.rp_filter = 0\n" in persisted
    assert "net/ipv4/conf/trunk.10/rp_filter = 0\n" in persisted  # slash form for the dotted name
    assert "net/ipv4/conf/trunk.20/rp_filter = 1\n" in persisted
    assert "net.ipv4.conf.default.rp_filter = 1\n" in persisted

    again = host.module("rp_filter", args)
    assert again["changed"] is False
    assert again["changes"] == []
    assert root_rp_filters() == root_before


def test_loose_under_strict_all_only_sets_the_interface(host, dropin):
    result = host.module("rp_filter", {"interfaces": ["trunk.+"], "mode": "loose", "sysctl_file": str(dropin)})
    assert result["changed"] is True
    assert result["targets"] == ["trunk.10", "trunk.20"]
    values = host.rp_filters()
    assert (values["all"], values["trunk.10"], values["trunk.20"], values["eth0"]) == (STRICT, LOOSE, LOOSE, OFF)
    assert host.effective_rp_filters()["eth0"] == STRICT


def test_default_mode_for_interfaces_created_later(host, dropin):
    result = host.module("rp_filter", {"default": "off", "sysctl_file": str(dropin)}, diff=True)
    assert result["default"] == {"before": "strict", "after": "off"}
    assert host.effective_rp_filters()["default"] == OFF
    assert set(host.effective_rp_filters().values()) == {STRICT, OFF}  # every interface still strict
    assert all(mode["after"] == "strict" for mode in result["interfaces"].values())
    host.ip("link", "add", "late0", "type", "veth", "peer", "name", "late1")
    assert max(host.read_sysctl("net/ipv4/conf/all/rp_filter"), host.read_sysctl("net/ipv4/conf/late0/rp_filter")) == OFF
    assert host.module("rp_filter", {"default": "off", "sysctl_file": str(dropin)})["changed"] is False


def test_persist_false_changes_only_the_kernel(host, dropin):
    result = host.module("rp_filter", {"interfaces": ["eth0"], "mode": "off", "persist": False,
                                       "sysctl_file": str(dropin)})
    assert result["changed"] is True
    assert result["sysctl_file"]["changed"] is False
    assert host.effective_rp_filters()["eth0"] == OFF
    assert not dropin.exists()


def test_an_existing_dropin_keeps_foreign_lines_and_only_a_missing_key_is_a_change(host, dropin):
    dropin.parent.mkdir()
    dropin.write_text("# local tuning\nnet.core.rmem_max = 8388608\n")
    host.write_sysctl("net/ipv4/conf/all/rp_filter", OFF)
    host.write_sysctl("net/ipv4/conf/trunk.20/rp_filter", OFF)
    result = host.module("rp_filter", {"interfaces": ["trunk.20"], "mode": "off", "sysctl_file": str(dropin)})
    assert result["changed"] is True and result["changes"] == []  # kernel already right, the file was not
    assert dropin.read_text().startswith("# local tuning\nnet.core.rmem_max = 8388608\n")
    assert "net/ipv4/conf/trunk.20/rp_filter = 0" in dropin.read_text()


def test_yaml_off_read_as_false_still_means_off(host, dropin):
    # `mode: off` unquoted in YAML arrives as the boolean false.
    result = host.module("rp_filter", {"interfaces": ["trunk.20"], "mode": False, "sysctl_file": str(dropin)})
    assert result.get("failed") is not True, result.get("msg")
    assert host.effective_rp_filters()["trunk.20"] == OFF


BAD_INPUTS = [
    ({"interfaces": ["trunk.99"], "mode": "off"},
     "interface 'trunk.99' does not exist on this host; existing interfaces: eth0, lo, trunk.10, trunk.20"),
    ({"interfaces": ["vlan+"], "mode": "off"}, "no interface on this host matches 'vlan+'"),
    ({"interfaces": ["*"], "mode": "off"}, "'*' uses the shell wildcard *"),
    ({"interfaces": ["trunk.10", "trunk.99"], "mode": "off"}, "'trunk.99' does not exist"),
    ({"interfaces": ["all"], "mode": "off"}, "'all' is not an interface name"),
    ({"interfaces": ["default"], "mode": "loose"}, "'default' is not an interface name"),
    ({"interfaces": ["trunk.10"], "mode": "disabled"}, "value of mode must be one of: off, strict, loose"),
    ({"interfaces": ["trunk.10"], "mode": 1}, "value of mode must be one of"),
    ({"interfaces": ["trunk.10"], "mode": "Strict"}, "value of mode must be one of"),
    ({"interfaces": ["trunk.10"]}, "interfaces needs mode"),
    ({"mode": "off"}, "mode needs interfaces"),
    ({}, "Nothing to do"),
    ({"default": "none"}, "value of default must be one of"),
    ({"interfaces": ["net.ipv4.conf.trunk.10"], "mode": "off"}, "longer than 15 bytes"),
    ({"interfaces": ["trunk.10/rp_filter"], "mode": "off"}, "cannot be an interface name"),
    ({"interfaces": [""], "mode": "off"}, "empty"),
    ({"interfaces": ["trunk.10"], "mode": "off", "persist": "sometimes"}, "persist"),
    ({"interfaces": ["trunk.10"], "mode": "off", "interface": ["eth0"]}, "Unsupported parameters"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_input_fails_with_the_reason_and_changes_nothing(unchanging_host, dropin, args, message, assert_refused):
    assert_refused(unchanging_host, "rp_filter", dict({"sysctl_file": str(dropin)}, **args), message,
                   unchanging_host.rp_filters)
    assert not dropin.exists()


def test_sysctl_file_that_is_a_directory_is_refused_before_any_change(host, dropin):
    dropin.mkdir(parents=True)
    before = host.rp_filters()
    result = host.module("rp_filter", {"interfaces": ["trunk.10"], "mode": "off", "sysctl_file": str(dropin)})
    assert result.get("failed") is True and "is a directory" in result["msg"]
    assert host.rp_filters() == before


def test_ignore_missing_skips_and_reports(host, dropin):
    result = host.module("rp_filter", {"interfaces": ["trunk.10", "trunk.99"], "mode": "off",
                                       "ignore_missing": True, "sysctl_file": str(dropin)})
    assert result["missing"] == ["trunk.99"]
    assert host.effective_rp_filters()["trunk.10"] == OFF
