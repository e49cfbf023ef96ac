"""mcast.linux.route against a real kernel in a namespace, through the netns connection."""
import json
import os
import socket
from pathlib import Path

import pytest

from tests.integration.modules.ipv6_multicast import (
    add_addresses, egress, kernel_multicast_routes, only, route_get)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces")]

DEFAULT_ROUTE = ("224.0.0.0/4", "trunk.10", None, 0)


@pytest.fixture(name="faulty_host")
def fixture_faulty_host(unchanging_host):
    """The shared host with trunk.20 down and eth0 without IFF_MULTICAST (both refused as dev)."""
    unchanging_host.ip("link", "set", "dev", "trunk.20", "down")
    unchanging_host.ip("link", "set", "dev", "eth0", "multicast", "off")
    return unchanging_host


@pytest.fixture(name="unit")
def fixture_unit(tmp_path):
    return tmp_path / "system" / "mcast-linux-routes.service"


@pytest.fixture(name="files")
def fixture_files(tmp_path, unit):
    """The module's persistence options, every file in tmp_path (systemctl is never called for them)."""
    return {"unit_file": str(unit), "routes_file": str(tmp_path / "etc" / "routes.json"),
            "keeper_file": str(tmp_path / "lib" / "route_keeper.py")}


def wants(unit):
    return unit.parent / "multi-user.target.wants" / unit.name


def persisted(files):
    return json.loads(Path(files["routes_file"]).read_text())


def persisted_route(dest, dev, table=254, metric=0, family=4):
    return {"dest": dest, "dev": dev, "table": table, "metric": metric, "family": family}


def multicast_routes(host, **kwargs):
    return [route for route in host.routes(**kwargs) if not route[0].startswith(("192.", "198.", "203."))]


def test_dev_scoped_route_check_apply_idempotent(host, unit, files):
    args = dict(files, dev="trunk.10")
    preview = host.module("route", args, check=True, diff=True)
    assert preview["changed"] is True
    assert multicast_routes(host) == [], "check mode changed the kernel"
    assert not any(Path(path).exists() for path in files.values())
    assert preview["before"] == []
    assert preview["after"] == [{"dest": "224.0.0.0/4", "dev": "trunk.10", "gateway": None, "table": 254, "metric": 0}]
    assert preview["persistence"] == {"files": [files["routes_file"], files["keeper_file"], files["unit_file"],
                                                str(wants(unit))], "service": []}
    kernel_diff, routes_diff, keeper_diff, unit_diff, link_diff = preview["diff"]
    assert kernel_diff["after"] == "224.0.0.0/4 dev trunk.10 table 254 metric 0\n"
    assert json.loads(routes_diff["after"]) == [persisted_route("224.0.0.0/4", "trunk.10")]
    assert keeper_diff["after"].startswith("route keeper (route_keeper.py), sha1 ")
    assert "ExecStart=/usr/bin/python3 %(keeper_file)s %(routes_file)s\n" % files in unit_diff["after"]
    assert link_diff["after"] == "-> %s\n" % unit

    applied = host.module("route", args)
    assert applied["changed"] is True
    assert multicast_routes(host) == [DEFAULT_ROUTE]
    assert persisted(files) == [persisted_route("224.0.0.0/4", "trunk.10")]
    assert "Type=notify" in unit.read_text() and wants(unit).resolve() == unit
    assert "def missing_routes(" in Path(files["keeper_file"]).read_text(), "the keeper came out of AnsiballZ"

    again = host.module("route", args)
    assert again["changed"] is False
    assert again["persistence"] == {"files": [], "service": []}


def test_the_oneshot_unit_of_older_versions_is_migrated(host, unit, files):
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                    "ExecStart=-/usr/sbin/ip -4 route replace 239.0.0.0/8 dev trunk.20 table 254 metric 0 scope link\n")
    result = host.module("route", dict(files, dev="trunk.10"))
    assert result["changed"] is True
    assert persisted(files) == [persisted_route("224.0.0.0/4", "trunk.10"), persisted_route("239.0.0.0/8", "trunk.20")]
    assert "Type=notify" in unit.read_text() and "Type=oneshot" not in unit.read_text()


def test_multicast_leaves_through_the_routed_interface(host, files):
    # The kernel's own answer for a group: without the route the default route (eth0) would win.
    host.ip("route", "replace", "default", "via", "198.51.100.1")
    host.module("route", dict(files, dev="trunk.20"))
    lookup = host.ip("-j", "route", "get", "239.1.2.3").stdout
    assert '"dev":"trunk.20"' in lookup.replace(" ", "")


