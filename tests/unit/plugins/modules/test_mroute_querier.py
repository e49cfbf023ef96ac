"""mcast.linux.mroute's querier, IGMP timers and if-joined routes (issue 9): rendered in mcastd's grammar, refused with
its sentences, planned into the set and reported against the daemon (no kernel, no daemon)."""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as grammar
from ansible_collections.mcast.linux.plugins.modules import mroute

VIDEO = {"source": "192.0.2.10", "group": "225.1.2.3", "iif": "trunk.10", "oifs": ["trunk.20", "trunk.30"]}
ANY_SOURCE = {"group": "239.10.0.0/16", "iif": "trunk.10", "oifs": ["trunk.20"]}
EXISTING = ["lo", "trunk.10", "trunk.20", "trunk.30"]
A = grammar.aton


def params(**overrides):
    values = dict(set="video", interfaces=[], igmp=None, routes=[], mgroups=[], state="present", exclusive=False)
    values.update(overrides)
    return values


def lines(entries):
    return [entry.to_line() for entry in entries]


def desired(**overrides):
    said = []
    entries, identities = mroute.desired_entries(params(**overrides), said)
    return lines(entries), identities, said


# --------------------------------------------------------------------------- rendering

@pytest.mark.parametrize("interfaces, expected", [
    ([{"name": "trunk.20"}], ["phyint trunk.20 enable querier igmpv3"]),
    ([{"name": "trunk.20", "querier": True, "version": 3}], ["phyint trunk.20 enable querier igmpv3"]),
    ([{"name": "trunk.20", "version": 2}], ["phyint trunk.20 enable querier igmpv2"]),
    ([{"name": "trunk.20", "address": "198.51.100.1"}], ["phyint trunk.20 enable querier igmpv3 address 198.51.100.1"]),
    ([{"name": "trunk.20", "querier": False}], ["phyint trunk.20 enable"]),
    ([{"name": "trunk+", "version": 2}], ["phyint trunk+ enable querier igmpv2"]),
    ([{"name": "trunk.20"}, {"name": "trunk.30", "querier": False}],
     ["phyint trunk.20 enable querier igmpv3", "phyint trunk.30 enable"]),
])
def test_interfaces_render_the_phyint_grammar(interfaces, expected):
    rendered, identities, said = desired(interfaces=interfaces)
    assert rendered == expected
    assert identities == [("phyint", item["name"]) for item in interfaces]
    assert said == []


@pytest.mark.parametrize("igmp, expected", [
    ({"query_interval": 125}, "igmp query-interval 125"),
    ({"query_interval": 125.0}, "igmp query-interval 125"),
    ({"query_interval": "12.50"}, "igmp query-interval 12.5"),
    ({"query_interval": 20, "query_response_interval": 2.5, "robustness": 3, "last_member_interval": 0.25,
      "startup_query_interval": "5"},
     "igmp query-interval 20 query-response-interval 2.5 last-member-interval 0.25 startup-query-interval 5 "
     "robustness 3"),
    ({"robustness": "4", "query_interval": None}, "igmp robustness 4"),
    ({"last_member_interval": 0.000001}, "igmp last-member-interval 0.000001"),
])
def test_igmp_renders_the_given_timers_in_the_grammar_order_as_plain_decimals(igmp, expected):
    rendered, identities, said = desired(igmp=igmp)
    assert rendered == [expected]
    assert identities == [("igmp",)]
    assert said == []


def test_igmp_without_settings_has_an_identity_and_no_line():
    assert desired(igmp={"query_interval": None}) == ([], [("igmp",)], [])
    assert desired(igmp={}) == ([], [("igmp",)], [])


@pytest.mark.parametrize("route, expected", [
    (dict(VIDEO, if_joined=True), "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30 if-joined"),
    (dict(ANY_SOURCE, if_joined=True), "mroute from trunk.10 group 239.10.0.0/16 to trunk.20 if-joined"),
    (dict(ANY_SOURCE, if_joined=False), "mroute from trunk.10 group 239.10.0.0/16 to trunk.20"),
])
def test_if_joined_ends_the_route_line(route, expected):
    rendered, _identities, said = desired(routes=[route])
    assert rendered == [expected]
    assert said == [], "a route read alone has no querier: that is judged on the whole configuration, not here"


