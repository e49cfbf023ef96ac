"""pytest fixtures for the lab; registered with ``pytest_plugins = ["tests.lab.fixtures"]``.

Stable API (other test modules rely on it):

``netns_lab`` (module scope)
    A ``tests.lab.netlab.Lab`` in netns mode built from ``tests/lab/topology.yml`` (router with
    ``trunk.10``/``trunk.20``/``trunk.30``, ``sender`` on 192.0.2.0/24 and 2001:db8:10::/64,
    ``recv20`` on 198.51.100.0/24 and 2001:db8:20::/64, ``recv30`` on 203.0.113.0/24 and
    2001:db8:30::/64), with a unique prefix, already up. It is torn
    down after the module's last test, also when a test or ``up()`` fails. Use ``lab.run(host, argv)``,
    ``lab.popen(host, argv)`` (stopped at teardown), ``lab.ns(host)`` and ``lab.inventory()``.

``make_netns_lab`` (function scope)
    A factory ``make_netns_lab(topology=None, prefix=None)`` for a lab of your own: ``topology`` is
    a dict or a YAML path (default: the standard one), ``prefix`` defaults to a unique one. It
    returns the Lab already up; every lab it made is torn down at the end of the test.

``lab_prefix``
    ``lab_prefix(tag)`` gives a unique prefix, for tests that make containers or other things
    that must not collide with parallel runs.

Both lab fixtures skip the test with a clear reason when not running as root.
"""
import itertools
import os
import uuid

import pytest

from tests.lab.netlab import Lab

_COUNTER = itertools.count()


def unique_prefix(tag="t"):
    """A prefix no other test run on this machine uses: tag, PID, a counter and a random part."""
    return f"{tag}{os.getpid() % 10000}{next(_COUNTER)}{uuid.uuid4().hex[:4]}"


def _skip_unless_root():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces and veth links)")


def _up_or_down(lab):
    """Bring the lab up; if that fails half-way, remove what was made before re-raising."""
    try:
        return lab.up()
    except BaseException:
        lab.down()
        raise


@pytest.fixture(name="lab_prefix")
def fixture_lab_prefix():
    """Factory of unique name prefixes."""
    return unique_prefix


@pytest.fixture(scope="module", name="netns_lab")
def fixture_netns_lab():
    """The standard topology in netns mode, up for the whole test module."""
    _skip_unless_root()
    lab = _up_or_down(Lab(prefix=unique_prefix("mlab")))
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(name="make_netns_lab")
def fixture_make_netns_lab():
    """Factory of netns labs (own topology and/or prefix), all torn down after the test."""
    _skip_unless_root()
    labs = []

    def make(topology=None, prefix=None):
        lab = Lab(topology, prefix=prefix or unique_prefix("mlab"))
        labs.append(lab)
        return _up_or_down(lab)

    try:
        yield make
    finally:
        for lab in labs:
            lab.down()
