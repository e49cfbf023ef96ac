"""The mcastd grammar: smcroute.conf accepted as it is, every refusal with FILE:LINE and a sentence."""
from pathlib import Path

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf

DATA = Path(__file__).resolve().parent / "data"
A = conf.aton


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


def test_mrdisc_is_accepted_and_no_longer_warned_about():
    config = conf.load(str(DATA / "readme-wildcard-routes.conf"))
    assert config.phyints["eth0"].mrdisc
    assert not any("mrdisc" in warning for warning in config.warnings), "mcastd sends RFC 4286 messages now"


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


# -- smcroute's meaning where it may surprise: accepted, with a warning naming FILE:LINE ------------------
@pytest.mark.parametrize("line, used, warning", [
    ("mroute from a1 group 225.1.2.3/24 to a2", "mroute from a1 group 225.1.2.0/24 to a2",
     "t.conf:1: group 225.1.2.3/24 has host bits set; used as 225.1.2.0/24"),
    ("mroute from a1 source 10.0.0.1/24 group 225.3.3.3 to a2", "mroute from a1 source 10.0.0.0/24 group 225.3.3.3 to a2",
     "t.conf:1: source 10.0.0.1/24 has host bits set; used as 10.0.0.0/24"),
    ("mgroup from a1 group 225.1.2.40/24", "mgroup from a1 group 225.1.2.0/24",
     "t.conf:1: group 225.1.2.40/24 has host bits set; used as 225.1.2.0/24"),
    ("mroute from a1 source 0.0.0.0/8 group 225.1.1.1 to a2", "mroute from a1 group 225.1.1.1 to a2",
     "t.conf:1: source 0.0.0.0/8 means any source, as in smcroute; leave out 'source'"),
    ("mroute from a1 group 225.1.1.1 to a2 a2", "mroute from a1 group 225.1.1.1 to a2",
     "t.conf:1: output a2 listed more than once; used once"),
    ("mroutes from a1 group 225.1.1.1 to a2", "mroute from a1 group 225.1.1.1 to a2",
     "t.conf:1: 'mroutes' read as 'mroute', as smcroute reads a word that begins with a keyword; write 'mroute'"),
    ("mroute from a1 groups 225.1.1.1 tos a2", "mroute from a1 group 225.1.1.1 to a2",
     "t.conf:1: 'groups' read as 'group', as smcroute reads a word that begins with a keyword; write 'group'"),
])
def test_accepted_as_smcroute_means_it_with_a_warning(line, used, warning):
    config = conf.parse_text(line + "\n", "t.conf")
    assert [entry.to_line() for entry in config.mroutes + config.mgroups] == [used]
    assert config.warnings[0] == warning


def test_host_bits_are_cleared_where_smcroute_masks_them():
    route = conf.parse_mroute("mroute from a1 source 10.0.0.1/24 group 225.3.3.3/24 to a2")
    assert (str(route.source), str(route.group)) == ("10.0.0.0/24", "225.3.3.0/24")
    assert route.matches("a1", A("10.0.0.200"), A("225.3.3.77"))
    assert not route.matches("a1", A("10.0.1.1"), A("225.3.3.3"))
    joins = conf.parse_text("mgroup from a1 group 225.1.2.40/24\n").memberships()
    assert sorted(group for _ifname, group, _source in joins) == list(range(A("225.1.2.0"), A("225.1.2.255") + 1))


def test_output_equal_to_input_is_accepted_and_the_log_says_what_the_kernel_does():
    config = conf.parse_text("mroute from a1 group 225.2.2.5 to a1\n"
                             "mroute from a1 source 1.2.3.4 group 225.2.2.6 to a2 a1\n", "t.conf")
    assert [route.oifs for route in config.mroutes] == [("a1",), ("a2", "a1")]
    template, static = config.warnings
    assert template.startswith("t.conf:1: input interface a1 is also an output: mcastd installs an (S,G) entry for "
                               "each flow this template matches, and the kernel sends every datagram of such a flow "
                               "back out of a1 with its TTL decremented")
    assert static.startswith("t.conf:2: input interface a1 is also an output: the kernel sends every datagram of "
                             "this (S,G) back out of a1 with its TTL decremented, so hosts there receive each "
                             "datagram twice")
    assert "loop" in static


