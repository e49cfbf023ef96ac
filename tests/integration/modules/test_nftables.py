"""mcast.linux.nftables against real kernels in namespaces, through the netns connection.

Every ruleset here lives in a namespace the test made (``ip netns exec NS nft ...``); the
machine's own ruleset is compared before and after the whole module and must not change. The
persistence files go to pytest's tmp_path, never to /etc.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.harness import run_module

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces")]

GROUP = "239.1.2.3"
TOPOLOGY = {
    "hosts": {"querier": {}, "member": {}},
    "segments": {"lan": {"ends": [{"host": "querier", "iface": "eth0", "address": "192.0.2.1/24"},
                                  {"host": "member", "iface": "eth0", "address": "192.0.2.20/24"}]}},
}
# The user accepts IGMP in inet filter, but a second table drops it at the same hook: queries
# never reach the IGMP code, so the member never answers. Only ip guard needs the module's rule.
TWO_TABLES = """
table inet filter {
    chain input {
        type filter hook input priority filter; policy drop;
        ip protocol igmp accept
        tcp dport 22 accept
    }
}
table ip guard {
    chain in {
        type filter hook input priority 10; policy drop;
        tcp dport 22 accept
    }
}
"""
HOST_DROP = """
table inet filter {
    chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        tcp dport 22 accept
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
    }
}
"""
# Counts the IGMP packets arriving at the querier (reports of the member).
REPORT_COUNTER = """
table ip count {
    counter reports {
    }
    chain pre {
        type filter hook prerouting priority -500; policy accept;
        ip saddr 192.0.2.20 ip protocol igmp counter name reports
    }
}
"""
# Sends one IGMPv2 general query (max response time 1 s) out of eth0 to 224.0.0.1.
SEND_QUERY = r"""
import socket, struct, sys
body = struct.pack("!BBH4s", 0x11, 10, 0, bytes(4))
words = struct.unpack("!4H", body)
checksum = ~(sum(words) + (sum(words) >> 16)) & 0xFFFF
body = struct.pack("!BBH4s", 0x11, 10, checksum, bytes(4))
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
sock.sendto(body, ("224.0.0.1", 0))
"""
# Joins GROUP on eth0 and stays a member until stopped.
JOIN = r"""
import socket, struct, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4s", socket.inet_aton(sys.argv[1]),
                socket.inet_aton(sys.argv[2])))
print("joined", flush=True)
time.sleep(600)
"""


def root_ruleset():
    return subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module", autouse=True)
def fixture_root_ruleset_untouched():
    """No test of this module may change the machine's own ruleset."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    before = root_ruleset()
    yield
    assert root_ruleset() == before, "the root namespace's ruleset changed"


class NftHost:
    """One host of a lab: its ruleset through nft -j, and the module run inside it."""

    def __init__(self, lab, host, files):
        self.lab = lab
        self.host = host
        self.include_file = files / "nftables.d" / "mcast-linux.nft"
        self.conf = files / "nftables.conf"

    def nft(self, *args, data=None):
        return self.lab.run(self.host, ["nft", *args], input=data).stdout

    def load(self, text):
        self.nft("-f", "-", data="flush ruleset\n" + text)

    def ruleset(self):
        return json.loads(self.nft("-j", "list", "ruleset"))["nftables"]

    def tagged(self):
        return [item["rule"] for item in self.ruleset()
                if "rule" in item and item["rule"].get("comment", "").startswith("mcast.linux:")]

    def chain_rules(self, family, table, chain):
        return [item["rule"] for item in self.ruleset() if "rule" in item and
                (item["rule"]["family"], item["rule"]["table"], item["rule"]["chain"]) == (family, table, chain)]

    def module(self, args=None, check=False, diff=False, persist=False):
        args = dict(args or {})
        if persist:
            args.update(include_file=str(self.include_file), nftables_conf=str(self.conf))
        else:
            args.setdefault("persist", False)
        return run_module(self.lab.ns(self.host), "mcast.linux.nftables", args, check=check, diff=diff)


def without_tagged(ruleset):
    return [item for item in ruleset if not ("rule" in item and item["rule"].get("comment", "").startswith("mcast.linux:"))]


@pytest.fixture(name="lab")
def fixture_lab(make_netns_lab):
    return make_netns_lab(TOPOLOGY)


@pytest.fixture(name="member")
def fixture_member(lab, tmp_path):
    return NftHost(lab, "member", tmp_path)


def reports_answering_a_query(lab):
    """Send one general query from the querier; return how many IGMP packets came back in 2 s."""
    def count():
        listing = json.loads(lab.run("querier", ["nft", "-j", "list", "counter", "ip", "count", "reports"]).stdout)
        return next(item["counter"]["packets"] for item in listing["nftables"] if "counter" in item)

    before = count()
    lab.run("querier", [sys.executable, "-c", SEND_QUERY, "192.0.2.1"])
    time.sleep(2.0)
    return count() - before


