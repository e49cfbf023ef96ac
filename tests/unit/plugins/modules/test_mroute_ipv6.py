"""mcast.linux.mroute with IPv6: validation by mcastd's grammar, kinds, and the state against the IPv6 MFC.

No kernel and no daemon: the IPv6 forwarding cache is given as /proc/net/ip6_mr_cache text or as the
module reads it, the daemon as the tables mcastctl shows.
"""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import kernel
from ansible_collections.mcast.linux.plugins.modules import mroute

SENDER = "2001:db8:10::10"
SG6 = {"source": SENDER, "group": "ff0e::1:1", "iif": "trunk.10", "oifs": ["trunk.20", "trunk.30"]}
STAR6 = {"group": "ff0e::2:2", "iif": "trunk.10", "oifs": ["trunk.20"]}
PREFIX6 = {"group": "ff0e::3:0/112", "iif": "trunk.10", "oifs": ["trunk.30"]}
SG4 = {"source": "192.0.2.10", "group": "225.1.2.3", "iif": "trunk.10", "oifs": ["trunk.20"]}
JOIN6 = {"iif": "trunk.20", "group": "ff0e::2:2"}
EXISTING = ["lo", "trunk.10", "trunk.20", "trunk.30"]


def params(**overrides):
    values = dict(set="video", routes=[], mgroups=[], state="present", exclusive=False)
    values.update(overrides)
    return values


def entry_of(item, directive="mroute"):
    return mroute.parse_entry(mroute.entry_line(directive, item, "x"), "x")


def daemon(routes=(), pending=(), groups=(), interfaces=(), mifs_left_out=()):
    return {"status": {"vifs_left_out": [], "mifs_left_out": list(mifs_left_out)}, "routes": list(routes),
            "pending": list(pending), "groups": list(groups), "interfaces": list(interfaces)}


@pytest.mark.parametrize("routes, mgroups, lines, kinds", [
    ([SG6], [], ["mroute from trunk.10 source 2001:db8:10::10 group ff0e::1:1 to trunk.20 trunk.30"], ["mroute"]),
    ([STAR6], [], ["mroute from trunk.10 group ff0e::2:2 to trunk.20"], ["star-g"]),
    ([dict(STAR6, source="::")], [], ["mroute from trunk.10 group ff0e::2:2 to trunk.20"], ["star-g"]),
    # a prefix, a wildcard input or the input among the outputs: a template, as in IPv4
    ([PREFIX6], [], ["mroute from trunk.10 group ff0e::3:0/112 to trunk.30"], ["template"]),
    ([dict(STAR6, iif="trunk.1+")], [], ["mroute from trunk.1+ group ff0e::2:2 to trunk.20"], ["template"]),
    ([dict(STAR6, oifs=["trunk.20", "trunk.10"])], [], ["mroute from trunk.10 group ff0e::2:2 to trunk.20 trunk.10"],
     ["template"]),
    ([dict(SG6, source="2001:db8:10::/64")], [],
     ["mroute from trunk.10 source 2001:db8:10::/64 group ff0e::1:1 to trunk.20 trunk.30"], ["template"]),
    # IPv4 and IPv6 side by side in one set
    ([SG4, SG6, STAR6], [JOIN6], [
        "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20",
        "mroute from trunk.10 source 2001:db8:10::10 group ff0e::1:1 to trunk.20 trunk.30",
        "mroute from trunk.10 group ff0e::2:2 to trunk.20",
        "mgroup from trunk.20 group ff0e::2:2"], ["mroute", "mroute", "star-g", "mgroup"]),
    ([], [dict(JOIN6, source=SENDER, group="ff3e::9")], ["mgroup from trunk.20 source 2001:db8:10::10 group ff3e::9"],
     ["mgroup"]),
    # a join of a link-local group is a join like any other (what a snooping switch needs to see)
    ([], [dict(JOIN6, group="ff02::fb")], ["mgroup from trunk.20 group ff02::fb"], ["mgroup"]),
    # site scope with flags (ff35::) is routed
    ([dict(STAR6, group="ff35::9")], [], ["mroute from trunk.10 group ff35::9 to trunk.20"], ["star-g"]),
])
def test_ipv6_routes_and_joins_are_rendered_in_the_daemon_grammar(routes, mgroups, lines, kinds):
    entries, _identities = mroute.desired_entries(params(routes=routes, mgroups=mgroups))
    assert [entry.to_line() for entry in entries] == lines
    assert [mroute.kind(entry) for entry in entries] == kinds


