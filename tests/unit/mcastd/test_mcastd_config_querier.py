"""The querier grammar of issue 9: phyint ... querier, igmp timers, mroute ... if-joined (parsed and validated)."""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.querier import Timers

A = conf.aton


def refused(text, name="q.conf"):
    with pytest.raises(conf.ConfigError) as info:
        conf.parse_text(text, name)
    return info.value.errors


# -- phyint ... querier --------------------------------------------------------------------------
@pytest.mark.parametrize("line, querier, address", [
    ("phyint eth0 querier", 3, None),
    ("phyint eth0 enable querier", 3, None),
    ("phyint eth0 enable querier igmpv3", 3, None),
    ("phyint eth0 enable querier igmpv2", 2, None),
    ("phyint eth0 querier address 10.0.0.1", 3, A("10.0.0.1")),
    ("phyint eth0 address 192.168.1.254 querier igmpv2 enable", 2, A("192.168.1.254")),  # any order, as smcroute
    ("phyint eth0 querier ttl-threshold 3 mrdisc", 3, None),
    ("phyint eth+ querier igmpv2", 2, None),
    ("phyint eth0 enable", None, None),
    ("phyint eth0", None, None),
])
def test_phyint_querier_fields(line, querier, address):
    [phyint] = conf.parse_text(line + "\n").phyints.values()
    assert (phyint.querier, phyint.querier_address) == (querier, address)
    assert phyint.enable is True


def test_phyint_built_the_old_way_has_no_querier():
    phyint = conf.Phyint("eth0", True, 1, False, conf.Origin("x", 1))
    assert (phyint.querier, phyint.querier_address, phyint.mld) == (None, None, None)
    assert phyint.settings() == (True, 1, False, None, None, None)


@pytest.mark.parametrize("line, igmp, mld", [
    ("phyint eth0 querier", 3, 2),
    ("phyint eth0 querier igmpv2", 2, 2),
    ("phyint eth0 querier mldv1", 3, 1),
    ("phyint eth0 querier igmpv2 mldv1", 2, 1),
    ("phyint eth0 enable", None, None),
])
def test_a_querier_queries_igmp_and_mld_in_the_versions_given(line, igmp, mld):
    phyint = conf.parse_text(line + "\n").phyints["eth0"]
    assert (phyint.querier, phyint.mld) == (igmp, mld)


@pytest.mark.parametrize("line, error", [
    ("phyint eth0 mldv1", "'mldv1' belongs to the querier"),
    ("phyint eth0 querier mldv1 mldv2", "both mldv1 and mldv2"),
])
def test_mld_versions_without_a_querier_or_both_are_refused(line, error):
    with pytest.raises(conf.ConfigError) as raised:
        conf.parse_text(line + "\n")
    assert error in raised.value.errors[0]


