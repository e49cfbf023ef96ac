# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How mcast.linux.route and mcast.linux.bridge deploy their keeper (private to this collection).

One way for both: a JSON file the keeper keeps, the keeper script, its systemd unit and the
symlink in ``multi-user.target.wants`` that enables it, each written atomically; then the
``systemctl`` actions that bring a running keeper in line with its files, when systemd runs it.
The modules plan first (check mode and the diff report the plan) and apply outside check mode.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import inspect
import os

from ansible_collections.mcast.linux.plugins.module_utils import _keeper_runtime as runtime
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import linux
from ansible_collections.mcast.linux.plugins.module_utils._files import (
    atomic_symlink, atomic_write, file_diff, read_text, remove_file)

# Units in these directories are the ones systemd loads; elsewhere (tests) systemctl is never called.
SYSTEMD_UNIT_DIRS = ('/etc/systemd/system', '/run/systemd/system')
# Everything but the first lines, which say which module manages the unit and what its keeper keeps.
UNIT_TEMPLATE = """[Unit]
Description=%(description)s
After=network-pre.target
Before=network.target

[Service]
Type=notify
NotifyAccess=main
ExecStart=/usr/bin/python3 %(keeper_file)s %(kept_file)s
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2
# %(exit_config)d: the %(kept_file_name)s is unusable, %(exit_no_ip)d: no ip command; retrying does not heal either.
RestartPreventExitStatus=%(exit_config)d %(exit_no_ip)d
UMask=0077

# Least privilege without the options that need a mount namespace (ProtectSystem, PrivateTmp and
# the like): containers cannot create one, and the unit must start there too.
CapabilityBoundingSet=CAP_NET_ADMIN
NoNewPrivileges=yes
RestrictAddressFamilies=AF_NETLINK AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
ProtectClock=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""
# linux.py, the runtime and each keeper import what stands above them in the deployed script between
# these lines; the deployed script leaves those lines out.
RUNTIME_IMPORT_START = '# runtime import: '
RUNTIME_IMPORT_END = '# end of the runtime import\n'
FUTURE_IMPORT = 'from __future__ import absolute_import, division, print_function\n'


def render_unit(header, description, keeper_file, kept_file, kept_file_name):
    """A keeper's unit: ``header`` (comment lines), then what every keeper's unit says."""
    return header + UNIT_TEMPLATE % {
        'description': description, 'keeper_file': keeper_file, 'kept_file': kept_file,
        'kept_file_name': kept_file_name, 'exit_config': runtime.EXIT_CONFIG, 'exit_no_ip': runtime.EXIT_NO_IP}


def keeper_script(header, keeper):
    """The script to deploy for the keeper module_utils ``keeper``: linux.py's source, the runtime's, the keeper's.

    One file rather than three module_utils files side by side, because the module's options name
    one keeper file (``keeper_file``) that the unit runs and the module reports, and users upgrade in
    place. Each file's imports of the files above it are left out (their names stand above it), and
    so are the later ``from __future__`` lines, which are only allowed at the top of a file. The
    sources come from the imported modules (zipimport serves them inside AnsiballZ).
    """
    parts = [inspect.getsource(linux)]
    for source in (inspect.getsource(runtime), inspect.getsource(keeper)):
        start = source.index(RUNTIME_IMPORT_START)
        end = source.index(RUNTIME_IMPORT_END, start) + len(RUNTIME_IMPORT_END)
        parts.append((source[:start] + source[end:]).replace(FUTURE_IMPORT, '', 1))
    return header + '\n\n'.join(parts)


class KeeperDeployment(object):
    """The kept file, the keeper script, its unit and the symlink that enables it; and the running unit.

    ``plan_files`` reads and decides, ``diff`` shows the plan, ``apply`` writes and (re)starts the
    keeper when systemd runs it. ``keeper_name`` (route keeper, bridge keeper) is used in messages.
    """

    def __init__(self, module, keeper_name, kept_file):
        self.module = module
        self.keeper_name = keeper_name
        self.kept_file = kept_file
        self.keeper_file = module.params['keeper_file']
        self.unit_file = module.params['unit_file']
        self.unit_name = os.path.basename(self.unit_file)
        self.changes = []  # (path, before, after) of each file to change; None: the file is absent
        self.link_wanted = None
        self.actions = []
        self.systemctl = None

    def wants_link(self):
        directory, name = os.path.split(self.unit_file)
        return os.path.join(directory, 'multi-user.target.wants', name)

    def read_kept_file(self, parse, absent):
        """``parse`` of the kept file's text, or ``absent`` without a file; fails on an unusable file."""
        text = read_text(self.kept_file)
        if text is None:
            return absent
        try:
            return parse(text)
        except runtime.KeeperFileError as error:
            self.module.fail_json(msg='%s cannot be read: %s. Fix it or delete it, then run the task again.'
                                      % (self.kept_file, error))

    def plan_files(self, texts):
        """Decide the file changes and the systemctl actions; return them for the result.

        ``texts`` is ``(kept file, keeper script, unit)``, or None when nothing is left to keep: then
        every file goes and the keeper is stopped.
        """
        keep = texts is not None
        if keep:
            self.require_ip()
        for path, text in zip((self.kept_file, self.keeper_file, self.unit_file), texts or (None, None, None)):
            current = read_text(path)
            if current != text:
                self.changes.append((path, current, text))
        if os.path.islink(self.wants_link()) != keep:
            self.link_wanted = keep
        self.actions = self.plan_service(keep)
        return {'files': [path for path, _before, _after in self.changes]
                + ([self.wants_link()] if self.link_wanted is not None else []),
                'service': [' '.join(action) for action in self.actions]}

    def require_ip(self):
        if self.module.get_bin_path('ip') is None:
            self.module.fail_json(msg="the %s runs 'ip', which is not installed: install iproute2, or use "
                                      "persist: false." % self.keeper_name)

    def changed(self, path):
        return any(change[0] == path for change in self.changes)

    def plan_service(self, keep):
        """systemctl arguments that bring the running keeper in line with the files (none without systemd)."""
        if not self.systemd_runs_unit():
            return []
        name = self.unit_name
        if not keep:
            return [['stop', name], ['daemon-reload']] if self.changes else []
        actions = [['daemon-reload']] if self.changed(self.unit_file) else []
        if self.changed(self.unit_file) or self.changed(self.keeper_file):
            return actions + [['restart', name]]  # new code or unit: a reload would keep the old process
        if self.changed(self.kept_file):
            return actions + [['reload-or-restart', name]]  # SIGHUP re-reads the file; starts it when stopped
        rc = self.module.run_command([self.systemctl, 'is-active', '--quiet', name])[0]
        return [] if rc == 0 else [['start', name]]

    def systemd_runs_unit(self):
        """True when systemd is the init system here and unit_file is in a directory it loads units from."""
        if self.module.params['service_control'] == 'never' or not os.path.isdir('/run/systemd/system'):
            return False
        if os.path.dirname(os.path.abspath(self.unit_file)) not in SYSTEMD_UNIT_DIRS:
            return False
        self.systemctl = self.module.get_bin_path('systemctl')
        return self.systemctl is not None

    def checksum_line(self, text):
        """The keeper script in the diff: its checksum, not its source."""
        if text is None:
            return ''
        return '%s, sha1 %s\n' % (self.keeper_name, hashlib.sha1(text.encode('utf-8')).hexdigest())

    def diff(self):
        entries = []
        for path, before, after in self.changes:
            if path == self.keeper_file:
                before, after = self.checksum_line(before) or None, self.checksum_line(after) or None
            entries.append(file_diff(path, before, after))
        if self.link_wanted is not None:
            target = '-> %s\n' % self.unit_file
            entries.append(file_diff(self.wants_link(), None if self.link_wanted else target,
                                     target if self.link_wanted else None))
        return entries

    def apply(self):
        if self.actions[:1] == [['stop', self.unit_name]]:
            self.systemctl_run(self.actions.pop(0))  # before its files go
        for path, _before, after in self.changes:
            if after is None:
                remove_file(path)
            else:
                atomic_write(self.module, path, after)
        if self.link_wanted is False:
            remove_file(self.wants_link())
        elif self.link_wanted:
            atomic_symlink(self.unit_file, self.wants_link())
        for action in self.actions:
            self.systemctl_run(action)

    def systemctl_run(self, action):
        rc, _out, err = self.module.run_command([self.systemctl] + action)
        if rc != 0:
            self.module.fail_json(msg='systemctl %s failed: %s. See journalctl -u %s.'
                                      % (' '.join(action), err.strip(), self.unit_name))
