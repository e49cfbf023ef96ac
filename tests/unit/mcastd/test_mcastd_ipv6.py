"""IPv6 in mcastd's pure parts: the grammar, the route logic, the kernel structures, MLD joins.

The kernel side (datagrams, the ICMPv6 filter, kernel (*,G) entries) is proved in
tests/integration/mcastd/test_mcastd_ipv6.py.
"""
import socket
import struct

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as conf
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import groups, kernel, routes
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import Iface

UP_MC = 0x1001


def addr(text):
    return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")


@pytest.mark.parametrize("line, canonical, kind", [
    ("mroute from a0 source 2001:db8::1 group ff0e::1 to b0", "mroute from a0 source 2001:db8::1 group ff0e::1 to b0",
     "sg"),
    ("mroute from a0 group ff0e::1 to b0 c0", "mroute from a0 group ff0e::1 to b0 c0", "star-g"),
    ("mroute from a0 group ff0e::1/128 to b0", "mroute from a0 group ff0e::1 to b0", "star-g"),
    ("mroute from a0 group ff0e::/16 to b0", "mroute from a0 group ff0e::/16 to b0", "template"),
    ("mroute from a0 source 2001:db8::/32 group ff0e::1 to b0", "mroute from a0 source 2001:db8::/32 group ff0e::1 to b0",
     "template"),
    ("mroute from a+ group ff0e::1 to b0", "mroute from a+ group ff0e::1 to b0", "template"),  # wildcard input
    ("mroute from a0 group ff0e::1 to a0 b0", "mroute from a0 group ff0e::1 to a0 b0", "template"),  # copy back
    ("mroute from a0 source :: group ff0e::1 to b0", "mroute from a0 group ff0e::1 to b0", "star-g"),
    ("mroute from a0 group FF0E:0:0::0001 to b0", "mroute from a0 group ff0e::1 to b0", "star-g"),
    ("mroute from a0 group ff05::1 to b0", "mroute from a0 group ff05::1 to b0", "star-g"),  # site scope routes
])
def test_ipv6_routes_read_as_smcroute_2_6_writes_them(line, canonical, kind):
    [route] = conf.parse_text(line + "\n").mroutes
    assert route.to_line() == canonical and route.family == 6
    table = routes.RouteTable(conf.parse_text(line + "\n"), 6)
    found = "template" if table.templates else ("star-g" if next(iter(table.static))[0] == 0 else "sg")
    assert found == kind
    assert routes.RouteTable(conf.parse_text(line + "\n"), 4).static == {}  # never in the IPv4 table


@pytest.mark.parametrize("text, error", [
    ("mroute from a0 group ff02::1:3 to b0", "link-local scope (scope 2"),
    ("mroute from a0 group ff12::1:3 to b0", "link-local scope"),
    ("mroute from a0 group ff31::1 to b0", "interface-local scope"),
    ("mroute from a0 group ff02::/16 to b0", "link-local scope"),
    ("mroute from a0 group fe80::1 to b0", "not a multicast address"),
    ("mroute from a0 group ff0e::1/7 to b0", "not a multicast address"),
    ("mroute from a0 group ff0e::1/129 to b0", "invalid prefix length (0-128)"),
    ("mroute from a0 group ff0e:::1 to b0", "not an IPv6 address"),
    ("mroute from a0 source ff0e::5 group ff0e::1 to b0", "source ff0e::5 is a multicast address"),
    ("mroute from a0 source 10.0.0.1 group ff0e::1 to b0", "different families"),
    ("mroute from a0 source 2001:db8::1 group 225.1.1.1 to b0", "different families"),
    ("mroute from a0 source 2001:db8::1/0 group ff0e::1 to b0", "ambiguous"),
    ("mroute from a0 source ::/8 group ff0e::1 to b0", None),  # any source, as smcroute reads it: a warning
    ("phyint b0 ttl-threshold 3\nmroute from a0 group ff0e::1 to b0", "applies to IPv4 only"),
    ("phyint b+ ttl-threshold 3\nmroute from a0 group ff0e::1 to b1", "applies to IPv4 only"),
])
def test_what_the_kernel_would_accept_and_never_forward_is_refused(text, error):
    if error is None:
        config = conf.parse_text(text + "\n")
        assert "means any source" in config.warnings[0]
        return
    with pytest.raises(conf.ConfigError) as raised:
        conf.parse_text(text + "\n")
    assert error in "\n".join(raised.value.errors)


def test_if_joined_ipv6_routes_follow_the_mld_querier_of_their_outputs():
    config = conf.parse_text("phyint b0 querier\nmroute from a0 group ff0e::1 to b0 if-joined\n")
    assert config.mroutes[0].if_joined and not config.warnings
    blind = conf.parse_text("mroute from a0 group ff0e::1 to b0 if-joined\n")
    assert "unless you add 'phyint b0 querier'" in blind.warnings[0]