def test_a_wildcard_input_that_matches_a_named_output_is_noted_and_a_wildcard_output_is_not():
    config = conf.parse_text("mroute from eth+ group 225.1.1.1 to eth1\nmroute from eth0 group 225.1.1.2 to eth+\n")
    assert len(config.warnings) == 1
    assert config.warnings[0].startswith("<config>:1: output eth1 also matches the input eth+: for a flow arriving "
                                         "on eth1, mcastd installs an (S,G) entry whose outputs include eth1, and the "
                                         "kernel sends every datagram of it back out of eth1 with its TTL decremented")


def test_mroute_without_outputs_is_a_stop_filter():
    config = conf.parse_text("mroute from a1 source 10.0.0.1 group 225.1.1.1\nmroute from a1 group 225.9.9.9 to\n")
    static, template = config.mroutes
    assert static.oifs == template.oifs == () and not static.is_template and template.is_template
    assert static.to_line() == "mroute from a1 source 10.0.0.1 group 225.1.1.1"
    assert conf.parse_mroute(static.to_line()) == static._replace(origin=conf.Origin("<mroute>", 1))
    assert "datagrams are dropped (as smcroute does)" in config.warnings[0]
    assert config.warnings[1].startswith("<config>:2: mroute without outputs ('to' missing or empty): every flow it "
                                         "matches gets an entry with no outputs")


def test_a_wildcard_input_makes_even_an_sg_route_a_template():
    route = conf.parse_mroute("mroute from eth+ source 10.0.0.1 group 225.1.1.1 to br0")
    assert route.is_template  # the kernel needs one input per (S,G): learned on the one it arrives on
    assert route.matches("eth3", A("10.0.0.1"), A("225.1.1.1"))


# -- duplicates: merged as smcroute's mroute_add_route merges them ----------------------------------
def test_same_sg_and_input_on_two_lines_forwards_to_the_union():
    config = conf.parse_text("mroute from a1 source 10.0.0.1 group 225.1.1.1 to a2\n"
                             "mroute from a1 source 10.0.0.1 group 225.1.1.1 to a3 a2\n", "t.conf")
    assert [route.to_line() for route in config.mroutes] == ["mroute from a1 source 10.0.0.1 group 225.1.1.1 to a2 a3"]
    assert config.mroutes[0].origin == conf.Origin("t.conf", 1)
    assert config.warnings == ["t.conf:2: same route as the mroute at t.conf:1, outputs merged as smcroute does: "
                               "mroute from a1 source 10.0.0.1 group 225.1.1.1 to a2 a3"]


def test_same_template_on_two_lines_forwards_to_the_union_also_across_files(tmp_path):
    (tmp_path / "d").mkdir()
    first, second = tmp_path / "d" / "a.conf", tmp_path / "d" / "b.conf"
    first.write_text("mroute from a0 group 225.1.2.3/16 to b0\n")
    second.write_text("\nmroute from a0 group 225.1.0.0/16 to c0\nmroute from a0 group 225.1.0.0/16\n")
    (tmp_path / "m.conf").write_text("include d/*.conf\n")
    config = conf.load(str(tmp_path / "m.conf"))
    assert [route.to_line() for route in config.mroutes] == ["mroute from a0 group 225.1.0.0/16 to b0 c0"]
    assert config.warnings[-2].startswith("%s:2: same route as the mroute at %s:1, outputs merged" % (second, first))
    assert config.warnings[-1].startswith("%s:3: same route as the mroute at %s:1, but without outputs: it drops "
                                          "nothing" % (second, first))