@pytest.mark.parametrize("overrides, fragment", [
    ({"routes": [dict(STAR6, group="ff02::1:3")]}, "group ff02::1:3 has link-local scope"),
    ({"routes": [dict(STAR6, group="ff01::9")]}, "has interface-local scope"),
    ({"routes": [dict(STAR6, group="ff32::9")]}, "has link-local scope"),
    ({"routes": [dict(STAR6, group="2001:db8::1")]}, "not a multicast address"),
    ({"routes": [dict(SG6, source="192.0.2.10")]}, "are of different families: an IPv6 group needs an IPv6 source"),
    ({"routes": [dict(SG4, source=SENDER)]}, "are of different families"),
    ({"routes": [dict(SG6, source="ff0e::5")]}, "is a multicast address; a source is the unicast address"),
    ({"routes": [dict(STAR6, group="ff0e::zz")]}, "is not an IPv6 address"),
    ({"routes": [dict(STAR6, group="ff0e::/129")]}, "invalid prefix length"),
    ({"routes": [SG6, dict(SG6, iif="trunk.20", oifs=["trunk.30"])]},
     "routes[1] gives the (S,G) 2001:db8:10::10, ff0e::1:1 of routes[0] another input interface"),
    ({"mgroups": [dict(JOIN6, group="ff0e::/100")]}, "more than mcastd makes for one line (4096)"),
])
def test_bad_ipv6_input_is_refused_with_the_reason(overrides, fragment):
    with pytest.raises(mroute.InvalidInput) as caught:
        mroute.desired_entries(params(**overrides))
    assert fragment in str(caught.value)


def test_identities_tell_ipv6_entries_apart_and_absent_needs_no_oifs():
    _entries, identities = mroute.desired_entries(params(state="absent", routes=[
        {"source": SENDER, "group": "ff0e::1:1", "iif": "trunk.10"}, {"group": "ff0e::2:2", "iif": "trunk.10"}]))
    assert [identity[0] for identity in identities] == ["mroute", "template"]
    current = mroute.parse_set("mroute from trunk.10 source %s group ff0e::1:1 to trunk.20\n"
                               "mroute from trunk.10 group ff0e::2:2 to trunk.20\n"
                               "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20\n" % SENDER, "v.conf")
    kept = mroute.plan_set(current, [], identities, "absent", False)
    assert [entry.to_line() for entry in kept] == ["mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20"]


# --------------------------------------------------------------------------- the IPv6 forwarding cache

PROC_CACHE = (
    "Group                            Origin                           Iif      Pkts  Bytes     Wrong  Oifs\n"
    "ff0e0000000000000000000000010001 20010db8001000000000000000000010 0           100     5200        0  1:1    2:1\n"
    "ff0e0000000000000000000000020002 00000000000000000000000000000000 0            20     1040        3  0:1    1:1\n"
    "ff0e0000000000000000000000030007 20010db8001000000000000000000010 -1            0        0        0\n"
)
MIFS = {0: "trunk.10", 1: "trunk.20", 2: "trunk.30"}


def test_read_mfc6_reads_the_kernels_table(tmp_path):
    path = tmp_path / "ip6_mr_cache"
    path.write_text(PROC_CACHE)
    rows = kernel.read_mfc6(str(path))
    assert rows[0] == kernel.MfcRow(0x20010DB8001000000000000000000010, 0xFF0E0000000000000000000000010001, 0, [1, 2],
                                    100, 5200, 0)
    assert (rows[1].source, rows[1].iif, rows[1].oifs, rows[1].wrong_if) == (0, 0, [0, 1], 3)
    assert (rows[2].iif, rows[2].oifs) == (None, [])  # unresolved: waits for the daemon's answer
    assert kernel.read_mfc6(str(tmp_path / "absent")) == []  # no IPv6 multicast routing at all


