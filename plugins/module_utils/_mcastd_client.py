# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A running mcastd as the modules see it, and who holds the kernel's multicast routing API.

The daemon is asked through its own control-protocol code (``mcastd/control.py``), so the
modules speak exactly the protocol the daemon serves. Whether some process holds the routing
API is read, never probed: a probing ``MRT_INIT`` that succeeded would for a moment be the
namespace's multicast router. ``conf/all/mc_forwarding`` is 1 exactly while a routing socket is
open, and ``/proc/net/raw`` with ``/proc/PID/fd`` tells which processes hold raw IGMP sockets.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.mcast.linux.plugins.module_utils._sysctl import read_value
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import control
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import DEFAULT_CONFIG, DEFAULT_SOCKET

IPPROTO_IGMP = 2
MC_FORWARDING_ALL = 'net/ipv4/conf/all/mc_forwarding'
COMMAND_MAX_LENGTH = 160

__all__ = ['DEFAULT_CONFIG', 'DEFAULT_SOCKET', 'DaemonRefused', 'DaemonUnavailable', 'ask', 'routing_api', 'snapshot']


class DaemonUnavailable(Exception):
    """Nothing answers on the control socket (not running, or another path)."""


class DaemonRefused(Exception):
    """The daemon answered with an error; ``details`` holds its sentences (e.g. FILE:LINE: ...)."""

    def __init__(self, message, details=None):
        super(DaemonRefused, self).__init__(message)
        self.details = list(details or [])


def ask(path, command, timeout=30.0, **fields):
    """The ``result`` of one request; raises DaemonUnavailable or DaemonRefused."""
    try:
        reply = control.request(path, command, timeout=timeout, **fields)
    except (OSError, ValueError) as error:
        raise DaemonUnavailable('mcastd does not answer on %s (%s)' % (path, error))
    if not isinstance(reply, dict) or not reply.get('ok'):
        reply = reply if isinstance(reply, dict) else {}
        raise DaemonRefused(reply.get('error') or 'mcastd refused the request', reply.get('details'))
    return reply['result']


def snapshot(path, timeout=10.0):
    """``{'status', 'routes', ...}``: the status and every table of the daemon (None for a table it does not
    have), or None if it does not answer."""
    try:
        state = {'status': ask(path, 'status', timeout)}
        for what in control.SHOW_TABLES:
            try:
                state[what] = ask(path, 'show', timeout, what=what)
            except DaemonRefused:
                state[what] = None  # an older mcastd without that table (e.g. during an upgrade)
    except DaemonUnavailable:
        return None
    return state


def routing_api(proc='/proc', proc_sys='/proc/sys'):
    """``{'held': bool, 'holders': [{'pid', 'name', 'command'}]}`` for this network namespace.

    ``held`` is ``conf/all/mc_forwarding``, which the kernel raises on MRT_INIT and lowers when
    the routing socket closes. ``holders`` are the processes with a raw IGMP socket in this
    namespace (the routing socket is one); empty when they live in another PID namespace.
    """
    try:
        held = read_value(MC_FORWARDING_ALL, proc_sys) == '1'
    except (IOError, OSError):
        held = False
    holders = _raw_igmp_holders(proc) if held else []
    return {'held': held, 'holders': holders}


def _raw_igmp_inodes(proc):
    inodes = set()
    try:
        with open(os.path.join(proc, 'net', 'raw'), encoding='ascii') as stream:
            lines = stream.read().splitlines()[1:]
    except (IOError, OSError):
        return inodes
    for line in lines:
        fields = line.split()
        # local_address is ADDR:PROTOCOL for raw sockets; the inode is the tenth column.
        if len(fields) > 9 and int(fields[1].rsplit(':', 1)[-1], 16) == IPPROTO_IGMP:
            inodes.add('socket:[%s]' % fields[9])
    return inodes


def _raw_igmp_holders(proc):
    inodes = _raw_igmp_inodes(proc)
    holders = []
    if not inodes:
        return holders
    for pid in sorted((name for name in os.listdir(proc) if name.isdigit()), key=int):
        if _holds_any(os.path.join(proc, pid, 'fd'), inodes):
            holders.append({'pid': int(pid), 'name': _read_proc(proc, pid, 'comm').strip(),
                            'command': _read_proc(proc, pid, 'cmdline').replace('\0', ' ').strip()[:COMMAND_MAX_LENGTH]})
    return holders


def _holds_any(fd_dir, inodes):
    try:
        descriptors = os.listdir(fd_dir)
    except (IOError, OSError):  # the process ended, or is not ours to look at
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(os.path.join(fd_dir, descriptor)) in inodes:
                return True
        except (IOError, OSError):
            continue
    return False


def _read_proc(proc, pid, name):
    try:
        with open(os.path.join(proc, pid, name), encoding='utf-8', errors='replace') as stream:
            return stream.read()
    except (IOError, OSError):
        return ''