def test_if_joined_is_part_of_the_route_not_of_its_identity():
    _lines, with_flag, _said = desired(routes=[dict(VIDEO, if_joined=True)])
    _lines, without, _said = desired(routes=[VIDEO])
    assert with_flag == without


def test_the_same_if_joined_route_twice_merges_its_outputs():
    rendered, _identities, said = desired(routes=[dict(ANY_SOURCE, if_joined=True),
                                                  dict(ANY_SOURCE, oifs=["trunk.30"], if_joined=True)])
    assert rendered == ["mroute from trunk.10 group 239.10.0.0/16 to trunk.20 trunk.30 if-joined"]
    assert said and "outputs merged" in said[0]


def test_the_same_interface_twice_with_the_same_settings_is_used_once():
    rendered, _identities, said = desired(interfaces=[{"name": "trunk.20"}, {"name": "trunk.20", "version": 3}])
    assert rendered == ["phyint trunk.20 enable querier igmpv3"]
    assert said == ["interfaces[1] repeats interfaces[0]; used once."]


# --------------------------------------------------------------------------- refusals: the daemon's sentences

@pytest.mark.parametrize("overrides, fragment", [
    # interfaces
    ({"interfaces": [{"name": "trunk.20", "address": "10.0.0.1/24"}]},
     "interfaces[0] (phyint trunk.20 enable querier igmpv3 address 10.0.0.1/24): querier address '10.0.0.1/24' is not "
     "an IPv4 address: write it as A.B.C.D, without a prefix length"),
    ({"interfaces": [{"name": "trunk.20", "address": "0.0.0.0"}]}, "0.0.0.0 is no address"),
    ({"interfaces": [{"name": "trunk.20", "address": "169.254.1.1"}]}, "169.254.1.1 is link-local (169.254/16)"),
    ({"interfaces": [{"name": "trunk.20", "address": "224.0.0.1"}]}, "is a multicast group, not an interface address"),
    ({"interfaces": [{"name": "trunk.20", "address": "127.0.0.1"}]}, "is a loopback address"),
    ({"interfaces": [{"name": "trunk+", "address": "10.0.0.1"}]}, "trunk+ matches several interfaces"),
    ({"interfaces": [{"name": "trunk.20", "address": "fe80::1"}]}, "querier address 'fe80::1' is not an IPv4 address"),
    ({"interfaces": [{"name": "trunk.20", "version": 4}]}, "unknown keyword 'igmpv4' in phyint"),
    ({"interfaces": [{"name": "a-very-long-interface"}]}, "longer than 15 bytes"),
    ({"interfaces": [{"name": "+"}]}, "'+' alone would match every interface"),
    ({"interfaces": [{"name": "trunk.20 mrdisc"}]}, "interfaces[0] name 'trunk.20 mrdisc' must be one word"),
    ({"interfaces": [{"name": ""}]}, "interfaces[0] name is empty"),
    ({"interfaces": [{"name": "trunk.20", "address": "10.0.0.1 igmpv2"}]}, "must be one word"),
    ({"interfaces": [{"name": "trunk.20", "querier": False, "version": 2}]},
     "interfaces[0] gives version but querier: false; it is only for a querier: set querier: true, or leave out "
     "version."),
    ({"interfaces": [{"name": "trunk.20", "querier": False, "version": 2, "address": "10.0.0.1"}]},
     "gives version and address but querier: false; they are only for a querier"),
    ({"interfaces": [{"name": "trunk.20"}, {"name": "trunk.20", "querier": False}]},
     "interfaces[1] names interface trunk.20 again, with other settings than interfaces[0] (phyint trunk.20 enable, "
     "not phyint trunk.20 enable querier igmpv3): give each interface once"),
    # igmp
    ({"igmp": {"query_interval": 5}}, "igmp (igmp query-interval 5): igmp: query-response-interval (10.0 s) must be "
                                      "less than query-interval (5.0 s)"),
    ({"igmp": {"query_interval": 0}}, "query-interval"),
    ({"igmp": {"query_interval": -1}}, "takes seconds as a plain decimal number such as 125 or 0.5, not '-1'"),
    ({"igmp": {"query_interval": "2m"}}, "not '2m'"),
    ({"igmp": {"query_interval": 1e-7}}, "not '0.0000001'"),
    ({"igmp": {"query_interval": float("nan")}}, "not 'NaN'"),
    ({"igmp": {"last_member_interval": "0.0000001"}}, "not '0.0000001'"),
    ({"igmp": {"robustness": 2.5}}, "igmp robustness must be a whole number from 1 to 255 (2 is the RFC default), "
                                    "not '2.5'"),
    ({"igmp": {"robustness": 0}}, "igmp robustness must be a whole number from 1 to 255"),
    ({"igmp": {"robustness": 256}}, "not '256'"),
    ({"igmp": {"robustness": True}}, "igmp.robustness is true, not a number"),
    ({"igmp": {"query_interval": "1 robustness 3"}}, "igmp.query_interval '1 robustness 3' must be one word"),
    # if_joined
    ({"routes": [dict(VIDEO, oifs=[], if_joined=True)]}, "'if-joined' needs outputs to forward to while they have "
                                                         "listeners"),
    ({"routes": [VIDEO, dict(VIDEO, oifs=["trunk.20"], if_joined=True)]},
     "routes[1] has the input, source and group of routes[0], but only routes[1] has if_joined: true: one route "
     "cannot both forward by membership and always"),
    ({"routes": [dict(ANY_SOURCE, if_joined=True), ANY_SOURCE]}, "but only routes[0] has if_joined: true"),
    # state absent reads names as the grammar does
    ({"state": "absent", "interfaces": [{"name": "x" * 16}]}, "longer than 15 bytes"),
])
def test_bad_input_is_refused_with_the_daemons_sentence(overrides, fragment):
    with pytest.raises(mroute.InvalidInput) as caught:
        mroute.desired_entries(params(**overrides))
    assert fragment in str(caught.value)


