"""atomic_symlink replaces what is there in one rename; atomic_write leaves the mode and owner asked for."""
import grp
import os
import pwd
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._files import atomic_symlink, atomic_write
from tests.unit.plugins.modules.uthelper import module_args


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


# --------------------------------------------------------------------------- atomic_write: mode and owner

@pytest.fixture
def module(monkeypatch):
    """A real AnsibleModule, whose atomic_move copies a replaced file's mode and gives a new one the umask's."""
    monkeypatch.setattr(AnsibleModule, "_log_invocation", lambda self: None)
    with module_args({}):
        return AnsibleModule(argument_spec={})


@pytest.fixture
def umask():
    """Set a umask for one test and put the old one back."""
    saved = os.umask(0o022)
    yield os.umask
    os.umask(saved)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_existing_0600_file_gets_the_mode_asked_for(module, tmp_path):
    """The bug of issue 11: atomic_move kept 0600, so mcastd's unprivileged user could not read the file."""
    path = tmp_path / "video.conf"
    path.write_text("old\n")
    path.chmod(0o600)
    atomic_write(module, str(path), "new\n")
    assert (path.read_text(), mode_of(path)) == ("new\n", 0o644)
    atomic_write(module, str(path), "newer\n", mode=0o640)
    assert (path.read_text(), mode_of(path)) == ("newer\n", 0o640)
    assert os.listdir(tmp_path) == ["video.conf"]


@pytest.mark.parametrize("mask", [0o077, 0o000, 0o027], ids=["umask-077", "umask-000", "umask-027"])
def test_a_new_file_gets_the_mode_whatever_the_umask(module, tmp_path, umask, mask):
    umask(mask)
    path = tmp_path / "rules.d" / "60.rules"
    atomic_write(module, str(path), "x\n")
    assert (path.read_text(), mode_of(path)) == ("x\n", 0o644)
    atomic_write(module, str(tmp_path / "secret"), "y\n", mode=0o600)
    assert mode_of(tmp_path / "secret") == 0o600


def test_mode_none_keeps_the_mode_of_an_existing_file_and_gives_a_new_one_0644(module, tmp_path, umask):
    umask(0o077)
    conf = tmp_path / "nftables.conf"
    conf.write_text("#!/usr/sbin/nft -f\n")
    conf.chmod(0o755)  # as Debian ships it
    atomic_write(module, str(conf), "#!/usr/sbin/nft -f\nflush ruleset\n", mode=None)
    assert (conf.read_text(), mode_of(conf)) == ("#!/usr/sbin/nft -f\nflush ruleset\n", 0o755)
    atomic_write(module, str(tmp_path / "new.conf"), "x\n", mode=None)
    assert mode_of(tmp_path / "new.conf") == 0o644


def test_the_new_text_never_appears_with_the_old_mode(module, tmp_path, monkeypatch):
    """The replaced file has the wanted mode already when atomic_move copies its mode to the new text."""
    path = tmp_path / "60.conf"
    path.write_text("old\n")
    path.chmod(0o666)
    seen = []
    real_move = AnsibleModule.atomic_move
    monkeypatch.setattr(AnsibleModule, "atomic_move", lambda self, src, dest: (
        seen.append((mode_of(dest), mode_of(src))), real_move(self, src, dest))[1])
    atomic_write(module, str(path), "new\n")
    assert seen == [(0o644, 0o600)] and mode_of(path) == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_owner_and_group_are_applied_to_new_and_existing_files_and_kept_when_not_given(module, tmp_path):
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    new, existing = tmp_path / "new", tmp_path / "existing"
    existing.write_text("old\n")
    atomic_write(module, str(new), "x\n", owner="nobody", group=group)
    atomic_write(module, str(existing), "y\n", owner=nobody.pw_uid, group=nobody.pw_gid)
    for path in (new, existing):
        assert (os.stat(path).st_uid, os.stat(path).st_gid) == (nobody.pw_uid, nobody.pw_gid)
    atomic_write(module, str(existing), "z\n")  # no owner given: the file keeps its owner
    assert (os.stat(existing).st_uid, existing.read_text()) == (nobody.pw_uid, "z\n")
    atomic_write(module, str(tmp_path / "mine"), "w\n")  # a new file belongs to the user running the module
    assert os.stat(tmp_path / "mine").st_uid == os.geteuid()