def test_read_mfc6_takes_addresses_printed_with_colons(tmp_path):
    path = tmp_path / "ip6_mr_cache"
    path.write_text("Group Origin Iif Pkts Bytes Wrong Oifs\n"
                    "ff0e:0000:0000:0000:0000:0000:0001:0001 2001:0db8:0010:0000:0000:0000:0000:0010 0 1 2 0  1:1\n")
    [row] = kernel.read_mfc6(str(path))
    assert (row.source, row.group) == (0x20010DB8001000000000000000000010, 0xFF0E0000000000000000000000010001)


def test_the_ipv6_mfc_by_flow_leaves_out_unresolved_entries_and_the_input_of_a_star_g_entry(tmp_path):
    path = tmp_path / "ip6_mr_cache"
    path.write_text(PROC_CACHE)
    assert mroute.mfc6_by_flow(kernel.read_mfc6(str(path)), MIFS) == {
        (SENDER, "ff0e::1:1"): ("trunk.10", ["trunk.20", "trunk.30"]),
        ("::", "ff0e::2:2"): ("trunk.10", ["trunk.20"]),
    }


# --------------------------------------------------------------------------- the state of each entry

SG6_ROW = {"kind": "static", "source": SENDER, "group": "ff0e::1:1", "iif": "trunk.10", "oifs": ["trunk.20", "trunk.30"],
           "origin": "video.conf:3"}
STAR6_ROW = {"kind": "star-g", "source": "*", "group": "ff0e::2:2", "iif": "trunk.10", "oifs": ["trunk.20"],
             "origin": "video.conf:4"}
SG6_KERNEL = {(SENDER, "ff0e::1:1"): ("trunk.10", ["trunk.20", "trunk.30"])}
STAR6_KERNEL = {("::", "ff0e::2:2"): ("trunk.10", ["trunk.20"])}


@pytest.mark.parametrize("item, routes, mfc, state, reason", [
    (SG6, [SG6_ROW], SG6_KERNEL, "installed", "in the kernel's MFC"),
    (SG6, [SG6_ROW], {(SENDER, "ff0e::1:1"): ("trunk.10", ["trunk.20"])}, "not installed",
     "mcastd holds the route but the kernel's MFC shows iif trunk.10, oifs trunk.20"),
    (SG6, [SG6_ROW], {}, "not installed", "mcastd holds the route but the kernel's MFC shows no entry"),
    (SG6, [], {}, "not loaded", "mcastd has not loaded it"),
    # an IPv6 (S,G) is not satisfied by the IPv4 entry of another group, nor by a (*,G) of its group
    (SG6, [], {("192.0.2.10", "225.1.2.3"): ("trunk.10", ["trunk.20", "trunk.30"])}, "not loaded", None),
    # the kernel (*,G) entry (origin ::) satisfies the (*,G) route, at once, without a source sending
    (STAR6, [STAR6_ROW], STAR6_KERNEL, "installed",
     "in the kernel's MFC as a (*,G) entry, which forwards every source of the group without an upcall"),
    (STAR6, [STAR6_ROW], {}, "not installed", "mcastd holds the route but the kernel's MFC shows no entry"),
    (STAR6, [STAR6_ROW], {("::", "ff0e::2:2"): ("trunk.20", ["trunk.30"])}, "not installed",
     "mcastd holds the route but the kernel's MFC shows iif trunk.20, oifs trunk.30"),
    (STAR6, [], {}, "not loaded", "mcastd has not loaded it"),
    # an (S,G) entry of the group is no (*,G) entry
    (STAR6, [], {(SENDER, "ff0e::2:2"): ("trunk.10", ["trunk.20"])}, "not loaded", None),
    # merged with another line of the route: installed, the extra output named
    (STAR6, [dict(STAR6_ROW, oifs=["trunk.20", "trunk.30"])], {("::", "ff0e::2:2"): ("trunk.10", ["trunk.20", "trunk.30"])},
     "installed", "in the kernel's MFC as a (*,G) entry, which forwards every source of the group without an upcall "
                  "(also to trunk.30: another line for this route adds it, merged as mcastd merges them)"),
    # a prefix route stays a template: the daemon holds it, the kernel has nothing before a source sends
    (PREFIX6, [{"kind": "template", "source": "*", "group": "ff0e::3:0/112", "iif": "trunk.10", "oifs": ["trunk.30"]}],
     {}, "active", None),
])
def test_ipv6_route_states(item, routes, mfc, state, reason):
    found = mroute.entry_state(entry_of(item), daemon(routes), mfc, EXISTING)
    assert found[0] == state, found
    if reason is not None:
        assert found[1] == reason


