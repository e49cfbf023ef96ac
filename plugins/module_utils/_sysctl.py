# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kernel parameters under /proc/sys and their sysctl.d persistence (private to this collection).

Keys are handled in the slash form (``net/ipv4/conf/trunk.10/rp_filter``) because interface
names may contain dots: in the dotted form ``net.ipv4.conf.trunk.10.rp_filter`` the name could
not be told from the separators. Values are read and written through /proc/sys directly, never
by running ``sysctl``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

PROC_SYS = '/proc/sys'
DEFAULT_SYSCTL_FILE = '/etc/sysctl.d/60-mcast-linux.conf'
IPV4_CONF = 'net/ipv4/conf'
# conf/all and conf/default are not interfaces.
CONF_PSEUDO_INTERFACES = ('all', 'default')

# rp_filter values as the kernel defines them (Documentation/networking/ip-sysctl.rst).
# Note the numeric order: the kernel uses max(conf/all, conf/IFACE), so loose (2) beats strict (1).
RP_FILTER_MODES = {'off': 0, 'strict': 1, 'loose': 2}
RP_FILTER_NAMES = dict((value, name) for name, value in RP_FILTER_MODES.items())

DROPIN_HEADER = (
    '# Managed by the mcast.linux collection: values may be changed by its modules.\n'
    '# systemd-sysctl reads this at boot, and udev applies per-interface keys when the interface appears.\n'
)


def canonical_key(key):
    """Return the slash form of a sysctl key written either way (sysctl.d(5) rules).

    When the first separator is a slash the key is already in slash form and dots are part of
    names. When it is a dot, dots and slashes swap roles. A leading ``-`` (ignore errors) is kept
    out of the key.
    """
    key = key.strip().lstrip('-').strip('/')
    dot, slash = key.find('.'), key.find('/')
    if slash != -1 and (dot == -1 or slash < dot):
        return key
    return key.translate(str.maketrans('./', '/.'))


def display_key(key):
    """The form to write into a sysctl.d file: dotted unless a component contains a dot."""
    slash_form = canonical_key(key)
    if '.' in slash_form:
        return slash_form
    return slash_form.replace('/', '.')


def conf_key(interface, name, family='ipv4'):
    """Slash key of a per-interface setting, for example ``net/ipv4/conf/trunk.10/rp_filter``."""
    return 'net/%s/conf/%s/%s' % (family, interface, name)


def proc_path(key, root=PROC_SYS):
    """Path below /proc/sys (or ``root``) of a key in either form."""
    return os.path.join(root, canonical_key(key))


def read_value(key, root=PROC_SYS):
    """Value of a kernel parameter as a stripped string."""
    with open(proc_path(key, root), encoding='ascii') as stream:
        return stream.read().strip()


def write_value(key, value, root=PROC_SYS):
    """Write a kernel parameter (the kernel applies it on write)."""
    with open(proc_path(key, root), 'w', encoding='ascii') as stream:
        stream.write('%s\n' % value)


def conf_interfaces(family='ipv4', root=PROC_SYS):
    """Names of the interfaces that have a ``net/FAMILY/conf`` directory, sorted."""
    names = os.listdir(os.path.join(root, 'net', family, 'conf'))
    return sorted(name for name in names if name not in CONF_PSEUDO_INTERFACES)


def effective_rp_filter(all_value, interface_value):
    """The rp_filter value the kernel applies on an interface: max(conf/all, conf/IFACE)."""
    return max(int(all_value), int(interface_value))


def parse_dropin(text):
    """Map each key of a sysctl.d file (slash form) to its value; later lines win, like systemd."""
    values = {}
    for line in (text or '').splitlines():
        key, value = _split_assignment(line)
        if key is not None:
            values[key] = value
    return values


def render_dropin(text, updates):
    """Return the file text with ``updates`` (slash key -> value, or None to remove) applied.

    Lines for other keys and comments are kept as they are; a changed key is rewritten where it
    was, and new keys are appended in the order given.
    """
    pending = dict((canonical_key(key), value) for key, value in updates.items())
    lines = []
    for line in (text if text is not None else DROPIN_HEADER).splitlines():
        key, _value = _split_assignment(line)
        if key in pending:
            if pending[key] is not None:
                lines.append('%s = %s' % (display_key(key), pending[key]))
            pending[key] = None
            continue
        lines.append(line)
    lines.extend('%s = %s' % (display_key(key), value) for key, value in pending.items() if value is not None)
    return '\n'.join(lines) + '\n'


def _split_assignment(line):
    stripped = line.strip()
    if not stripped or stripped[0] in '#;' or '=' not in stripped:
        return None, None
    key, value = stripped.split('=', 1)
    return canonical_key(key), value.strip()
