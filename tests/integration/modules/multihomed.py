"""A multi-homed host in its own namespace for the module integration tests, and state readers.

Use it as a pytest plugin next to the lab fixtures::

    pytest_plugins = ["tests.lab.fixtures", "tests.integration.modules.multihomed"]

for the fixtures ``host`` (a fresh lab per test), ``unchanging_host`` (one lab per test
module, for tests that assert nothing changed), ``assert_refused`` and ``root_rp_filters``.

``host`` has ``eth0``, ``trunk.10`` and ``trunk.20`` (dotted names, as VLAN subinterfaces would
be), each the end of a veth pair whose other end lives in ``peer``. The readers look at the
kernel of the namespace directly (files under /proc/sys, pyroute2), not at what a module says.
"""
import os
import socket
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from tests.integration.harness import run_module
from tests.lab.netlab import Lab

HOST = "host"
TOPOLOGY = {
    "hosts": {HOST: {}, "peer": {}},
    "segments": {
        "uplink": {"ends": [{"host": HOST, "iface": "eth0", "address": "198.51.100.2/24"},
                            {"host": "peer", "iface": "p0", "address": "198.51.100.1/24"}]},
        "vlan10": {"ends": [{"host": HOST, "iface": "trunk.10", "address": "192.0.2.1/24"},
                            {"host": "peer", "iface": "p10", "address": "192.0.2.2/24"}]},
        "vlan20": {"ends": [{"host": HOST, "iface": "trunk.20", "address": "203.0.113.1/24"},
                            {"host": "peer", "iface": "p20", "address": "203.0.113.2/24"}]},
    },
}
INTERFACES = ["eth0", "lo", "trunk.10", "trunk.20"]


class Host:
    """The host of a lab: run modules in it and read its kernel state."""

    def __init__(self, lab):
        self.lab = lab
        self.namespace = lab.ns(HOST)

    def module(self, name, args, check=False, diff=False):
        return run_module(self.namespace, "mcast.linux." + name, args, check=check, diff=diff)

    def read_sysctl(self, key):
        return int(self.lab.run(HOST, ["cat", str(Path("/proc/sys") / key)]).stdout)

    def write_sysctl(self, key, value):
        self.lab.run(HOST, ["tee", str(Path("/proc/sys") / key)], input="%s\n" % value)

    def rp_filters(self):
        """Own rp_filter value of all, default and every interface."""
        return dict((name, self.read_sysctl("net/ipv4/conf/%s/rp_filter" % name))
                    for name in ["all", "default"] + INTERFACES)

    def effective_rp_filters(self):
        values = self.rp_filters()
        return dict((name, max(values["all"], values[name])) for name in ["default"] + INTERFACES)

    def link_flags(self):
        """ifi_flags of every link, by name."""
        with IPRoute(netns=self.namespace) as ipr:
            return dict((msg.get_attr("IFLA_IFNAME"), msg["flags"]) for msg in ipr.get_links())

    def ip(self, *args):
        return self.lab.run(HOST, ["ip", *args])

    def routes(self, family=socket.AF_INET, table=254):
        """(dest, oif name, gateway, metric) of every route of a table except the kernel's own."""
        with IPRoute(netns=self.namespace) as ipr:
            names = dict((msg["index"], msg.get_attr("IFLA_IFNAME")) for msg in ipr.get_links())
            return sorted(
                ("%s/%d" % (msg.get_attr("RTA_DST"), msg["dst_len"]), names.get(msg.get_attr("RTA_OIF")),
                 msg.get_attr("RTA_GATEWAY"), msg.get_attr("RTA_PRIORITY") or 0)
                for msg in ipr.get_routes(family=family, table=table) if msg["proto"] != 2)


def read_root_namespace_rp_filters():
    """The machine's own values, which no test may change."""
    conf = Path("/proc/sys/net/ipv4/conf")
    return dict((path.name, (path / "rp_filter").read_text()) for path in conf.iterdir())


def _assert_refused(host, module, args, message, snapshot):
    """The module fails with ``message`` in its msg, and ``snapshot()`` of the kernel is unchanged."""
    before = snapshot()
    result = host.module(module, args)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert snapshot() == before


@pytest.fixture(name="assert_refused")
def fixture_assert_refused():
    """``assert_refused(host, module, args, message, snapshot)``: fails with message, changes nothing."""
    return _assert_refused


@pytest.fixture(name="root_rp_filters")
def fixture_root_rp_filters():
    """A function returning the root namespace's rp_filter values, to prove no test changed them."""
    return read_root_namespace_rp_filters


@pytest.fixture(name="host")
def fixture_host(make_netns_lab):
    """A fresh multi-homed host for one test."""
    return Host(make_netns_lab(TOPOLOGY))


@pytest.fixture(scope="module", name="unchanging_host")
def fixture_unchanging_host():
    """One host for a whole test module, for tests that each assert they changed nothing."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces and veth links)")
    from tests.lab.fixtures import unique_prefix  # pylint: disable=import-outside-toplevel  # after pytest_plugins

    lab = Lab(TOPOLOGY, prefix=unique_prefix("mmod"))
    try:
        lab.up()
        yield Host(lab)
    finally:
        lab.down()
