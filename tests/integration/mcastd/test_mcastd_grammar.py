"""smcroute 2.6 lines that mcastd once refused, forwarding real datagrams with smcroute's meaning.

- host bits in a prefix: the masked prefix is routed (and joined), as smcroute masks when it matches;
- output = input: an (S,G) entry, and every entry a template learns, sends a copy of each datagram
  back out of the input with its TTL decremented.  Counted on the sender's own host: the sender's
  socket has IP_MULTICAST_LOOP off, so everything a listener there receives came back from the
  router, and the TTL (8 sent, 7 forwarded) tells a forwarded copy from anything else;
- two lines for one route: forwarded to the union of their outputs;
- an mroute without outputs: the kernel entry drops the flow and counts it.

The lab is the standard one (sender on trunk.10, recv20 on trunk.20, recv30 on trunk.30).  The
sender host accepts datagrams that carry its own source address (accept_local, in its own
namespace): without it Linux drops a copy of its own datagram coming back as a martian.
"""
import os
import time

import pytest

from tests.integration.mcastd.runner import wait_for
from tests.integration.mcastd.traffic import DEFAULT_TTL, Receiver, send_datagrams

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket")]

SENDER = "192.0.2.10"
FORWARDED_TTL = DEFAULT_TTL - 1


@pytest.fixture(name="lab")
def fixture_lab(netns_lab):
    """The module's lab, with the sender accepting copies of its own datagrams (its namespace only)."""
    netns_lab.run("sender", ["sysctl", "-q", "-w", "net.ipv4.conf.all.accept_local=1"])
    return netns_lab


def receive(lab, group, count, receivers=("recv20", "recv30"), interval=0.002):
    """Send ``count`` datagrams; {receiver: unique datagrams received}, plus {ttl: seqs} seen on the sender."""
    listening = {host: Receiver(lab, host, "eth0", group) for host in receivers}
    back = Receiver(lab, "sender", "eth0", group)
    send_datagrams(lab, "sender", "eth0", group, count=count, interval=interval)
    time.sleep(0.2)
    got = {host: rx.stop()["unique"] for host, rx in listening.items()}
    got["sender"] = {int(ttl): seqs for ttl, seqs in back.stop()["ttls"].items()}
    return got


def test_host_bits_route_and_join_the_masked_prefix(lab, mcastd):
    daemon = mcastd(lab, "mroute from trunk.10 group 225.1.2.3/24 to trunk.20\n"
                         "mroute from trunk.10 source 192.0.2.77/24 group 225.3.3.3/24 to trunk.30\n"
                         "mgroup from trunk.20 group 225.1.2.40/24\n")
    assert "mcastd.conf:1: group 225.1.2.3/24 has host bits set; used as 225.1.2.0/24" in daemon.log()
    assert "mcastd.conf:2: source 192.0.2.77/24 has host bits set; used as 192.0.2.0/24" in daemon.log()
    for group, receiver in (("225.1.2.200", "recv20"), ("225.1.2.0", "recv20"), ("225.3.3.9", "recv30")):
        got = receive(lab, group, 20, receivers=(receiver,))
        assert got[receiver] == 20, (group, got)
    assert daemon.mfc() == {(SENDER, "225.1.2.200"): ("trunk.10", ["trunk.20"]),
                            (SENDER, "225.1.2.0"): ("trunk.10", ["trunk.20"]),
                            (SENDER, "225.3.3.9"): ("trunk.10", ["trunk.30"])}
    # a group outside the masked prefix is not routed: 225.1.3.1 gets a stop entry
    assert receive(lab, "225.1.3.1", 10, receivers=("recv20",))["recv20"] == 0
    assert daemon.mfc()[(SENDER, "225.1.3.1")] == ("trunk.10", [])
    # the join range starts at the network address, as smcroute iterates it: 225.1.2.0 .. 225.1.2.255
    joined = [row["group"] for row in daemon.query("show", "groups") if row["state"] == "joined"]
    assert sorted(joined, key=lambda text: int(text.rsplit(".", 1)[1])) == ["225.1.2.%d" % n for n in range(256)]
    assert kernel_groups(lab, "trunk.20") >= {"225.1.2.0", "225.1.2.40", "225.1.2.255"}


def kernel_groups(lab, iface):
    """Groups the kernel holds memberships for on ``iface`` in the router (/proc/net/igmp)."""
    groups = set()
    current = None
    for line in lab.run("router", ["cat", "/proc/net/igmp"]).stdout.splitlines()[1:]:
        fields = line.split()
        if not line.startswith("\t"):
            current = fields[1]
        elif current == iface:
            value = int(fields[0], 16)  # little-endian hex of the address
            groups.add(".".join(str((value >> shift) & 0xFF) for shift in (0, 8, 16, 24)))
    return groups