@pytest.mark.parametrize("text, line, words", [
    ("phyint eth0 address 10.0.0.1", 1, "'address' belongs to the querier: write 'phyint eth0 querier address "
                                        "A.B.C.D'"),
    ("phyint eth0 igmpv2", 1, "write 'phyint eth0 querier igmpv2'"),
    ("phyint eth0 disable querier", 1, "both disable and querier: a querier needs the interface; drop 'disable'"),
    ("phyint eth0 querier igmpv2 igmpv3", 1, "both igmpv2 and igmpv3: give the one version"),
    ("phyint eth0 querier querier", 1, "'querier' is given twice"),
    ("phyint eth0 querier address", 1, "'address' needs a value"),
    ("phyint eth0 querier address 0.0.0.0", 1, "0.0.0.0 is no address"),
    ("phyint eth0 querier address 224.0.0.1", 1, "224.0.0.1 is a multicast group, not an interface address"),
    ("phyint eth0 querier address 255.255.255.255", 1, "reserved or broadcast"),
    ("phyint eth0 querier address 127.0.0.1", 1, "loopback"),
    ("phyint eth0 querier address 169.254.3.4", 1, "169.254.3.4 is link-local (169.254/16): hosts with rp_filter"),
    ("phyint eth0 querier address 10.0.0.1/24", 1, "'10.0.0.1/24' is not an IPv4 address: write it as A.B.C.D, "
                                                   "without a prefix length"),
    ("phyint eth0 querier address eth0", 1, "is not an IPv4 address"),
    ("phyint eth+ querier address 10.0.0.1", 1, "eth+ matches several interfaces: write one phyint line per "
                                                "interface, or leave out 'address'"),
    ("phyint eth0 querierx", 1, "unknown keyword 'querierx' in phyint"),  # new words are never prefix-matched
    ("phyint querier", 1, "phyint needs an interface name"),
    ("phyint eth0 querier\nphyint eth0 querier igmpv2", 2, "phyint eth0 conflicts with the one at q.conf:1"),
    ("phyint eth0\nphyint eth0 querier", 2, "phyint eth0 conflicts with the one at q.conf:1"),
])
def test_phyint_querier_refusals(text, line, words):
    errors = refused(text + "\n")
    assert len(errors) == 1, errors
    assert errors[0].startswith("q.conf:%d: " % line), errors
    assert words in errors[0], errors


def test_same_querier_phyint_twice_is_a_duplicate_not_a_conflict():
    config = conf.parse_text("phyint eth0 querier address 10.0.0.1\nphyint eth0 enable querier address 10.0.0.1\n",
                             "q.conf")
    assert config.warnings == ["q.conf:2: duplicate of the phyint at q.conf:1, ignored"]


# -- querier_address_problem: the rule that needs the interface's addresses --------------------
NET = [(A("10.1.0.5"), 24)]
TWO = [(A("10.1.0.5"), 24), (A("192.168.7.1"), 16)]
LL_ONLY = [(A("169.254.9.9"), 16)]
LL_AND_REAL = [(A("169.254.9.9"), 16), (A("10.1.0.5"), 24)]


@pytest.mark.parametrize("address, prefixes, words", [
    (None, NET, None),
    ("10.1.0.5", NET, None),
    ("192.168.7.1", TWO, None),
    ("10.1.0.5", TWO, None),
    ("169.254.9.9", LL_ONLY, None),  # link-local is fine while no real address exists
    (None, LL_ONLY, None),
    (None, [], "the interface has no IPv4 address to send queries from: give it one"),
    ("10.1.0.5", [], "no IPv4 address"),
    (None, [(0, 0)], "no IPv4 address"),
    ("169.254.9.9", LL_AND_REAL, "169.254.9.9 is link-local (169.254/16): hosts with rp_filter drop queries from it "
                                 "while they have a real address; use one of the interface's addresses "
                                 "(169.254.9.9/16, 10.1.0.5/24)"),
    ("1.0.0.0", NET, "1.0.0.0 is not on the interface's subnet (10.1.0.0/24): hosts with rp_filter drop queries "
                     "from a source they would not route back through this interface; use one of 10.1.0.5/24"),
    ("172.16.0.1", TWO, "not on the interface's subnet (10.1.0.0/24, 192.168.0.0/16)"),
    ("10.1.0.6", NET, "10.1.0.6 is on the interface's subnet but not configured on it: another host may own it"),
    ("0.0.0.0", NET, "0.0.0.0 is no address"),
    ("224.0.0.1", NET, "multicast group"),
    ("127.0.0.1", NET, "loopback"),
])
def test_querier_address_problem(address, prefixes, words):
    problem = conf.querier_address_problem(None if address is None else A(address), prefixes)
    if words is None:
        assert problem is None
    else:
        assert problem is not None and words in problem, problem


