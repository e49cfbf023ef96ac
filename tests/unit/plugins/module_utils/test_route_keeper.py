"""The route keeper's file format and its decision of what is missing (no kernel access)."""
import json

import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _route_keeper as keeper
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import (
    IFF_LOOPBACK, IFF_MULTICAST, IFF_RUNNING, IFF_UP, Iface)

V4 = {"dest": "224.0.0.0/4", "dev": "eth0", "table": 254, "metric": 0, "family": 4}
V6 = {"dest": "ff05::/16", "dev": "trunk.10", "table": 100, "metric": 1024, "family": 6}
HOST_GROUP = {"dest": "239.1.2.3/32", "dev": "eth0", "table": 254, "metric": 5, "family": 4}


def test_dump_and_parse_round_trip_in_a_stable_order():
    text = keeper.dump_routes([V6, HOST_GROUP, V4])
    assert keeper.parse_routes(text) == [V4, HOST_GROUP, V6]
    assert text == keeper.dump_routes([V4, V6, HOST_GROUP]), "the order of the input must not change the file"
    assert json.loads(text)[0] == V4 and text.endswith("]\n")


def test_a_single_group_is_normalized_to_its_prefix():
    assert keeper.parse_routes(json.dumps([dict(HOST_GROUP, dest="239.1.2.3")])) == [HOST_GROUP]


def test_load_of_a_missing_file_is_no_routes(tmp_path):
    assert keeper.load_routes(str(tmp_path / "absent.json")) == []


def test_load_names_the_file_of_an_error(tmp_path):
    path = tmp_path / "routes.json"
    path.write_text("{")
    with pytest.raises(keeper.RoutesFileError, match="routes.json: not JSON"):
        keeper.load_routes(str(path))


@pytest.mark.parametrize("text, fragment", [
    ('{"dest": "224.0.0.0/4"}', "JSON list"),
    (json.dumps([dict(V4, via="192.0.2.1")]), "exactly the keys"),
    (json.dumps([{"dest": "224.0.0.0/4"}]), "exactly the keys"),
    (json.dumps([dict(V4, dest="10.0.0.0/8")]), "not a multicast prefix"),
    (json.dumps([dict(V4, family=6)]), "not a multicast prefix of family 6"),
    (json.dumps([dict(V4, dest="239.1.1.1/16")]), "not a prefix"),
    (json.dumps([dict(V4, dev="eth 0")]), "dev: 'eth 0' cannot be an interface name: .* no whitespace"),
    (json.dumps([dict(V4, dev="")]), "dev: an interface name is empty"),
    (json.dumps([dict(V4, dev="a-very-long-interface")]), "dev: .* longer than 15 bytes"),
    (json.dumps([dict(V4, dev="eth0:1")]), "dev: .* address label"),
    (json.dumps([dict(V4, table="main")]), "table must be a number"),
    (json.dumps([dict(V4, metric=-1)]), "metric must be a number"),
    (json.dumps([dict(V4, metric=True)]), "metric must be a number"),
    (json.dumps([V4, dict(V4, dev="eth1")]), "same destination, table and metric"),
])
def test_bad_files_are_refused_with_the_reason(text, fragment):
    with pytest.raises(keeper.RoutesFileError, match=fragment):
        keeper.parse_routes(text)


# The interface table (linux.interfaces()) and what `ip -j -4|-6 route show table T` prints (iproute2 6.1), trimmed.
LINKS = {"lo": Iface("lo", 1, IFF_UP | IFF_LOOPBACK | IFF_RUNNING),
         "eth0": Iface("eth0", 2, IFF_UP | IFF_MULTICAST | IFF_RUNNING),
         "trunk.10": Iface("trunk.10", 3, IFF_MULTICAST)}
MAIN_V4 = [{"dst": "224.0.0.0/4", "dev": "eth0", "scope": "link", "flags": []},
           {"dst": "239.1.2.3", "dev": "eth0", "scope": "link", "metric": 5, "flags": ["linkdown"]},
           {"dst": "default", "gateway": "198.51.100.1", "dev": "eth0", "flags": []},
           {"dst": "239.0.0.0/8", "gateway": "192.0.2.2", "dev": "eth0", "flags": []},
           {"dst": "239.2.0.0/16", "nexthops": [{"dev": "eth0"}], "flags": []}]
TABLE_100_V6 = [{"dst": "ff05::/16", "dev": "trunk.10", "metric": 1024, "flags": [], "pref": "medium"}]


def test_up_devices_are_the_administratively_up_ones():
    assert keeper.up_devices(LINKS) == {"lo", "eth0"}


def test_installed_routes_are_the_dev_scoped_ones_with_the_implicit_ipv4_metric():
    assert keeper.installed_routes(MAIN_V4) == {("224.0.0.0/4", "eth0", 0), ("239.1.2.3/32", "eth0", 5)}
    assert keeper.installed_routes(TABLE_100_V6) == {("ff05::/16", "trunk.10", 1024)}


def test_nothing_is_missing_when_every_route_is_installed():
    installed = {(4, 254): keeper.installed_routes(MAIN_V4), (6, 100): keeper.installed_routes(TABLE_100_V6)}
    assert keeper.missing_routes([V4, HOST_GROUP, V6], installed, {"eth0", "trunk.10"}) == []


def test_a_route_is_missing_when_its_table_lacks_it_but_only_while_its_interface_is_up():
    installed = {(4, 254): set()}
    assert keeper.missing_routes([V4, V6], installed, {"eth0", "trunk.10"}) == [V4, V6]
    assert keeper.missing_routes([V4, V6], installed, keeper.up_devices(LINKS)) == [V4], "trunk.10 is down"


def test_a_route_through_another_interface_or_with_another_metric_does_not_count():
    installed = {(4, 254): {("224.0.0.0/4", "eth1", 0), ("224.0.0.0/4", "eth0", 10)}}
    assert keeper.missing_routes([V4], installed, {"eth0"}) == [V4]
    assert keeper.missing_routes([V4], {(6, 254): {("224.0.0.0/4", "eth0", 0)}}, {"eth0"}) == [V4], \
        "a table of the other family is another table"


def test_replace_is_one_argv_per_route():
    assert keeper.replace_argv("/usr/sbin/ip", V6) == ["/usr/sbin/ip", "-6", "route", "replace", "ff05::/16", "dev",
                                                       "trunk.10", "table", "100", "metric", "1024"]
