"""atomic_symlink: replaces what is there in one rename and leaves no temporary name behind."""
import os

from ansible_collections.mcast.linux.plugins.module_utils._files import atomic_symlink


def test_creates_the_link_and_its_directory(tmp_path):
    link = tmp_path / "multi-user.target.wants" / "x.service"
    atomic_symlink("/etc/systemd/system/x.service", str(link))
    assert os.readlink(link) == "/etc/systemd/system/x.service"
    assert os.listdir(link.parent) == ["x.service"]


def test_an_existing_link_is_replaced_not_an_error(tmp_path):
    """Two runs enabling the same unit must not fail with FileExistsError (the CI failure of stop 6)."""
    link = tmp_path / "x.service"
    os.symlink("/old/target", link)
    atomic_symlink("/new/target", str(link))
    assert os.readlink(link) == "/new/target"
    assert os.listdir(tmp_path) == ["x.service"]
