"""The mcastd grammar: smcroute.conf accepted as it is, every refusal with FILE:LINE and a sentence."""
from pathlib import Path

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf

DATA = Path(__file__).resolve().parent / "data"


def refused(text, name="t.conf"):
    """The error lines for a configuration that must be refused."""
    with pytest.raises(conf.ConfigError) as info:
        conf.parse_text(text, name)
    return info.value.errors


def only_error(text):
    errors = refused(text)
    assert len(errors) == 1, errors
    return errors[0]


# -- smcroute's own examples ------------------------------------------------------------------
def test_debian_example_is_accepted_unchanged():
    config = conf.load(str(DATA / "debian-example.conf"))
    assert {name: phyint.threshold for name, phyint in config.phyints.items()} == {
        "eth0": 11, "eth1": 3, "eth2": 5, "virbr0": 5}
    assert [route.to_line() for route in config.static_routes] == [
        "mroute from eth0 source 192.168.1.42 group 225.1.2.3 to eth1 eth2",
        "mroute from virbr0 source 192.168.123.110 group 225.1.2.4 to eth0",
    ]
    assert [route.to_line() for route in config.templates] == [
        "mroute from eth0 group 225.3.2.1 to eth1 eth2",
        "mroute from eth0 group 225.0.0.0/24 to eth1 eth2",
    ]
    joins = config.memberships()
    # 225.1.2.3, the SSM join, 225.3.2.1 and the 256 groups of 225.0.0.0/24
    assert len(joins) == 3 + 256
    assert ("virbr0", conf.aton("225.1.2.4"), conf.aton("192.168.123.110")) in joins
    # include /etc/smcroute.d/*.conf matches nothing here: that is not an error
    assert config.files == [str(DATA / "debian-example.conf")]


def test_manpage_example_matches_the_shipped_example():
    manpage = conf.load(str(DATA / "manpage-example.conf"))
    example = conf.load(str(DATA / "debian-example.conf"))
    assert [r.to_line() for r in manpage.mroutes] == [r.to_line() for r in example.mroutes]
    assert set(manpage.memberships()) == set(example.memberships())


@pytest.mark.parametrize("name, routes, joins", [
    ("readme-usage.conf", 1, 2),
    ("readme-many-interfaces.conf", 0, 0),
    ("readme-wildcard-routes.conf", 1, 1),
])
def test_readme_examples_are_accepted(name, routes, joins):
    config = conf.load(str(DATA / name))
    assert len(config.mroutes) == routes
    assert len(config.memberships()) == joins


def test_readme_keyword_order_group_before_source():
    config = conf.load(str(DATA / "readme-usage.conf"))
    route = config.mroutes[0]
    assert (str(route.source), str(route.group), route.oifs) == ("192.168.1.42", "225.1.2.3", ("eth1", "eth2"))
    assert not route.is_template


def test_mrdisc_is_accepted_with_a_warning():
    config = conf.load(str(DATA / "readme-wildcard-routes.conf"))
    assert config.phyints["eth0"].mrdisc
    assert any("mrdisc" in warning for warning in config.warnings)


# -- what the grammar means ----------------------------------------------------------------------
def test_source_zero_means_any_source():
    route = conf.parse_mroute("mroute from a0 source 0.0.0.0 group 225.1.1.1 to b0")
    assert route.source is None and route.is_template


def test_source_prefix_and_group_prefix_make_a_template():
    route = conf.parse_mroute("mroute from a0 source 10.1.0.0/16 group 225.1.0.0/16 to b0")
    assert route.is_template
    assert route.matches("a0", conf.aton("10.1.2.3"), conf.aton("225.1.9.9"))
    assert not route.matches("a0", conf.aton("10.2.2.3"), conf.aton("225.1.9.9"))
    assert not route.matches("b0", conf.aton("10.1.2.3"), conf.aton("225.1.9.9"))


def test_wildcard_interface_names():
    route = conf.parse_mroute("mroute from eth+ group 225.1.1.1 to br+")
    assert route.matches("eth10", 1, conf.aton("225.1.1.1"))
    assert not route.matches("wlan0", 1, conf.aton("225.1.1.1"))


def test_comments_anywhere_and_blank_lines():
    config = conf.parse_text("# head\n\n  mroute from a0 group 225.1.1.1 to b0 # trailing\n#mroute from x y\n")
    assert len(config.mroutes) == 1 and config.mroutes[0].oifs == ("b0",)


def test_to_line_round_trips():
    lines = ["mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0 c0",
             "mroute from a0 group 225.1.0.0/16 to b0",
             "mroute from a0 source 10.0.0.0/8 group 225.1.1.1 to b0"]
    for line in lines:
        assert conf.parse_mroute(line).to_line() == line


def test_ssmgroup_compat_spelling_is_an_mgroup():
    config = conf.parse_text("ssmgroup from a0 source 10.0.0.1 group 232.1.1.1\n")
    assert config.mgroups[0].to_line() == "mgroup from a0 source 10.0.0.1 group 232.1.1.1"