def test_a_via_route_for_the_prefix_is_replaced_by_the_dev_route(host, files):
    host.ip("route", "add", "224.0.0.0/4", "via", "192.0.2.2")
    result = host.module("route", dict(files, dev="trunk.10"), diff=True)
    assert result["changed"] is True
    assert result["before"] == [{"dest": "224.0.0.0/4", "dev": "trunk.10", "gateway": "192.0.2.2", "table": 254,
                                 "metric": 0}]
    assert "224.0.0.0/4 via 192.0.2.2 dev trunk.10" in result["diff"][0]["before"]
    assert multicast_routes(host) == [DEFAULT_ROUTE]


def test_narrow_prefix_own_table_metric_then_absent(host, unit, files):
    args = dict(files, dest="239.10.0.0/16", dev="trunk.20", table="100", metric=10)
    assert host.module("route", args)["changed"] is True
    assert multicast_routes(host, table=100) == [("239.10.0.0/16", "trunk.20", None, 10)]
    assert multicast_routes(host) == [], "the main table was touched"
    assert persisted(files) == [persisted_route("239.10.0.0/16", "trunk.20", table=100, metric=10)]

    gone = host.module("route", dict(args, state="absent"), diff=True)
    assert gone["changed"] is True and gone["after"] == []
    assert multicast_routes(host, table=100) == []
    assert not any(Path(path).exists() for path in files.values()), "no route left: every file goes"
    assert not wants(unit).is_symlink(), "an empty unit must be removed with its symlink"
    assert host.module("route", dict(args, state="absent"))["changed"] is False


def test_absent_keeps_other_routes_in_the_file(host, files):
    host.module("route", dict(files, dev="trunk.10"))
    host.module("route", dict(files, dest="239.0.0.0/8", dev="trunk.20"))
    host.module("route", dict(files, dest="239.0.0.0/8", state="absent"))
    assert multicast_routes(host) == [DEFAULT_ROUTE]
    assert persisted(files) == [persisted_route("224.0.0.0/4", "trunk.10")]


def test_absent_with_another_dev_leaves_the_route(host, files):
    host.module("route", dict(files, dev="trunk.10"))
    result = host.module("route", dict(files, dev="trunk.20", state="absent"))
    assert result["changed"] is False
    assert multicast_routes(host) == [DEFAULT_ROUTE]


def test_ipv6_prefix_goes_to_table_local_and_is_persisted_there(host, files):
    args = dict(files, dest="ff05::/16", dev="trunk.10")
    result = host.module("route", args)
    assert result["changed"] is True
    assert result["route"] == {"dest": "ff05::/16", "dev": "trunk.10", "table": 255, "metric": 255}
    assert host.routes(family=socket.AF_INET6, table=255) == [("ff05::/16", "trunk.10", None, 255)]
    assert multicast_routes(host, family=socket.AF_INET6) == [], "table main was touched"
    assert host.module("route", args)["changed"] is False
    assert persisted(files) == [persisted_route("ff05::/16", "trunk.10", table=255, metric=255, family=6)]


def ipv6_routes(host):
    """The module's IPv6 routes (table local without the kernel's own) and table main's."""
    return host.routes(family=socket.AF_INET6, table=255), multicast_routes(host, family=socket.AF_INET6)


