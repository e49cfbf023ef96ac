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


# --------------------------------------------------------------------------- IPv6: MLD and reverse path
#
# Each test makes its own two-host lab (prefix n6...), gives both ends IPv6 addresses with nodad,
# and waits until no address is tentative (link-local included), so every source is usable.

NET6 = "2001:db8:6::"
QUERIER6 = NET6 + "1"
MEMBER6 = NET6 + "2"
# The querier's sources the member has no route back to through eth0: one routed through another
# interface (lo stands for it), one not routed at all.
ELSEWHERE6 = "2001:db8:66::1"
NOWHERE6 = "2001:db8:77::1"
GROUP6 = "ff3e::1234"
PORT6 = 5006

# Sends MLD messages out of IFACE, each given as TYPE:SOURCE (SOURCE "ll" is the link-local
# address): hop limit 1 and the Router Alert hop-by-hop option, as MLD is sent. TYPE 130 is an
# MLDv2 general query to ff02::1, 143 an MLDv2 report (one record, GROUP joined) to ff02::16.
SEND_MLD = r"""
import socket, struct, sys
iface, group = sys.argv[1], sys.argv[2]
index = socket.if_nametoindex(iface)
link_local = next(line.split()[0] for line in open("/proc/net/if_inet6")
                  if line.split()[5] == iface and line.split()[3] == "20")
link_local = ":".join(link_local[i:i + 4] for i in range(0, 32, 4))
for spec in sys.argv[3:]:
    kind, source = spec.split(":", 1)
    source = link_local if source == "ll" else source
    if kind == "130":
        body, destination = struct.pack("!BBHHH16sBBH", 130, 0, 0, 1000, 0, bytes(16), 2, 125, 0), "ff02::1"
    else:
        record = struct.pack("!BBH16s", 2, 0, 0, socket.inet_pton(socket.AF_INET6, group))
        body, destination = struct.pack("!BBHHH", 143, 0, 0, 0, 1) + record, "ff02::16"
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_HOPOPTS, bytes([0, 0, 5, 2, 0, 0, 1, 0]))
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    sock.bind((source, 0, 0, index))
    sock.sendto(body, (destination, 0, 0, index))
    sock.close()
"""
# Counts the MLD messages delivered on IFACE for SECONDS, by "TYPE SOURCE": a raw ICMPv6 socket
# gets a copy of what passed the input hook. It listens on ff02::16 too, as a router does.
HEAR_MLD = r"""
import json, select, socket, struct, sys, time
iface, seconds = sys.argv[1], float(sys.argv[2])
index = socket.if_nametoindex(iface)
sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                socket.inet_pton(socket.AF_INET6, "ff02::16") + struct.pack("@I", index))
print("ready", flush=True)
heard, end = {}, time.monotonic() + seconds
while time.monotonic() < end:
    if select.select([sock], [], [], max(0.0, end - time.monotonic()))[0]:
        data, address = sock.recvfrom(2048)
        if data[0] in (130, 131, 132, 143):
            key = "%d %s" % (data[0], address[0].split("%")[0])
            heard[key] = heard.get(key, 0) + 1
print(json.dumps(heard), flush=True)
"""
# Joins GROUP on IFACE, counts the UDP datagrams to PORT by source for SECONDS, prints the counts.
RECEIVE6 = r"""
import json, select, socket, struct, sys, time
iface, group, port, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
index = socket.if_nametoindex(iface)
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("::", port))
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index))
print("ready", flush=True)
counts, end = {}, time.monotonic() + seconds
while time.monotonic() < end:
    if select.select([sock], [], [], max(0.0, end - time.monotonic()))[0]:
        _data, address = sock.recvfrom(2048)
        counts[address[0]] = counts.get(address[0], 0) + 1
print(json.dumps(counts), flush=True)
"""
# Sends COUNT datagrams to DESTINATION:PORT out of IFACE from each SOURCE (hop limit 8).
SEND6 = r"""
import socket, sys, time
iface, destination, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
index = socket.if_nametoindex(iface)
for source in sys.argv[5:]:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 8)
    sock.bind((source, 0))
    for _ in range(count):
        sock.sendto(b"datagram", (destination, port, 0, index))
        time.sleep(0.01)
    sock.close()
"""
# The member drops everything IPv6 that its rules do not accept, at input and at output, but it
# accepts what comes from or goes to link-local addresses at output (a common host firewall).
MEMBER_DROP6 = """
table inet filter {
    chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        ip6 saddr 2001:db8::/32 icmpv6 type { mld-listener-query, mld2-listener-report } drop
        udp dport %d accept
    }
    chain output {
        type filter hook output priority filter; policy drop;
        ip6 saddr fe80::/10 accept
        ip6 saddr 2001:db8::/32 accept
    }
}
""" % PORT6
# Counts the MLD reports arriving at the querier, by source kind.
REPORT_COUNTER6 = """
table ip6 count {
    counter unspecified {
    }
    counter link_local {
    }
    chain pre {
        type filter hook prerouting priority -500; policy accept;
        ip6 saddr :: icmpv6 type { mld-listener-report, mld2-listener-report } counter name unspecified
        ip6 saddr fe80::/10 icmpv6 type { mld-listener-report, mld2-listener-report } counter name link_local
    }
}
"""


