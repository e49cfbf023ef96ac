"""smcroute 2.6 lines, one by one: what mcastd makes of each (the compatibility table of issue 8).

The lines come from smcroute 2.6's man/smcroute.conf.5, its example smcroute.conf, its README
and the configurations of its test/*.sh scripts (IPv4 and IPv6 lines), plus lines smcroute's parser (src/conf.c) accepts that its documents do not show.
Each row: the line, what mcastd uses (canonical line) or refuses, and the warning it logs.
The kernel side of the surprising ones (output = input, no outputs) is in the last tests.
"""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import main, routes
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import Iface

A = conf.aton
UP_MC = 0x1 | 0x1000
HOST_BITS = "has host bits set; used as"
READ_AS = "as smcroute reads a word that begins with a keyword"


def used(line):
    """(what mcastd uses, warnings) for one line, or ("refused: ...", errors)."""
    try:
        config = conf.parse_text(line + "\n", "smcroute.conf")
    except conf.ConfigError as error:
        return "refused", [text.split(": ", 1)[1] for text in error.errors]
    entries = [entry.to_line() for entry in config.mroutes + config.mgroups]
    entries += ["phyint %s %s ttl-threshold %d%s" % (p.ifname, "enable" if p.enable else "disable", p.threshold,
                                                     " mrdisc" if p.mrdisc else "") for p in config.phyints.values()]
    kinds = ["template" if route.is_template else "(S,G)" for route in config.mroutes]
    return " | ".join(entries + kinds), [text.split(": ", 1)[1] for text in config.warnings]


# (smcroute line, what mcastd uses, a fragment of its warning or error, or None for none)
DOCUMENTED = [
    # man/smcroute.conf.5, smcroute.conf, README.md
    ("phyint eth0 enable ttl-threshold 11", "phyint eth0 enable ttl-threshold 11", None),
    ("phyint eth0 enable mrdisc", "phyint eth0 enable ttl-threshold 1 mrdisc", None),
    ("mgroup from eth0                     group 225.1.2.3", "mgroup from eth0 group 225.1.2.3", None),
    ("mgroup from eth0 group 225.1.2.3 source 192.168.1.42", "mgroup from eth0 source 192.168.1.42 group 225.1.2.3",
     None),
    ("mroute from eth0 source 192.168.1.42 group 225.1.2.3 to eth1 eth2",
     "mroute from eth0 source 192.168.1.42 group 225.1.2.3 to eth1 eth2 | (S,G)", None),
    ("mroute from eth0 group 225.1.2.3 source 192.168.1.42 to eth1 eth2",
     "mroute from eth0 source 192.168.1.42 group 225.1.2.3 to eth1 eth2 | (S,G)", None),
    ("mroute from eth0 group 225.3.2.1 to eth1 eth2", "mroute from eth0 group 225.3.2.1 to eth1 eth2 | template", None),
    ("mgroup from eth0 group 225.0.0.0/24", "mgroup from eth0 group 225.0.0.0/24", None),
    ("mroute from eth0 group 225.0.0.0/24 to eth1 eth2", "mroute from eth0 group 225.0.0.0/24 to eth1 eth2 | template",
     None),
    ("mroute from wg0 group 239.255.255.250 to eth0", "mroute from wg0 group 239.255.255.250 to eth0 | template", None),
    # test/*.sh
    ("phyint a1 enable", "phyint a1 enable ttl-threshold 1", None),
    ("phyint a1.100 enable", "phyint a1.100 enable ttl-threshold 1", None),
    ("phyint", "refused", "phyint needs an interface name"),  # mem.sh, vrfy.sh: smcrouted -F exits 78 too
    ("mgroup from a1 source 10.0.0.1 group 225.3.2.1", "mgroup from a1 source 10.0.0.1 group 225.3.2.1", None),
    ("mroute from a1 group 225.1.2.3 to a2", "mroute from a1 group 225.1.2.3 to a2 | template", None),
    ("mroute from a1 source 10.0.0.1 group 225.3.2.1 to a2 foo0",
     "mroute from a1 source 10.0.0.1 group 225.3.2.1 to a2 foo0 | (S,G)", None),
    ("mroute from a1.100 group 225.1.2.3 to a1.110 a2.110",
     "mroute from a1.100 group 225.1.2.3 to a1.110 a2.110 | template", None),
    ("mroute from a1 group 225.1.2.3/24 to a2", "mroute from a1 group 225.1.2.0/24 to a2 | template",
     "group 225.1.2.3/24 has host bits set; used as 225.1.2.0/24"),
    ("mroute from a1 source 10.0.0.1/24 group 225.3.2.1 to a2",
     "mroute from a1 source 10.0.0.0/24 group 225.3.2.1 to a2 | template",
     "source 10.0.0.1/24 has host bits set; used as 10.0.0.0/24"),
    ("mroute from a1 source 10.0.0.1 group 225.3.3.3/24 to a2",
     "mroute from a1 source 10.0.0.1 group 225.3.3.0/24 to a2 | template",
     "group 225.3.3.3/24 has host bits set; used as 225.3.3.0/24"),
    ("mroute from a1 group 225.2.2.5 to a1", "mroute from a1 group 225.2.2.5 to a1 | template",
     "input interface a1 is also an output: mcastd installs an (S,G) entry for each flow this template matches"),
    ("mgroup from a1 source 10.0.0.10 group 225.1.2.40/24", "mgroup from a1 source 10.0.0.10 group 225.1.2.0/24",
     "group 225.1.2.40/24 has host bits set; used as 225.1.2.0/24"),
    ("mgroup from a2 group 225.3.2.250/24", "mgroup from a2 group 225.3.2.0/24",
     "group 225.3.2.250/24 has host bits set; used as 225.3.2.0/24"),
    ("mroute from a1 group ff2e::42/121 to a2", "mroute from a1 group ff2e::/121 to a2 | template",
     "group ff2e::42/121 has host bits set; used as ff2e::/121"),
    ("mgroup from a1 source fc00::1 group ff04:0:0:0:0:0:0:114", "mgroup from a1 source fc00::1 group ff04::114",
     None),
]