def test_sg_route_with_output_equal_to_input_sends_a_copy_back_out(lab, mcastd):
    daemon = mcastd(lab, "mroute from trunk.10 source %s group 225.2.2.6 to trunk.20 trunk.10\n" % SENDER)
    assert ("mcastd.conf:1: input interface trunk.10 is also an output: the kernel sends every datagram of this (S,G) "
            "back out of trunk.10 with its TTL decremented") in daemon.log()
    assert daemon.mfc() == {(SENDER, "225.2.2.6"): ("trunk.10", ["trunk.10", "trunk.20"])}
    got = receive(lab, "225.2.2.6", 50, receivers=("recv20",))
    assert got["recv20"] == 50
    assert got["sender"] == {FORWARDED_TTL: list(range(1, 51))}, "every datagram back once, TTL 8 -> 7"


def test_template_with_output_equal_to_input_sends_each_learned_flow_back_out(lab, mcastd):
    daemon = mcastd(lab, "mroute from trunk.10 group 225.2.2.5 to trunk.10\n")
    assert ("mcastd.conf:1: input interface trunk.10 is also an output: mcastd installs an (S,G) entry for each flow "
            "this template matches") in daemon.log()
    got = receive(lab, "225.2.2.5", 50, receivers=("recv20", "recv30"))
    assert got["sender"] == {FORWARDED_TTL: list(range(1, 51))}, "each datagram of the learned flow came back once"
    assert got["recv20"] == got["recv30"] == 0
    assert daemon.mfc() == {(SENDER, "225.2.2.5"): ("trunk.10", ["trunk.10"])}
    [row] = [row for row in daemon.query("show", "routes") if row["kind"] == "learned"]
    assert (row["oifs"], row["packets"]) == (["trunk.10"], 50)


def test_a_wildcard_output_still_never_includes_the_input(lab, mcastd):
    daemon = mcastd(lab, "mroute from trunk.10 group 225.2.2.7 to trunk+\n")
    got = receive(lab, "225.2.2.7", 20)
    assert (got["recv20"], got["recv30"], got["sender"]) == (20, 20, {})
    assert daemon.mfc() == {(SENDER, "225.2.2.7"): ("trunk.10", ["trunk.20", "trunk.30"])}


def test_duplicate_lines_forward_to_the_union_of_their_outputs(lab, mcastd):
    daemon = mcastd(lab, "mroute from trunk.10 source %s group 225.4.4.1 to trunk.20\n"
                         "mroute from trunk.10 group 225.4.4.2 to trunk.30\n"
                         "mroute from trunk.10 source %s group 225.4.4.1 to trunk.30\n"
                         "mroute from trunk.10 group 225.4.4.2 to trunk.20\n" % (SENDER, SENDER))
    assert "mcastd.conf:3: same route as the mroute at" in daemon.log()
    assert "mcastd.conf:4: same route as the mroute at" in daemon.log()
    for group in ("225.4.4.1", "225.4.4.2"):
        got = receive(lab, group, 30)
        assert (got["recv20"], got["recv30"]) == (30, 30), (group, got)
    assert daemon.mfc() == {(SENDER, "225.4.4.1"): ("trunk.10", ["trunk.20", "trunk.30"]),
                            (SENDER, "225.4.4.2"): ("trunk.10", ["trunk.20", "trunk.30"])}


def test_an_mroute_without_outputs_drops_the_flow_and_counts_it(lab, mcastd):
    daemon = mcastd(lab, "mroute from trunk.10 source %s group 225.5.5.1\n"
                         "mroute from trunk.10 group 225.5.5.0/24 to trunk.20\n" % SENDER)
    assert daemon.mfc() == {(SENDER, "225.5.5.1"): ("trunk.10", [])}
    got = receive(lab, "225.5.5.1", 25)
    assert (got["recv20"], got["recv30"], got["sender"]) == (0, 0, {})
    [row] = [row for row in daemon.query("show", "routes") if row["group"] == "225.5.5.1"]
    assert (row["kind"], row["oifs"], row["packets"]) == ("static", [], 25)
    # the template around it still forwards its other groups
    assert receive(lab, "225.5.5.2", 10, receivers=("recv20",))["recv20"] == 10
    assert wait_for(lambda: (SENDER, "225.5.5.2") in daemon.mfc())
