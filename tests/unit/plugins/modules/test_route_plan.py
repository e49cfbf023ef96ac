"""Validation and planning of mcast.linux.route (no kernel access)."""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _route as route


def params(**overrides):
    values = dict(dest="224.0.0.0/4", dev="eth1", via=None, table="main", metric=None, state="present")
    values.update(overrides)
    return values


def test_defaults_describe_the_classic_dev_scoped_route():
    assert route.desired_route(params()) == {"dest": "224.0.0.0/4", "version": 4, "dev": "eth1", "table": 254,
                                             "metric": 0}


def test_a_host_group_is_a_single_address():
    assert route.desired_route(params(dest="239.1.2.3"))["dest"] == "239.1.2.3/32"


@pytest.mark.parametrize("table, number", [("main", 254), ("default", 253), ("100", 100), (" 4294967295", 4294967295)])
def test_tables(table, number):
    assert route.desired_route(params(table=table))["table"] == number


@pytest.mark.parametrize("overrides, fragment", [
    ({"via": "192.0.2.1"}, "via 192.0.2.1 is refused for a multicast prefix"),
    ({"dest": "10.0.0.0/8"}, "not a multicast prefix"),
    ({"dest": "192.0.0.0/2"}, "not a multicast prefix"),
    ({"dest": "0.0.0.0/0"}, "not a multicast prefix"),
    ({"dest": "2001:db8::/32"}, "not a multicast prefix"),
    ({"dest": "239.1.1.1/16"}, "did you mean 239.1.0.0/16"),
    ({"dest": "239.1.1"}, "is not a prefix"),
    ({"dest": "224.0.0.0/33"}, "is not a prefix"),
    ({"dev": None}, "dev is required"),
    ({"dev": "trunk.*"}, "is a pattern"),
    ({"dev": "eth1 eth2"}, "cannot be an interface name"),
    ({"table": "local"}, "belongs to the kernel"),
    ({"table": "255"}, "belongs to the kernel"),
    ({"table": "0"}, "not a routing table"),
    ({"table": "vlan10"}, "not a routing table"),
    ({"table": "4294967296"}, "not a routing table"),
    ({"metric": -1}, "out of range"),
])
def test_bad_input_is_refused_with_the_reason(overrides, fragment):
    with pytest.raises(route.InvalidRoute, match=fragment):
        route.desired_route(params(**overrides))


def test_absent_needs_no_dev():
    assert route.desired_route(params(dev=None, state="absent"))["dev"] is None


def summary(dest="224.0.0.0/4", oif=3, gateway=None, table=254, metric=0, multipath=False):
    return {"dest": dest, "oif": oif, "gateway": gateway, "table": table, "metric": metric, "multipath": multipath}


WANTED = {"dest": "224.0.0.0/4", "version": 4, "dev": "eth1", "table": 254, "metric": 0}


def test_present_is_satisfied_only_by_the_exact_dev_scoped_route():
    assert route.plan_route([summary(), summary(dest="239.0.0.0/8", oif=4)], WANTED, 3, "present") == (
        [summary()], False, [])
    for wrong in (summary(oif=4), summary(gateway="192.0.2.1"), summary(multipath=True)):
        assert route.plan_route([wrong], WANTED, 3, "present") == ([wrong], True, [])


def test_other_metrics_are_other_routes():
    other = summary(metric=100)
    assert route.plan_route([other], WANTED, 3, "present") == ([], True, [])


def test_absent_deletes_the_identity_optionally_only_through_dev():
    existing = [summary(oif=4)]
    assert route.plan_route(existing, WANTED, None, "absent") == (existing, False, existing)
    assert route.plan_route(existing, WANTED, 3, "absent") == (existing, False, [])


LEGACY_UNIT = """[Service]
Type=oneshot
ExecStart=-/usr/sbin/ip -4 route replace 224.0.0.0/4 dev eth1 table 254 metric 0 scope link
ExecStart=-/usr/sbin/ip -6 route replace ff05::/16 dev trunk.10 table 100 metric 1024
"""


def test_the_oneshot_unit_of_older_versions_is_read_for_migration():
    routes = route.legacy_unit_routes(LEGACY_UNIT)
    assert routes == [{"dest": "224.0.0.0/4", "dev": "eth1", "table": 254, "metric": 0, "family": 4},
                      {"dest": "ff05::/16", "dev": "trunk.10", "table": 100, "metric": 1024, "family": 6}]
    assert route.legacy_unit_routes(route.render_unit("/k.py", "/r.json")) == []


def test_the_unit_runs_the_keeper_on_the_routes_file_without_mount_namespaces():
    text = route.render_unit("/usr/lib/mcast-linux/route_keeper.py", "/etc/mcast-linux/routes.json")
    assert "ExecStart=/usr/bin/python3 /usr/lib/mcast-linux/route_keeper.py /etc/mcast-linux/routes.json\n" in text
    assert "Type=notify\n" in text and "ExecReload=/bin/kill -HUP $MAINPID\n" in text
    assert "CapabilityBoundingSet=CAP_NET_ADMIN\n" in text and "WantedBy=multi-user.target" in text
    # Options that need a mount namespace make the start fail in containers.
    for option in ("ProtectSystem=", "PrivateTmp=", "PrivateDevices=", "ProtectHome=", "PrivateMounts=",
                   "ProtectKernelTunables=", "DynamicUser="):
        assert option not in text


def test_present_adds_or_replaces_the_identity_and_keeps_the_others():
    persisted = [{"dest": "224.0.0.0/4", "dev": "eth0", "table": 254, "metric": 0, "family": 4},
                 {"dest": "239.0.0.0/8", "dev": "eth2", "table": 254, "metric": 0, "family": 4}]
    assert route.updated_routes(persisted, WANTED, "present") == [
        persisted[1], {"dest": "224.0.0.0/4", "dev": "eth1", "table": 254, "metric": 0, "family": 4}]
    assert route.updated_routes(persisted, dict(WANTED, metric=5), "present")[:2] == persisted


def test_absent_removes_the_identity_unless_it_goes_through_another_dev():
    persisted = [{"dest": "224.0.0.0/4", "dev": "eth0", "table": 254, "metric": 0, "family": 4}]
    assert route.updated_routes(persisted, dict(WANTED, dev=None), "absent") == []
    assert route.updated_routes(persisted, dict(WANTED, dev="eth0"), "absent") == []
    assert route.updated_routes(persisted, WANTED, "absent") == persisted


def test_the_keeper_script_is_the_module_utils_source():
    source = route.keeper_source()
    assert source.startswith(route.KEEPER_HEADER)
    assert "def missing_routes(" in source and source.rstrip().endswith("raise SystemExit(main())")