UNDOCUMENTED = [
    # what smcroute's parser accepts beyond its documents
    ("mroute from a1 source 10.0.0.1 group 225.1.1.1", "mroute from a1 source 10.0.0.1 group 225.1.1.1 | (S,G)",
     "the kernel gets an entry with no outputs for this (S,G), so its datagrams are dropped"),
    ("mroute from a1 group 225.1.1.0/24 to", "mroute from a1 group 225.1.1.0/24 | template",
     "every flow it matches gets an entry with no outputs"),
    ("mroute from a1 source 0.0.0.0 group 225.1.1.1 to a2", "mroute from a1 group 225.1.1.1 to a2 | template", None),
    ("mroute from a1 source 0.0.0.0/0 group 225.1.1.1 to a2", "mroute from a1 group 225.1.1.1 to a2 | template", None),
    ("mroute from a1 source 0.0.0.0/8 group 225.1.1.1 to a2", "mroute from a1 group 225.1.1.1 to a2 | template",
     "source 0.0.0.0/8 means any source, as in smcroute"),
    ("mgroup from a1 source 0.0.0.0 group 225.1.1.1", "mgroup from a1 group 225.1.1.1", None),
    ("ssmgroup from a1 source 10.0.0.1 group 232.1.1.1", "mgroup from a1 source 10.0.0.1 group 232.1.1.1", None),
    ("mroute from a1 group 225.1.1.1/32 to a2", "mroute from a1 group 225.1.1.1 to a2 | template", None),
    ("mroute from a1 group 225.1.1.1 to a2 a2", "mroute from a1 group 225.1.1.1 to a2 | template",
     "output a2 listed more than once; used once"),
    ("mroute from a1 source 10.0.0.1 group 225.1.1.1 to a2 a1",
     "mroute from a1 source 10.0.0.1 group 225.1.1.1 to a2 a1 | (S,G)",
     "the kernel sends every datagram of this (S,G) back out of a1 with its TTL decremented"),
    ("mroute from eth+ group 225.1.1.1 to br0", "mroute from eth+ group 225.1.1.1 to br0 | template", None),
    ("mroute from eth+ source 10.0.0.1 group 225.1.1.1 to br0",
     "mroute from eth+ source 10.0.0.1 group 225.1.1.1 to br0 | template", None),
    ("mroute from eth+ group 225.1.1.1 to eth1", "mroute from eth+ group 225.1.1.1 to eth1 | template",
     "output eth1 also matches the input eth+"),
    ("mroute from eth0 group 225.1.1.1 to eth+", "mroute from eth0 group 225.1.1.1 to eth+ | template", None),
    ("phyint a1 enabled ttl-threshold 3", "phyint a1 enable ttl-threshold 3", "'enabled' read as 'enable'"),
    ("mroutes from a1 group 225.1.1.1 to a2", "mroute from a1 group 225.1.1.1 to a2 | template",
     "'mroutes' read as 'mroute'"),
    ("mroute from a1 group 225.1.1.1 tos a2", "mroute from a1 group 225.1.1.1 to a2 | template", "'tos' read as 'to'"),
    ("mroute from a1 group 225.1.1.1 to a2 # and a comment", "mroute from a1 group 225.1.1.1 to a2 | template", None),
    ("phyint a1", "phyint a1 enable ttl-threshold 1", None),
    ("phyint a1 disable", "phyint a1 disable ttl-threshold 1", None),
    # refused on purpose: each error says why and what to write instead
    ("mroute from a1 group 224.0.0.251 to a2", "refused", "the kernel never routes these groups, whatever route is set; "
                                                          "send the stream to a routable group"),
    ("mroute from a1 source 225.9.9.9 group 225.1.1.1 to a2", "refused", "leave out 'source' for any sender"),
    ("mroute from a1 group 10.1.1.1 to a2", "refused", "not a multicast address"),
    ("mroute from a1 group 225.1.1.1/0 to a2", "refused", "write 225.1.1.1 for that one address"),
    ("mroute from a1 source 10.0.0.1/0 group 225.1.1.1 to a2", "refused", "leave out 'source' for any sender"),
    ("mroute from a1 group 225.1.1.1 foo to a2", "refused", "smcroute would skip it silently, which can change what "
                                                            "the line means"),
    ("mroute from a1 group 225.1.1.1 from a3 to a2", "refused", "'from' is given twice; smcroute silently uses the "
                                                                "last one, mcastd does not guess: give it once"),
    ("mroute from + group 225.1.1.1 to a2", "refused", "name the interfaces, or a prefix such as eth+"),
    ("mroute from a1 group 225.01.1.1 to a2", "refused", "is not an IPv4 address"),
    ("mroute from a1 source 10.0.0.0/4 group 225.1.1.1 to a2", "refused", "is 0.0.0.0/4 once its host bits are "
                                                                          "cleared, and 0.0.0.0/N reads as any source"),
    ("mroute from a1 group 225.1.1.1/abc to a2", "refused", "invalid prefix length"),
    ("mgroup from a1 group 225.0.0.0/16", "refused", "split it into narrower prefixes"),
    ("phyint a1 ttl-threshold 0", "refused", "from 1 to 255"),
    ("include a.conf b.conf", "refused", "write one include line per path"),
    ("include /nonexistent/smcroute/extra.conf", "refused", "for a file that may be absent, write a pattern"),
    ("route from a1 group 225.1.1.1 to a2", "refused", "unknown directive 'route'"),
]