def test_a_line_without_outputs_merged_with_one_with_outputs_drops_nothing():
    config = conf.parse_text("mroute from a0 group 225.1.1.1\nmroute from a0 group 225.1.1.1 to b0\n"
                             "mroute from a0 group 225.1.1.1\n")
    assert [route.to_line() for route in config.mroutes] == ["mroute from a0 group 225.1.1.1 to b0"]
    assert config.warnings == [
        "<config>:2: same route as the mroute at <config>:1, outputs merged as smcroute does: "
        "mroute from a0 group 225.1.1.1 to b0",
        "<config>:3: same route as the mroute at <config>:1, but without outputs: it drops nothing, the outputs at "
        "<config>:1 stay (smcroute merges outputs the same way)"]


def test_identical_mgroup_and_phyint_lines_are_kept_once_with_a_note():
    config = conf.parse_text("mgroup from a1 group 225.1.2.3\nphyint a1 enable\nmgroup from a1 group 225.1.2.3\n"
                             "phyint a1\nmgroup from a1 group 225.1.2.3/32\nmgroup from a1 source 0.0.0.0 group 225.1.2.3\n")
    assert len(config.mgroups) == 1 and len(config.memberships()) == 1
    assert config.warnings == ["<config>:3: duplicate of the mgroup at <config>:1, ignored",
                               "<config>:4: duplicate of the phyint at <config>:2, ignored",
                               "<config>:5: duplicate of the mgroup at <config>:1, ignored",
                               "<config>:6: duplicate of the mgroup at <config>:1, ignored"]


def test_ipv6_lines_are_routes_of_their_own_family():
    config = conf.parse_text("mroute from a0 source 2001:db8::1 group ff0e::1 to b0\n"
                             "mroute from a0 group 225.1.1.1 to c0\n")
    route = config.mroutes[0]
    assert (route.family, str(route.source), str(route.group), route.is_template) == (6, "2001:db8::1", "ff0e::1", False)
    assert not config.warnings
    assert config.vif_names(6) == ["a0", "b0"] and config.vif_names(4) == ["a0", "c0"]