def test_ttl_threshold_stays_for_ipv4_routes_beside_ipv6_ones():
    config = conf.parse_text("phyint b0 ttl-threshold 3\nmroute from a0 group 225.1.1.1 to b0\n"
                             "mroute from a0 group ff0e::1 to c0\n")
    present = {name: Iface(name, index, UP_MC) for index, name in enumerate(("a0", "b0", "c0"), 2)}
    assert routes.wanted_vifs(config, present, 4) == {"b0": (3, 3), "a0": (2, 1)}
    assert routes.wanted_vifs(config, present, 6) == {"b0": (3, 1), "a0": (2, 1), "c0": (4, 1)}


def test_the_32_limit_counts_mifs_and_vifs_apart():
    v4 = "".join("mroute from i0 group 225.1.1.%d to v%d\n" % (n, n) for n in range(1, 32))
    v6 = "".join("mroute from i0 group ff0e::%x to w%d\n" % (n, n) for n in range(1, 32))
    config = conf.parse_text(v4 + v6)  # 32 VIFs and 32 MIFs: fits
    assert len(config.vif_names(4)) == 32 and len(config.vif_names(6)) == 32
    with pytest.raises(conf.ConfigError) as raised:
        conf.parse_text(v4 + v6 + "mroute from i0 group ff0e::ffff to w99\n")
    assert "the kernel offers 32 MIFs" in raised.value.errors[0] and "w99" in raised.value.errors[0]


def test_star_g_entry_holds_its_input_and_describes_without_it():
    config = conf.parse_text("mroute from a0 group ff0e::1 to b0 c0\n")
    present = {name: Iface(name, index, UP_MC) for index, name in enumerate(("a0", "b0", "c0"), 2)}
    vifs = routes.plan_vifs({}, routes.wanted_vifs(config, present, 6))[0]
    table = routes.RouteTable(config, 6)
    entries = routes.desired_entries(table, vifs, {})
    [(key, entry)] = entries.items()
    assert key == (0, addr("ff0e::1"))
    assert [index for index, ttl in enumerate(entry.ttls) if ttl] == [vifs["a0"].index, vifs["b0"].index,
                                                                      vifs["c0"].index]
    names = {vif.index: name for name, vif in vifs.items()}
    assert routes.describe_entry(key, entry, names) == {"source": "*", "group": "ff0e::1", "iif": "a0",
                                                        "oifs": ["b0", "c0"]}


def test_a_flow_that_arrives_on_the_star_g_input_is_handed_over_to_the_kernel_entry():
    config = conf.parse_text("mroute from a0 group ff0e::1 to b0\n")
    table = routes.RouteTable(config, 6)
    key = (addr("2001:db8::5"), addr("ff0e::1"))
    stop = routes.Learned("c0", None, 0.0)  # it came in on c0 first: a stop entry
    assert routes.on_wrongvif(table, {key: stop}, key, "a0", 1.0).outcome == routes.TO_STAR_G
    assert routes.on_wrongvif(table, {key: stop}, key, "d0", 1.0).outcome == "no-route"


def test_pending_says_why_when_the_ipv6_api_is_unavailable():
    config = conf.parse_text("mroute from a0 group ff0e::1 to b0\nmroute from a0 group 225.1.1.1 to b0\n")
    present = {name: Iface(name, index, UP_MC) for index, name in enumerate(("a0", "b0"), 2)}
    vifs = routes.plan_vifs({}, routes.wanted_vifs(config, present, 4))[0]
    rows = routes.pending(config, present, {4: vifs, 6: {}}, {6: "IPv6 is disabled"})
    assert rows == [{"kind": "mroute", "line": "mroute from a0 group ff0e::1 to b0", "origin": "<config>:1",
                     "missing": [], "state": "inactive", "reason": "IPv6 is disabled"}]


def test_mif_and_mf6cctl_are_packed_as_the_kernel_reads_them():
    assert kernel.MIF6CTL.size == 12 and kernel.MF6CCTL.size == 92 and kernel.MRT6MSG.size == 40
    assert kernel.SIOC_SG_REQ6.size == 80
    outputs = bytearray(32)
    outputs[0] = outputs[5] = outputs[31] = 1
    data = kernel.Mroute6Socket._mf6cctl(addr("2001:db8::1"), addr("ff0e::1"), 5, bytes(outputs))
    origin, group, parent, *words = kernel.MF6CCTL.unpack(data)
    assert (parent, words) == (5, [(1 << 0) | (1 << 5) | (1 << 31), 0, 0, 0, 0, 0, 0, 0])
    family, _port, _flow, raw, _scope = kernel.SOCKADDR_IN6.unpack(origin)
    assert family == socket.AF_INET6 and raw == socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    assert kernel.SOCKADDR_IN6.unpack(group)[3] == socket.inet_pton(socket.AF_INET6, "ff0e::1")


class FakeSocket:
    def __init__(self, messages):
        self.messages = list(messages)

    def recv(self, _size):
        if not self.messages:
            raise BlockingIOError()
        return self.messages.pop(0)


