# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: netns
short_description: Run tasks inside a Linux network namespace on the controller
description:
  - Runs modules, C(raw) commands, fact gathering, file transfers and privilege escalation inside a named Linux network
    namespace on the Ansible controller, that is one created with C(ip netns add NAME) and visible as C(/run/netns/NAME).
  - Every command that Ansible hands to the connection is run as the argument list
    C([ip, netns, exec, NAME, /bin/sh, -c, COMMAND]), the way P(community.general.chroot#connection) wraps commands
    in C(chroot). No shell on the controller interprets the command before it enters the namespace.
  - Each inventory host is one namespace, so a lab of several namespaces is managed like a fleet of hosts.
author: mcast.linux developers (@mcast-linux)
version_added: 0.1.0
options:
  remote_addr:
    description:
      - The network namespace to enter, when O(netns_name) is not set.
      - Taken from C(ansible_host), else from the inventory host name.
    type: string
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
  netns_name:
    description:
      - The network namespace to enter, as listed by C(ip netns list).
      - Overrides O(remote_addr) so that inventory host names and C(ansible_host) can stay meaningful for other uses.
      - Must be a plain name; C(ip netns exec) looks it up as C(/run/netns/NAME).
    type: string
    env:
      - name: ANSIBLE_NETNS_NAME
    vars:
      - name: ansible_netns_name
  ip_executable:
    description:
      - The C(ip) command of iproute2 that enters the namespace, as an absolute path or a name searched for in
        E(PATH) and the C(sbin) directories.
    type: string
    default: ip
    ini:
      - section: netns_connection
        key: ip_executable
    env:
      - name: ANSIBLE_NETNS_IP_EXECUTABLE
    vars:
      - name: ansible_netns_ip_executable
  executable:
    description:
      - The shell that runs each command inside the namespace.
    type: string
    default: /bin/sh
    ini:
      - section: defaults
        key: executable
    env:
      - name: ANSIBLE_EXECUTABLE
    vars:
      - name: ansible_executable
  pipelining:
    description:
      - Pipe each module to the Python interpreter's standard input instead of copying it into a temporary directory
        first. A module then takes one C(ip netns exec) instead of six (find the home directory, make a directory,
        copy, change the mode, run, remove), and nothing is written below the remote temporary directory, which the
        namespaces share with the controller.
      - On by default, unlike with most connections. The usual reason to keep it off, C(requiretty) of C(sudo), does
        not apply to a connection that never has a terminal. A become plugin that cannot pipeline, such as
        P(ansible.builtin.su#become), turns it off for its own tasks.
    type: boolean
    default: true
    env:
      - name: ANSIBLE_PIPELINING
    ini:
      - section: defaults
        key: pipelining
      - section: connection
        key: pipelining
    vars:
      - name: ansible_pipelining
notes:
  - Needs root, or at least the capability C(CAP_SYS_ADMIN) in the process that runs Ansible, because C(ip netns exec)
    calls C(setns(2)) and creates a mount namespace. The connection checks this, the C(ip) command and the namespace
    when it connects, and fails with a message that names the missing piece, for example
    C(network namespace 'lab1' not found).
  - A network namespace separates only the network stack (interfaces, addresses, routes, C(net.*) sysctls, nftables).
    Tasks share the controller's filesystem, processes and users; a task that writes a file writes it on the controller.
  - For every command C(ip netns exec) creates a fresh mount namespace in which it remounts C(/sys), so that
    C(/sys/class/net) lists the namespace's interfaces (which is why fact gathering reports only those), and bind
    mounts each file in C(/etc/netns/NAME/) over the file of the same name in C(/etc) (for example C(resolv.conf)).
    File transfers run through the same wrapping, so they see the same C(/etc). Mounts made by a task vanish when
    its command ends.
  - Set C(ansible_python_interpreter) explicitly; interpreter discovery runs inside the namespace against the controller's
    filesystem and may find a wrapper such as a pyenv shim. An interpreter given with arguments, such as
    C(ip netns exec NAME python3), is quoted as one word by ansible-core 2.19 and fails; this plugin is the replacement.
  - The remote user is ignored; commands run as the user that runs Ansible. Use O(ansible.builtin.su#become:become_user)
    through C(become) to change the user; C(su) and C(sudo) run by root do not prompt for a password, and password
    prompts are not supported because the connection has no terminal.
seealso:
  - name: ip-netns(8)
    description: The manual page of C(ip netns), including the C(/etc/netns) convention.
    link: https://man7.org/linux/man-pages/man8/ip-netns.8.html
"""

EXAMPLES = r"""
# Inventory: each host is a network namespace on the controller.
# [lab]
# router  ansible_netns_name=mc-router
# rx1     ansible_netns_name=mc-rx1
#
# [lab:vars]
# ansible_connection=mcast.linux.netns
# ansible_python_interpreter=/usr/bin/python3

- name: Show the interfaces of each namespace
  hosts: lab
  gather_facts: true
  tasks:
    - name: Print the namespace's own interfaces
      ansible.builtin.debug:
        var: ansible_facts.interfaces

# Ad hoc, with the namespace name as the inventory host name:
# ansible -i 'mc-router,' -c mcast.linux.netns -e ansible_python_interpreter=/usr/bin/python3 -m ansible.builtin.setup all
"""

import contextlib
import getpass
import os
import shlex
import subprocess
import tempfile

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.process import get_bin_path
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

display = Display()

# Where `ip netns add` bind mounts named namespaces; iproute2 compiles this path in.
NETNS_RUN_DIR = '/run/netns'
# Bit number of CAP_SYS_ADMIN in the capability sets of /proc/PID/status (linux/capability.h).
CAP_SYS_ADMIN = 21


def validate_netns_name(name):
    """Return ``name`` if it can only mean an entry of /run/netns, else raise AnsibleConnectionFailure."""
    if not name or '/' in name or name in ('.', '..') or '\0' in name:
        raise AnsibleConnectionFailure(f"invalid network namespace name {name!r}: expected a plain name as listed by 'ip netns list'")
    return name


def resolve_netns_name(netns_name, remote_addr):
    """The namespace to enter: the explicit ``netns_name`` option wins over ``remote_addr``."""
    return validate_netns_name(netns_name or remote_addr)


def netns_argv(ip_path, netns_name, shell, command):
    """The argument list that runs the shell string ``command`` inside the namespace."""
    return [ip_path, 'netns', 'exec', netns_name, shell, '-c', command]


def has_cap_sys_admin(proc_status):
    """Whether the effective capability set in a /proc/PID/status text includes CAP_SYS_ADMIN."""
    for line in proc_status.splitlines():
        field, _sep, value = line.partition(':')
        if field == 'CapEff':
            return bool(int(value.strip(), 16) >> CAP_SYS_ADMIN & 1)
    return False


def check_privileges():
    """Fail early with a clear message instead of letting setns(2) fail inside `ip netns exec`."""
    with open('/proc/self/status', encoding='ascii') as status:
        if has_cap_sys_admin(status.read()):
            return
    raise AnsibleConnectionFailure(
        "the mcast.linux.netns connection needs root (CAP_SYS_ADMIN) to enter a network namespace, "
        f"and this process (uid {os.geteuid()}) does not have CAP_SYS_ADMIN; run Ansible as root")


def check_netns_exists(name, run_dir=NETNS_RUN_DIR):
    """Fail unless /run/netns/NAME is a mounted network namespace (a stale file is not one)."""
    path = os.path.join(run_dir, name)
    try:
        ns_stat = os.stat(path)
    except FileNotFoundError:
        raise AnsibleConnectionFailure(f"network namespace '{name}' not found") from None
    except OSError as ex:
        raise AnsibleConnectionFailure(f"cannot inspect network namespace '{name}' at {path}: {ex.strerror}") from ex
    # Namespace files all live on the nsfs pseudo file system; a left-over empty file on tmpfs does not.
    if ns_stat.st_dev != os.stat('/proc/self/ns/net').st_dev:
        raise AnsibleConnectionFailure(f"network namespace '{name}' not found ({path} exists but no namespace is mounted on it)")


def current_umask():
    """The process umask, which can only be read by setting it."""
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


def find_ip_executable(name):
    """Absolute path of the iproute2 `ip` command, or AnsibleConnectionFailure."""
    try:
        return get_bin_path(name)
    except ValueError:
        raise AnsibleConnectionFailure(
            f"the mcast.linux.netns connection needs the 'ip' command of iproute2, but '{name}' was not found "
            "or is not executable; install iproute2 or set ip_executable") from None


class Connection(ConnectionBase):
    """Run commands and transfer files inside a named Linux network namespace with `ip netns exec`."""

    transport = 'mcast.linux.netns'
    has_pipelining = True
    # No terminal is allocated: ansible refuses become plugins that require one (machinectl) with a clear error,
    # and no password prompt can be answered (su and sudo run by root do not prompt).
    has_tty = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Commands run as whoever runs Ansible, as with the local connection.
        self.default_user = getpass.getuser()
        self.netns_name = None
        self._ip_path = None

    def _connect(self):
        """Check everything `ip netns exec` needs, so that a problem is reported as such and not as a module failure."""
        if self._connected:
            return self
        name = resolve_netns_name(self.get_option('netns_name'), self.get_option('remote_addr'))
        ip_path = find_ip_executable(self.get_option('ip_executable'))
        check_privileges()
        check_netns_exists(name)
        self.netns_name = name
        self._ip_path = ip_path
        self._play_context.remote_user = self.default_user
        display.vvv(f"ESTABLISH NETNS CONNECTION FOR USER: {self.default_user} USING {ip_path}", host=name)
        self._connected = True
        return self

    def _popen(self, command, stdin=subprocess.PIPE, stdout=subprocess.PIPE):
        """Start ``command`` (a shell string) in the namespace; stderr is always piped."""
        argv = netns_argv(self._ip_path, self.netns_name, self.get_option('executable'), command)
        display.vvv(f"EXEC {argv}", host=self.netns_name)
        try:
            return subprocess.Popen([to_bytes(arg, errors='surrogate_or_strict') for arg in argv],
                                    stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
        except OSError as ex:
            raise AnsibleConnectionFailure(f"cannot run {argv[0]}: {ex.strerror}") from ex

    def exec_command(self, cmd, in_data=None, sudoable=True):
        """Run the shell string ``cmd`` in the namespace, feeding ``in_data`` (pipelining) to its stdin."""
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        process = self._popen(cmd)
        stdout, stderr = process.communicate(in_data)
        return process.returncode, stdout, stderr

    def _transfer(self, command, stdin, stdout, description):
        """Run a file transfer ``command`` with the given streams and raise with its stderr if it fails."""
        process = self._popen(command, stdin=stdin, stdout=stdout)
        _stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise AnsibleError(f"failed to transfer {description} in network namespace '{self.netns_name}': "
                               f"{to_text(stderr, errors='surrogate_or_replace').strip()}")

    def put_file(self, in_path, out_path):
        """Copy a controller file into the namespace's view of the file system, byte for byte."""
        super().put_file(in_path, out_path)
        display.vvv(f"PUT {in_path} TO {out_path}", host=self.netns_name)
        # Written from inside the namespace because /etc/netns/NAME bind mounts can make a path differ from the
        # controller's view; the shell redirection creates or truncates the target and never parses it as an option.
        try:
            with open(to_bytes(in_path, errors='surrogate_or_strict'), 'rb') as source:
                self._transfer(f"cat > {shlex.quote(out_path)}", stdin=source, stdout=subprocess.DEVNULL,
                               description=f"{in_path} to {out_path}")
        except FileNotFoundError:
            raise AnsibleFileNotFound(f"file or module does not exist: {to_native(in_path)}") from None
        except OSError as ex:
            raise AnsibleError(f"cannot read {to_native(in_path)}: {ex.strerror}") from ex

    def fetch_file(self, in_path, out_path):
        """Copy a file as the namespace sees it to the controller; out_path appears only once complete."""
        super().fetch_file(in_path, out_path)
        display.vvv(f"FETCH {in_path} TO {out_path}", host=self.netns_name)
        b_out_path = to_bytes(out_path, errors='surrogate_or_strict')
        fd, b_partial_path = tempfile.mkstemp(prefix=b'.netns-fetch-', dir=os.path.dirname(b_out_path) or b'.')
        try:
            with os.fdopen(fd, 'wb') as partial:
                self._transfer(f"cat < {shlex.quote(in_path)}", stdin=subprocess.DEVNULL, stdout=partial,
                               description=f"{in_path} to {out_path}")
            # mkstemp creates mode 0600; give the file the mode any newly written file of this process gets.
            os.chmod(b_partial_path, 0o666 & ~current_umask())
            os.replace(b_partial_path, b_out_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(b_partial_path)
            raise

    def reset(self):
        """Nothing persists between commands, so a reset only forgets the checks made at connect time."""
        self.close()

    def close(self):
        """Nothing to tear down: every command was its own `ip netns exec` process."""
        super().close()
        self._connected = False