@pytest.mark.parametrize("line, expected, note", DOCUMENTED + UNDOCUMENTED)
def test_each_smcroute_line(line, expected, note):
    result, notes = used(line)
    assert result == expected
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and note in notes[0], notes


# -- whole configurations from smcroute's test scripts ------------------------------------------------
LOST_SH = """\
phyint a1 enable
phyint a2 enable

mgroup from a1 group 225.1.2.3
mroute from a1 group 225.1.2.3 to a2

mgroup from a2 group 225.1.2.4
mroute from a2 source 1.2.3.4 group 225.1.2.4 to a1

mgroup from a1 group 225.2.2.5
mroute from a1 group 225.2.2.5 to a1

mgroup from a2 group 225.1.2.6
mroute from a2 source 1.2.3.5 group 225.1.2.6 to a1
"""
DYN_SH = """\
phyint a1 enable
phyint a2 enable

mroute from a1 group 225.1.2.3/24 to a2
mroute from a1 group ff2e::42/121 to a2

mroute from a1 source 10.0.0.1/24 group 225.3.2.1 to a2
mroute from a1 source fc00::1/64  group ff04::114 to a2

mroute from a1 source 10.0.0.1 group 225.3.3.3/24 to a2
"""
POISON_SH = """\
phyint a1 enable
phyint a2 enable
phyint b3 enable

mroute from a1 group 225.1.2.3/24 to b3
mroute from a2 group 225.1.2.3/24 to b3
mroute from a1 group ff2e::42/121 to b3
"""
JOINLEN_SH = """\
phyint a1 enable
phyint a2 enable

mgroup from a1 source 10.0.0.10 group 225.1.2.40/24
mgroup from a2 group 225.3.2.250/24
"""


