"""Validation, set planning and the installed-state report of mcast.linux.mroute (no kernel, no daemon)."""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as grammar
from ansible_collections.mcast.linux.plugins.modules import mroute

VIDEO = {"source": "192.0.2.10", "group": "225.1.2.3", "iif": "trunk.10", "oifs": ["trunk.20", "trunk.30"]}
ANY_SOURCE = {"group": "239.10.0.0/16", "iif": "trunk.10", "oifs": ["trunk.20"]}
JOIN = {"iif": "trunk.10", "group": "239.10.1.1"}


def params(**overrides):
    values = dict(set="video", routes=[], mgroups=[], state="present", exclusive=False)
    values.update(overrides)
    return values


def lines(entries):
    return [entry.to_line() for entry in entries]


def test_entries_are_rendered_in_the_daemon_grammar():
    entries, identities = mroute.desired_entries(params(routes=[VIDEO, ANY_SOURCE], mgroups=[JOIN]))
    assert lines(entries) == [
        "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30",
        "mroute from trunk.10 group 239.10.0.0/16 to trunk.20",
        "mgroup from trunk.10 group 239.10.1.1",
    ]
    assert [identity[0] for identity in identities] == ["mroute", "template", "mgroup"]


def test_source_zero_is_any_source_as_in_smcroute():
    entries = mroute.desired_entries(params(routes=[dict(ANY_SOURCE, source="0.0.0.0")]))[0]
    assert entries[0].is_template and entries[0].source is None


@pytest.mark.parametrize("overrides, fragment", [
    ({"set": "../etc/passwd"}, "cannot name a file"),
    ({"set": ".hidden"}, "cannot name a file"),
    ({"set": "video set"}, "cannot name a file"),
    ({"set": ""}, "cannot name a file"),
    ({"state": "absent", "exclusive": True}, "exclusive applies to state: present only"),
    ({"routes": [dict(VIDEO, group="10.1.2.3")]}, "group 10.1.2.3 is not a multicast address"),
    ({"routes": [dict(VIDEO, group="224.0.0.251")]}, "is link-local (224.0.0.0/24)"),
    ({"routes": [dict(VIDEO, source="239.1.1.1")]}, "is a multicast address; a source is the unicast address"),
    ({"routes": [dict(VIDEO, group="225.1.2")]}, "is not an IPv4 address"),
    ({"routes": [dict(VIDEO, group="239.1.1.1/16")]}, "did you mean 239.1.0.0/16"),
    ({"routes": [dict(VIDEO, group="239.1.0.0/33")]}, "invalid prefix length"),
    ({"routes": [dict(VIDEO, group="ff05::1")]}, "mcastd routes IPv4 only"),
    ({"routes": [dict(VIDEO, oifs=["trunk.10"])]}, "input interface trunk.10 is also an output"),
    ({"routes": [dict(VIDEO, oifs=["trunk.20", "trunk.20"])]}, "an output interface is listed twice"),
    ({"routes": [dict(VIDEO, oifs=[])]}, "routes[0] has no oifs"),
    ({"routes": [dict(VIDEO, oifs=None)]}, "routes[0] has no oifs"),
    ({"routes": [dict(VIDEO, iif="a-very-long-interface")]}, "longer than 15 characters"),
    ({"routes": [dict(VIDEO, iif="eth+0")]}, "the wildcard '+' may only end an interface name"),
    ({"routes": [dict(VIDEO, iif="trunk.10 to eth9")]}, "must be one word"),
    ({"routes": [dict(VIDEO, oifs=["trunk.20#x"])]}, "must be one word"),
    ({"routes": [dict(VIDEO, iif="")]}, "routes[0] iif is empty"),
    ({"routes": [VIDEO, dict(VIDEO, oifs=["trunk.30"])]}, "routes[1] repeats the source and group of routes[0]"),
    ({"routes": [ANY_SOURCE, ANY_SOURCE]}, "routes[1] repeats the interface, source and group of routes[0]"),
    ({"mgroups": [JOIN, dict(JOIN)]}, "mgroups[1] repeats the interface, source and group of mgroups[0]"),
    ({"mgroups": [dict(JOIN, group="239.0.0.0/8")]}, "more than 4096 group joins"),
    ({"mgroups": [dict(JOIN, group="192.0.2.1")]}, "not a multicast address"),
    ({"state": "absent", "routes": [{"group": "239.1.1.300", "iif": "trunk.10"}]}, "is not an IPv4 address"),
    ({"state": "absent", "mgroups": [{"group": "239.1.1.1", "iif": "x" * 16}]}, "longer than 15 characters"),
])
def test_bad_input_is_refused_with_the_reason(overrides, fragment):
    with pytest.raises(mroute.InvalidInput) as caught:
        mroute.desired_entries(params(**overrides))
    assert fragment in str(caught.value)