def test_ipv6_multicast_leaves_through_the_routed_interface_check_apply_idempotent_absent(host, files):
    add_addresses(host)
    group = "ff0e::db8:1"
    first = route_get(host, group)
    assert first != "trunk.20", "pick another dev: the kernel's first interface is already trunk.20"
    assert egress(host, group) == only(first), "before the module the kernel's first interface sends"
    kernel_own = kernel_multicast_routes(host)
    args = dict(files, dest="ff0e::/16", dev="trunk.20")

    preview = host.module("route", args, check=True, diff=True)
    assert preview["changed"] is True
    assert preview["after"] == [{"dest": "ff0e::/16", "dev": "trunk.20", "gateway": None, "table": 255, "metric": 255}]
    assert preview["diff"][0]["after"] == "ff0e::/16 dev trunk.20 table 255 metric 255\n"
    assert ipv6_routes(host) == ([], []) and route_get(host, group) == first, "check mode changed the kernel"
    assert not any(Path(path).exists() for path in files.values())

    assert host.module("route", args)["changed"] is True
    assert ipv6_routes(host) == ([("ff0e::/16", "trunk.20", None, 255)], [])
    assert route_get(host, group) == "trunk.20"
    assert egress(host, group) == only("trunk.20")
    assert egress(host, "ff05::db8:1") == only(first), "a group outside the prefix still leaves as before"
    assert host.module("route", args)["changed"] is False

    gone = host.module("route", dict(args, state="absent"), diff=True)
    assert gone["changed"] is True and gone["after"] == []
    assert ipv6_routes(host) == ([], [])
    assert route_get(host, group) == first and egress(host, group) == only(first)
    assert not Path(files["routes_file"]).exists()
    assert host.module("route", dict(args, state="absent"))["changed"] is False
    assert kernel_multicast_routes(host) == kernel_own, "the kernel's own routes were touched"


def test_ipv6_all_multicast_wins_by_its_metric_and_absent_leaves_the_kernels_own_routes(host, files):
    add_addresses(host)
    first = route_get(host, "ff0e::1")
    kernel_own = kernel_multicast_routes(host)
    assert [metric for _dev, metric in kernel_own] == [256, 256, 256], kernel_own
    args = dict(files, dest="ff00::/8", dev="trunk.20")
    assert host.module("route", args)["changed"] is True
    assert host.routes(family=socket.AF_INET6, table=255) == [("ff00::/8", "trunk.20", None, 255)]
    assert kernel_multicast_routes(host) == kernel_own
    assert [route_get(host, group) for group in ("ff0e::1", "ff05::1", "ff08::1")] == ["trunk.20"] * 3
    assert egress(host, "ff0e::db8:2") == only("trunk.20")

    # absent without dev removes the route of this identity, whatever its interface: never the kernel's
    assert host.module("route", dict(files, dest="ff00::/8", state="absent"))["changed"] is True
    assert host.routes(family=socket.AF_INET6, table=255) == []
    assert kernel_multicast_routes(host) == kernel_own
    assert route_get(host, "ff0e::1") == first


def test_ipv6_route_an_older_version_left_in_table_main_is_removed_with_table_main(host, files):
    host.ip("-6", "route", "add", "ff05::/16", "dev", "trunk.10", "metric", "1024")
    Path(files["routes_file"]).parent.mkdir(parents=True)
    Path(files["routes_file"]).write_text(json.dumps([persisted_route("ff05::/16", "trunk.10", metric=1024, family=6)]))
    result = host.module("route", dict(files, dest="ff05::/16", table="main", metric=1024, state="absent"))
    assert result["changed"] is True
    assert ipv6_routes(host) == ([], [])
    assert not Path(files["routes_file"]).exists()


def test_persist_false_changes_only_the_kernel(host, files):
    result = host.module("route", dict(files, dev="trunk.10", persist=False))
    assert result["changed"] is True and result["persistence"] == {"files": [], "service": []}
    assert multicast_routes(host) == [DEFAULT_ROUTE]
    assert not any(Path(path).exists() for path in files.values())


def test_an_unreadable_routes_file_fails_with_its_name(host, files):
    Path(files["routes_file"]).parent.mkdir(parents=True)
    Path(files["routes_file"]).write_text('[{"dest": "10.0.0.0/8"}]')
    result = host.module("route", dict(files, dev="trunk.10"))
    assert result.get("failed") is True
    assert "%s cannot be read" % files["routes_file"] in result["msg"] and "Fix it or delete it" in result["msg"]


def test_lower_metric_route_elsewhere_is_warned_about(host, files):
    host.ip("route", "add", "224.0.0.0/4", "dev", "eth0", "metric", "5")
    result = host.module("route", dict(files, dev="trunk.10", metric=50, persist=False))
    assert result["changed"] is True
    assert any("lower metric" in warning for warning in result.get("warnings", []))


