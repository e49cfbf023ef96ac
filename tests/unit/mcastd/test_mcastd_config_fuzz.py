"""Property-based fuzzing of the mcastd configuration parser (hypothesis).

Whatever a file holds (random bytes, random text, lines made of the grammar's own words, includes
of files that exist, are missing or are about to be removed), the parser either returns a Config
or raises ConfigError, never anything else; every error and every warning starts with
``FILE:LINE:`` naming a file it read and a line that file has; every route it accepts renders
with to_line() into a line that parses back to the same route.
"""
import io
import os
import re
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
WHERE = re.compile(r"^(?P<file>.+?):(?P<line>[0-9]+): \S")

ADDRESSES = ["225.1.2.3", "225.1.2.3/24", "225.1.2.0/24", "225.1.2.3/0", "225.1.2.3/33", "225.1.2.3/x", "239.0.0.0/8",
             "224.0.0.251", "224.0.0.0/24", "224.0.0.0/4", "224.0.0.0/3", "10.0.0.1", "10.0.0.1/24", "10.0.0.1/0",
             "0.0.0.0", "0.0.0.0/0", "0.0.0.0/8", "255.255.255.255", "225.001.2.3", "1.2.3", "ff02::1", "fc00::1/64",
             "225.1.2.3/\u00b2", "225.1.2.3\x00", "::", "/", "/24"]
NAMES = ["a0", "a1", "b0", "eth0", "eth+", "+", "e+th", "trunk.10", "x" * 16, "x" * 15, "a/b", ".", "..", "lo",
         "\u00e9th0", "a1#b"]
KEYWORDS = ["phyint", "mroute", "mgroup", "ssmgroup", "include", "from", "source", "group", "to", "enable", "disable",
            "mrdisc", "ttl-threshold", "mroutes", "enabled", "groups", "tos", "fromage", "route", "#", "1", "255", "0",
            "256", "\u00b3", "-1",
            # mcastd's querier grammar (issue 9)
            "igmp", "querier", "igmpv2", "igmpv3", "address", "if-joined", "query-interval", "query-response-interval",
            "robustness", "last-member-interval", "startup-query-interval", "0.5", "125", "1e3", "nan", "10.0.0.1",
            "169.254.1.1", "queriers", "igmps"]
PATHS = ["missing.conf", "/nonexistent/x.conf", "*.conf", "d/*.conf", "drop.conf", "main.conf", "[", "\x00", "d"]
WORDS = st.sampled_from(ADDRESSES + NAMES + KEYWORDS + PATHS) | st.text(max_size=6)
LINES = st.lists(WORDS, max_size=9).map(" ".join)
TEXTS = st.lists(LINES, max_size=12).map("\n".join)


def shaped_line():
    """A line close to valid: a directive with its keywords in some order, values from the pools above."""
    value = st.sampled_from(ADDRESSES)
    name = st.sampled_from(NAMES)
    parts = st.tuples(st.sampled_from(["mroute", "mgroup", "ssmgroup", "mroutes"]),
                      st.lists(st.one_of(st.tuples(st.just("from"), name), st.tuples(st.just("source"), value),
                                         st.tuples(st.just("group"), value)), max_size=4),
                      st.one_of(st.none(), st.lists(name | st.just("if-joined"), max_size=4)),
                      st.sampled_from(["", " if-joined"]))
    return parts.map(lambda p: " ".join([p[0]] + [w for pair in p[1] for w in pair] +
                                        ([] if p[2] is None else ["to"] + p[2])) + p[3])


def phyint_line():
    settings_words = st.sampled_from(["enable", "disable", "mrdisc", "enabled", "ttl-threshold", "3", "0", "x",
                                      "querier", "querier", "igmpv2", "igmpv3", "address", "10.0.0.1", "0.0.0.0",
                                      "169.254.0.1", "225.1.2.3", "10.0.0.1/24"])
    parts = st.tuples(st.sampled_from(NAMES), st.lists(settings_words, max_size=4))
    return parts.map(lambda p: " ".join(["phyint", p[0]] + p[1]))


def igmp_line():
    settings_words = st.sampled_from(["query-interval", "query-response-interval", "robustness", "last-member-interval",
                                      "startup-query-interval", "0.5", "1", "2", "10", "125", "0", "256", "1e3", "nan",
                                      "-1", "3276.8", "31744", ".5", "1."])
    return st.lists(settings_words, max_size=6).map(lambda words: " ".join(["igmp"] + words))


SHAPED = st.lists(st.one_of(shaped_line(), phyint_line(), igmp_line(), LINES,
                            st.sampled_from(PATHS).map(lambda path: "include " + path)), max_size=14).map("\n".join)


def line_count(content):
    """Lines as Python reads a file: \\n, \\r\\n and \\r end a line, nothing else does."""
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return max(1, len(io.StringIO(content, newline=None).readlines()))