def test_member_answers_queries_only_after_the_module_accepts_igmp_in_the_second_table(lab, member):
    lab.run("querier", ["nft", "-f", "-"], input=REPORT_COUNTER)
    member.load(TWO_TABLES)
    lab.run("member", ["tee", "/proc/sys/net/ipv4/conf/eth0/igmpv3_unsolicited_report_interval"], input="10\n")
    joined = lab.popen("member", [sys.executable, "-c", JOIN, GROUP, "192.0.2.20"], stdout=subprocess.PIPE, text=True)
    assert joined.stdout.readline().strip() == "joined"
    time.sleep(1.0)  # let the unsolicited reports of the join pass before counting
    assert reports_answering_a_query(lab) == 0, "the query should be dropped by ip guard in"

    before = member.ruleset()
    preview = member.module(check=True, diff=True)
    assert preview["changed"] is True
    assert member.ruleset() == before, "check mode changed the ruleset"
    assert [(d["table"], d["chain"], d["reason"]) for d in preview["igmp_drops"]] == [("guard", "in", "policy drop")]
    assert [(a["family"], a["table"], a["chain"]) for a in preview["added"]] == [("ip", "guard", "in")]
    assert preview["diff"][0]["after"].startswith('ip guard in: ip protocol 2 accept comment "mcast.linux:igmp:')

    applied = member.module()
    assert applied["changed"] is True
    first = member.chain_rules("ip", "guard", "in")[0]
    assert first["comment"] == applied["added"][0]["tag"], "the accept must be the chain's first rule"
    assert without_tagged(member.ruleset()) == before
    assert reports_answering_a_query(lab) >= 1, "the member did not answer the query"

    again = member.module(check=True)
    assert again["changed"] is False and again["igmp_drops"] == []
    assert member.module()["changed"] is False


def test_a_thousand_unrelated_rules_come_out_identical_and_absent_restores_the_ruleset(member):
    rules = "\n".join("\t\ttcp dport %d accept" % port for port in range(10000, 10800))
    sets = "\n".join("\t\tip saddr 198.18.%d.0/24 counter drop" % index for index in range(200))
    member.load("table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n"
                + rules + "\n\t}\n}\ntable ip extra {\n\tchain pre {\n\t\ttype filter hook prerouting priority -200;\n"
                + sets + "\n\t}\n}\n" + HOST_DROP.replace("inet filter", "inet third"))
    before = member.ruleset()
    assert sum(1 for item in before if "rule" in item) == 1002

    applied = member.module({"mld": True, "pim": True, "forward": [{"group": "239.5.0.0/16", "ports": ["5004"]}]})
    assert applied["changed"] is True
    chains = sorted(set((a["table"], a["chain"]) for a in applied["added"]))
    assert chains == [("extra", "pre"), ("filter", "input"), ("third", "forward"), ("third", "input")]
    after = member.ruleset()
    assert without_tagged(after) == before, "a rule other than the module's own changed"
    assert len(after) - len(before) == len(applied["added"])

    started = time.monotonic()
    unchanged = member.module({"mld": True, "pim": True, "forward": [{"group": "239.5.0.0/16", "ports": ["5004"]}]})
    elapsed = time.monotonic() - started
    assert unchanged["changed"] is False and unchanged["commands"] == []
    print("no-change run on a 1,002-rule ruleset: %.2f s (ansible CLI through the netns connection)" % elapsed)

    removed = member.module({"state": "absent"})
    assert removed["changed"] is True and len(removed["removed"]) == len(applied["added"])
    assert member.ruleset() == before, "state=absent must leave exactly the ruleset that was there before"
    assert member.module({"state": "absent"})["changed"] is False


def test_forward_rules_follow_the_requested_groups(member):
    member.load(HOST_DROP)
    first = member.module({"forward": [{"group": "239.1.0.0/16", "ports": ["5004"]}]})
    assert [(a["chain"], a["rule"]) for a in first["added"] if a["kind"] == "forward"] == \
        [("forward", "ip daddr 239.1.0.0/16 udp dport 5004 accept")]
    changed = member.module({"forward": [{"group": "239.1.0.0/16", "ports": ["5004", "5006"]}]}, diff=True)
    assert [r["rule"] for r in changed["removed"]] == ["ip daddr 239.1.0.0/16 udp dport 5004 accept"]
    assert [a["rule"] for a in changed["added"]] == ["ip daddr 239.1.0.0/16 udp dport { 5004, 5006 } accept"]
    assert "udp dport 5004 accept" in changed["diff"][0]["before"]
    # IGMP's rule stayed where it was: only the changed rule was replaced.
    assert [r["comment"].split(":")[1] for r in member.tagged()] == ["igmp", "forward"]