@pytest.fixture(name="lab6")
def fixture_lab6(make_netns_lab, lab_prefix):
    lab = make_netns_lab(TOPOLOGY, prefix=lab_prefix("n6"))
    for host, address in (("querier", QUERIER6), ("member", MEMBER6)):
        lab.run(host, ["ip", "-6", "addr", "replace", address + "/64", "dev", "eth0", "nodad"])
    for address in (ELSEWHERE6, NOWHERE6):
        lab.run("querier", ["ip", "-6", "addr", "replace", address + "/128", "dev", "eth0", "nodad"])
    lab.run("member", ["ip", "-6", "route", "replace", "2001:db8:66::/64", "dev", "lo"])
    for host in ("querier", "member"):
        wait_for_valid_addresses(lab, host)
    return lab


def wait_for_valid_addresses(lab, host, timeout=10.0):
    """Wait until eth0 has a link-local address and none is tentative (DAD done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = json.loads(lab.run(host, ["ip", "-j", "-6", "addr", "show", "dev", "eth0"]).stdout)
        addresses = [a for link in listing for a in link.get("addr_info", []) if "local" in a]
        if any(a["scope"] == "link" for a in addresses) and not any(a.get("tentative") for a in addresses):
            return
        time.sleep(0.1)
    raise AssertionError("%s eth0 kept a tentative IPv6 address for %.0f s" % (host, timeout))


def mld_heard(lab, *messages):
    """Send MLD ``messages`` (TYPE:SOURCE) from the querier; return what the member's raw socket got."""
    listener = lab.popen("member", [sys.executable, "-c", HEAR_MLD, "eth0", "1.5"], stdout=subprocess.PIPE, text=True)
    assert listener.stdout.readline().strip() == "ready"
    lab.run("querier", [sys.executable, "-c", SEND_MLD, "eth0", GROUP6, *messages])
    heard = json.loads(listener.stdout.readline())
    listener.wait(timeout=5)
    return dict((key, count) for key, count in heard.items() if not key.endswith(" " + member_link_local(lab)))


def link_local(lab, host):
    listing = json.loads(lab.run(host, ["ip", "-j", "-6", "addr", "show", "dev", "eth0"]).stdout)
    return next(a["local"] for link in listing for a in link.get("addr_info", []) if a.get("scope") == "link")


def member_link_local(lab):
    return link_local(lab, "member")


def datagrams_received(lab, destination, sources, count=5):
    """Send ``count`` datagrams from each source to ``destination``; return the member's counts by source."""
    receiver = lab.popen("member", [sys.executable, "-c", RECEIVE6, "eth0", GROUP6, str(PORT6), "2.0"],
                         stdout=subprocess.PIPE, text=True)
    assert receiver.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    lab.run("querier", [sys.executable, "-c", SEND6, "eth0", destination, str(PORT6), str(count), *sources])
    counts = json.loads(receiver.stdout.readline())
    receiver.wait(timeout=5)
    return dict((source, counts.get(source, 0)) for source in sources)


