"""mcastd/overflow.py's transactions loaded by the real nft and crossed by real datagrams.

A router namespace with one input and 35 outputs (more than the kernel's 31 per MFC entry, and more
than one rule of 30 dups): the rendered table copies each datagram of a flow with a source (map sg)
and of a flow of any source (map g) to every output, counted by the kernel's transmit counters of
each output; a TTL-1 datagram is copied nowhere; one changed output is one flushed chain; the
teardown leaves the namespace's ruleset empty.
"""
import json
import shutil
import sys
import time

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import overflow as ov

pytestmark = [pytest.mark.integration, pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")]

OUTPUTS = 35
SENDER = "10.1.0.10"
TOPOLOGY = {
    "hosts": {"sender": {}, "router": {}, "sink": {}},
    "segments": dict(
        [("in", {"ends": [{"host": "sender", "iface": "eth0", "address": SENDER + "/24"},
                          {"host": "router", "iface": "up0", "address": "10.1.0.1/24"}]})]
        + [("o%d" % n, {"ends": [{"host": "router", "iface": "o%d" % n, "address": "10.2.%d.1/24" % n},
                                 {"host": "sink", "iface": "k%d" % n}]}) for n in range(1, OUTPUTS + 1)]),
}
SEND = ("import socket, sys\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, int(sys.argv[3]))\n"
        "s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))\n"
        "for _ in range(int(sys.argv[4])): s.sendto(b'x', (sys.argv[2], 5000))\n")


def load(lab, commands):
    result = lab.run("router", ["nft", "-j", "-f", "-"], input=ov.document(commands), check=False)
    assert result.returncode == 0, result.stderr


def sent(lab):
    links = json.loads(lab.run("router", ["ip", "-j", "-s", "link", "show"]).stdout)
    return dict((link["ifname"], link["stats64"]["tx"]["packets"]) for link in links if link["ifname"][0] == "o")


def rule_handles(lab, flow):
    listing = json.loads(lab.run("router", ["nft", "-j", "list", "chain", "ip", "mcastd", ov.chain_name(flow)]).stdout)
    return [item["rule"]["handle"] for item in listing["nftables"] if "rule" in item]


def copies(lab, group, ttl=16, count=100):
    before = sent(lab)
    lab.run("sender", [sys.executable, "-c", SEND, SENDER, group, str(ttl), str(count)])
    time.sleep(0.3)
    after = sent(lab)
    return dict((name, after[name] - before[name]) for name in after)


def test_flows_are_copied_to_35_outputs_and_a_change_touches_one_chain(make_netns_lab):
    lab = make_netns_lab(TOPOLOGY)
    links = json.loads(lab.run("router", ["ip", "-j", "link", "show"]).stdout)
    index = dict((link["ifname"], link["ifindex"]) for link in links)
    outputs = tuple(ov.Output("o%d" % n, index["o%d" % n]) for n in range(1, OUTPUTS + 1))
    video, anysource = ov.Flow("up0", SENDER, "239.1.1.1"), ov.Flow("up0", None, "239.2.2.2")
    wanted = {video: outputs, anysource: outputs[:5]}
    load(lab, ov.plan(wanted, None))
    # A few packets of the links' own (IPv6 ND, MLD) may cross an output meanwhile: at least, and at most 3 more.
    assert all(100 <= value <= 103 for value in copies(lab, "239.1.1.1").values())
    counted = copies(lab, "239.2.2.2")
    assert all(100 <= counted["o%d" % n] <= 103 for n in range(1, 6)) and max(counted["o%d" % n] for n in range(6, 36)) <= 3
    assert max(copies(lab, "239.1.1.1", ttl=1).values()) <= 3  # the guard: a TTL-1 datagram is not copied
    assert max(copies(lab, "239.3.3.3").values()) <= 3  # a group without a flow

    untouched = rule_handles(lab, anysource)
    refilled = rule_handles(lab, video)
    changed = dict(wanted)
    changed[video] = outputs[:-1]
    load(lab, ov.plan(changed, wanted))
    counted = copies(lab, "239.1.1.1")
    assert counted["o35"] <= 3 and all(100 <= counted["o%d" % n] <= 103 for n in range(1, 35))
    assert rule_handles(lab, anysource) == untouched  # the other flow's rules are the same rules
    assert len(rule_handles(lab, video)) == 2 and not set(rule_handles(lab, video)) & set(refilled)

    load(lab, ov.teardown())
    assert lab.run("router", ["nft", "list", "ruleset"]).stdout.strip() == ""
