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
    ({"routes": [dict(VIDEO, group="239.1.1.1/0")]}, "is ambiguous: smcroute reads a /0 length as no length"),
    ({"routes": [dict(VIDEO, group="239.1.0.0/33")]}, "invalid prefix length"),
    ({"routes": [dict(VIDEO, group="ff05::1")]}, "source 192.0.2.10 and group ff05::1 are of different families"),
    ({"routes": [dict(VIDEO, oifs=None)]}, "routes[0] has no oifs: list the interfaces the traffic leaves through, "
                                           "or give oifs: [] for a route that drops the flow"),
    ({"routes": [dict(VIDEO, iif="a-very-long-interface")]}, "longer than 15 bytes"),
    ({"routes": [dict(VIDEO, iif="eth+0")]}, "the wildcard '+' may only end an interface name"),
    ({"routes": [dict(VIDEO, iif="trunk.10 to eth9")]}, "must be one word"),
    ({"routes": [dict(VIDEO, oifs=["trunk.20#x"])]}, "must be one word"),
    ({"routes": [dict(VIDEO, iif="")]}, "routes[0] iif is empty"),
    ({"routes": [VIDEO, dict(VIDEO, iif="trunk.20")]}, "routes[1] gives the (S,G) 192.0.2.10, 225.1.2.3 of routes[0] "
                                                       "another input interface (trunk.20, not trunk.10): the kernel "
                                                       "keeps one entry per source and group, with one input"),
    ({"routes": [dict(VIDEO, iif="+")]}, "'+' alone would match every interface"),
    ({"mgroups": [dict(JOIN, group="239.0.0.0/8")]}, "more than mcastd makes for one line (4096)"),
    ({"mgroups": [dict(JOIN, group="192.0.2.1")]}, "not a multicast address"),
    ({"state": "absent", "routes": [{"group": "239.1.1.300", "iif": "trunk.10"}]}, "is not an IPv4 address"),
    ({"state": "absent", "mgroups": [{"group": "239.1.1.1", "iif": "x" * 16}]}, "longer than 15 bytes"),
])
def test_bad_input_is_refused_with_the_reason(overrides, fragment):
    with pytest.raises(mroute.InvalidInput) as caught:
        mroute.desired_entries(params(**overrides))
    assert fragment in str(caught.value)


@pytest.mark.parametrize("routes, mgroups, expected, warnings", [
    # host bits: cleared, as smcroute masks them
    ([dict(ANY_SOURCE, group="239.10.1.1/16")], [], ["mroute from trunk.10 group 239.10.0.0/16 to trunk.20"],
     ["routes[0]: group 239.10.1.1/16 has host bits set; used as 239.10.0.0/16"]),
    ([], [dict(JOIN, group="239.10.1.40/24")], ["mgroup from trunk.10 group 239.10.1.0/24"],
     ["mgroups[0]: group 239.10.1.40/24 has host bits set; used as 239.10.1.0/24"]),
    # an output that is the input: kept, the kernel sends a copy back out
    ([dict(VIDEO, oifs=["trunk.20", "trunk.10"])], [],
     ["mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.10"],
     ["routes[0]: input interface trunk.10 is also an output: the kernel sends every datagram of this (S,G) back out"]),
    # no outputs: a route that drops the flow
    ([dict(VIDEO, oifs=[])], [], ["mroute from trunk.10 source 192.0.2.10 group 225.1.2.3"],
     ["routes[0]: mroute without outputs ('to' missing or empty): the kernel gets an entry with no outputs"]),
    ([dict(VIDEO, oifs=["trunk.20", "trunk.20"])], [],
     ["mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20"],
     ["routes[0]: output trunk.20 listed more than once; used once"]),
    # the same identity twice: merged, as the grammar merges lines
    ([dict(VIDEO, oifs=["trunk.20"]), dict(VIDEO, oifs=["trunk.30", "trunk.20"])], [],
     ["mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30"],
     ["routes[1] has the input, source and group of routes[0]: outputs merged, as mcastd and smcroute merge such "
      "lines: mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30."]),
    ([ANY_SOURCE, dict(ANY_SOURCE, group="239.10.7.7/16")], [], ["mroute from trunk.10 group 239.10.0.0/16 to trunk.20"],
     ["routes[1]: group 239.10.7.7/16 has host bits set; used as 239.10.0.0/16",
      "routes[1] repeats routes[0]; it adds no output."]),
    ([], [JOIN, dict(JOIN, source="0.0.0.0")], ["mgroup from trunk.10 group 239.10.1.1"],
     ["mgroups[1] repeats mgroups[0]; joined once."]),
    # a wildcard input: a template even with one source and group
    ([dict(VIDEO, iif="trunk.1+", oifs=["trunk.30"])], [],
     ["mroute from trunk.1+ source 192.0.2.10 group 225.1.2.3 to trunk.30"], []),
])
def test_accepted_as_the_grammar_accepts_it_with_its_warnings(routes, mgroups, expected, warnings):
    said = []
    entries, _identities = mroute.desired_entries(params(routes=routes, mgroups=mgroups), said)
    assert lines(entries) == expected
    assert len(said) == len(warnings), said
    for text, fragment in zip(said, warnings):
        assert text.startswith(fragment), said