NO_IPV6 = "this kernel has no IPv6 multicast routing (CONFIG_IPV6_MROUTE), or IPv6 is disabled"


@pytest.mark.parametrize("pending, left_out, state, reason", [
    ({"missing": ["trunk.99"], "state": "partial"}, [], "pending",
     "interface trunk.99 does not exist; mcastd activates the entry when it appears"),
    ({"missing": ["trunk.30"], "state": "partial"}, ["trunk.30"], "pending",
     "the MIF table is full (the kernel offers 32 MIFs): no MIF for trunk.30"),
    ({"missing": ["trunk.30"], "state": "partial"}, [], "pending",
     "interface trunk.30 has no MIF (see mcastctl show interfaces and the daemon log)"),
    # mcastd could not take the IPv6 routing API: the route waits for nothing that will come by itself
    ({"missing": [], "state": "inactive", "reason": NO_IPV6}, [], "not installed", "mcastd cannot route it: " + NO_IPV6),
])
def test_pending_ipv6_routes_name_the_mif_table_or_the_missing_routing_api(pending, left_out, state, reason):
    item = SG6 if "trunk.99" not in pending["missing"] else dict(SG6, oifs=["trunk.20", "trunk.99"])
    row = dict(pending, kind="mroute", line=entry_of(item).to_line(), origin="video.conf:3")
    assert mroute.entry_state(entry_of(item), daemon(pending=[row], mifs_left_out=left_out), {}, EXISTING) == \
        (state, reason)


def test_an_ipv6_join_is_found_by_its_text():
    joined = {"interface": "trunk.20", "group": "ff3e::9", "source": SENDER, "state": "joined"}
    item = dict(JOIN6, group="ff3e::9", source=SENDER)
    assert mroute.entry_state(entry_of(item, "mgroup"), daemon(groups=[joined]), {}, EXISTING)[0] == "joined"
    assert mroute.entry_state(entry_of(JOIN6, "mgroup"), daemon(groups=[joined]), {}, EXISTING)[0] == "not loaded"


def test_stale_ipv6_routes_of_the_set_are_found_star_g_included():
    entries = mroute.desired_entries(params(routes=[SG4]))[0]
    path = "/etc/mcastd/conf.d/video.conf"
    the_daemon = daemon(routes=[
        {"kind": "static", "source": "192.0.2.10", "group": "225.1.2.3", "iif": "trunk.10", "oifs": ["trunk.20"],
         "origin": path + ":3"},
        dict(SG6_ROW, origin=path + ":4"), dict(STAR6_ROW, origin=path + ":5"),
        dict(STAR6_ROW, group="ff0e::9:9", origin="/etc/mcastd/conf.d/audio.conf:3")])
    assert mroute.stale_lines(the_daemon, path, entries) == [
        "mroute from trunk.10 group ff0e::2:2 to trunk.20",
        "mroute from trunk.10 source 2001:db8:10::10 group ff0e::1:1 to trunk.20 trunk.30"]
    kept = mroute.desired_entries(params(routes=[SG4, SG6, STAR6]))[0]
    assert mroute.stale_lines(the_daemon, path, kept) == []


def test_an_ipv6_star_g_the_daemon_holds_as_a_template_is_verified_as_one():
    """One group routed from two inputs: mcastd learns it per flow (a kernel (*,G) entry has one input)."""
    entry = entry_of(STAR6)
    template = {"kind": "template", "source": "*", "group": "ff0e::2:2", "iif": "trunk.10", "oifs": ["trunk.20"],
                "origin": "video.conf:4"}
    state, reason = mroute.entry_state(entry, daemon([template]), {}, EXISTING)
    assert state == "active" and "mcastd holds the template" in reason
    assert mroute.kind(entry, daemon([template])) == "template" and mroute.kind(entry) == "star-g"
    assert mroute.stale_lines(daemon([dict(template, origin="/c/video.conf:4")]), "/c/video.conf", [entry]) == []
