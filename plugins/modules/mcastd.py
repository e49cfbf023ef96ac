#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mcastd
short_description: Deploy mcastd, the multicast routing daemon of this collection, as a systemd service
version_added: 0.1.0
description:
  - Installs mcastd (the Python package shipped with this collection) in O(libdir), the commands
    C(mcastd) and C(mcastctl) in O(bindir), its systemd unit O(unit_file) (enabled for
    C(multi-user.target)) and, when given, its main configuration O(config); then brings the running
    service in line with them.
  - Each file is written only when its text or mode differs, atomically. Modules of the package that
    the collection no longer ships are removed, and the package is compiled once with the unit's
    interpreter (the unit forbids writing bytecode).
  - What runs follows from what changed, as for the route and bridge keepers of
    M(mcast.linux.route) and M(mcast.linux.bridge) (the same deployment code). C(daemon-reload) and
    C(restart) after a unit change, C(restart) after a package change, C(reload-or-restart) after a
    configuration change (mcastd validates the whole configuration first and applies only the
    difference), C(start) when it is not running.
  - O(config_content) is validated by mcastd's own parser before anything is written, with the
    drop-ins it includes as they are on the target. A refused configuration fails the task with every
    error (file and line) and changes nothing.
  - Routes and joins belong in drop-ins of the included directory, one set per file, managed by
    M(mcast.linux.mroute); the role mcast.linux.router uses both modules.
author:
  - mcast.linux developers (@mcast-linux)
extends_documentation_fragment:
  - mcast.linux.attributes
options:
  state:
    description:
      - V(present) deploys mcastd and keeps it enabled and running.
      - V(absent) stops and disables it and removes the package, the commands, the unit and its
        drop-in. The configuration (O(config) and its drop-ins) is kept.
    type: str
    choices: [present, absent]
    default: present
  config:
    description: mcastd's main configuration file (smcroute's grammar, see C(docs/mcastd.md)).
    type: path
    default: /etc/mcastd/mcastd.conf
  config_content:
    description:
      - The text of O(config). Omitted, the file is left as it is (mcastd starts without routes when
        it does not exist).
    type: str
  socket:
    description: The control socket of the daemon; the unit and C(mcastctl) use it.
    type: path
    default: /run/mcastd/mcastd.sock
  libdir:
    description: The package goes to C(LIBDIR/mcastd/); it is the unit's C(PYTHONPATH).
    type: path
    default: /usr/lib/mcastd
  bindir:
    description:
      - Where the commands C(mcastd) and C(mcastctl) go, a directory on root's C(PATH). They run the
        deployed package with O(config) and O(socket) as defaults; an option given on the command line wins.
    type: path
    default: /usr/local/sbin
  unit_file:
    description:
      - The systemd unit (C(Type=notify), C(ExecReload) validates and applies the configuration). It is
        enabled by a symlink in the C(multi-user.target.wants) directory next to it. Its name is the service's.
    type: path
    default: /etc/systemd/system/mcastd.service
  sandbox:
    description:
      - V(full) keeps every sandboxing option of the unit (an unprivileged dynamic user, a read-only
        system, private mounts).
      - V(container) adds the drop-in C(UNIT_FILE.d/mcast-linux-container.conf), which turns off the
        options that need a mount namespace, which an unprivileged container cannot create (the start
        would fail with C(226/NAMESPACE)). Capabilities, seccomp and address-family limits stay.
      - V(auto) chooses V(container) when C(systemd-detect-virt --container) says the target is one.
    type: str
    choices: [auto, full, container]
    default: auto
  service_control:
    description:
      - V(auto) runs the C(systemctl) actions when systemd is the init system and O(unit_file) lies in
        C(/etc/systemd/system) or C(/run/systemd/system).
      - V(never) only writes the files; mcastd starts at the next boot (or when you start it).
    type: str
    choices: [auto, never]
    default: auto
notes:
  - Only one process per network namespace can hold the kernel's multicast routing API, so the unit
    conflicts with C(smcroute.service).
  - The unit runs C(/usr/bin/python3) (3.9 or newer); mcastd itself needs only the standard library.
seealso:
  - module: mcast.linux.mroute
  - module: mcast.linux.facts