# --------------------------------------------------------------------------- the set's file

CURRENT = ("phyint trunk.20 enable querier igmpv3\n"
           "phyint trunk.30 enable querier igmpv2 address 198.51.100.1\n"
           "igmp query-interval 30.0 robustness 3\n"
           "mroute from trunk.10 group 239.10.0.0/16 to trunk.20 if-joined\n"
           "mgroup from trunk.10 group 239.10.1.1\n")
CURRENT_LINES = ["phyint trunk.20 enable querier igmpv3",
                 "phyint trunk.30 enable querier igmpv2 address 198.51.100.1",
                 "igmp query-interval 30 robustness 3",
                 "mroute from trunk.10 group 239.10.0.0/16 to trunk.20 if-joined",
                 "mgroup from trunk.10 group 239.10.1.1"]


def plan(state="present", exclusive=False, **entries):
    wanted, identities = mroute.desired_entries(params(state=state, **entries))
    return lines(mroute.plan_set(mroute.parse_set(CURRENT, "video.conf"), wanted, identities, state, exclusive))


@pytest.mark.parametrize("state, exclusive, entries, expected", [
    ("present", False, {}, CURRENT_LINES),
    ("present", False, {"interfaces": [{"name": "trunk.20", "version": 2}]},
     ["phyint trunk.20 enable querier igmpv2"] + CURRENT_LINES[1:]),
    ("present", False, {"interfaces": [{"name": "trunk.10", "querier": False}]},
     CURRENT_LINES[:2] + ["phyint trunk.10 enable"] + CURRENT_LINES[2:]),
    ("present", False, {"igmp": {"query_interval": 60}},
     CURRENT_LINES[:2] + ["igmp query-interval 60"] + CURRENT_LINES[3:]),
    ("present", False, {"igmp": {}}, CURRENT_LINES[:2] + CURRENT_LINES[3:]),
    ("present", False, {"routes": [ANY_SOURCE]},
     CURRENT_LINES[:3] + ["mroute from trunk.10 group 239.10.0.0/16 to trunk.20"] + CURRENT_LINES[4:]),
    ("present", True, {"interfaces": [{"name": "trunk.30"}], "igmp": {"robustness": 3}},
     ["phyint trunk.30 enable querier igmpv3", "igmp robustness 3"]),
    ("absent", False, {"interfaces": [{"name": "trunk.30", "version": 3}]}, CURRENT_LINES[:1] + CURRENT_LINES[2:]),
    ("absent", False, {"igmp": {"query_interval": 1}}, CURRENT_LINES[:2] + CURRENT_LINES[3:]),
    ("absent", False, {"routes": [{"group": "239.10.0.0/16", "iif": "trunk.10"}]},
     CURRENT_LINES[:3] + CURRENT_LINES[4:]),
])
def test_plan_replaces_adds_and_removes_phyint_igmp_and_if_joined_lines(state, exclusive, entries, expected):
    assert plan(state, exclusive, **entries) == expected


