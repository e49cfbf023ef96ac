"""IPv6 in mcast.linux.route and its keeper: table local, the kernel's own ff00::/8 routes, scopes (no kernel access).

The kernel looks up table local first (rule 0), where every interface has its own
``multicast ff00::/8 dev X proto kernel metric 256``: an IPv6 route elsewhere is never used.
"""
import json

import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _route_keeper as keeper
from ansible_collections.mcast.linux.plugins.module_utils import _route as route

LOCAL = 255


def params(**overrides):
    values = dict(dest="ff0e::/16", dev="eth1", via=None, table=None, metric=None, state="present")
    values.update(overrides)
    return values


@pytest.mark.parametrize("overrides, table, metric", [
    ({}, LOCAL, 255),
    ({"dest": "ff00::/8"}, LOCAL, 255),
    ({"dest": "ff05::/16", "table": "local"}, LOCAL, 255),
    ({"table": " 255"}, LOCAL, 255),
    ({"dest": "ff00::/8", "metric": 10}, LOCAL, 10),
    ({"dest": "ff00::/8", "metric": 255}, LOCAL, 255),
    ({"metric": 1024}, LOCAL, 1024),  # a longer prefix than /8 wins by its length, whatever its metric
    ({"dest": "ff0e::db8:1"}, LOCAL, 255),
    ({"dest": "ff10::/12"}, LOCAL, 255),  # every scope with the T flag: not only link-local
    ({"dest": "ff00::/15"}, LOCAL, 255),
    # absent takes any table, to remove what an older version put in table main
    ({"table": "main", "metric": 1024, "state": "absent", "dev": None}, 254, 1024),
    ({"table": "default", "state": "absent"}, 253, 255),
    ({"table": "100", "state": "absent"}, 100, 255),
    ({"dest": "ff02::/16", "table": "main", "metric": 1024, "state": "absent"}, 254, 1024),
])
def test_ipv6_goes_to_table_local_with_metric_255_unless_told(overrides, table, metric):
    wanted = route.desired_route(params(**overrides))
    assert (wanted["version"], wanted["table"], wanted["metric"]) == (6, table, metric)


@pytest.mark.parametrize("overrides, fragment", [
    ({"table": "main"}, "table 'main' is refused for the IPv6 prefix ff0e::/16: the kernel would ignore the route"),
    ({"table": "254"}, "Leave table out (IPv6 routes go to table local), or write table: local"),
    ({"table": "default"}, "rule 0 looks up table local first"),
    ({"table": "100", "dest": "ff05::/16"}, "table '100' is refused for the IPv6 prefix ff05::/16"),
    ({"table": "vlan10"}, "table 'vlan10' is not a routing table: for IPv6 leave table out"),
    ({"table": "0", "state": "absent"}, "is not a routing table"),
    ({"dest": "ff02::/16"}, "dest 'ff02::/16' has link-local scope (ffx2)"),
    ({"dest": "ff02::fb"}, "a scope ID such as ff02::fb%eth1"),
    ({"dest": "ff12::/16"}, "link-local scope"),
    ({"dest": "ff32::/16"}, "link-local scope"),
    ({"dest": "ff01::/16"}, "dest 'ff01::/16' has interface-local scope (ffx1): its groups never leave the host"),
    ({"dest": "ff11::1"}, "or route a wider scope, such as ff05::/16 (site) or ff0e::/16 (global)"),
    ({"dest": "ff00::/8", "metric": 256}, "at metric 256 it would replace one of them"),
    ({"dest": "ff00::/8", "metric": 1024}, "Use a metric below 256, or leave metric out (255)"),
    ({"dest": "ff00::/8", "metric": 256, "state": "absent"}, "meets the kernel's own"),
    ({"dest": "fe80::/10"}, "not a multicast prefix"),
    ({"via": "fe80::1"}, "via fe80::1 is refused"),
])
def test_ipv6_bad_input_is_refused_with_the_reason(overrides, fragment):
    with pytest.raises(route.InvalidRoute) as refused:
        route.desired_route(params(**overrides))
    assert fragment in str(refused.value)


@pytest.mark.parametrize("dest, scope", [("ff02::/16", 2), ("ff0e::1/128", 14), ("ff15::/16", 5), ("ff00::/8", None),
                                         ("ff00::/12", None), ("224.0.0.0/24", None)])
def test_the_scope_is_known_only_when_the_prefix_fixes_it(dest, scope):
    assert route.ipv6_scope(route.parse_destination(dest)) == scope


def test_ipv4_keeps_its_tables_and_refuses_local_as_before():
    assert route.desired_route(params(dest="239.1.0.0/16"))["table"] == 254
    with pytest.raises(route.InvalidRoute, match="belongs to the kernel"):
        route.desired_route(params(dest="239.1.0.0/16", table="local"))


def summary(dest="ff00::/8", oif=3, metric=255, proto=4):
    return {"dest": dest, "oif": oif, "gateway": None, "table": LOCAL, "metric": metric, "multipath": False,
            "type": 1, "scope": 0, "proto": proto}