@pytest.mark.parametrize("prefixes, chosen", [
    (NET, "10.1.0.5"),
    (TWO, "10.1.0.5"),
    (LL_AND_REAL, "10.1.0.5"),
    (LL_ONLY, "169.254.9.9"),
    ([(0, 0), (A("10.9.9.9"), 8)], "10.9.9.9"),
    ([], None),
])
def test_querier_source_prefers_a_real_address(prefixes, chosen):
    assert conf.querier_source(prefixes) == (None if chosen is None else A(chosen))


# -- igmp timers ---------------------------------------------------------------------------------
def test_no_igmp_line_means_rfc_defaults():
    config = conf.parse_text("phyint eth0 querier\n")
    assert config.igmp == Timers()
    assert (config.igmp.query_interval, config.igmp.query_response_interval, config.igmp.robustness,
            config.igmp.last_member_interval, config.igmp.startup_query_interval) == (125.0, 10.0, 2, 1.0, 31.25)
    assert conf.Config().igmp == Timers()


@pytest.mark.parametrize("text, expected", [
    ("igmp query-interval 30", Timers(query_interval=30)),
    ("igmp query-interval 12.5 query-response-interval 2.5", Timers(query_interval=12.5, query_response_interval=2.5)),
    ("igmp robustness 3 last-member-interval 0.3", Timers(robustness=3, last_member_interval=0.3)),
    ("igmp startup-query-interval 5", Timers(startup_query_interval=5)),
    ("igmp query-interval 20 query-response-interval 1 robustness 4 last-member-interval 0.5 "
     "startup-query-interval 2", Timers(20, 1, 4, 0.5, 2)),
    ("igmp query-interval 30\nigmp robustness 3", Timers(query_interval=30, robustness=3)),  # merged
    ("igmp query-interval 30\nigmp query-interval 30.0 robustness 3", Timers(query_interval=30, robustness=3)),
])
def test_igmp_lines(text, expected):
    config = conf.parse_text(text + "\n", "q.conf")
    assert config.igmp == expected
    assert config.warnings == []


@pytest.mark.parametrize("text, line, words", [
    ("igmp", 1, "igmp without settings: write e.g. 'igmp query-interval 125 robustness 2', or remove the line"),
    ("igmp query-interval", 1, "'query-interval' needs a value"),
    ("igmp query-interval x", 1, "igmp query-interval takes seconds as a plain decimal number such as 125 or 0.5, "
                                 "not 'x'"),
    ("igmp query-interval 1e3", 1, "not '1e3'"),
    ("igmp query-interval nan", 1, "not 'nan'"),
    ("igmp query-interval -5", 1, "not '-5'"),
    ("igmp query-interval .5", 1, "not '.5'"),
    ("igmp query-interval \u0661\u0662", 1, "plain decimal number"),
    ("igmp robustness 0", 1, "igmp robustness must be a whole number from 1 to 255 (2 is the RFC default), not '0'"),
    ("igmp robustness 2.5", 1, "whole number"),
    ("igmp robustness 256", 1, "whole number"),
    ("igmp query-interval 0", 1, "igmp: query-interval must be more than 0 seconds"),
    ("igmp query-interval 40000", 1, "query-interval must be at most 31744"),
    ("igmp query-interval 5", 1, "query-response-interval (10.0 s) must be less than query-interval (5.0 s); change "
                                 "the igmp line so the values fit (the RFC defaults stand for what it leaves out: "
                                 "query-interval 125"),
    # the relation broken by two lines: reported at the line that set the value named last
    ("igmp query-response-interval 20\nigmp query-interval 15", 2, "must be less than query-interval (15.0 s)"),
    ("igmp query-interval 15\nphyint eth0\nigmp query-response-interval 20", 3, "must be less than"),
    ("igmp query-interval 30\nigmp query-interval 60", 2, "igmp query-interval 60 conflicts with igmp query-interval "
                                                          "30 at q.conf:1: give each setting one value"),
    ("igmp robustness 2 robustness 3", 1, "'robustness' is given twice"),
    ("igmp query-intervals 3", 1, "unknown keyword 'query-intervals' in igmp (expected one of: last-member-interval, "
                                  "query-interval, query-response-interval, robustness, startup-query-interval)"),
    ("igmpv3 query-interval 3", 1, "unknown directive 'igmpv3' (expected phyint, mroute, mgroup, igmp or include)"),
])
def test_igmp_refusals(text, line, words):
    errors = refused(text + "\n")
    assert len(errors) == 1, errors
    assert errors[0].startswith("q.conf:%d: " % line), errors
    assert words in errors[0], errors


