# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How mcast.linux deploys the daemons it ships (private to this collection).

One way for all of them: mcastd (mcast.linux.mcastd) and the route and bridge keepers
(mcast.linux.route, mcast.linux.bridge). A module names the files the daemon needs, each with its
text, mode and what a change of it means for the running daemon; then:

- ``plan_daemon`` reads every file and decides, without changing anything: which files change, whether
  the unit's symlink in ``multi-user.target.wants`` (which enables it) is added or removed, and the
  ``systemctl`` actions that bring a running daemon in line with its files (none without systemd);
- ``diff`` shows the plan (check mode and ``--diff``), programs by checksum rather than source;
- ``apply`` writes each file atomically with its mode, makes or removes the symlink, and runs the
  actions.

The symlink is made by hand rather than with ``systemctl enable`` so that check mode, a chroot and a
host whose systemd is not running all see the same plan; it is the link ``systemctl enable`` makes.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
from collections import namedtuple

from ansible_collections.mcast.linux.plugins.module_utils._files import (
    atomic_symlink, atomic_write, file_diff, file_mode, read_text, remove_file)

# What a change of a file means for the running daemon.
UNIT = 'unit'  # a unit file or drop-in: daemon-reload, then restart
PROGRAM = 'program'  # code the running process has loaded: restart
CONFIG = 'config'  # what the daemon re-reads on reload: reload (a stopped daemon is started)
PLAIN = 'plain'  # nothing running reads it (a command on PATH): no service action
EFFECTS = (UNIT, PROGRAM, CONFIG, PLAIN)

# Units in these directories are the ones systemd loads; elsewhere (tests) systemctl is never called.
SYSTEMD_UNIT_DIRS = ('/etc/systemd/system', '/run/systemd/system')
FILE_MODE = 0o644
# The end of every unit the collection deploys: the limits each of its daemons runs with whatever it
# does (no new namespaces, no realtime, no setuid, no W^X pages, only the system calls of an ordinary
# service, refused with EPERM rather than a kill), and how it is enabled.
UNIT_TAIL = """\
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""


class DaemonFile(namedtuple('DaemonFile', 'path text mode effect')):
    """One file of a daemon: ``text`` None means the file must not exist."""

    def __new__(cls, path, text, mode=FILE_MODE, effect=PLAIN):
        if effect not in EFFECTS:
            raise ValueError('effect %r is not one of %s' % (effect, ', '.join(EFFECTS)))
        return super(DaemonFile, cls).__new__(cls, path, text, mode, effect)


class FileChange(namedtuple('FileChange', 'file before')):
    """A planned change: the wanted ``file`` and the text there now (None: absent)."""


def checksum_line(label, text):
    """A program in the diff: its checksum, not its source."""
    if text is None:
        return None
    return '%s, sha1 %s\n' % (label, hashlib.sha1(text.encode('utf-8')).hexdigest())


class ServiceDeployment(object):
    """A daemon's files, the symlink that enables its unit, and the systemctl actions for the running unit.

    ``daemon_name`` (mcastd, route keeper, ...) is used in messages and in the diff of its programs;
    ``service_control`` is the modules' option: ``never`` plans no systemctl action.
    """

    def __init__(self, module, daemon_name, unit_file, service_control='auto'):
        self.module = module
        self.daemon_name = daemon_name
        self.unit_file = unit_file
        self.unit_name = os.path.basename(unit_file)
        self.service_control = service_control
        self.changes = []  # FileChange of each file to write or remove
        self.link_wanted = None  # True: add the symlink, False: remove it, None: leave it
        self.actions = []
        self.systemctl = None

    def wants_link(self):
        directory, name = os.path.split(self.unit_file)
        return os.path.join(directory, 'multi-user.target.wants', name)

    def plan_daemon(self, files, enabled=True):
        """Decide the file changes and the systemctl actions for ``files`` (DaemonFile); return them for the result.

        ``enabled`` False: the daemon goes (its files should all have text None): it is stopped
        first and its unit disabled.
        """
        for wanted in files:
            before = read_text(wanted.path)
            if before != wanted.text or (wanted.text is not None and file_mode(wanted.path) != wanted.mode):
                self.changes.append(FileChange(wanted, before))
        if os.path.islink(self.wants_link()) != enabled:
            self.link_wanted = enabled
        self.actions = self.plan_service(enabled)
        return {'files': [change.file.path for change in self.changes]
                + ([self.wants_link()] if self.link_wanted is not None else []),
                'service': [' '.join(action) for action in self.actions]}

    def changed(self, *effects):
        return any(change.file.effect in effects for change in self.changes)

    def plan_service(self, enabled):
        """systemctl arguments that bring the running daemon in line with its files."""
        if not self.systemd_runs_unit():
            return []
        name = self.unit_name
        if not enabled:
            return [['stop', name], ['daemon-reload']] if self.changes else []
        actions = [['daemon-reload']] if self.changed(UNIT) else []
        if self.changed(UNIT, PROGRAM):
            return actions + [['restart', name]]  # new code or unit: a reload would keep the old process
        if self.changed(CONFIG):
            return actions + [['reload-or-restart', name]]  # the daemon re-reads its files; starts it when stopped
        rc = self.module.run_command([self.systemctl, 'is-active', '--quiet', name])[0]
        return [] if rc == 0 else [['start', name]]

    def systemd_runs_unit(self):
        """True when systemd is the init system here and the unit is in a directory it loads units from."""
        if self.service_control == 'never' or not os.path.isdir('/run/systemd/system'):
            return False
        if os.path.dirname(os.path.abspath(self.unit_file)) not in SYSTEMD_UNIT_DIRS:
            return False
        self.systemctl = self.module.get_bin_path('systemctl')
        return self.systemctl is not None

    def diff(self):
        entries = []
        for change in self.changes:
            before, after = change.before, change.file.text
            if change.file.effect == PROGRAM:
                label = '%s (%s)' % (self.daemon_name, os.path.basename(change.file.path))
                before, after = checksum_line(label, before), checksum_line(label, after)
            entries.append(file_diff(change.file.path, before, after))
        if self.link_wanted is not None:
            target = '-> %s\n' % self.unit_file
            entries.append(file_diff(self.wants_link(), None if self.link_wanted else target,
                                     target if self.link_wanted else None))
        return entries

    def apply(self, before_service=None):
        """Write the plan; ``before_service()`` runs after the files are in place, before systemctl."""
        actions = list(self.actions)
        if actions[:1] == [['stop', self.unit_name]]:
            self.systemctl_run(actions.pop(0))  # before its files go
        for change in self.changes:
            if change.file.text is None:
                remove_file(change.file.path)
            else:
                atomic_write(self.module, change.file.path, change.file.text, mode=change.file.mode)
        if self.link_wanted is False:
            remove_file(self.wants_link())
        elif self.link_wanted:
            atomic_symlink(self.unit_file, self.wants_link())
        if before_service is not None:
            before_service()
        for action in actions:
            self.systemctl_run(action)

    def systemctl_run(self, action):
        rc, _out, err = self.module.run_command([self.systemctl] + action)
        if rc != 0:
            self.module.fail_json(msg='systemctl %s failed: %s. See journalctl -u %s.'
                                      % (' '.join(action), err.strip(), self.unit_name))