def test_mld_from_link_local_passes_after_the_module_and_other_sources_stay_dropped(lab6, tmp_path):
    member = NftHost(lab6, "member", tmp_path)
    member.load(MEMBER_DROP6)
    querier_ll = link_local(lab6, "querier")
    messages = ["130:ll", "143:ll", "130:" + QUERIER6, "143:" + QUERIER6]
    assert mld_heard(lab6, *messages) == {}, "the input policy should drop every MLD message"

    before = member.ruleset()
    preview = member.module({"mld": True}, check=True, diff=True)
    assert preview["changed"] is True and member.ruleset() == before, "check mode changed the ruleset"
    assert sorted((d["chain"], d["reason"]) for d in preview["drops"]["mld"]) == [
        ("input", "policy drop"), ("output", "policy drop (reports from ::, sent during duplicate address detection)")]

    applied = member.module({"mld": True})
    assert sorted((a["chain"], a["rule"]) for a in applied["added"] if a["kind"] == "mld") == [
        ("input", "ip6 saddr { ::, fe80::/10 } icmpv6 type { mld-listener-query, mld-listener-report, "
                  "mld-listener-done, mld2-listener-report } accept"),
        ("output", "ip6 saddr { ::, fe80::/10 } icmpv6 type { mld-listener-query, mld-listener-report, "
                   "mld-listener-done, mld2-listener-report } accept")]
    assert member.chain_rules("inet", "filter", "input")[1]["comment"].startswith("mcast.linux:mld:")
    # One query and one report from the link-local address got through, behind the hop-by-hop
    # header; the same messages from the global address are still dropped (policy and the user's rule).
    assert mld_heard(lab6, *messages) == {"130 " + querier_ll: 1, "143 " + querier_ll: 1}

    assert member.module({"mld": True})["changed"] is False
    assert member.module({"mld": True}, check=True)["drops"]["mld"] == []
    removed = member.module({"state": "absent"})
    assert removed["changed"] is True and member.ruleset() == before
    assert mld_heard(lab6, *messages) == {}


def report_counts(lab):
    listing = json.loads(lab.run("querier", ["nft", "-j", "list", "counters", "table", "ip6", "count"]).stdout)
    return dict((item["counter"]["name"], item["counter"]["packets"]) for item in listing["nftables"] if "counter" in item)


def reports_after_a_link_flap(lab, enough):
    """Bring the member's eth0 down and up with DAD on; return the reports the querier saw, by source kind.

    Waits until ``enough(counts)`` holds, at most 10 s: DAD takes 1 s, the reports from the new
    link-local address follow within the unsolicited report interval, and a loaded machine adds to
    both. Reports from :: are sent during DAD, before any from the link-local address.
    """
    before = report_counts(lab)
    lab.run("member", ["ip", "link", "set", "dev", "eth0", "down"])
    lab.run("member", ["ip", "link", "set", "dev", "eth0", "up"])
    deadline = time.monotonic() + 10.0
    while True:
        time.sleep(0.5)
        after = report_counts(lab)
        counts = dict((name, after[name] - before[name]) for name in after)
        if enough(counts) or time.monotonic() > deadline:
            return counts


def test_the_hosts_own_reports_from_the_unspecified_address_leave_after_the_module(lab6, tmp_path):
    """During DAD the kernel reports its solicited-node groups from ::; an output chain that
    accepts only link-local sources drops them, and the module's MLD rule lets them out."""
    lab6.run("querier", ["nft", "-f", "-"], input=REPORT_COUNTER6)
    lab6.run("member", ["sysctl", "-q", "-w", "net.ipv6.conf.eth0.accept_dad=1"])
    member = NftHost(lab6, "member", tmp_path)
    member.load(MEMBER_DROP6)
    first = reports_after_a_link_flap(lab6, lambda counts: counts["link_local"] >= 1)
    assert first["unspecified"] == 0 and first["link_local"] >= 1

    applied = member.module({"mld": True})
    assert "output" in [a["chain"] for a in applied["added"] if a["kind"] == "mld"]
    second = reports_after_a_link_flap(lab6, lambda counts: counts["unspecified"] >= 1 and counts["link_local"] >= 1)
    assert second["unspecified"] >= 1 and second["link_local"] >= 1