'''

EXAMPLES = r'''
- name: Deploy mcastd routing between two VLANs, each with its IGMP querier
  mcast.linux.mcastd:
    config_content: |
      phyint vlan10 enable querier igmpv3
      phyint vlan20 enable querier igmpv3
      include /etc/mcastd/conf.d/*.conf
  become: true

- name: Deploy mcastd with a configuration written elsewhere, without touching the running service
  mcast.linux.mcastd:
    service_control: never
  become: true

- name: Remove mcastd (its configuration stays)
  mcast.linux.mcastd:
    state: absent
  become: true
'''

RETURN = r'''
files:
  description:
    - The files written or removed (or, in check mode, that would be), including the
      C(multi-user.target.wants) symlink.
  returned: always
  type: list
  elements: str
  sample: ["/usr/lib/mcastd/mcastd/routes.py", "/etc/mcastd/mcastd.conf"]
service:
  description: The C(systemctl) actions run (or planned in check mode), one per item.
  returned: always
  type: list
  elements: str
  sample: ["reload-or-restart mcastd.service"]
sandbox:
  description: The sandbox the unit gets, V(full) or V(container) (after V(auto) is resolved).
  returned: when O(state=present)
  type: str
  sample: container
warnings_of_config:
  description: The warnings mcastd's parser gives for O(config_content) (the same as C(mcastd --check)).
  returned: when O(config_content) is given
  type: list
  elements: str
  sample: []
'''

import glob
import inspect
import os
import shlex
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._service_deploy import (
    CONFIG, PROGRAM, UNIT, UNIT_TAIL, DaemonFile, ServiceDeployment)
from ansible_collections.mcast.linux.plugins.module_utils import mcastd as package
# Every module of the package, so that AnsiballZ ships their sources with this module (it ships what is imported).
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import (  # noqa: F401 pylint: disable=unused-import
    __main__ as package_main, config, control, ctl, daemon, groups, ifaces, igmp, igmprouter, igmpsock, kernel, linux,
    main as daemon_main, membership, mld, mldrouter, mldsock, mrdisc, nftrun, notify, overflow, plane, querier, routes,
    runtime)

PACKAGE_MODULES = (package, package_main, config, control, ctl, daemon, groups, ifaces, igmp, igmprouter, igmpsock,
                   kernel, linux, daemon_main, membership, mld, mldrouter, mldsock, mrdisc, nftrun, notify, overflow,
                   plane, querier, routes, runtime)
INTERPRETER = '/usr/bin/python3'
CONTAINER_DROPIN_NAME = 'mcast-linux-container.conf'
COMMANDS = (
    ('mcastctl', 'control and inspect the running mcastd', 'mcastd.ctl', ('-u', '%(socket)s')),
    ('mcastd', 'the multicast routing daemon (--check validates the configuration)', 'mcastd',
     ('-f', '%(config)s', '-u', '%(socket)s')),
)
COMMAND_TEMPLATE = """#!/bin/sh
# %(name)s: %(description)s. Installed by mcast.linux.mcastd.
# Runs the mcastd package deployed in %(libdir)s with the unit's interpreter. The options before "$@"
# are the deployment's paths; every argument given is passed on unchanged after them, so an option
# given on the command line wins.
PYTHONPATH=%(quoted_libdir)s
# As in the unit: no __pycache__ next to the deployed package.
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH PYTHONDONTWRITEBYTECODE
exec %(interpreter)s -m %(module)s %(defaults)s "$@"
"""
UNIT_TEMPLATE = """\
# mcastd: the IPv4 and IPv6 static multicast routing daemon of mcast.linux (deployed by mcast.linux.mcastd).
# Layout on the target: the package in %(libdir)s/mcastd/ (python3 -m mcastd), the
# configuration in %(config)s (+ drop-ins it includes), the control socket and PID
# file in /run/mcastd/. See docs/mcastd.md.
[Unit]
Description=mcastd IPv4 and IPv6 multicast routing daemon
Documentation=https://github.com/mcast-linux/mcast.linux/blob/main/docs/mcastd.md
# Interfaces that appear later are handled (pending routes), so no wait for network-online.
After=network.target
# Only one process per network namespace can hold the kernel's multicast routing API.
Conflicts=smcroute.service

[Service]
Type=notify
NotifyAccess=main
Environment=PYTHONPATH=%(libdir)s PYTHONDONTWRITEBYTECODE=1
ExecStart=%(interpreter)s -m mcastd -n -f %(config)s -u %(socket)s -p /run/mcastd/mcastd.pid
# Validates the whole configuration first: an invalid one changes nothing and fails the reload.
ExecReload=%(interpreter)s -m mcastd.ctl -u %(socket)s reload
Restart=on-failure
RestartSec=2
# Usage, configuration, permission and kernel support errors do not heal by retrying
# (sysexits: 64 EX_USAGE, 76 EX_PROTOCOL, 77 EX_NOPERM, 78 EX_CONFIG; as smcrouted exits).
RestartPreventExitStatus=64 76 77 78
RuntimeDirectory=mcastd
RuntimeDirectoryMode=0700
UMask=0077

# Least privilege: an unprivileged dynamic user with just the two capabilities the
# multicast routing API needs (MRT_* and SO_RCVBUFFORCE: NET_ADMIN; the raw IGMP socket: NET_RAW).
DynamicUser=yes
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW
AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW
NoNewPrivileges=yes
PrivateMounts=yes
# Not PrivateNetwork: the daemon must route in the host's network namespace.
RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RemoveIPC=yes
""" + UNIT_TAIL
CONTAINER_DROPIN = """\
# Drop-in for mcastd.service on targets that are containers (systemd-detect-virt --container):
# an unprivileged container cannot create mount namespaces, so every sandboxing option that needs
# one makes the start fail with "226/NAMESPACE ... Failed to set up mount namespacing". The
# container itself is the sandbox there; capabilities, seccomp and address-family limits stay.
# Verified in the lab's podman containers: active, Type=notify readiness, reload, forwarding.
[Service]
DynamicUser=no
PrivateMounts=no
ProtectSystem=no
ProtectHome=no
PrivateTmp=no
PrivateDevices=no
ProtectKernelTunables=no
ProtectKernelModules=no
ProtectKernelLogs=no
ProtectControlGroups=no
ProtectProc=default
ProcSubset=all
ProtectHostname=no
"""


def package_sources():
    """``{file name: source}`` of every module of the package (zipimport serves them inside AnsiballZ)."""
    return dict((os.path.basename(module.__file__), inspect.getsource(module)) for module in PACKAGE_MODULES)


def render_unit(params):
    return UNIT_TEMPLATE % dict(params, interpreter=INTERPRETER)


def render_command(params, name, description, module, defaults):
    return COMMAND_TEMPLATE % {
        'name': name, 'description': description, 'libdir': params['libdir'],
        'quoted_libdir': shlex.quote(params['libdir']), 'interpreter': INTERPRETER, 'module': module,
        'defaults': ' '.join(shlex.quote(word % params) for word in defaults)}


def dropin_path(unit_file):
    return os.path.join(unit_file + '.d', CONTAINER_DROPIN_NAME)


def package_dir(params):
    return os.path.join(params['libdir'], 'mcastd')


def deployed_modules(params):
    return sorted(glob.glob(os.path.join(package_dir(params), '*.py')))


class Mcastd(object):
    """Decide mcastd's files and service actions, report them, and apply them outside check mode."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.deployment = ServiceDeployment(module, 'mcastd', self.params['unit_file'], self.params['service_control'])
        self.result = {'changed': False}

    def run(self):
        present = self.params['state'] == 'present'
        files = self.present_files() if present else self.absent_files()
        self.result.update(self.deployment.plan_daemon(files, enabled=present))
        self.result['changed'] = bool(self.result['files'] or self.result['service'])
        if self.module._diff:  # pylint: disable=protected-access
            self.result['diff'] = self.deployment.diff()
        if self.result['changed'] and not self.module.check_mode:
            self.deployment.apply(before_service=self.after_files)
        return self.result

    def present_files(self):
        params = self.params
        sources = package_sources()
        files = [DaemonFile(os.path.join(package_dir(params), name), sources[name], effect=PROGRAM)
                 for name in sorted(sources)]
        files += [DaemonFile(path, None, effect=PROGRAM) for path in deployed_modules(params)
                  if os.path.basename(path) not in sources]
        files += [DaemonFile(os.path.join(params['bindir'], command[0]), render_command(params, *command), mode=0o755)
                  for command in COMMANDS]
        sandbox = self.sandbox()
        self.result['sandbox'] = sandbox
        files.append(DaemonFile(params['unit_file'], render_unit(params), effect=UNIT))
        files.append(DaemonFile(dropin_path(params['unit_file']), CONTAINER_DROPIN if sandbox == 'container' else None,
                                effect=UNIT))
        if params['config_content'] is not None:
            self.validate_config()
            files.append(DaemonFile(params['config'], params['config_content'], effect=CONFIG))
        return files

    def absent_files(self):
        params = self.params
        files = [DaemonFile(path, None, effect=PROGRAM) for path in deployed_modules(params)]
        files += [DaemonFile(os.path.join(params['bindir'], command[0]), None) for command in COMMANDS]
        files += [DaemonFile(params['unit_file'], None, effect=UNIT),
                  DaemonFile(dropin_path(params['unit_file']), None, effect=UNIT)]
        return files

    def sandbox(self):
        choice = self.params['sandbox']
        if choice != 'auto':
            return choice
        detect = self.module.get_bin_path('systemd-detect-virt')
        if detect is None:
            return 'full'
        rc = self.module.run_command([detect, '--container'])[0]
        return 'container' if rc == 0 else 'full'

    def validate_config(self):
        """mcastd's parser on config_content, with the included drop-ins as they are here; fail with every error."""
        path = self.params['config']
        try:
            # As mcastd --check and the daemon: more than 32 interfaces per family only where nft is installed
            # (mcastd copies to the outputs beyond the kernel's VIFs with nftables).
            parsed = config.load(path, overrides={path: self.params['config_content']},
                                 overflow=nftrun.find_nft() is not None)
        except config.ConfigError as error:
            self.module.fail_json(msg='config_content is refused by mcastd, nothing was changed: %s'
                                      % '; '.join(error.errors), errors=error.errors, **self.result)
        self.result['warnings_of_config'] = list(parsed.warnings)
        for warning in parsed.warnings:
            self.module.warn('mcastd: %s' % warning)

    def after_files(self):
        self.compile_package()
        if self.params['state'] == 'absent':
            remove_empty_directory(os.path.dirname(dropin_path(self.params['unit_file'])))

    def compile_package(self):
        """After a package change: its old bytecode goes, and the new package is compiled with the unit's interpreter.

        The unit forbids writing bytecode (read-only /usr, PYTHONDONTWRITEBYTECODE), so without this
        every start would compile the whole package again. Without python3 the unit cannot run anyway.
        """
        if not self.deployment.changed(PROGRAM):
            return
        directory = package_dir(self.params)
        shutil.rmtree(os.path.join(directory, '__pycache__'), ignore_errors=True)
        if self.params['state'] == 'absent':
            remove_empty_directory(directory)
            return
        if not os.path.exists(INTERPRETER):
            return
        rc, _out, err = self.module.run_command([INTERPRETER, '-m', 'compileall', '-q', directory])
        if rc != 0:
            self.module.fail_json(msg='compiling the mcastd package in %s failed: %s' % (directory, err.strip()),
                                  **self.result)


def remove_empty_directory(path):
    try:
        os.rmdir(path)
    except OSError:  # not empty (files of someone else) or already gone: left as it is
        pass


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            config=dict(type='path', default='/etc/mcastd/mcastd.conf'),
            config_content=dict(type='str'),
            socket=dict(type='path', default='/run/mcastd/mcastd.sock'),
            libdir=dict(type='path', default='/usr/lib/mcastd'),
            bindir=dict(type='path', default='/usr/local/sbin'),
            unit_file=dict(type='path', default='/etc/systemd/system/mcastd.service'),
            sandbox=dict(type='str', choices=['auto', 'full', 'container'], default='auto'),
            service_control=dict(type='str', choices=['auto', 'never'], default='auto'),
        ),
        supports_check_mode=True,
    )


def main():
    module = build_module()
    module.exit_json(**Mcastd(module).run())


if __name__ == '__main__':
    main()