def test_vif_names_follow_first_mention():
    config = conf.parse_text("phyint z0 enable\nmroute from a0 group 225.1.1.1 to b0 c0\nphyint q0 disable\n")
    assert config.vif_names() == ["z0", "a0", "b0", "c0"]


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("line, words", [
    ("mroute from a0 group 10.1.1.1 to b0", "not a multicast address"),
    ("mroute from a0 group 240.0.0.1 to b0", "224.0.0.0/4"),
    ("mroute from a0 group 224.0.0.251 to b0", "link-local (224.0.0.0/24): the kernel never routes"),
    ("mroute from a0 group 224.0.0.0/24 to b0", "link-local"),
    ("mroute from a0 source 225.9.9.9 group 225.1.1.1 to b0", "source 225.9.9.9 is a multicast address"),
    ("mroute group 225.1.1.1 to b0", "needs 'from IFNAME'"),
    ("mroute from a0 to b0", "needs 'group GROUP[/LEN]'"),
    ("mroute from a0 grp 225.1.1.1 to b0", "unknown keyword 'grp' in mroute (expected one of: from, group, if-joined, "
                                           "source, to); smcroute would skip it silently"),
    ("mroute from a0 group 225.1.1.1/33 to b0", "invalid prefix length"),
    ("mroute from a0 group 225.1.1.1/x to b0", "invalid prefix length"),
    ("mroute from a0 group 225.1.1.1/\u00b2 to b0", "invalid prefix length"),
    ("mroute from a0 group 225.1.1 to b0", "is not an IPv4 address"),
    ("mroute from a0 group 225.001.1.1 to b0", "is not an IPv4 address"),
    ("mroute from a0 group 225.1.1.1/0 to b0", "group 225.1.1.1/0 is ambiguous: smcroute reads a /0 length as no "
                                               "length (225.1.1.1 alone)"),
    ("mroute from a0 source 10.0.0.1/0 group 225.1.1.1 to b0", "leave out 'source' for any sender"),
    ("mroute from a0 group 225.1.1.1 group 225.1.1.2 to b0", "'group' is given twice; smcroute silently uses the last"),
    ("mroute from + group 225.1.1.1 to b0", "'+' alone would match every interface"),
    ("mroute from trunk.* group 225.1.1.1 to b0", "'trunk.*' uses the shell wildcard *: mcast.linux names interfaces as "
                                                  "smcroute does, with a trailing '+' that matches every name beginning "
                                                  "with what stands before it (write trunk.+)"),
    ("phyint eth? enable", "(write eth+)"),
    ("mroute from a0 group 225.1.1.1 to eth0:1", "a ':' marks an address label"),
    ("mroute from a0 group 225.1.1.1 to ..", "'..' cannot be an interface name"),
    ("mroute from averyveryverylongname group 225.1.1.1 to b0", "longer than 15 bytes"),
    ("mroute from e+th group 225.1.1.1 to b0", "wildcard '+' may only end"),
    ("mgroup from a0 group 10.0.0.1", "not a multicast address"),
    ("mgroup from a0 source 232.0.0.1 group 232.1.1.1", "is a multicast address"),
    ("mgroup from a0 group 225.0.0.0/8", "expands to 16777216 group joins, more than mcastd makes for one line (4096)"),
    ("phyint a0 ttl-threshold \u00b3", "from 1 to 255"),
    ("include a b", "write one include line per path"),
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


def test_one_sg_from_two_inputs_is_refused_as_the_kernel_keeps_one_input():
    error = only_error("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0\n"
                       "mroute from c0 source 10.0.0.1 group 225.1.1.1 to b0\n")
    assert error == ("t.conf:2: mroute from c0 source 10.0.0.1 group 225.1.1.1 to b0 conflicts with mroute from a0 "
                     "source 10.0.0.1 group 225.1.1.1 to b0 at t.conf:1: one (S,G) cannot arrive on two inputs (the "
                     "kernel keeps one entry per source and group, with one input); keep one of the two lines")


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
    assert error.startswith("t.conf:32: the kernel offers 32 VIFs") and "routes 33 interfaces" in error
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
    path.write_text("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0\nmroute from c0 source 10.0.0.1 group "
                    "225.1.1.1 to b0\n")
    with pytest.raises(conf.ConfigError) as info:
        conf.load(str(path), previous=second)
    assert "conflicts with" in info.value.errors[0]


def test_reload_reuses_merged_lines_and_merges_them_again(tmp_path):
    path = tmp_path / "m.conf"
    text = "mroute from a0 group 225.1.1.1 to b0\nmroute from a0 group 225.1.1.1 to c0\n"
    path.write_text(text)
    first = conf.load(str(path))
    assert set(first.known_lines) == set(text.splitlines(True))  # each line cached as parsed on its own
    path.write_text("#\n" + text)
    second = conf.load(str(path), previous=first)
    assert [route.to_line() for route in second.mroutes] == ["mroute from a0 group 225.1.1.1 to b0 c0"]
    assert second.mroutes[0].group is first.mroutes[0].group  # reused, not parsed again
    assert second.warnings == ["m.conf:3: same route as the mroute at m.conf:2, outputs merged as smcroute does: "
                               "mroute from a0 group 225.1.1.1 to b0 c0".replace("m.conf", str(path))]


def test_a_line_with_a_warning_is_parsed_again_so_a_reload_repeats_the_warning(tmp_path):
    path = tmp_path / "m.conf"
    path.write_text("mroute from a0 group 225.1.1.9/24 to b0\n")
    first = conf.load(str(path))
    assert not first.known_lines
    assert conf.load(str(path), previous=first).warnings == first.warnings != []