# -- mroute ... if-joined ------------------------------------------------------------------------
QUERIERS = "phyint b0 querier\nphyint c0 querier\n"


@pytest.mark.parametrize("line, rendered", [
    ("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0 c0 if-joined",  # the fast path
     "mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0 c0 if-joined"),
    ("mroute from a0 group 225.1.0.0/16 to b0 if-joined", "mroute from a0 group 225.1.0.0/16 to b0 if-joined"),
    ("mroute if-joined from a0 group 225.1.1.1 to b0", "mroute from a0 group 225.1.1.1 to b0 if-joined"),
    ("mroute from a0 group 225.1.1.1 if-joined to b0", "mroute from a0 group 225.1.1.1 to b0 if-joined"),
    ("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0", "mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0"),
    ("mroute from if-joined group 225.1.1.1 to b0", "mroute from if-joined group 225.1.1.1 to b0"),  # an input name
])
def test_if_joined_routes(line, rendered):
    config = conf.parse_text(QUERIERS + line + "\n", "q.conf")
    [route] = config.mroutes
    assert route.to_line() == rendered
    assert route.if_joined is rendered.endswith(" if-joined")
    assert route.oifs == tuple(rendered.split(" to ")[1].replace(" if-joined", "").split())
    assert config.warnings == []
    assert conf.parse_mroute(rendered)._replace(origin=route.origin) == route


def test_fast_path_and_keyword_path_agree():
    fast = conf.Parser._canonical_mroute("from a0 source 10.0.0.1 group 225.1.1.1 to b0 if-joined".split())
    assert fast is not None  # the common shape stays on the fast path
    lines = ["mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0 c0 if-joined",
             "mroute group 225.1.1.1 source 10.0.0.1 from a0 to b0 c0 if-joined"]
    routes = [conf.parse_text(QUERIERS + line + "\n").mroutes[0]._replace(origin=None) for line in lines]
    assert routes[0] == routes[1]
    assert routes[0].if_joined is True and routes[0].oifs == ("b0", "c0")


def test_old_style_mroute_has_if_joined_false():
    route = conf.Mroute("a0", None, conf.parse_prefix("225.1.1.1"), ("b0",), None)
    assert route.if_joined is False
    assert route.to_line() == "mroute from a0 group 225.1.1.1 to b0"


def test_cached_lines_keep_if_joined_on_reload():
    text = QUERIERS + "mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0 if-joined\n"
    first = conf.parse_text(text)
    parser = conf.Parser(known_lines=dict(first.known_lines))
    assert len(first.known_lines) == 1
    parser.read_text(text)
    assert parser.known_lines == {}  # the line was taken from the cache
    assert parser.finish().mroutes[0].if_joined is True


