# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Netlink access shared by the mcast.linux modules (private to this collection).

pyroute2 is imported on first use, by :func:`open_iproute`: its import loads every part of the
library (about 0.3 s of CPU per module run), which a run that only lists interfaces (they come
from ``mcastd/linux.py``) or only plans in check mode must not pay. ``ansible-doc`` and the sanity
import test work without it; a module that needs it calls :func:`require_pyroute2` first.
Everything here works with pyroute2 0.7.2 (Debian 12) and 0.9.x: only ``IPRoute()`` without
arguments, ``get_links``, ``link('set', ...)``, ``get_routes``, ``route(...)`` and ``get_attr``
with full NLA names.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import os
import socket
import types

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import (
    interfaces, is_pattern, name_matches, pattern_problem)

try:
    HAS_PYROUTE2 = importlib.util.find_spec('pyroute2') is not None
except (ImportError, ValueError):
    HAS_PYROUTE2 = False


class NetlinkError(Exception):
    """The kernel refused a netlink request made through :func:`open_iproute`; ``code`` is the errno.

    The modules catch this one class, whichever pyroute2 version raised its own.
    """

    def __init__(self, code, message=None):
        super(NetlinkError, self).__init__(code, message or '')
        self.code = code

    def __str__(self):
        return '(%s, %r)' % (self.code, self.args[1])


def require_pyroute2(module):
    """Fail the module with installation guidance when pyroute2 is not installed."""
    if not HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib(
            'pyroute2', reason='to talk to the kernel over netlink (Debian/Ubuntu: apt install python3-pyroute2)'))


class _IPRoute(object):
    """pyroute2's IPRoute whose calls raise :class:`NetlinkError` and return lists, not generators."""

    def __init__(self):
        # Imported here, not at the top: see the module docstring.
        from pyroute2 import IPRoute  # pylint: disable=import-outside-toplevel
        from pyroute2.netlink.exceptions import NetlinkError as Pyroute2Error  # pylint: disable=import-outside-toplevel
        self._ipr = IPRoute()
        self._error = Pyroute2Error

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        self._ipr.close()

    def __getattr__(self, name):
        method = getattr(self._ipr, name)

        def call(*args, **kwargs):
            try:
                answer = method(*args, **kwargs)
                # pyroute2 0.9 answers some requests with a generator: the kernel's error comes while reading it.
                return list(answer) if isinstance(answer, types.GeneratorType) else answer
            except self._error as error:
                raise NetlinkError(error.code, error.args[1] if len(error.args) > 1 else os.strerror(error.code))
        return call


def open_iproute():
    """A netlink socket for the current network namespace (use it as a context manager)."""
    return _IPRoute()


def invalid_name_message(name):
    """Why ``name`` can never be an interface name or a pattern of the collection's style, or None."""
    problem = pattern_problem(name)
    return None if problem is None else problem[0].upper() + problem[1:] + '.'


def check_interface_names(module, names):
    """Fail the module on the first name or pattern that no interface could ever have."""
    for name in names:
        message = invalid_name_message(name)
        if message:
            module.fail_json(msg=message)


def match_interfaces(patterns, existing_names):
    """Expand names and patterns (``trunk.+``) against the existing interface names.

    Returns ``(matched, unmatched)``: the matched names in the order of ``existing_names``
    without duplicates, and the names/patterns that matched nothing, in the order given.
    """
    matched = []
    unmatched = []
    for pattern in patterns:
        hits = [name for name in existing_names if name_matches(pattern, name)]
        if not hits:
            unmatched.append(pattern)
        matched.extend(hit for hit in hits if hit not in matched)
    ordered = [name for name in existing_names if name in matched]
    return ordered, unmatched


def interface_not_found_message(unmatched, existing_names):
    """A sentence naming what matched nothing and which interfaces do exist."""
    quoted = ', '.join("'%s'" % name for name in unmatched)
    if len(unmatched) == 1 and not is_pattern(unmatched[0]):
        subject = 'interface %s does not exist on this host' % quoted
    else:
        subject = 'no interface on this host matches %s' % quoted
    return '%s; existing interfaces: %s. Check the spelling, or create the interface first.' % (
        subject, ', '.join(existing_names) or 'none')


def resolve_interfaces(module, patterns, existing_names, allow_missing=False):
    """Expand ``patterns`` or fail the module with :func:`interface_not_found_message`.

    With ``allow_missing`` a name or pattern matching nothing is skipped and returned as the
    second value so the caller can report it.
    """
    matched, unmatched = match_interfaces(patterns, existing_names)
    if unmatched and not allow_missing:
        module.fail_json(msg=interface_not_found_message(unmatched, existing_names))
    return matched, unmatched


def link_summaries():
    """List ``{'name', 'index', 'flags'}`` for every link, in ifindex order (``linux.interfaces``)."""
    return [iface._asdict() for iface in sorted(interfaces().values(), key=lambda iface: iface.index)]


def link_flags(ipr, index):
    """Current ``ifi_flags`` of the link with this ifindex."""
    return ipr.get_links(index)[0]['flags']


def set_link_flags(ipr, index, flags, mask):
    """Set the bits of ``mask`` on link ``index`` to their values in ``flags`` (others untouched)."""
    ipr.link('set', index=index, flags=flags, change=mask)


def route_summaries(ipr, family, table=None):
    """List the routes of ``family`` (socket.AF_INET/AF_INET6), optionally of one table.

    Each route is ``{'dest': 'PREFIX/LEN', 'oif', 'gateway', 'table', 'metric', 'multipath',
    'type', 'scope', 'proto'}``; ``oif`` and ``gateway`` are None when absent.
    """
    query = {'family': family}
    if table is not None:
        query['table'] = table
    routes = []
    for msg in ipr.get_routes(**query):
        destination = msg.get_attr('RTA_DST') or ('0.0.0.0' if family == socket.AF_INET else '::')
        routes.append({
            'dest': '%s/%d' % (destination, msg['dst_len']),
            'oif': msg.get_attr('RTA_OIF'),
            'gateway': msg.get_attr('RTA_GATEWAY'),
            'table': msg.get_attr('RTA_TABLE') or msg['table'],
            'metric': msg.get_attr('RTA_PRIORITY') or 0,
            'multipath': msg.get_attr('RTA_MULTIPATH') is not None,
            'type': msg['type'],
            'scope': msg['scope'],
            'proto': msg['proto'],
        })
    return routes


def address_summaries(ipr):
    """List ``{'index', 'family', 'address': 'ADDR/LEN'}`` for every address on every link."""
    return [{'index': msg['index'], 'family': msg['family'],
             'address': '%s/%d' % (msg.get_attr('IFA_ADDRESS'), msg['prefixlen'])}
            for msg in ipr.get_addr()]


def route_lookup(ipr, address):
    """Ifindex of the interface the kernel would use to reach ``address``; None when unreachable.

    This is the lookup rp_filter makes for a packet's source (``ip route get ADDRESS``).
    """
    try:
        replies = list(ipr.route('get', dst=address))
    except NetlinkError:
        return None
    return replies[0].get_attr('RTA_OIF') if replies else None