def test_identities_follow_the_grammar_keys():
    entries, identities = mroute.desired_entries(params(routes=[dict(VIDEO, iif="trunk+"), VIDEO]))
    assert [identity[0] for identity in identities] == ["template", "mroute"]
    assert len(entries) == 2


def test_absent_names_an_entry_once_even_if_listed_twice_and_reads_it_as_the_grammar_does():
    _entries, identities = mroute.desired_entries(params(state="absent", routes=[
        {"group": "239.10.1.1/16", "iif": "trunk.10"}, {"group": "239.10.0.0/16", "iif": "trunk.10", "source": "0.0.0.0"}]))
    assert identities == [("template", "trunk.10", None, grammar.parse_prefix("239.10.0.0/16"))]


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
    assert state_of(VIDEO, daemon([static]), right) == ("installed", "in the kernel's MFC")
    assert state_of(VIDEO, daemon([static]), wrong) == (
        "not installed", "mcastd holds the route but the kernel's MFC shows iif trunk.10, oifs trunk.20")
    assert state_of(VIDEO, daemon([static]))[1].endswith("shows no entry")
    assert state_of(VIDEO, daemon()) == ("not loaded", "mcastd has not loaded it")


def test_outputs_nftables_copies_count_as_installed_with_the_kernel_entry():
    """Issue 12: the kernel's entry holds the outputs that have VIFs, mcastd's nftables table the others."""
    row = {"kind": "static", "source": "192.0.2.10", "group": "225.1.2.3", "iif": "trunk.10",
           "oifs": ["trunk.20", "trunk.30"], "nft_oifs": ["trunk.30"], "origin": "video.conf:3"}
    kernel = {("192.0.2.10", "225.1.2.3"): ("trunk.10", ["trunk.20"])}
    assert state_of(VIDEO, daemon([row]), kernel) == (
        "installed", "in the kernel's MFC for trunk.20, and copied by nftables (mcastd's table) to trunk.30")
    # The input has no VIF: no kernel entry, nftables copies to every output.
    every = dict(row, nft_oifs=["trunk.20", "trunk.30"])
    assert state_of(VIDEO, daemon([every])) == ("installed", "copied by nftables (mcastd's table) to trunk.20, trunk.30")
    # An output neither serves is not installed; copies from another input do not count.
    assert state_of(VIDEO, daemon([dict(row, nft_oifs=["trunk.30"])]))[0] == "not installed"
    assert state_of(VIDEO, daemon([dict(every, iif="trunk.20")]))[0] == "not installed"


def test_an_sg_route_merged_with_another_line_is_installed_with_the_extra_outputs_named():
    merged = {("192.0.2.10", "225.1.2.3"): ("trunk.10", ["trunk.20", "trunk.30"])}
    state = state_of(dict(VIDEO, oifs=["trunk.20"]), daemon(), merged)
    assert state == ("installed", "in the kernel's MFC (also to trunk.30: another line for this route adds it, merged "
                                  "as mcastd merges them)")


def test_an_output_that_is_the_input_must_be_in_the_kernel_entry():
    back = dict(VIDEO, oifs=["trunk.20", "trunk.10"])
    assert state_of(back, daemon(), {("192.0.2.10", "225.1.2.3"): ("trunk.10", ["trunk.10", "trunk.20"])})[0] == \
        "installed"
    assert state_of(back, daemon(), {("192.0.2.10", "225.1.2.3"): ("trunk.10", ["trunk.20"])})[0] == "not loaded"
    wildcard = dict(VIDEO, oifs=["trunk+"])
    assert state_of(wildcard, daemon(), {("192.0.2.10", "225.1.2.3"): ("trunk.10", ["trunk.20", "trunk.30"])})[0] == \
        "installed"


def test_a_route_without_outputs_is_installed_as_an_entry_without_outputs():
    assert state_of(dict(VIDEO, oifs=[]), daemon(), {("192.0.2.10", "225.1.2.3"): ("trunk.10", [])})[0] == "installed"