def test_the_set_file_is_read_back_as_written_phyint_and_igmp_first():
    entries = mroute.parse_set(CURRENT, "video.conf")
    text = mroute.render_set("video", mroute.plan_set([], entries, [], "present", True))
    assert text.splitlines()[2:] == CURRENT_LINES
    assert lines(mroute.parse_set(text, "video.conf")) == CURRENT_LINES
    assert [mroute.kind(entry) for entry in mroute.parse_set(text, "video.conf")] == [
        "phyint", "phyint", "igmp", "template", "mgroup"]


def test_igmp_keywords_are_those_the_lines_give():
    assert mroute.igmp_keywords("igmp robustness 3 # x\n# igmp query-interval 3\nigmp query-interval 30\n") == [
        "query-interval", "robustness"]
    assert mroute.igmp_keywords("phyint a enable\n") == []


def test_interfaces_are_checked_for_existence_patterns_are_not():
    entries = mroute.desired_entries(params(interfaces=[{"name": "trunk.99"}, {"name": "eth+"}],
                                            igmp={"robustness": 3}))[0]
    assert mroute.check_interfaces(entries, EXISTING) == ["trunk.99"]


# --------------------------------------------------------------------------- querier address on the interface

ADDRESSES = {"trunk.20": [(A("198.51.100.1"), 24)], "trunk.30": [], "trunk.10": [(A("192.0.2.1"), 24)]}


@pytest.mark.parametrize("item, errors, warnings", [
    ({"name": "trunk.20"}, [], []),
    ({"name": "trunk.20", "address": "198.51.100.1"}, [], []),
    ({"name": "trunk.20", "address": "10.0.0.1"},
     ["phyint trunk.20 enable querier igmpv3 address 10.0.0.1: querier address 10.0.0.1 is not on the interface's "
      "subnet (198.51.100.0/24): hosts with rp_filter drop queries from a source they would not route back through "
      "this interface; use one of 198.51.100.1/24"], []),
    ({"name": "trunk.20", "address": "198.51.100.7"}, ["198.51.100.7 is on the interface's subnet but not configured "
                                                       "on it"], []),
    ({"name": "trunk.30"}, [], ["phyint trunk.30 enable querier igmpv3: the interface has no IPv4 address to send "
                                "queries from: give it one; mcastd sends no query there until it has one."]),
    ({"name": "trunk.99", "address": "10.0.0.1"}, [], []),  # absent: pending, judged when it appears
    ({"name": "trunk.30", "querier": False}, [], []),
])
def test_querier_address_is_judged_on_the_interfaces_addresses(item, errors, warnings):
    entries = mroute.desired_entries(params(interfaces=[item]))[0]
    found_errors, found_warnings = mroute.querier_address_problems(entries, ADDRESSES)
    assert len(found_errors) == len(errors) and all(want in got for want, got in zip(errors, found_errors)), \
        found_errors
    assert found_warnings == warnings


# --------------------------------------------------------------------------- what the daemon shows

def daemon(routes=(), interfaces=(), left_out=(), pending=(), queriers=None):
    state = {"status": {"vifs_left_out": list(left_out)}, "routes": list(routes), "pending": list(pending),
             "groups": [], "interfaces": list(interfaces)}
    if queriers is not None:
        state["queriers"] = list(queriers)
    return state


def state_of(overrides, the_daemon, loaded=(), mfc=None):
    [entry] = mroute.desired_entries(params(**overrides))[0]
    return mroute.entry_state(entry, the_daemon, mfc or {}, EXISTING, frozenset(loaded))


