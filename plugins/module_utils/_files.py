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
import os
import tempfile


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


def atomic_write(module, path, content, mode=0o644):
    """Write ``content`` to ``path`` atomically, creating the parent directory if needed."""
    directory = parent_directory(path)
    handle, temporary = tempfile.mkstemp(prefix='.mcast-linux-', dir=directory)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            stream.write(content)
        os.chmod(temporary, mode)
        module.atomic_move(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


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