def test_only_upcalls_count_as_upcalls_anything_else_is_counted_as_foreign():
    mroute = kernel.Mroute6Socket.__new__(kernel.Mroute6Socket)
    upcall = struct.pack("=BBHI16s16s", 0, kernel.MRT6MSG_NOCACHE, 3, 0, socket.inet_pton(socket.AF_INET6, "2001:db8::1"),
                         socket.inet_pton(socket.AF_INET6, "ff0e::1"))
    echo = bytes([128, 0, 0, 0]) + bytes(36)  # an echo request: what the filter keeps out
    mroute.sock, mroute.foreign = FakeSocket([upcall, echo, b"\0" * 8]), 0
    upcalls, packets = mroute.drain()
    assert upcalls == [kernel.Upcall(3, addr("2001:db8::1"), addr("ff0e::1"), kernel.MRT6MSG_NOCACHE)]
    assert packets == [] and mroute.foreign == 2


@pytest.mark.parametrize("key, level, option, size", [
    (("a0", addr("ff0e::1"), None), socket.IPPROTO_IPV6, groups.IPV6_JOIN_GROUP, 20),
    (("a0", addr("ff3e::1"), addr("2001:db8::1")), socket.IPPROTO_IPV6, groups.MCAST_JOIN_SOURCE_GROUP,
     groups.GROUP_SOURCE_REQ_SIZE),
    (("a0", 0xE1010101, None), socket.IPPROTO_IP, groups.IP_ADD_MEMBERSHIP, 12),
])
def test_joins_pick_the_family_of_their_group(key, level, option, size):
    found_level, join, _leave, data = groups._request(key[1], key[2], 7)
    assert (found_level, join, len(data)) == (level, option, size)
    assert groups.describe(key)["group"] == conf.group_text(key[1])


def vif_row(index, packets_in, packets_out):
    return kernel.VifRow(index, "if%d" % index, 0, packets_in, 0, packets_out, 0)


def test_ttl_watch_names_the_flows_that_arrive_and_never_leave():
    too_low = routes.KernelEntry(0, bytes([0, 1, 1]) + bytes(29))  # input VIF 0, outputs 1 and 2
    healthy = routes.KernelEntry(0, bytes([0, 0, 1]) + bytes(28))  # shares output 2, which it keeps busy
    idle = routes.KernelEntry(3, bytes([0, 1]) + bytes(30))  # its input 3 receives nothing: never read
    installed = {"low": too_low, "ok": healthy, "idle": idle}
    watch = routes.TtlWatch()
    assert watch.candidates(installed, [vif_row(0, 0, 0), vif_row(1, 0, 0), vif_row(2, 0, 0), vif_row(3, 0, 0)]) == []
    rows = [vif_row(0, 100, 0), vif_row(1, 0, 0), vif_row(2, 0, 50), vif_row(3, 0, 0)]
    assert watch.candidates(installed, rows) == ["low", "ok"]
    assert watch.too_low(installed, {"low": 1000, "ok": 500}) == {}  # a baseline first
    rows = [vif_row(0, 200, 0), vif_row(1, 0, 0), vif_row(2, 0, 100), vif_row(3, 0, 0)]
    assert watch.candidates(installed, rows) == ["low", "ok"]
    assert watch.too_low(installed, {"low": 1050, "ok": 550}) == {"low": 50}
    # the sender fixed its TTL: output 1 gets the flow, output 2 both (a busy output alone would hide it)
    rows = [vif_row(0, 300, 0), vif_row(1, 0, 50), vif_row(2, 0, 200), vif_row(3, 0, 0)]
    assert watch.candidates(installed, rows) == ["low", "ok"]
    assert watch.too_low(installed, {"low": 1100, "ok": 600}) == {}
    # fewer than ten datagrams say nothing
    rows = [vif_row(0, 305, 0), vif_row(1, 0, 50), vif_row(2, 0, 200), vif_row(3, 0, 0)]
    watch.candidates(installed, rows)
    assert watch.too_low(installed, {"low": 1109, "ok": 600}) == {}


def test_ttl_watch_reads_at_most_its_limit_in_turns():
    installed = dict((index, routes.KernelEntry(0, bytes([0, 1]) + bytes(30))) for index in range(5))
    watch = routes.TtlWatch(limit=2)
    watch.candidates(installed, [vif_row(0, 0, 0), vif_row(1, 0, 0)])
    seen = [watch.candidates(installed, [vif_row(0, turn + 1, 0), vif_row(1, 0, 0)]) for turn in range(3)]
    assert seen == [[2, 3], [4, 0], [1, 2]]


def test_one_group_from_two_inputs_is_learned_per_flow_not_a_kernel_star_g():
    config = conf.parse_text("mroute from up1 group ff0e::1 to dn1\nmroute from up2 group ff0e::1 to dn1\n"
                             "mroute from up1 group ff0e::2 to dn1\n")
    table = routes.RouteTable(config, 6)
    assert list(table.static) == [(0, addr("ff0e::2"))]
    assert sorted(route.iif for route in table.templates) == ["up1", "up2"]