QUERIER = {"interfaces": [{"name": "trunk.20"}]}
QUERIER_LINE = "phyint trunk.20 enable querier igmpv3"
VIF = {"name": "trunk.20", "vif": 1, "problems": []}
NO_VIF = {"name": "trunk.20", "vif": None, "problems": []}


@pytest.mark.parametrize("overrides, the_daemon, loaded, state, reason", [
    (QUERIER, daemon(interfaces=[VIF]), [QUERIER_LINE], "active", "mcastd has loaded it; it queries with IGMPv3"),
    (QUERIER, daemon(interfaces=[VIF]), [], "not loaded", "mcastd has not loaded it"),
    (QUERIER, daemon(interfaces=[VIF]), ["phyint trunk.20 enable querier igmpv2"], "not loaded",
     "mcastd has not loaded it"),
    ({"interfaces": [{"name": "trunk.20", "querier": False}]}, daemon(interfaces=[VIF]), ["phyint trunk.20 enable"],
     "active", "mcastd has loaded it"),
    (QUERIER, daemon(interfaces=[NO_VIF]), [QUERIER_LINE], "pending",
     "interface trunk.20 has no VIF (see mcastctl show interfaces and the daemon log)"),
    (QUERIER, daemon(interfaces=[NO_VIF], left_out=["trunk.20"]), [QUERIER_LINE], "pending",
     "the VIF table is full (the kernel offers 32 VIFs): no VIF for trunk.20"),
    ({"interfaces": [{"name": "trunk.99"}]}, daemon(), ["phyint trunk.99 enable querier igmpv3"], "pending",
     "interface trunk.99 does not exist; mcastd uses the line when it appears"),
    ({"interfaces": [{"name": "trunk+", "version": 2}]}, daemon(), ["phyint trunk+ enable querier igmpv2"], "active",
     "mcastd has loaded it for every interface matching trunk+"),
    ({"igmp": {"robustness": 3}}, daemon(), ["igmp robustness 3"], "active",
     "mcastd has loaded these timers (the RFC defaults stand for those not given)"),
    ({"igmp": {"robustness": 3}}, daemon(), ["igmp robustness 4"], "not loaded", "mcastd has not loaded it"),
    (QUERIER, None, [QUERIER_LINE], "daemon not running", "mcastd does not answer on its control socket"),
])
def test_phyint_and_igmp_states(overrides, the_daemon, loaded, state, reason):
    assert state_of(overrides, the_daemon, loaded) == (state, reason)


US = {"interface": "trunk.20", "role": "querier", "querier": "198.51.100.1", "own_address": "198.51.100.1",
      "version": 3, "problem": None, "subnets": ["198.51.100.0/24"]}
OTHER = dict(US, role="non-querier", querier="198.51.100.0")
NO_ADDRESS = {"interface": "trunk.20", "role": "listener", "problem": "the interface has no IPv4 address to send "
              "queries from: give it one", "subnets": []}
REFUSED = dict(NO_ADDRESS, problem="10.0.0.1 is not on the interface's subnet (198.51.100.0/24)",
               subnets=["198.51.100.0/24"])
ADDRESSED = {"interfaces": [{"name": "trunk.20", "address": "198.51.100.1"}]}


@pytest.mark.parametrize("overrides, queriers, state, reason", [
    (QUERIER, [US], "active", "mcastd is the elected querier on trunk.20 (from 198.51.100.1, IGMPv3)"),
    (QUERIER, [dict(US, version=2)], "active", "mcastd is the elected querier on trunk.20 (from 198.51.100.1, "
                                               "IGMPv2)"),  # an IGMPv2 host there: compatibility mode
    (QUERIER, [OTHER], "active", "198.51.100.0, a lower address, is the elected querier on trunk.20; mcastd (from "
                                 "198.51.100.1) tracks the listeners and takes over if it falls silent"),
    (QUERIER, [NO_ADDRESS], "pending", "no querier on trunk.20: the interface has no IPv4 address to send queries "
                                       "from: give it one"),
    (QUERIER, [REFUSED], "failed", "no querier on trunk.20: 10.0.0.1 is not on the interface's subnet"),
    (QUERIER, [], "failed", "no querier on trunk.20: mcastd runs no querier there (see mcastctl show queriers"),
    (ADDRESSED, [US], "active", "mcastd is the elected querier on trunk.20"),
    (ADDRESSED, [dict(US, own_address="198.51.100.2")], "failed",
     "mcastd queries on trunk.20 from 198.51.100.2, not from the address given"),
    # a daemon that queries MLD too shows a row per protocol: the IGMP one is judged, whatever the order
    (ADDRESSED, [dict(US, protocol="MLD", own_address="fe80::1", querier="fe80::1"), dict(US, protocol="IGMP")],
     "active", "mcastd is the elected querier on trunk.20 (from 198.51.100.1, IGMPv3)"),
])
def test_a_querier_is_verified_with_mcastctl_show_queriers(overrides, queriers, state, reason):
    [entry] = mroute.desired_entries(params(**overrides))[0]
    found = mroute.entry_state(entry, daemon(interfaces=[VIF], queriers=queriers), {}, EXISTING,
                               frozenset([entry.to_line()]))
    assert found[0] == state and found[1].startswith(reason), found