def test_a_template_is_checked_against_the_daemon_not_the_mfc():
    template = {"kind": "template", "source": "*", "group": "239.10.0.0/16", "iif": "trunk.10", "oifs": ["trunk.20"]}
    state, reason = state_of(ANY_SOURCE, daemon([template]))
    assert state == "active" and "only when a source sends" in reason
    assert state_of(dict(ANY_SOURCE, oifs=["trunk.30"]), daemon([template]))[0] == "not loaded"
    merged = dict(template, oifs=["trunk.20", "trunk.30"])
    state, reason = state_of(ANY_SOURCE, daemon([merged]))
    assert state == "active" and reason.startswith("mcastd holds the template (also to trunk.30: another line")


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


def test_a_template_merged_with_another_set_is_not_stale_and_a_pending_merged_line_is_found():
    entries = mroute.desired_entries(params(routes=[ANY_SOURCE]))[0]
    merged = {"kind": "template", "source": "*", "group": "239.10.0.0/16", "iif": "trunk.10",
              "oifs": ["trunk.20", "trunk.30"], "origin": "/etc/mcastd/conf.d/video.conf:3"}
    assert mroute.stale_lines(daemon(routes=[merged]), "/etc/mcastd/conf.d/video.conf", entries) == []
    pending = {"kind": "mroute", "line": "mroute from trunk.10 group 239.10.0.0/16 to trunk.20 trunk.99",
               "origin": "/etc/mcastd/conf.d/video.conf:3", "missing": ["trunk.99"], "state": "partial"}
    assert mroute.stale_lines(daemon(pending=[pending]), "/etc/mcastd/conf.d/video.conf", entries) == []
    assert state_of(ANY_SOURCE, daemon(pending=[pending]))[0] == "pending"


def test_satisfied_accepts_pending_only_when_allowed():
    report = [{"state": "installed"}, {"state": "pending"}]
    assert not mroute.is_satisfied(report, allow_pending=False)
    assert mroute.is_satisfied(report, allow_pending=True)
    assert not mroute.is_satisfied([{"state": "not loaded"}], allow_pending=True)


def test_notes_of_a_merge_with_another_set_are_passed_on_and_notes_within_the_set_are_not():
    video, audio = "/etc/mcastd/conf.d/video.conf", "/etc/mcastd/conf.d/audio.conf"
    warnings = [
        "%s:3: same route as the mroute at %s:3, outputs merged as smcroute does: mroute from a0 group 225.1.1.1 "
        "to b0 c0" % (video, audio),
        "%s:4: duplicate of the mroute at %s:3, ignored" % (video, video),
        "%s:5: group 225.1.2.3/24 has host bits set; used as 225.1.2.0/24" % video,
        "%s:6: duplicate of the mgroup at %s:2, ignored" % (audio, video),
        "/etc/mcastd/mcastd.conf:2: duplicate of the mroute at %s:1, ignored" % audio,
    ]
    assert mroute.merges_with_others(warnings, video) == [warnings[0], warnings[3]]


FANOUT = dict(VIDEO, oifs=["ovf%d" % number for number in range(1, 41)])


def test_a_route_to_more_than_31_outputs_is_an_entry_like_any_other():
    """Issue 12: the VIF limit is no matter of one entry (mcastd copies the outputs beyond it with nftables)."""
    entries = mroute.desired_entries(params(routes=[FANOUT]))[0]
    assert lines(entries) == ["mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to " + " ".join(FANOUT["oifs"])]


class _Module:
    """What Mroute.validate_whole uses of AnsibleModule: its parameters, warn and fail_json."""

    def __init__(self, conf_dir):
        self.params = dict(params(routes=[FANOUT]), conf_dir=str(conf_dir), config=None, socket="/nonexistent")
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, msg, **_result):
        raise AssertionError("fail_json: " + msg)


@pytest.mark.parametrize("nft, accepted", [("/usr/sbin/nft", True), (None, False)])
def test_the_whole_configuration_may_route_more_than_32_interfaces_when_the_daemon_has_nft(tmp_path, nft, accepted):
    """The running daemon's status says whether it copies with nftables: with nft, a set that routes 41
    interfaces is valid; without, it is refused naming the interfaces left out (as mcastd would refuse it)."""
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "mcastd.conf").write_text("include %s/conf.d/*.conf\n" % tmp_path)
    module = _Module(tmp_path / "conf.d")
    module.params["config"] = str(tmp_path / "mcastd.conf")
    entries, identities = mroute.desired_entries(module.params)
    runner = mroute.Mroute(module, entries, identities)
    runner.daemon = {"status": {"nftables": {"nft": nft, "table": "mcastd"}}}
    text = mroute.render_set("video", entries)
    if accepted:
        runner.validate_whole(text)
    else:
        with pytest.raises(AssertionError, match="nft, with which mcastd copies to the others, is not installed"):
            runner.validate_whole(text)
