"""mcast.linux.route against a real kernel in a namespace, through the netns connection."""
import json
import os
import socket
from pathlib import Path

import pytest

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
    assert keeper_diff["after"].startswith("route keeper, sha1 ")
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


def test_ipv6_prefix(host, files):
    args = dict(files, dest="ff05::/16", dev="trunk.10")
    assert host.module("route", args)["changed"] is True
    assert ("ff05::/16", "trunk.10", None, 1024) in host.routes(family=socket.AF_INET6)
    assert host.module("route", args)["changed"] is False
    assert persisted(files) == [persisted_route("ff05::/16", "trunk.10", metric=1024, family=6)]


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