def test_identical_duplicate_is_a_warning_not_an_error():
    config = conf.parse_text("mroute from a0 group 225.1.1.1 to b0\nmroute from a0 group 225.1.1.1 to b0\n")
    assert len(config.mroutes) == 1
    assert config.warnings == ["<config>:2: duplicate of the mroute at <config>:1, ignored"]


def test_ipv6_lines_are_skipped_with_a_warning():
    config = conf.parse_text("mroute from a0 source 2001:db8::1 group ff0e::1 to b0\n")
    assert not config.mroutes
    assert "IPv4 only" in config.warnings[0]


def test_vif_names_follow_first_mention():
    config = conf.parse_text("phyint z0 enable\nmroute from a0 group 225.1.1.1 to b0 c0\nphyint q0 disable\n")
    assert config.vif_names() == ["z0", "a0", "b0", "c0"]


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("line, words", [
    ("mroute from a0 group 10.1.1.1 to b0", "not a multicast address"),
    ("mroute from a0 group 240.0.0.1 to b0", "224.0.0.0/4"),
    ("mroute from a0 group 224.0.0.251 to b0", "link-local (224.0.0.0/24): the kernel never routes"),
    ("mroute from a0 group 224.0.0.0/24 to b0", "link-local"),
    ("mroute from a0 group 225.1.1.1 to b0 a0", "input interface a0 is also an output"),
    ("mroute from a0 source 225.9.9.9 group 225.1.1.1 to b0", "source 225.9.9.9 is a multicast address"),
    ("mroute from a0 group 225.1.1.1 to", "at least one output interface"),
    ("mroute from a0 group 225.1.1.1", "at least one output interface"),
    ("mroute group 225.1.1.1 to b0", "needs 'from IFNAME'"),
    ("mroute from a0 to b0", "needs 'group GROUP[/LEN]'"),
    ("mroute from a0 grp 225.1.1.1 to b0", "unknown keyword 'grp' in mroute"),
    ("mroute from a0 group 225.1.1.1/33 to b0", "invalid prefix length"),
    ("mroute from a0 group 225.1.1.1/16 to b0", "host bits set; did you mean 225.1.0.0/16"),
    ("mroute from a0 group 225.1.1 to b0", "is not an IPv4 address"),
    ("mroute from a0 group 225.1.1.1 to b0 b0", "listed twice"),
    ("mroute from a0 group 225.1.1.1 group 225.1.1.2 to b0", "'group' is given twice"),
    ("mroute from averyveryverylongname group 225.1.1.1 to b0", "longer than 15 characters"),
    ("mroute from e+th group 225.1.1.1 to b0", "wildcard '+' may only end"),
    ("mgroup from a0 group 10.0.0.1", "not a multicast address"),
    ("mgroup from a0 source 232.0.0.1 group 232.1.1.1", "is a multicast address"),
    ("mgroup from a0 group 225.0.0.0/8", "more than 4096 group joins"),
    ("phyint a0 ttl-threshold 0", "from 1 to 255"),
    ("phyint a0 ttl-threshold many", "from 1 to 255"),
    ("phyint a0 enable disable", "both enable and disable"),
    ("phyint", "needs an interface name"),
    ("phyint a0 fast", "unknown keyword 'fast' in phyint"),
    ("route from a0 group 225.1.1.1 to b0", "unknown directive 'route'"),
    ("include", "exactly one path"),
])
def test_refusals_name_file_line_and_reason(line, words):
    error = only_error("# first line\n" + line + "\n")
    assert error.startswith("t.conf:2: "), error
    assert words in error, error


def test_conflicting_duplicate_sg_is_refused_even_from_another_interface():
    error = only_error("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0\n"
                       "mroute from c0 source 10.0.0.1 group 225.1.1.1 to b0\n")
    assert error.startswith("t.conf:2: ") and "conflicts with" in error and "t.conf:1" in error


def test_conflicting_duplicate_template_is_refused():
    error = only_error("mroute from a0 group 225.1.0.0/16 to b0\nmroute from a0 group 225.1.0.0/16 to c0\n")
    assert "conflicts with mroute from a0 group 225.1.0.0/16 to b0 at t.conf:1" in error


def test_same_template_group_from_two_inputs_is_fine():
    config = conf.parse_text("mroute from a0 group 225.1.1.1 to c0\nmroute from b0 group 225.1.1.1 to c0\n")
    assert len(config.templates) == 2


def test_conflicting_phyint_is_refused():
    assert "conflicts with the one at" in only_error("phyint a0 enable ttl-threshold 3\nphyint a0 enable ttl-threshold 4\n")


def test_route_through_a_disabled_interface_is_refused():
    error = only_error("phyint b0 disable\nmroute from a0 group 225.1.1.1 to b0\n")
    assert error.startswith("t.conf:2: ") and "'phyint b0 disable' at t.conf:1" in error