JOINED_LINE = "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30 if-joined"
SG = ("192.0.2.10", "225.1.2.3")


@pytest.mark.parametrize("mfc, loaded, state, reason", [
    ({SG: ("trunk.10", ["trunk.20"])}, [], "installed",
     "in the kernel's MFC, forwarding by membership to trunk.20 (the outputs with listeners now)"),
    ({SG: ("trunk.10", ["trunk.20", "trunk.30"])}, [], "installed",
     "in the kernel's MFC, forwarding by membership to trunk.20, trunk.30 (the outputs with listeners now)"),
    ({SG: ("trunk.10", [])}, [], "installed",
     "in the kernel's MFC, forwarding by membership to none of its outputs (the outputs with listeners now)"),
    ({}, [JOINED_LINE], "active", "mcastd has loaded it and forwards by membership: no output has listeners now, so "
                                  "the kernel has no entry for it yet"),
    ({}, [], "not loaded", "mcastd has not loaded it"),
    ({SG: ("trunk.20", ["trunk.30"])}, [], "not loaded", "mcastd has not loaded it"),
])
def test_an_if_joined_sg_route_is_verified_by_its_input_not_its_outputs(mfc, loaded, state, reason):
    assert state_of({"routes": [dict(VIDEO, if_joined=True)]}, daemon(), loaded, mfc) == (state, reason)


def test_an_if_joined_template_is_held_by_the_daemon_like_any_template():
    template = {"kind": "template", "source": "*", "group": "239.10.0.0/16", "iif": "trunk.10", "oifs": ["trunk.20"]}
    assert state_of({"routes": [dict(ANY_SOURCE, if_joined=True)]}, daemon([template]))[0] == "active"


@pytest.mark.parametrize("status, written, now, expected", [
    ({"uptime": 10.0, "last_reload": None}, 80.0, 100.0, True),  # started at 90, after the file was written
    ({"uptime": 10.0, "last_reload": None}, 95.0, 100.0, False),  # written after the start, never reloaded
    ({"uptime": 30.0, "last_reload": {"ok": True, "time": 85.0}}, 80.0, 100.0, True),
    ({"uptime": 30.0, "last_reload": {"ok": True, "time": 75.0}}, 80.0, 100.0, False),
    ({"uptime": 30.0, "last_reload": {"ok": False, "time": 99.0}}, 80.0, 100.0, False),  # refused: not this file
    ({}, 80.0, 100.0, False),
])
def test_loaded_since_is_the_last_successful_read_of_the_configuration(status, written, now, expected):
    assert mroute.loaded_since(status, written, now) is expected


def test_if_joined_notes_of_the_whole_configuration_are_those_of_this_set():
    video = "/etc/mcastd/conf.d/video.conf"
    config = grammar.parse_text("mroute from trunk.10 group 239.1.0.0/16 to trunk.20 trunk.30 if-joined\n"
                                "phyint trunk.20 enable querier\n", video)
    [note] = mroute.blind_if_joined(config.warnings, video)
    assert note.startswith(video + ":1: if-joined forwards to an output only while it has listeners")
    assert "nothing will ever be forwarded to trunk.30 unless you add 'phyint trunk.30 querier'" in note
    assert mroute.blind_if_joined(config.warnings, "/etc/mcastd/conf.d/audio.conf") == []