# Table local as the kernel has it on a host with eth0 (2) and eth1 (3): its own routes, proto kernel (2).
KERNEL_OWN = [summary(oif=2, metric=256, proto=2), summary(oif=3, metric=256, proto=2),
              summary(dest="2001:db8::1/128", oif=2, metric=0, proto=2)]


def test_the_kernels_own_routes_are_never_candidates_for_ipv6_only():
    mine = summary()
    assert route.managed_candidates(KERNEL_OWN + [mine], 6) == [mine]
    assert route.managed_candidates(KERNEL_OWN, 4) == KERNEL_OWN, "IPv4 is planned as before"


@pytest.mark.parametrize("state, dev_index, add, deleted", [
    ("present", 3, False, []),
    ("present", 2, True, []),
    ("absent", None, False, [0]),
    ("absent", 3, False, [0]),
    ("absent", 2, False, []),
])
def test_plan_in_table_local_sees_only_the_modules_route(state, dev_index, add, deleted):
    mine = summary()
    existing = route.managed_candidates(KERNEL_OWN + [mine], 6)
    wanted = {"dest": "ff00::/8", "version": 6, "dev": "eth1", "table": LOCAL, "metric": 255}
    before, planned_add, to_delete = route.plan_route(existing, wanted, dev_index, state)
    assert before == [mine]
    assert planned_add is add
    assert to_delete == [existing[index] for index in deleted]


def test_an_ipv6_delete_names_the_interface_an_ipv4_one_stays_as_it_was():
    assert route.delete_match(summary(oif=3), 6) == {"scope": 255, "proto": 0, "oif": 3}
    assert route.delete_match(summary(oif=3), 4) == route.MATCH_ANY


LOCAL_V6 = {"dest": "ff0e::/16", "dev": "trunk.10", "table": LOCAL, "metric": 255, "family": 6}
ALL_V6 = {"dest": "ff00::/8", "dev": "trunk.20", "table": LOCAL, "metric": 255, "family": 6}


def test_the_module_persists_ipv6_routes_of_table_local_for_the_keeper():
    wanted = route.desired_route(params(dev="trunk.10"))
    assert route.updated_routes([], wanted, "present") == [LOCAL_V6]
    assert keeper.parse_routes(keeper.dump_routes([ALL_V6, LOCAL_V6])) == [ALL_V6, LOCAL_V6]


@pytest.mark.parametrize("entry, fragment", [
    (dict(ALL_V6, metric=256), "at metric 256 it would replace one of them"),
    (dict(ALL_V6, metric=4000), "Use a metric below 256"),
])
def test_the_keeper_refuses_an_entry_that_would_replace_the_kernels_own_route(entry, fragment):
    with pytest.raises(keeper.RoutesFileError, match=fragment):
        keeper.parse_routes(json.dumps([entry]))


@pytest.mark.parametrize("family, dest, table, metric", [
    (6, "ff00::/8", LOCAL, 255), (6, "ff0e::/16", LOCAL, 256), (6, "ff00::/8", 254, 256), (4, "224.0.0.0/4", LOCAL, 256),
])
def test_no_clash_below_the_kernels_metric_with_a_longer_prefix_or_elsewhere(family, dest, table, metric):
    assert keeper.kernel_route_clash(family, route.parse_destination(dest), table, metric) is None


# `ip -j -6 route show table 255` (iproute2 6.1) on a host whose trunk.10 has the kept route, trimmed.
TABLE_LOCAL_V6 = [
    {"type": "local", "dst": "::1", "dev": "lo", "protocol": "kernel", "metric": 0, "flags": [], "pref": "medium"},
    {"dst": "ff0e::/16", "dev": "trunk.10", "protocol": "boot", "metric": 255, "flags": [], "pref": "medium"},
    {"type": "multicast", "dst": "ff00::/8", "dev": "trunk.10", "protocol": "kernel", "metric": 256, "flags": [],
     "pref": "medium"},
    {"type": "multicast", "dst": "ff00::/8", "dev": "trunk.20", "protocol": "kernel", "metric": 256, "flags": [],
     "pref": "medium"},
]


def test_the_keeper_sees_its_route_in_table_local_and_not_the_kernels_as_one_of_its_own():
    installed = {(6, LOCAL): keeper.installed_routes(TABLE_LOCAL_V6)}
    assert keeper.missing_routes([LOCAL_V6, ALL_V6], installed, {"trunk.10", "trunk.20"}) == [ALL_V6]
    after_link_down_up = {(6, LOCAL): keeper.installed_routes([TABLE_LOCAL_V6[0]] + TABLE_LOCAL_V6[2:])}
    assert keeper.missing_routes([LOCAL_V6], after_link_down_up, {"trunk.10"}) == [LOCAL_V6]


def test_the_keeper_adds_it_with_ip_route_replace_in_table_255():
    assert keeper.replace_argv("ip", LOCAL_V6) == ["ip", "-6", "route", "replace", "ff0e::/16", "dev", "trunk.10",
                                                   "table", "255", "metric", "255"]