@pytest.mark.parametrize("text, statics, templates, joins, warnings", [
    (LOST_SH, 2, 2, 4, 1),
    (DYN_SH, 0, 5, 0, 5),
    (POISON_SH, 0, 3, 0, 3),
    (JOINLEN_SH, 0, 0, 512, 2),
])
def test_smcroute_test_script_configurations_are_accepted(text, statics, templates, joins, warnings):
    config = conf.parse_text(text, "smcroute.conf")
    assert (len(config.static_routes), len(config.templates), len(config.memberships()), len(config.warnings)) == (
        statics, templates, joins, warnings), config.warnings


def test_check_prints_the_warnings_and_exits_0(tmp_path, capsys):
    path = tmp_path / "smcroute.conf"
    path.write_text(DYN_SH)
    assert main.main(["--check", "-f", str(path)]) == main.EXIT_OK
    err = capsys.readouterr().err
    assert "warning: %s:4: group 225.1.2.3/24 has host bits set; used as 225.1.2.0/24\n" % path in err
    assert "warning: %s:10: group 225.3.3.3/24 has host bits set; used as 225.3.3.0/24\n" % path in err


# -- the kernel entries these lines give --------------------------------------------------------------
def vifs_of(config, *names):
    present = {name: Iface(name, index, UP_MC) for index, name in enumerate(names, 2)}
    return routes.plan_vifs({}, routes.wanted_vifs(config, present))[0]


def outputs(entry, vifs):
    names = {vif.index: name for name, vif in vifs.items()}
    return sorted(names[index] for index, ttl in enumerate(entry.ttls) if ttl)


def test_output_named_as_the_input_is_in_the_kernel_entry_of_an_sg_and_of_a_learned_flow():
    config = conf.parse_text("mroute from a1 source 1.2.3.4 group 225.1.2.4 to a2 a1\n"
                             "mroute from a1 group 225.2.2.5 to a1\n")
    vifs = vifs_of(config, "a1", "a2")
    table = routes.RouteTable(config)
    static = routes.desired_entries(table, vifs, {})[(A("1.2.3.4"), A("225.1.2.4"))]
    assert (static.parent, outputs(static, vifs)) == (vifs["a1"].index, ["a1", "a2"])
    flow = table.learn("a1", A("10.0.0.9"), A("225.2.2.5"), now=0)
    learned = routes.learned_entry(flow, vifs, routes.TtlCache(vifs))
    assert (learned.parent, outputs(learned, vifs)) == (vifs["a1"].index, ["a1"])


@pytest.mark.parametrize("line, arrives_on, expected", [
    ("mroute from eth0 group 225.1.1.1 to eth+", "eth0", ["eth1", "eth2"]),  # a wildcard output: every other eth
    ("mroute from eth+ group 225.1.1.1 to eth+", "eth1", ["eth0", "eth2"]),
    ("mroute from eth+ group 225.1.1.1 to eth1 eth2", "eth1", ["eth1", "eth2"]),  # named: the copy goes back
    ("mroute from eth+ source 10.0.0.9 group 225.1.1.1 to eth2", "eth0", ["eth2"]),
])
def test_which_outputs_a_learned_flow_gets(line, arrives_on, expected):
    config = conf.parse_text(line + "\n")
    vifs = vifs_of(config, "eth0", "eth1", "eth2")
    flow = routes.RouteTable(config).learn(arrives_on, A("10.0.0.9"), A("225.1.1.1"), now=0)
    assert flow.route is not None
    assert outputs(routes.learned_entry(flow, vifs, routes.TtlCache(vifs)), vifs) == expected


def test_an_mroute_without_outputs_installs_an_entry_that_drops():
    config = conf.parse_text("mroute from a1 source 10.0.0.1 group 225.1.1.1\nmroute from a1 group 225.9.0.0/16\n")
    vifs = vifs_of(config, "a1", "a2")
    table = routes.RouteTable(config)
    entry = routes.desired_entries(table, vifs, {})[(A("10.0.0.1"), A("225.1.1.1"))]
    assert entry.parent == vifs["a1"].index and entry.is_stop
    flow = table.learn("a1", A("10.0.0.2"), A("225.9.1.1"), now=0)
    assert flow.kind == "learned" and routes.learned_entry(flow, vifs, routes.TtlCache(vifs)).is_stop