def test_more_than_32_interfaces_names_those_left_out():
    lines = ["mroute from in0 group 225.1.1.%d to out%d" % (index, index) for index in range(1, 33)]
    error = only_error("\n".join(lines) + "\n")
    assert "the kernel offers 32 VIFs" in error and "routes 33 interfaces" in error
    assert error.endswith("left out: out32")


def test_every_error_is_reported_at_once():
    errors = refused("mroute from a0 group 10.1.1.1 to b0\nbogus\nphyint a0 ttl-threshold 300\n")
    assert [error.split(":")[1] for error in errors] == ["1", "2", "3"]


# -- files and includes -----------------------------------------------------------------------------
def test_include_glob_reads_sorted_dropins_relative_to_the_file(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "20-b.conf").write_text("mroute from a0 group 225.2.2.2 to b0\n")
    (tmp_path / "conf.d" / "10-a.conf").write_text("mroute from a0 group 225.1.1.1 to b0\n")
    (tmp_path / "conf.d" / "README").write_text("not a configuration\n")
    main = tmp_path / "mcastd.conf"
    main.write_text("phyint a0 enable\ninclude conf.d/*.conf\n")
    config = conf.load(str(main))
    assert [str(route.group) for route in config.mroutes] == ["225.1.1.1", "225.2.2.2"]
    assert [Path(name).name for name in config.files] == ["mcastd.conf", "10-a.conf", "20-b.conf"]


def test_errors_in_an_included_file_name_that_file(tmp_path):
    (tmp_path / "bad.conf").write_text("\nmroute from a0 group 10.0.0.1 to b0\n")
    main = tmp_path / "main.conf"
    main.write_text("include %s\n" % (tmp_path / "bad.conf"))
    with pytest.raises(conf.ConfigError) as info:
        conf.load(str(main))
    assert info.value.errors[0].startswith("%s:2: group 10.0.0.1" % (tmp_path / "bad.conf"))


def test_include_loop_is_refused(tmp_path):
    (tmp_path / "a.conf").write_text("include b.conf\n")
    (tmp_path / "b.conf").write_text("include a.conf\n")
    with pytest.raises(conf.ConfigError) as info:
        conf.load(str(tmp_path / "a.conf"))
    assert "include loop" in info.value.errors[0] and info.value.errors[0].startswith(str(tmp_path / "b.conf") + ":1:")


def test_include_of_a_missing_plain_file_is_refused(tmp_path):
    (tmp_path / "a.conf").write_text("include nothere.conf\n")
    with pytest.raises(conf.ConfigError) as info:
        conf.load(str(tmp_path / "a.conf"))
    assert "nothere.conf does not exist" in info.value.errors[0]


def test_unreadable_main_file_is_a_config_error(tmp_path):
    with pytest.raises(conf.ConfigError) as info:
        conf.load(str(tmp_path / "missing.conf"))
    assert "cannot read configuration" in info.value.errors[0]


def test_parse_mroute_wants_exactly_one_route():
    with pytest.raises(conf.ConfigError):
        conf.parse_mroute("phyint a0 enable\n")


def test_ten_thousand_routes_parse_quickly():
    import time  # pylint: disable=import-outside-toplevel
    text = "".join("mroute from a0 source 10.%d.%d.1 group 225.1.%d.%d to b0\n" % (i >> 8, i & 255, i >> 8, i & 255)
                   for i in range(10000))
    started = time.perf_counter()
    config = conf.parse_text(text)
    elapsed = time.perf_counter() - started
    assert len(config.static_routes) == 10000
    assert elapsed < 1.0, "parsing 10,000 routes took %.2f s" % elapsed


def test_reload_reuses_unchanged_lines_and_still_checks_the_whole(tmp_path):
    path = tmp_path / "m.conf"
    path.write_text("mroute from a0 group 225.1.1.1 to b0\nmroute from a0 source 10.0.0.1 group 225.2.2.2 to b0\n")
    first = conf.load(str(path))
    path.write_text("# a new first line shifts the others\nmroute from a0 group 225.1.1.1 to b0\n"
                    "mroute from a0 source 10.0.0.1 group 225.2.2.2 to b0\nmroute from a0 group 225.3.3.3 to b0\n")
    second = conf.load(str(path), previous=first)
    assert [route.to_line() for route in second.mroutes] == [route.to_line() for route in conf.load(str(path)).mroutes]
    assert [route.origin.line for route in second.mroutes] == [2, 3, 4]
    assert second.mroutes[1].source is first.mroutes[1].source  # reused, not parsed again
    path.write_text("mroute from a0 group 225.1.1.1 to b0\nmroute from a0 group 225.1.1.1 to c0\n")
    with pytest.raises(conf.ConfigError) as info:
        conf.load(str(path), previous=second)
    assert "conflicts with" in info.value.errors[0]
