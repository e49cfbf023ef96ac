#!/usr/bin/env python
"""mcastd from the checkout with faults injected, for the error-containment tests.

The daemon runs unchanged against the real kernel; only the calls named in the environment
variable MCASTD_FAULTS (JSON) are made to fail, so a test can prove the process stays up and
every other route keeps forwarding. Keys:

``{"add_mfc": {"group": "225.9.9.9", "errno": 5, "times": 2}}``
    MRT_ADD_MFC for that group raises OSError(errno) the first ``times`` calls (-1: always).
``{"del_mfc": {...}}``, ``{"counters": {...}}``
    the same for MRT_DEL_MFC and the SIOCGETSGCNT counter read.
``{"raise_in": {"on_link_event": 1, "Plane.plan": 3}}``
    each named Daemon method (Plane.NAME: a method of the per-family routing plane) raises
    RuntimeError on its Nth call (a bug in a handler, or in computing the new state of a reload).
"""
import errno
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "..", "plugins", "module_utils"))

from mcastd import daemon, kernel, plane  # noqa: E402  pylint: disable=wrong-import-position
from mcastd.config import aton  # noqa: E402  pylint: disable=wrong-import-position
from mcastd.main import main  # noqa: E402  pylint: disable=wrong-import-position

FAULTS = json.loads(os.environ.get("MCASTD_FAULTS", "{}"))


def _failing(method, spec):
    """Wrap a MrouteSocket method (self, source, group, ...) to fail for one group."""
    group = aton(spec["group"])
    left = [spec.get("times", -1)]

    def wrapper(self, source, group_addr, *args):
        if group_addr == group and left[0] != 0:
            left[0] -= 1
            raise OSError(spec.get("errno", errno.EIO), os.strerror(spec.get("errno", errno.EIO)) + " (injected)")
        return method(self, source, group_addr, *args)
    return wrapper


def _raising_once(name, method, nth):
    calls = [0]

    def wrapper(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == nth:
            raise RuntimeError("injected fault in %s" % name)
        return method(self, *args, **kwargs)
    return wrapper


for call in ("add_mfc", "del_mfc", "counters"):
    if call in FAULTS:
        setattr(kernel.MrouteSocket, call, _failing(getattr(kernel.MrouteSocket, call), FAULTS[call]))
for handler, nth in FAULTS.get("raise_in", {}).items():
    owner = plane.Plane if handler.startswith("Plane.") else daemon.Daemon
    name = handler.split(".")[-1]
    setattr(owner, name, _raising_once(handler, getattr(owner, name), nth))

sys.exit(main())