def test_grammar_errors_name_the_entry_and_its_line():
    with pytest.raises(mroute.InvalidInput) as caught:
        mroute.desired_entries(params(routes=[ANY_SOURCE, dict(VIDEO, group="10.1.2.3")]))
    assert str(caught.value).startswith("routes[1] (mroute from trunk.10 source 192.0.2.10 group 10.1.2.3 to trunk.20 "
                                        "trunk.30): group 10.1.2.3 is not a multicast address")


def test_absent_needs_no_oifs_and_gives_identities_only():
    entries, identities = mroute.desired_entries(params(state="absent", routes=[
        {"source": "192.0.2.10", "group": "225.1.2.3", "iif": "trunk.10"}]))
    assert entries == []
    assert identities == [("mroute", grammar.parse_prefix("192.0.2.10"), grammar.parse_prefix("225.1.2.3"))]


def current_set():
    return mroute.parse_set("mgroup from trunk.10 group 239.10.1.1\n"
                            "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20\n"
                            "mroute from trunk.10 group 239.10.0.0/16 to trunk.20\n", "video.conf")


def plan(state="present", exclusive=False, **entries):
    wanted, identities = mroute.desired_entries(params(state=state, **entries))
    return lines(mroute.plan_set(current_set(), wanted, identities, state, exclusive))


def test_present_replaces_the_entry_with_the_same_identity_in_place_and_appends_new_ones():
    assert plan(routes=[VIDEO, {"group": "239.20.0.1", "iif": "trunk.20", "oifs": ["trunk.30"]}]) == [
        "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30",
        "mroute from trunk.10 group 239.10.0.0/16 to trunk.20",
        "mroute from trunk.20 group 239.20.0.1 to trunk.30",
        "mgroup from trunk.10 group 239.10.1.1",
    ]


def test_a_template_on_another_input_is_another_entry():
    assert "mroute from trunk.20 group 239.10.0.0/16 to trunk.30" in plan(routes=[dict(ANY_SOURCE, iif="trunk.20",
                                                                                       oifs=["trunk.30"])])
    assert len(plan(routes=[dict(ANY_SOURCE, iif="trunk.20", oifs=["trunk.30"])])) == 4


def test_exclusive_makes_the_set_exactly_the_list():
    assert plan(exclusive=True, routes=[ANY_SOURCE]) == ["mroute from trunk.10 group 239.10.0.0/16 to trunk.20"]
    assert plan(exclusive=True) == []


def test_absent_removes_by_identity_whatever_the_outputs():
    assert plan(state="absent", routes=[{"source": "192.0.2.10", "group": "225.1.2.3", "iif": "trunk.10"}],
                mgroups=[JOIN]) == ["mroute from trunk.10 group 239.10.0.0/16 to trunk.20"]


def test_the_set_file_has_a_header_and_the_daemon_reads_it_back_unchanged():
    text = mroute.render_set("video", current_set())
    assert text.startswith('# Managed by mcast.linux.mroute, set "video"')
    assert lines(mroute.parse_set(text, "video.conf")) == lines(current_set())


def test_missing_interfaces_are_listed_once_and_wildcards_are_not_checked():
    entries = mroute.desired_entries(params(routes=[dict(VIDEO, oifs=["trunk.99", "eth+"]),
                                                    dict(ANY_SOURCE, oifs=["trunk.99"])]))[0]
    assert mroute.check_interfaces(entries, ["lo", "trunk.10"]) == ["trunk.99"]


# --------------------------------------------------------------------------- installed state

def daemon(routes=(), pending=(), groups=(), interfaces=(), left_out=()):
    return {"status": {"vifs_left_out": list(left_out)}, "routes": list(routes), "pending": list(pending),
            "groups": list(groups), "interfaces": list(interfaces)}


EXISTING = ["lo", "trunk.10", "trunk.20", "trunk.30"]


def state_of(item, the_daemon, mfc=None, directive="mroute"):
    entry = mroute.parse_entry(mroute.entry_line(directive, item, "x"), "x")
    return mroute.entry_state(entry, the_daemon, mfc or {}, EXISTING)