def test_ipv6_rpf_drops_multicast_without_a_route_back_and_keeps_the_rest(lab6, tmp_path):
    member = NftHost(lab6, "member", tmp_path)
    member.load("")
    sources = [QUERIER6, ELSEWHERE6, NOWHERE6]
    assert datagrams_received(lab6, GROUP6, sources) == {QUERIER6: 5, ELSEWHERE6: 5, NOWHERE6: 5}

    before = member.ruleset()
    preview = member.module({"ipv6_rpf": True}, check=True, diff=True)
    assert preview["changed"] is True and preview["ipv6_rpf"]["changed"] is True
    assert member.ruleset() == before, "check mode changed the ruleset"
    assert "fib saddr . iif oif missing drop" in preview["diff"][0]["after"]

    applied = member.module({"ipv6_rpf": True})
    assert [(a["family"], a["table"], a["chain"], a["kind"]) for a in applied["added"]] == [
        ("ip6", "mcast_linux_rpf", "prerouting", "rpf6")]
    # Routed scope: only the source with a route back through eth0 gets in.
    assert datagrams_received(lab6, GROUP6, sources) == {QUERIER6: 5, ELSEWHERE6: 0, NOWHERE6: 0}
    # Link scope is never checked: all-nodes traffic from the same sources still arrives.
    assert datagrams_received(lab6, "ff02::1", sources) == {QUERIER6: 5, ELSEWHERE6: 5, NOWHERE6: 5}
    # Neighbour discovery from a source without a route back: the querier's solicitation from
    # NOWHERE6 to the member's solicited-node group (ff02::1:ff00:2) passes the table, and the
    # member learns the querier as a neighbour at that address. (The ping itself gets no answer:
    # the member has no route back for the reply.)
    for host in ("querier", "member"):
        lab6.run(host, ["ip", "-6", "neigh", "flush", "dev", "eth0"])
    lab6.run("querier", ["ping", "-6", "-c", "1", "-W", "1", "-I", NOWHERE6, MEMBER6], check=False)
    neighbours = json.loads(lab6.run("member", ["ip", "-j", "-6", "neigh", "show", "dev", "eth0"]).stdout)
    assert NOWHERE6 in [entry["dst"] for entry in neighbours]
    # MLD from link-local sources is untouched.
    assert mld_heard(lab6, "130:ll") == {"130 " + link_local(lab6, "querier"): 1}

    assert member.module({"ipv6_rpf": True})["changed"] is False
    off = member.module({"ipv6_rpf": False})
    assert off["changed"] is True and [r["table"] for r in off["removed"]] == ["mcast_linux_rpf"]
    assert member.ruleset() == before
    assert datagrams_received(lab6, GROUP6, sources) == {QUERIER6: 5, ELSEWHERE6: 5, NOWHERE6: 5}
    member.module({"ipv6_rpf": True})
    assert member.module({"state": "absent"})["changed"] is True and member.ruleset() == before


def test_routed_ipv6_groups_are_accepted_in_ip6_and_inet_forward_chains(member):
    member.load(HOST_DROP + "table ip6 guard6 {\n\tchain fwd6 {\n\t\ttype filter hook forward priority 10; "
                "policy drop;\n\t\tip6 daddr ff0e::/16 accept\n\t}\n}\n")
    forward = [{"group": "ff3e::/16", "ports": ["5004"]}, {"group": "ff0e::1234"}]
    applied = member.module({"forward": forward})
    placed = sorted((a["family"], a["table"], a["chain"], a["rule"]) for a in applied["added"] if a["kind"] == "forward")
    assert placed == [("inet", "filter", "forward", "ip6 daddr ff0e::1234 accept"),
                      ("inet", "filter", "forward", "ip6 daddr ff3e::/16 udp dport 5004 accept"),
                      ("ip6", "guard6", "fwd6", "ip6 daddr ff3e::/16 udp dport 5004 accept")]
    assert member.module({"forward": forward}, check=True)["drops"]["forward"] == []
    assert member.module({"forward": forward})["changed"] is False
