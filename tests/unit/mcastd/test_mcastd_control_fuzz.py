"""Property-based fuzzing of the control protocol and of mcastctl's command line (hypothesis).

The daemon's real request handler runs on a fake kernel (pure logic: nothing here touches
sockets). Whatever a client sends, the reply is one JSON object with ``ok``; a refusal is a
sentence that names the request, never an internal error; mcastctl's parser either builds a
request the daemon's protocol accepts or says what is wrong.
"""
import json
import logging
import string
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import control, ctl, daemon, linux

CONFIG = ("phyint eth3 disable\n"
          "mroute from eth0 source 192.0.2.10 group 225.1.1.1 to eth1\n"
          "mroute from eth0 group 239.0.0.0/8 to eth1 eth2\n"
          "mgroup from eth0 group 225.5.5.5\n")
LOG = logging.getLogger("mcastd-fuzz")


class FakeKernel:
    """The routing socket's calls, remembered instead of made."""

    receive_buffer = 1 << 24
    wrongvif_mode = "pim"
    wrongvif_error = None

    def __init__(self):
        self.mfc = {}
        self.vifs = {}

    def add_vif(self, vif):
        self.vifs[vif.index] = vif

    def del_vif(self, vif):
        self.vifs.pop(vif.index, None)

    def add_mfc(self, source, group, entry):
        self.mfc[(source, group)] = entry

    def del_mfc(self, source, group, _entry):
        self.mfc.pop((source, group), None)

    def counters(self, source, group):
        return (0, 0, 0) if (source, group) in self.mfc else None

    def packets(self, source, group):
        counters = self.counters(source, group)
        return None if counters is None else counters[0]

    def drain(self):
        return [], []

    def close(self):
        pass


class FakeJoins:
    joined = {}

    def sync(self, _wanted, _ifaces):
        return []

    @staticmethod
    def rows():
        return []

    def close(self):
        pass


def make_daemon(tmp_path):
    path = tmp_path / "mcastd.conf"
    path.write_text(CONFIG)
    options = SimpleNamespace(config=str(path), socket=str(tmp_path / "sock"), cache_timeout=60, mrdisc_interval=20)
    mcastd = daemon.Daemon(options, LOG)
    mcastd.mroute = FakeKernel()
    mcastd.joins = FakeJoins()
    up = linux.IFF_UP | linux.IFF_MULTICAST
    mcastd.ifaces = {name: linux.Iface(name, index, up) for index, name in enumerate(("eth0", "eth1", "eth2", "eth3"), 2)}
    config = conf.load(str(path))
    mcastd.config = mcastd.file_config = config
    mcastd.table = daemon.routes.RouteTable(config)
    mcastd.apply()
    return mcastd


def ask(mcastd, line):
    reply = json.loads(control.answer(line, mcastd.handle_request, LOG).decode("utf-8"))
    assert isinstance(reply, dict) and reply["version"] == control.PROTOCOL_VERSION and isinstance(reply["ok"], bool)
    if not reply["ok"]:
        assert isinstance(reply["error"], str) and reply["error"].strip()
        assert not reply["error"].startswith("internal error"), reply
    return reply


WORD = st.text(alphabet=string.ascii_letters + string.digits + "./+:-_ #\t", max_size=24)
ADDRESS = st.one_of(WORD, st.ip_addresses(v=4).map(str),
                    st.tuples(st.ip_addresses(v=4).map(str), st.integers(-3, 40)).map(lambda pair: "%s/%d" % pair),
                    st.sampled_from(["225.1.1.1", "239.1.2.3/24", "224.0.0.5", "192.0.2.10", "0.0.0.0"]))
IFNAME = st.one_of(st.sampled_from(["eth0", "eth1", "eth2", "eth3", "eth+", "nope0", ""]), WORD)
JSON_VALUE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | WORD,
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(WORD, inner, max_size=4),
                          max_leaves=8)


# Half of the requests are plausible (so changes get applied and stack up), half anything at all.
GOOD_IF = st.sampled_from(["eth0", "eth1", "eth2", "eth+", "eth9"])
GOOD = {"iif": GOOD_IF, "source": st.sampled_from([None, "192.0.2.10", "198.51.100.0/24", "0.0.0.0"]),
        "group": st.sampled_from(["225.1.1.1", "225.2.2.2", "239.1.0.0/16", "232.1.1.1", "225.1.1.9/30"]),
        "oifs": st.lists(GOOD_IF, max_size=3)}
ANY = {"iif": IFNAME, "source": st.one_of(st.none(), ADDRESS), "group": ADDRESS, "oifs": st.lists(IFNAME, max_size=4)}


@st.composite
def route_requests(draw):
    request = {"version": 1, "command": draw(st.sampled_from(["add", "del", "join", "leave"]))}
    values = GOOD if draw(st.booleans()) else ANY
    for field in ("iif", "source", "group", "oifs"):
        if draw(st.booleans()) or field in ("iif", "group") or (field == "oifs" and request["command"] == "add"):
            strategy = values[field]
            request[field] = draw(st.one_of(strategy, JSON_VALUE) if draw(st.integers(0, 19)) == 0 else strategy)
    return request


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.binary(max_size=200))
def test_any_bytes_get_a_reply_and_never_an_internal_error(tmp_path, data):
    mcastd = make_daemon(tmp_path)
    if b"\n" not in data:
        ask(mcastd, data)


@FUZZ
@given(request=st.dictionaries(st.sampled_from(["version", "command", "what", "iif", "source", "group", "oifs", "x"]),
                               JSON_VALUE, max_size=6))
def test_any_json_object_gets_a_reply(tmp_path, request):
    ask(make_daemon(tmp_path), json.dumps(request).encode())


@FUZZ
@given(requests=st.lists(route_requests(), min_size=1, max_size=6))
def test_runtime_changes_are_applied_whole_or_refused_naming_the_request(tmp_path, requests):
    mcastd = make_daemon(tmp_path)
    for request in requests:
        before = (dict(mcastd.mroute.mfc), mcastd.config)
        reply = ask(mcastd, json.dumps(request).encode())
        if reply["ok"]:
            continue
        assert (dict(mcastd.mroute.mfc), mcastd.config) == before  # refused: nothing changed
        texts = [reply["error"]] + reply.get("details", [])
        assert any(request["command"] in text for text in texts), reply
    # whatever happened, the kernel holds exactly what the daemon believes it installed
    assert mcastd.mroute.mfc == mcastd.installed
    assert ask(mcastd, b'{"version": 1, "command": "reload"}')["ok"]
    assert mcastd.runtime_changes == 0 and mcastd.mroute.mfc == mcastd.installed


@FUZZ
@given(words=st.lists(st.one_of(WORD, ADDRESS, st.sampled_from(
    ["add", "del", "rem", "join", "leave", "show", "s", "g", "r", "f", "k", "-j", "-t", "-b", "--json", "--timeout",
     "-u", "eth0", "eth1"])), max_size=7))
def test_mcastctl_builds_a_valid_request_or_says_what_is_wrong(words):
    try:
        options, rest = ctl.parse_options(words)
        request = ctl.request_for(rest or ["show"])
    except ctl.UsageError as exc:
        assert str(exc).strip()
        return
    assert options["timeout"] > 0
    if request is not None:
        control.parse_request(json.dumps(dict(request, version=1)).encode())