def test_a_rule_moved_below_a_drop_is_put_back_on_top(member):
    member.load(HOST_DROP)
    member.module()
    # Someone inserts a drop above the module's rule: IGMP is dropped again.
    member.nft("insert", "rule", "inet", "filter", "input", "ip", "protocol", "igmp", "drop")
    preview = member.module(check=True)
    assert preview["changed"] is True and preview["igmp_drops"][0]["reason"].startswith("drop by rule handle")
    member.module()
    assert member.chain_rules("inet", "filter", "input")[0]["comment"].startswith("mcast.linux:igmp:")
    assert member.module()["changed"] is False


def test_persistence_survives_a_reload_of_nftables_service(member):
    member.conf.write_text("#!/usr/sbin/nft -f\n\nflush ruleset\n" + HOST_DROP, encoding="utf-8")
    member.nft("-f", str(member.conf))
    preview = member.module({"mld": True}, check=True, diff=True, persist=True)
    assert preview["changed"] and preview["persist"]["changed"]
    assert not member.include_file.exists(), "check mode wrote the include file"
    assert [d["after_header"] for d in preview["diff"][1:]] == [str(member.include_file), str(member.conf)]

    applied = member.module({"mld": True}, persist=True)
    assert applied["changed"] is True
    assert member.conf.read_text(encoding="utf-8").endswith('include "%s"\n' % member.include_file)
    live = [(r["chain"], r["comment"]) for r in member.tagged()]

    # What `systemctl reload nftables` runs (ExecReload=/usr/sbin/nft -f /etc/nftables.conf).
    member.nft("-f", str(member.conf))
    assert sorted((r["chain"], r["comment"]) for r in member.tagged()) == sorted(live)
    assert member.chain_rules("inet", "filter", "input")[0]["comment"].startswith("mcast.linux:igmp:")
    assert member.module({"mld": True}, persist=True)["changed"] is False

    removed = member.module({"state": "absent"}, persist=True)
    assert removed["changed"] is True and member.tagged() == []
    assert not member.include_file.exists()
    assert "include" not in member.conf.read_text(encoding="utf-8")
    member.nft("-f", str(member.conf))
    assert member.tagged() == []


def test_persist_false_leaves_the_files_alone(member):
    member.conf.write_text("flush ruleset\n", encoding="utf-8")
    member.load(HOST_DROP)
    result = member.module({"nftables_conf": str(member.conf), "include_file": str(member.include_file)})
    assert result["changed"] is True and result["persist"]["changed"] is False
    assert member.conf.read_text(encoding="utf-8") == "flush ruleset\n" and not member.include_file.exists()


def test_firewalld_owning_the_ruleset_is_explained_and_nothing_changes(member):
    member.conf.write_text("flush ruleset\n", encoding="utf-8")
    member.load("table inet firewalld {\n\tchain filter_INPUT {\n\t\ttype filter hook input priority filter + 10;"
                " policy drop;\n\t}\n}\n")
    before = member.ruleset()
    result = member.module(persist=True)
    assert result.get("failed") is True
    assert "firewalld manages this host's firewall" in result["msg"] and "--add-protocol=igmp" in result["msg"]
    assert member.ruleset() == before and not member.include_file.exists()
    assert member.conf.read_text(encoding="utf-8") == "flush ruleset\n"


BAD_INPUTS = [
    ({"forward": [{"group": "10.1.2.3"}]}, "forward group '10.1.2.3' is not multicast"),
    ({"forward": [{"group": "224.0.0.251"}]}, "is link-local (224.0.0.0/24): it is never routed"),
    ({"forward": [{"group": "ff02::fb"}]}, "interface- or link-local scope"),
    ({"forward": [{"group": "239.1.1.7/24"}]}, "host bits set; write the prefix as 239.1.1.0/24"),
    ({"forward": [{"group": "239.1.1.1", "ports": ["65536"]}]}, "out of range"),
    ({"forward": [{"group": "239.1.1.1", "ports": ["rtp"]}]}, "not a port number"),
    ({"forward": [{"group": "239.1.1.1"}, {"group": "239.1.1.1"}]}, "twice"),
    ({"forward": [{"ports": ["5004"]}]}, "missing required arguments: group"),
    ({"state": "absent", "pim": True}, "leave out pim"),
    ({"state": "gone"}, "value of state must be one of"),
    ({"persist": True, "include_file": "relative.nft"}, "is not an absolute path"),
    ({"persist": True, "nftables_conf": "/nonexistent/nftables.conf"}, "does not exist, so nothing would load"),
    ({"pim": "maybe"}, "is not a valid boolean"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[message for _args, message in BAD_INPUTS])
def test_bad_input_fails_with_its_message_and_changes_nothing(netns_lab, tmp_path, args, message):
    host = NftHost(netns_lab, "recv30", tmp_path)
    host.load(HOST_DROP)
    before = host.ruleset()
    args = dict(args)
    args.setdefault("persist", False)
    result = run_module(netns_lab.ns("recv30"), "mcast.linux.nftables", args)
    assert result.get("failed") is True
    assert message in result["msg"]
    assert host.ruleset() == before
    assert list(Path(tmp_path).iterdir()) == []
