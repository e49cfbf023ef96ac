"""Shared pytest set-up: make the checkout importable as ``ansible_collections.mcast.linux``.

The checkout is linked into ``.build/collections/ansible_collections/mcast/linux`` so that both
Python imports in unit tests and ``ansible``/``ansible-playbook`` runs started by integration
tests (through ``ANSIBLE_COLLECTIONS_PATH``) load this collection from the working tree.
"""
import os
import sys
from pathlib import Path

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