BAD_INPUTS = [
    ({"dev": "trunk.10", "via": "192.0.2.2"}, "via 192.0.2.2 is refused for a multicast prefix"),
    ({"dest": "10.0.0.0/8", "dev": "trunk.10"}, "'10.0.0.0/8' is not a multicast prefix"),
    ({"dest": "0.0.0.0/0", "dev": "trunk.10"}, "is not a multicast prefix"),
    ({"dest": "192.0.2.1", "dev": "trunk.10"}, "is not a multicast prefix"),
    ({"dest": "239.1.1.1/16", "dev": "trunk.10"}, "did you mean 239.1.0.0/16"),
    ({"dest": "239.1", "dev": "trunk.10"}, "is not a prefix"),
    ({"dest": "fe80::/10", "dev": "trunk.10"}, "is not a multicast prefix"),
    ({}, "dev is required with state: present"),
    ({"dev": "trunk.99"}, "interface 'trunk.99' does not exist on this host; existing interfaces: lo, eth0, trunk.10"),
    ({"dev": "trunk.*"}, "is a pattern"),
    ({"dev": "trunk.20"}, "interface 'trunk.20' is down"),
    ({"dev": "eth0"}, "interface 'eth0' has multicast disabled"),
    ({"dev": "trunk.10", "table": "local"}, "belongs to the kernel"),
    ({"dev": "trunk.10", "table": "vlan10"}, "is not a routing table"),
    ({"dev": "trunk.10", "table": "0"}, "is not a routing table"),
    ({"dev": "trunk.10", "metric": -1}, "out of range"),
    ({"dev": "trunk.10", "metric": "low"}, "metric"),
    ({"dev": "trunk.10", "state": "replaced"}, "value of state must be one of: present, absent"),
    ({"dev": "trunk.10", "gateway": "192.0.2.2"}, "Unsupported parameters"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_input_fails_with_the_reason_and_changes_nothing(faulty_host, files, args, message, assert_refused):
    def snapshot():
        return (faulty_host.routes(), faulty_host.routes(table=100), faulty_host.routes(family=socket.AF_INET6))

    assert_refused(faulty_host, "route", dict(files, **args), message, snapshot)
    assert not any(Path(path).exists() for path in files.values())


def test_ipv6_through_an_interface_with_ipv6_disabled_is_refused_with_the_reason(host, files, assert_refused):
    host.write_sysctl("net/ipv6/conf/trunk.10/disable_ipv6", 1)
    assert_refused(host, "route", dict(files, dest="ff0e::/16", dev="trunk.10"),
                   "interface 'trunk.10' has IPv6 disabled (net.ipv6.conf.trunk.10.disable_ipv6 is 1",
                   lambda: host.ip("-6", "-j", "route", "show", "table", "all").stdout)
    assert host.module("route", dict(files, dev="trunk.10"))["changed"] is True, "IPv4 through it still works"


IPV6_BAD_INPUTS = [
    ({"dest": "ff0e::/16", "dev": "trunk.10", "table": "main"},
     "table 'main' is refused for the IPv6 prefix ff0e::/16: the kernel would ignore the route there"),
    ({"dest": "ff0e::/16", "dev": "trunk.10", "table": "100"}, "rule 0 looks up table local first"),
    ({"dest": "ff02::/16", "dev": "trunk.10"}, "dest 'ff02::/16' has link-local scope (ffx2)"),
    ({"dest": "ff02::fb", "dev": "trunk.10"}, "a scope ID such as ff02::fb%eth1"),
    ({"dest": "ff01::/16", "dev": "trunk.10"}, "interface-local scope (ffx1)"),
    ({"dest": "ff00::/8", "dev": "trunk.10", "metric": 256}, "at metric 256 it would replace one of them"),
    ({"dest": "ff00::/8", "metric": 256, "state": "absent"}, "meets the kernel's own"),
    ({"dest": "ff00::/8", "dev": "trunk.10", "metric": 1024}, "Use a metric below 256"),
    ({"dest": "ff0e::/16", "dev": "trunk.10", "via": "fe80::1"}, "via fe80::1 is refused for a multicast prefix"),
    ({"dest": "ff0e::/16", "dev": "trunk.20"}, "interface 'trunk.20' is down"),
]


@pytest.mark.parametrize("args, message", IPV6_BAD_INPUTS, ids=[str(i) for i in range(len(IPV6_BAD_INPUTS))])
def test_ipv6_bad_input_fails_with_the_reason_and_changes_nothing(faulty_host, files, args, message, assert_refused):
    def snapshot():  # every IPv6 route of every table, the kernel's own included
        return faulty_host.ip("-6", "-j", "route", "show", "table", "all").stdout

    assert_refused(faulty_host, "route", dict(files, **args), message, snapshot)
    assert not any(Path(path).exists() for path in files.values())