@pytest.mark.parametrize("text, line, words", [
    ("mroute from a0 group 225.1.1.1 to b0 if-joined c0", 1, "'if-joined' ends the line, after the outputs: write "
                                                             "'to b0 c0 if-joined'"),
    ("mroute from a0 group 225.1.1.1 to if-joined b0", 1, "write 'to b0 if-joined'"),
    ("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0 if-joined if-joined", 1, "'if-joined' ends the line"),
    ("mroute from a0 group 225.1.1.1 if-joined to b0 if-joined", 1, "'if-joined' is given twice"),
    ("mroute from a0 group 225.1.1.1 if-joined", 1, "'if-joined' needs outputs to forward to while they have "
                                                    "listeners: write 'to OIF [OIF ...] if-joined'"),
    ("mroute from a0 group 225.1.1.1 to if-joined", 1, "'if-joined' needs outputs"),
    ("mroute from a0 group 225.1.1.1 if-joinedx to b0", 1, "unknown keyword 'if-joinedx'"),
    ("mroute from a0 group 225.1.1.1 to b0\nmroute from a0 group 225.1.1.1 to c0 if-joined", 2,
     "mroute from a0 group 225.1.1.1 to c0 if-joined conflicts with mroute from a0 group 225.1.1.1 to b0 at q.conf:1: "
     "the same route cannot both forward by membership (if-joined, at q.conf:2) and always (at q.conf:1); write one "
     "line, with or without if-joined"),
    ("mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0 if-joined\n"
     "mroute from a0 source 10.0.0.1 group 225.1.1.1 to b0", 2, "(if-joined, at q.conf:1) and always (at q.conf:2)"),
    ("mroute from a0 group 225.1.1.1 to b0 if-joined\nphyint b0 disable", 1, "which 'phyint b0 disable'"),
])
def test_if_joined_refusals(text, line, words):
    errors = refused(text + "\n")
    assert len(errors) == 1, errors
    assert errors[0].startswith("q.conf:%d: " % line), errors
    assert words in errors[0], errors


def test_if_joined_lines_merge_their_outputs():
    config = conf.parse_text(QUERIERS + "mroute from a0 group 225.1.1.1 to b0 if-joined\n"
                             "mroute from a0 group 225.1.1.1 to c0 if-joined\n", "q.conf")
    assert [route.to_line() for route in config.mroutes] == ["mroute from a0 group 225.1.1.1 to b0 c0 if-joined"]
    assert config.warnings == ["q.conf:4: same route as the mroute at q.conf:3, outputs merged as smcroute does: "
                               "mroute from a0 group 225.1.1.1 to b0 c0 if-joined"]


@pytest.mark.parametrize("phyints, oifs, blind", [
    ("", "b0", ["b0"]),
    ("phyint b0 querier\n", "b0", []),
    ("phyint b0 enable\n", "b0", ["b0"]),
    ("phyint b0 querier\n", "b0 c0 d0", ["c0", "d0"]),
    ("phyint b+ querier\n", "b0 b1 c0", ["c0"]),  # a wildcard phyint covers the names it matches
    ("phyint b+ querier\n", "b+ bx+", []),
    ("phyint bx+ querier\n", "b+", ["b+"]),  # covers only part of what b+ matches
    ("phyint b0 querier\n", "b+", ["b+"]),
    ("phyint vlan+ querier igmpv2\n", "vlan20 vlan30", []),
])
def test_if_joined_without_querier_warns(phyints, oifs, blind):
    config = conf.parse_text(phyints + "mroute from a0 group 239.2.0.0/16 to %s if-joined\n" % oifs, "q.conf")
    line = phyints.count("\n") + 1
    if not blind:
        assert config.warnings == []
        return
    assert config.warnings == [
        "q.conf:%d: if-joined forwards to an output only while it has listeners, and mcastd sees listeners only on "
        "interfaces with a querier: nothing will ever be forwarded to %s unless you add %s"
        % (line, ", ".join(blind), " and ".join("'phyint %s querier'" % name for name in blind))]


def test_a_plain_smcroute_file_keeps_its_meaning():
    text = ("phyint eth0 enable ttl-threshold 3\nmroute from eth0 source 10.0.0.1 group 225.1.1.1 to eth1 eth2\n"
            "mroute from eth0 group 225.3.0.0/16 to eth1\n")
    config = conf.parse_text(text, "q.conf")
    assert config.warnings == []
    assert all(route.if_joined is False for route in config.mroutes)
    assert config.phyints["eth0"].querier is None
    assert config.igmp == Timers()