def test_an_sg_route_is_installed_only_when_the_kernel_shows_its_interfaces():
    static = {"kind": "static", "source": "192.0.2.10", "group": "225.1.2.3", "iif": "trunk.10",
              "oifs": ["trunk.20", "trunk.30"], "origin": "video.conf:3"}
    right = {("192.0.2.10", "225.1.2.3"): ("trunk.10", ["trunk.20", "trunk.30"])}
    wrong = {("192.0.2.10", "225.1.2.3"): ("trunk.10", ["trunk.20"])}
    assert state_of(VIDEO, daemon([static]), right)[0] == "installed"
    assert state_of(VIDEO, daemon([static]), wrong) == (
        "not installed", "mcastd holds the route but the kernel's MFC shows iif trunk.10, oifs trunk.20")
    assert state_of(VIDEO, daemon([static]))[1].endswith("shows no entry")
    assert state_of(VIDEO, daemon()) == ("not loaded", "mcastd has not loaded it")


def test_a_template_is_checked_against_the_daemon_not_the_mfc():
    template = {"kind": "template", "source": "*", "group": "239.10.0.0/16", "iif": "trunk.10", "oifs": ["trunk.20"]}
    state, reason = state_of(ANY_SOURCE, daemon([template]))
    assert state == "active" and "only when a source sends" in reason
    assert state_of(dict(ANY_SOURCE, oifs=["trunk.30"]), daemon([template]))[0] == "not loaded"


def test_pending_reasons_absent_interface_full_vif_table_and_interface_problems():
    line = "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.99"
    item = dict(VIDEO, oifs=["trunk.20", "trunk.99"])
    pending = {"kind": "mroute", "line": line, "origin": "video.conf:3", "missing": ["trunk.99"], "state": "partial"}
    assert state_of(item, daemon(pending=[pending])) == (
        "pending", "interface trunk.99 does not exist; mcastd activates the entry when it appears")
    full = dict(pending, line=line.replace("trunk.99", "trunk.30"), missing=["trunk.30"])
    state, reason = state_of(VIDEO, daemon(pending=[full], left_out=["trunk.30"]))
    assert (state, reason) == ("pending", "the VIF table is full (the kernel offers 32 VIFs): no VIF for trunk.30")
    down = {"name": "trunk.20", "problems": ["down", "no MULTICAST flag"]}
    assert state_of(item, daemon(pending=[pending], interfaces=[down]))[1].endswith(
        "; interface trunk.20: down and no MULTICAST flag")


def test_a_join_is_joined_failed_or_not_loaded():
    joined = {"interface": "trunk.10", "group": "239.10.1.1", "source": None, "state": "joined"}
    assert state_of(JOIN, daemon(groups=[joined]), directive="mgroup")[0] == "joined"
    failed = dict(joined, state="failed: No buffer space available")
    assert state_of(JOIN, daemon(groups=[failed]), directive="mgroup") == ("failed", "failed: No buffer space available")
    assert state_of(JOIN, daemon(), directive="mgroup")[0] == "not loaded"


def test_no_daemon_is_said_as_such():
    assert state_of(VIDEO, None)[0] == "daemon not running"


def test_stale_entries_are_those_of_this_set_only():
    entries = mroute.desired_entries(params(routes=[ANY_SOURCE]))[0]
    the_daemon = daemon(routes=[
        {"kind": "static", "source": "192.0.2.10", "group": "225.1.2.3", "iif": "trunk.10", "oifs": ["trunk.20"],
         "origin": "/etc/mcastd/conf.d/video.conf:3"},
        {"kind": "template", "source": "*", "group": "239.10.0.0/16", "iif": "trunk.10", "oifs": ["trunk.20"],
         "origin": "/etc/mcastd/conf.d/video.conf:4"},
        {"kind": "static", "source": "192.0.2.11", "group": "225.1.2.4", "iif": "trunk.10", "oifs": ["trunk.20"],
         "origin": "/etc/mcastd/conf.d/audio.conf:3"},
        {"kind": "learned", "source": "192.0.2.12", "group": "239.10.0.1", "iif": "trunk.10", "oifs": ["trunk.20"],
         "origin": "/etc/mcastd/conf.d/video.conf:4"},
    ])
    assert mroute.stale_lines(the_daemon, "/etc/mcastd/conf.d/video.conf", entries) == [
        "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20"]


def test_satisfied_accepts_pending_only_when_allowed():
    report = [{"state": "installed"}, {"state": "pending"}]
    assert not mroute.is_satisfied(report, allow_pending=False)
    assert mroute.is_satisfied(report, allow_pending=True)
    assert not mroute.is_satisfied([{"state": "not loaded"}], allow_pending=True)
