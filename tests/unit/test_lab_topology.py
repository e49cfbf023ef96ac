"""The lab's topology schema, IPv6 included: what it accepts, what it refuses (with what to change), and
what the inventory gives the plays. Pure logic: nothing is made, no root needed."""
import ipaddress

import pytest

from tests.lab.errors import LabError
from tests.lab.netlab import Lab, load_topology


def pair(**end_a):
    """Hosts a and b on segment ab (a veth pair); end_a's keys replace or add to a's end."""
    ends = [dict({"host": "a", "iface": "eth0", "address": "192.0.2.1/24", "address6": "2001:db8:1::1/64"}, **end_a),
            {"host": "b", "iface": "eth0", "address": "192.0.2.2/24", "address6": "2001:db8:1::2/64"}]
    return {"hosts": {"a": {}, "b": {}}, "segments": {"ab": {"ends": ends}}}


def with_route(**route):
    topology = pair()
    topology["hosts"]["a"] = {"routes": [route]}
    return topology


def test_every_segment_of_the_default_topology_is_dual_stack_from_the_documentation_ranges():
    topology = load_topology()
    documentation = ipaddress.ip_network("2001:db8::/32")
    for name, segment in topology["segments"].items():
        prefixes = {ipaddress.ip_interface(end["address6"]).network for end in segment["ends"]}
        assert len(prefixes) == 1, f"{name}: one /64 per segment"
        assert prefixes.pop().subnet_of(documentation), f"{name}: RFC 3849 addresses only"
        assert all(ipaddress.ip_interface(end["address"]).version == 4 for end in segment["ends"])


def test_the_default_topology_routes_both_families_via_the_router():
    topology = load_topology()
    router = {ipaddress.ip_interface(end[key]).ip for segment in topology["segments"].values()
              for end in segment["ends"] if end["host"] == "router" for key in ("address", "address6")}
    for host in ("sender", "recv20", "recv30"):
        routes = topology["hosts"][host]["routes"]
        assert sorted(route["family"] for route in routes) == [4, 6]
        assert all(route["dst"] == "default" and ipaddress.ip_address(route["via"]) in router for route in routes)
    assert topology["hosts"]["router"]["sysctls"]["net.ipv6.conf.all.forwarding"] == 1
    assert "net.ipv6.conf.all.forwarding" not in topology["hosts"]["sender"]["sysctls"]


def test_old_topologies_without_ipv6_stay_valid():
    topology = pair()
    for end in topology["segments"]["ab"]["ends"]:
        del end["address6"]
    topology["hosts"]["a"] = {"routes": [{"dst": "default", "via": "192.0.2.2"}]}
    loaded = load_topology(topology)
    assert loaded["hosts"]["a"]["routes"] == [{"dst": "default", "via": "192.0.2.2", "family": 4}]
    assert Lab(topology).inventory()["all"]["hosts"]["a"]["lab_interfaces"]["eth0"]["address6"] is None


def test_an_ipv6_only_end_and_an_ipv6_route_to_a_prefix_are_accepted():
    topology = pair(address=None)
    topology["hosts"]["b"] = {"routes": [{"dst": "2001:db8:99::/48", "via": "2001:db8:1::1"}]}
    assert load_topology(topology)["hosts"]["b"]["routes"][0]["family"] == 6


def test_the_inventory_gives_each_interface_its_ipv6_address_next_to_the_ipv4_one():
    hosts = Lab().inventory()["all"]["hosts"]
    assert hosts["router"]["lab_interfaces"]["trunk.20"] == {
        "segment": "vlan20", "address": "198.51.100.1/24", "address6": "2001:db8:20::1/64", "switched": True}
    assert hosts["recv30"]["lab_interfaces"]["eth0"]["address6"] == "2001:db8:30::30/64"


@pytest.mark.parametrize("topology, message", [
    (pair(address6="2001:db8:1::zz/64"), r"a:eth0 address6 '2001:db8:1::zz/64' is not an IPv6 address with a "
                                         r"prefix length, such as 2001:db8:10::1/64"),
    (pair(address6="2001:db8:1::1/129"), r"address6 '2001:db8:1::1/129' is not an IPv6 address with a prefix"),
    (pair(address="192.0.2.300/24"), r"address '192.0.2.300/24' is not an IPv4 address with a prefix length"),
    (pair(address6="2001:db8:1::1"), r"has no prefix length: write it as ADDRESS/64"),
    (pair(address6="192.0.2.1/24"), r"address6 '192.0.2.1/24' is an IPv4 address: put it in 'address'"),
    (pair(address="2001:db8:1::1/64"), r"address '2001:db8:1::1/64' is an IPv6 address: put it in 'address6'"),
    (pair(address6="fe80::1/64"), r"is link-local: every interface makes its own"),
    (pair(address6="ff02::1/64"), r"is not a unicast address"),
    (pair(address6="::/64"), r"is not a unicast address"),
    (pair(address6="2001:db8:1::/64"), r"is the subnet-router anycast address of 2001:db8:1::/64"),
    (pair(address6="2001:db8:1::2/64"), r"Segment ab: 2001:db8:1::2 is on both a:eth0 and b:eth0"),
    (pair(address6="2001:db8:1:0::2/64"), r"2001:db8:1::2 is on both .*: give each end its own address"),
    (pair(address="192.0.2.2/24"), r"192.0.2.2 is on both a:eth0 and b:eth0"),
    (with_route(dst="default", via="2001:db8:1::zz"), r"Host a: route via '2001:db8:1::zz': the gateway must be"),
    (with_route(dst="2001:db8:99::1/48", via="2001:db8:1::2"), r"route to '2001:db8:99::1/48': .*has host bits"),
    (with_route(dst="2001:db8:99::/48", via="192.0.2.2"), r"mixes IPv6 and IPv4: give it a gateway"),
    (with_route(dst="198.51.100.0/24", via="2001:db8:1::2"), r"mixes IPv4 and IPv6"),
    (with_route(dst="default"), r"Host a: a route is \{dst: default or PREFIX, via: GATEWAY\}"),
])
def test_bad_addresses_and_routes_are_refused_with_what_to_change(topology, message):
    with pytest.raises(LabError, match=message):
        load_topology(topology)


def test_the_same_address_on_two_segments_stays_allowed():
    """A source seen on two upstream links is a test case (tests/integration/mcastd/test_mcastd_wrongvif.py)."""
    topology = pair()
    topology["hosts"]["c"] = {}
    topology["segments"]["cb"] = {"ends": [{"host": "c", "iface": "eth0", "address6": "2001:db8:1::1/64"},
                                           {"host": "b", "iface": "eth1", "address6": "2001:db8:2::2/64"}]}
    assert load_topology(topology)["segments"]["cb"]["ends"][0]["address6"] == "2001:db8:1::1/64"
