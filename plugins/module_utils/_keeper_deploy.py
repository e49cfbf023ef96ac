# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How mcast.linux.route and mcast.linux.bridge deploy their keeper (private to this collection).

A keeper is three files: the JSON file it keeps, the keeper script and its systemd unit, deployed as
every daemon of the collection is (``_service_deploy.py``: planned first, so that check mode and the
diff report the plan, and applied outside check mode).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import inspect

from ansible_collections.mcast.linux.plugins.module_utils import _keeper_runtime as runtime
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import linux
from ansible_collections.mcast.linux.plugins.module_utils._files import read_text
from ansible_collections.mcast.linux.plugins.module_utils._service_deploy import (
    CONFIG, PROGRAM, UNIT, UNIT_TAIL, DaemonFile, ServiceDeployment)

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
ProtectClock=yes
""" + UNIT_TAIL
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


class KeeperDeployment(ServiceDeployment):
    """A keeper's three files (the kept file, the keeper script, its unit) deployed as every daemon is.

    ``keeper_name`` (route keeper, bridge keeper) is used in messages; the module's options name the files.
    """

    def __init__(self, module, keeper_name, kept_file):
        super(KeeperDeployment, self).__init__(module, keeper_name, module.params['unit_file'],
                                               module.params['service_control'])
        self.keeper_name = keeper_name
        self.kept_file = kept_file
        self.keeper_file = module.params['keeper_file']

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
        """Plan the files ``(kept file, keeper script, unit)``, or None when nothing is left to keep.

        Then every file goes and the keeper is stopped and disabled.
        """
        keep = texts is not None
        if keep:
            self.require_ip()
        kept, script, unit = texts or (None, None, None)
        return self.plan_daemon([DaemonFile(self.kept_file, kept, effect=CONFIG),
                                 DaemonFile(self.keeper_file, script, effect=PROGRAM),
                                 DaemonFile(self.unit_file, unit, effect=UNIT)], enabled=keep)

    def require_ip(self):
        if self.module.get_bin_path('ip') is None:
            self.module.fail_json(msg="the %s runs 'ip', which is not installed: install iproute2, or use "
                                      "persist: false." % self.keeper_name)