def load_in_a_directory(files, overrides=None):
    """Write {name: text or bytes} into a fresh directory and load main.conf: (Config or ConfigError, dir)."""
    with tempfile.TemporaryDirectory(prefix="mcastd-fuzz-") as directory:
        os.mkdir(os.path.join(directory, "d"))
        lines = {}
        for name, content in files.items():
            path = os.path.join(directory, name)
            with open(path, "wb") as handle:
                handle.write(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
            lines[path] = line_count(content)
        absolute = {os.path.join(directory, name): text for name, text in (overrides or {}).items()}
        for path, text in absolute.items():
            lines[path] = line_count(text or "")
        try:
            result = conf.load(os.path.join(directory, "main.conf"), absolute)
        except conf.ConfigError as error:
            result = error
        return result, lines


def assert_every_message_names_file_and_line(result, lines):
    messages = (result.errors + result.warnings) if isinstance(result, conf.ConfigError) else result.warnings
    for message in messages:
        match = WHERE.match(message)
        assert match, message
        assert match.group("file") in lines, message
        assert 1 <= int(match.group("line")) <= lines[match.group("file")], message


def assert_routes_round_trip(result):
    if isinstance(result, conf.ConfigError):
        return
    for route in result.mroutes:
        again = conf.parse_mroute(route.to_line())
        assert again._replace(origin=route.origin) == route, route.to_line()
    for mgroup in result.mgroups:
        [again] = conf.parse_text(mgroup.to_line() + "\n").mgroups
        assert again._replace(origin=mgroup.origin) == mgroup, mgroup.to_line()


@FUZZ
@given(TEXTS)
def test_lines_of_grammar_words_give_a_config_or_a_config_error(text):
    result, lines = load_in_a_directory({"main.conf": text})
    assert_every_message_names_file_and_line(result, lines)
    assert_routes_round_trip(result)


@FUZZ
@given(SHAPED, SHAPED)
def test_grammar_shaped_files_with_includes(main, drop_in):
    result, lines = load_in_a_directory({"main.conf": main + "\ninclude d/*.conf\n", "d/drop.conf": drop_in})
    assert_every_message_names_file_and_line(result, lines)
    assert_routes_round_trip(result)


@FUZZ
@given(SHAPED, st.sampled_from([None, "", "mroute from a0 group 225.1.1.1 to b0\n", "include ../main.conf\n"]))
def test_includes_of_missing_and_overridden_files(main, override):
    result, lines = load_in_a_directory({"main.conf": "include drop.conf\ninclude d/*.conf\n" + main},
                                        overrides={"drop.conf": override, "d/new.conf": override})
    assert_every_message_names_file_and_line(result, lines)
    if override is None:
        assert isinstance(result, conf.ConfigError)  # a plain include of a file about to be removed


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data):
    result, lines = load_in_a_directory({"main.conf": b"mroute from a0 group 225.1.1.1 to b0\n" + data})
    if isinstance(result, conf.ConfigError) and result.errors[0].startswith("cannot read configuration"):
        return  # not UTF-8: the one error about the whole main file, which has no line to name
    assert_every_message_names_file_and_line(result, lines)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text):
    result, lines = load_in_a_directory({"main.conf": text})
    assert_every_message_names_file_and_line(result, lines)
    assert_routes_round_trip(result)


def prefix(addresses, lengths):
    return st.tuples(addresses, lengths).map(lambda p: "%s/%d" % p if p[1] is not None else p[0])


OCTET = st.integers(0, 255)
GROUPS = prefix(st.tuples(st.integers(224, 239), OCTET, OCTET, OCTET).map(lambda o: "%d.%d.%d.%d" % o),
                st.none() | st.integers(4, 32))
SOURCES = prefix(st.tuples(st.integers(1, 223), OCTET, OCTET, OCTET).map(lambda o: "%d.%d.%d.%d" % o),
                 st.none() | st.integers(1, 32))
IFNAMES = st.tuples(st.sampled_from("abetv"), st.text("a0.9", max_size=6), st.sampled_from(["", "+"])).map("".join)


@FUZZ
@given(IFNAMES, st.none() | SOURCES, GROUPS, st.lists(IFNAMES, max_size=5), st.permutations([0, 1, 2]), st.booleans())
def test_valid_routes_round_trip_through_to_line(iif, source, group, oifs, order, if_joined):
    pairs = [("from", iif), ("source", source), ("group", group)]
    words = ["mroute"] + [word for index in order if pairs[index][1] is not None for word in pairs[index]]
    text = " ".join(words + (["to"] + oifs if oifs else []) + (["if-joined"] if if_joined else []))
    try:
        config = conf.parse_text(text + "\n", "r.conf")
    except conf.ConfigError as error:
        assert all(message.startswith("r.conf:1: ") for message in error.errors), error.errors
        assert any(reason in error.errors[0] for reason in ("link-local", "ambiguous", "reads as any source",
                                                            "'if-joined' needs outputs")), error.errors
        return
    [route] = config.mroutes
    assert route.if_joined is if_joined
    assert ("if-joined" in route.to_line()) is if_joined
    assert all(message.startswith("r.conf:1: ") for message in config.warnings), config.warnings
    line = route.to_line()
    assert conf.parse_mroute(line)._replace(origin=route.origin) == route
    assert conf.parse_mroute(line).to_line() == line
    assert route.group.contains(conf.parse_prefix(group).addr)
