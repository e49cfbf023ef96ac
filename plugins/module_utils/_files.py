# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small file helpers for the mcast.linux modules (private to this collection).

Every write goes to a temporary file in the target's own directory and is moved into place
with ``module.atomic_move``, so a reader (systemd-sysctl, udev, systemd) never sees half a file.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import grp
import os
import pwd
import stat
import tempfile

# Configuration that services and unprivileged daemons (mcastd runs as a dynamic user) must read.
DEFAULT_MODE = 0o644


def read_text(path):
    """Return the file's text, or None when it does not exist."""
    try:
        with open(path, encoding='utf-8') as stream:
            return stream.read()
    except FileNotFoundError:
        return None


def parent_directory(path):
    """The directory ``path`` lives in, created if missing (two runs creating it at once are fine)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    return directory


def atomic_write(module, path, content, mode=DEFAULT_MODE, owner=None, group=None):
    """Write ``content`` to ``path`` atomically, creating the parent directory if needed.

    The file ends up with ``mode`` and, when given, ``owner`` and ``group`` (names or ids), whether
    it is new or replaces a file. ``module.atomic_move`` alone would not do that: it gives the new
    text the mode and owner of the file it replaces, and a new file the mode the umask leaves.
    ``mode=None`` keeps the mode of a file that exists (a file the user owns, such as an
    executable /etc/nftables.conf) and gives a new one DEFAULT_MODE; ``owner``/``group`` None
    keep the owner of a file that exists, and a new one belongs to the user running the module.
    """
    directory = parent_directory(path)
    uid = _account_id(owner, lambda name: pwd.getpwnam(name).pw_uid)
    gid = _account_id(group, lambda name: grp.getgrnam(name).gr_gid)
    handle, temporary = tempfile.mkstemp(prefix='.mcast-linux-', dir=directory)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            stream.write(content)
        if os.path.isfile(path):
            mode = file_mode(path) if mode is None else mode
            # atomic_move copies these to the new text, so it never appears with the old ones.
            _set_attributes(path, mode, uid, gid)
        module.atomic_move(temporary, path)
        _set_attributes(path, DEFAULT_MODE if mode is None else mode, uid, gid)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def file_mode(path):
    """The permission bits of ``path``, or None when it does not exist."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def _set_attributes(path, mode, uid, gid):
    if file_mode(path) != mode:
        os.chmod(path, mode)
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid)


def _account_id(name, lookup):
    """The id of a user or group name or id (``lookup`` resolves names); -1 (keep) for None."""
    if name is None:
        return -1
    try:
        return int(name)
    except ValueError:
        return lookup(name)


def atomic_symlink(target, path):
    """Make ``path`` a symlink to ``target`` in one rename, replacing whatever link is there.

    A rename cannot fail because the link appeared meanwhile (another run enabling the same unit),
    and a reader never sees the link missing.
    """
    directory = parent_directory(path)
    # os.symlink refuses an existing name, so a random one cannot be hijacked.
    temporary = os.path.join(directory, '.mcast-linux-%s' % binascii.hexlify(os.urandom(8)).decode('ascii'))
    os.symlink(target, temporary)
    try:
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def remove_file(path):
    """Remove ``path``; a file that is already gone is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def file_diff(path, before, after):
    """An Ansible diff entry for a text file (``None`` content means the file does not exist)."""
    return {
        'before_header': path if before is not None else '%s (absent)' % path,
        'after_header': path if after is not None else '%s (absent)' % path,
        'before': before or '',
        'after': after or '',
    }


def text_diff(header, before_lines, after_lines):
    """An Ansible diff entry comparing two lists of lines (for live kernel state)."""
    return {
        'before_header': header,
        'after_header': header,
        'before': ''.join('%s\n' % line for line in before_lines),
        'after': ''.join('%s\n' % line for line in after_lines),
    }
