"""Pure logic of plugins/module_utils/_sysctl.py: key forms, effective rp_filter, drop-in rendering."""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _sysctl


@pytest.mark.parametrize("written, slash", [
    ("net.ipv4.conf.all.rp_filter", "net/ipv4/conf/all/rp_filter"),
    ("net/ipv4/conf/trunk.10/rp_filter", "net/ipv4/conf/trunk.10/rp_filter"),
    ("net.ipv4.conf.trunk/10.rp_filter", "net/ipv4/conf/trunk.10/rp_filter"),
    ("-net.ipv4.conf.eth0.rp_filter", "net/ipv4/conf/eth0/rp_filter"),
    (" net.ipv4.ip_forward ", "net/ipv4/ip_forward"),
])
def test_canonical_key_follows_sysctl_d_rules(written, slash):
    assert _sysctl.canonical_key(written) == slash


def test_display_key_keeps_slash_form_only_for_dotted_names():
    assert _sysctl.display_key("net/ipv4/conf/eth0/rp_filter") == "net.ipv4.conf.eth0.rp_filter"
    assert _sysctl.display_key("net/ipv4/conf/trunk.10/rp_filter") == "net/ipv4/conf/trunk.10/rp_filter"


def test_proc_path_uses_slash_form_for_dotted_interface(tmp_path):
    assert _sysctl.proc_path("net/ipv4/conf/trunk.10/rp_filter", str(tmp_path)) == str(
        tmp_path / "net" / "ipv4" / "conf" / "trunk.10" / "rp_filter")


def test_read_write_and_list_interfaces_below_a_fake_proc(tmp_path):
    for name in ("all", "default", "lo", "trunk.10"):
        (tmp_path / "net" / "ipv4" / "conf" / name).mkdir(parents=True)
        (tmp_path / "net" / "ipv4" / "conf" / name / "rp_filter").write_text("1\n")
    _sysctl.write_value("net/ipv4/conf/trunk.10/rp_filter", 0, str(tmp_path))
    assert _sysctl.read_value("net/ipv4/conf/trunk.10/rp_filter", str(tmp_path)) == "0"
    assert _sysctl.conf_interfaces(root=str(tmp_path)) == ["lo", "trunk.10"]


@pytest.mark.parametrize("all_value, own, effective", [(0, 0, 0), (1, 0, 1), (0, 2, 2), (1, 2, 2), (2, 1, 2)])
def test_effective_rp_filter_is_numeric_max(all_value, own, effective):
    # loose (2) beats strict (1): the kernel takes the numeric maximum, not the stricter mode.
    assert _sysctl.effective_rp_filter(all_value, own) == effective


def test_parse_dropin_reads_both_key_forms_and_skips_comments():
    text = "# comment\n; other comment\nnet.ipv4.conf.all.rp_filter = 0\nnet/ipv4/conf/trunk.10/rp_filter=2\n\nbogus line\n"
    assert _sysctl.parse_dropin(text) == {"net/ipv4/conf/all/rp_filter": "0", "net/ipv4/conf/trunk.10/rp_filter": "2"}
    assert _sysctl.parse_dropin(None) == {}


def test_render_dropin_new_file_has_header_and_values():
    text = _sysctl.render_dropin(None, {"net/ipv4/conf/all/rp_filter": 0, "net/ipv4/conf/trunk.10/rp_filter": 2})
    assert text.startswith("# Managed by the mcast.linux collection")
    assert text.endswith("net.ipv4.conf.all.rp_filter = 0\nnet/ipv4/conf/trunk.10/rp_filter = 2\n")


def test_render_dropin_updates_in_place_keeps_foreign_lines_and_collapses_duplicates():
    before = ("# mine\nnet.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 1\n"
              "net.ipv4.conf.eth0.rp_filter = 1\nnet/ipv4/conf/all/rp_filter = 2\n")
    after = _sysctl.render_dropin(before, {"net.ipv4.conf.all.rp_filter": 0, "net/ipv4/conf/eth0/rp_filter": None,
                                           "net/ipv4/conf/trunk.10/rp_filter": 0})
    assert after == ("# mine\nnet.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 0\n"
                     "net/ipv4/conf/trunk.10/rp_filter = 0\n")
    assert _sysctl.parse_dropin(after)["net/ipv4/conf/all/rp_filter"] == "0"
