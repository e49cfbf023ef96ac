"""Shared pytest set-up: make the checkout importable as ``ansible_collections.mcast.linux``.

The checkout is linked into ``.build/collections/ansible_collections/mcast/linux`` so that both
Python imports in unit tests and ``ansible``/``ansible-playbook`` runs started by integration
tests (through ``ANSIBLE_COLLECTIONS_PATH``) load this collection from the working tree.
"""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / ".build" / "collections"


def _link_collection():
    link = COLLECTIONS / "ansible_collections" / "mcast" / "linux"
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO, target_is_directory=True)
    return link


_link_collection()
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS)

# As `ansible-test units` does: lets tests load mcast.linux plugins in-process through ansible's
# loader, even after other tests imported ansible_collections.mcast.linux directly.
from ansible.plugins.loader import init_plugin_loader  # noqa: E402  pylint: disable=wrong-import-position

init_plugin_loader([str(COLLECTIONS)])

# The lab's fixtures (netns_lab, make_netns_lab, lab_prefix) and the module tests' host fixtures.
pytest_plugins = ["tests.lab.fixtures", "tests.integration.modules.multihomed", "tests.integration.mcastd.fixtures"]

# Where this collection persists settings on a host. Tests run the modules and roles through
# network namespaces, which share this machine's file system, so every test must point these
# paths into a temporary directory: this guard fails the run if any of them changed anyway.
HOST_PERSISTENCE_PATHS = (
    "/etc/mcast-linux", "/usr/lib/mcast-linux", "/etc/mcastd", "/usr/lib/mcastd",
    "/etc/sysctl.d/60-mcast-linux.conf", "/etc/udev/rules.d/60-mcast-linux-link.rules",
    "/etc/nftables.d", "/etc/nftables.conf", "/etc/systemd/system/mcast-linux-routes.service",
    "/etc/systemd/system/mcastd.service", "/etc/systemd/system/multi-user.target.wants",
)


def _persistence_snapshot():
    snapshot = {}
    for top in HOST_PERSISTENCE_PATHS:
        paths = [os.path.join(root, name) for root, _dirs, files in os.walk(top) for name in files] or [top]
        for path in paths:
            try:
                snapshot[path] = Path(path).read_bytes() if not os.path.islink(path) else os.readlink(path)
            except (FileNotFoundError, IsADirectoryError):
                snapshot[path] = None
    return snapshot


@pytest.fixture(scope="session", autouse=True)
def machine_files_unchanged():
    """Fail the session when a test wrote this machine's own persistence files."""
    before = _persistence_snapshot()
    yield
    after = _persistence_snapshot()
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    assert not changed, "tests changed this machine's own files (point the persistence paths into tmp_path): %s" % changed
