# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bridge keeper of mcast.linux.bridge: keeps persisted bridge multicast settings in the kernel.

A bridge is created at boot by the network manager (systemd-networkd, ifupdown, NetworkManager),
which enslaves its ports afterwards, and may be deleted and created again at any time. This keeper
applies the settings of the settings file to every bridge (and port) in it as soon as it exists,
then listens to rtnetlink link events (a bridge created, a port enslaved, a setting changed) and
applies again whatever differs. Only the standard library: the module deploys it as one file
(``/usr/lib/mcast-linux/bridge_keeper.py``: the shared ``_keeper_runtime.py``, then this file), run
by ``/usr/bin/python3`` under systemd (Type=notify, SIGHUP re-reads the file). The module imports
the option tables and the file-format helpers from here, so this is the only place that knows
them. The file, in the module's units (seconds, booleans):

    {"br0": {"snooping": true, "querier": true, "query_interval": 20.0,
             "ports": {"swp1": {"mcast_router": 2}}}}

Kernel state is read as JSON from ``ip -j -d link show``; netlink messages are only a trigger.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import subprocess

# runtime import: left out of the deployed script, where linux.py's and the runtime's source stand above this file's.
# EXIT_CONFIG and EXIT_NO_IP, unused here, stay importable from this keeper: its exit statuses, named in its unit.
try:
    from ansible_collections.mcast.linux.plugins.module_utils._keeper_runtime import (  # pylint: disable=unused-import
        EXIT_CONFIG, EXIT_NO_IP, KeeperFileError, command_line, ip_json, load_file, log, run_keeper)
    from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import RTMGRP_LINK, interface_name_problem
except ImportError:  # run as a script from a checkout: the runtime is the file next to this one
    from _keeper_runtime import (  # pylint: disable=unused-import
        EXIT_CONFIG, EXIT_NO_IP, KeeperFileError, command_line, ip_json, load_file, log, run_keeper)
    from mcastd.linux import RTMGRP_LINK, interface_name_problem
# end of the runtime import

DEFAULT_SETTINGS_FILE = '/etc/mcast-linux/bridges.json'
# Module option -> (IFLA_BR_* attribute, `ip link set ... type bridge` keyword, kind). Kinds: 'bool'
# (u8 0/1), 'int' (u8 as is), 'interval' (u64 centiseconds in the kernel, seconds in the module).
# `ip -j -d` names each value after its attribute: IFLA_BR_MCAST_QUERY_INTVL -> mcast_query_intvl.
BRIDGE_OPTIONS = (
    ('snooping', 'IFLA_BR_MCAST_SNOOPING', 'mcast_snooping', 'bool'),
    ('querier', 'IFLA_BR_MCAST_QUERIER', 'mcast_querier', 'bool'),
    ('igmp_version', 'IFLA_BR_MCAST_IGMP_VERSION', 'mcast_igmp_version', 'int'),
    ('mld_version', 'IFLA_BR_MCAST_MLD_VERSION', 'mcast_mld_version', 'int'),
    ('query_interval', 'IFLA_BR_MCAST_QUERY_INTVL', 'mcast_query_interval', 'interval'),
    ('query_response_interval', 'IFLA_BR_MCAST_QUERY_RESPONSE_INTVL', 'mcast_query_response_interval', 'interval'),
    ('membership_interval', 'IFLA_BR_MCAST_MEMBERSHIP_INTVL', 'mcast_membership_interval', 'interval'),
    ('querier_interval', 'IFLA_BR_MCAST_QUERIER_INTVL', 'mcast_querier_interval', 'interval'),
    ('last_member_interval', 'IFLA_BR_MCAST_LAST_MEMBER_INTVL', 'mcast_last_member_interval', 'interval'),
    ('startup_query_interval', 'IFLA_BR_MCAST_STARTUP_QUERY_INTVL', 'mcast_startup_query_interval', 'interval'),
    ('query_use_ifaddr', 'IFLA_BR_MCAST_QUERY_USE_IFADDR', 'mcast_query_use_ifaddr', 'bool'),
)
# Port option -> (IFLA_BRPORT_* attribute, `ip link set ... type bridge_slave` keyword, kind).
PORT_OPTIONS = (
    ('mcast_flood', 'IFLA_BRPORT_MCAST_FLOOD', 'mcast_flood', 'bool'),
    ('mcast_router', 'IFLA_BRPORT_MULTICAST_ROUTER', 'mcast_router', 'int'),
)
# The values an 'int' option may take (the module's choices).
INT_CHOICES = {'igmp_version': (2, 3), 'mld_version': (1, 2), 'mcast_router': (0, 1, 2)}
# With CONFIG_HZ=250 a jiffy is 4 ms, so 1.01 s reads back as 1.00 s: one centisecond is rounding.
ROUNDING_CENTISECONDS = 1
MAX_INTERVAL_SECONDS = 86400
# Link changes only: a bridge created, a port enslaved, a setting changed.
EVENTS = RTMGRP_LINK


class SettingsFileError(KeeperFileError):
    """The settings file cannot be used; the message names the bridge or port and what is wrong."""


def to_kernel(kind, value):
    """A module value as the kernel stores it: bools as 0/1, seconds as centiseconds."""
    if kind == 'bool':
        return int(bool(value))
    if kind == 'interval':
        return int(round(value * 100))
    return int(value)


def from_kernel(kind, value):
    """A kernel value as the module shows it."""
    if value is None:
        return None
    if kind == 'bool':
        return bool(value)
    if kind == 'interval':
        return value / 100.0
    return value


def same_value(kind, current, wanted):
    """True when the kernel's ``current`` counts as ``wanted`` (kernel units)."""
    if kind == 'interval' and current is not None:
        return abs(current - wanted) <= ROUNDING_CENTISECONDS
    return current == wanted


def json_key(attribute):
    """The name ``ip -j -d`` gives an attribute: IFLA_BR_MCAST_QUERIER -> mcast_querier (IFLA_BRPORT_ likewise)."""
    return attribute.split('_', 2)[2].lower()


# --------------------------------------------------------------------------- the settings file

def _checked_name(name, what):
    problem = interface_name_problem(name)
    if problem:
        raise SettingsFileError('%s: %s' % (what, problem))
    return name


def _checked_value(owner, option, kind, value):
    if kind == 'bool':
        if not isinstance(value, bool):
            raise SettingsFileError('%s: %s must be true or false, not %r' % (owner, option, value))
        return value
    if kind == 'int':
        if isinstance(value, bool) or value not in INT_CHOICES[option]:
            raise SettingsFileError('%s: %s must be one of %s, not %r'
                                    % (owner, option, ', '.join(str(choice) for choice in INT_CHOICES[option]), value))
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_INTERVAL_SECONDS:
        raise SettingsFileError('%s: %s must be seconds above 0 and at most %d, not %r'
                                % (owner, option, MAX_INTERVAL_SECONDS, value))
    return float(value)


def _checked_options(owner, table, entry):
    kinds = dict((option, kind) for option, _attribute, _keyword, kind in table)
    unknown = sorted(set(entry) - set(kinds))
    if unknown:
        raise SettingsFileError('%s: unknown settings %s (known: %s)' % (owner, ', '.join(unknown), ', '.join(kinds)))
    return dict((option, _checked_value(owner, option, kinds[option], value)) for option, value in entry.items())


def validate_bridge(name, entry):
    """One bridge's entry as a normalized dict (options and ``ports``), or SettingsFileError."""
    _checked_name(name, 'bridge')
    if not isinstance(entry, dict):
        raise SettingsFileError('bridge %s: its settings must be an object, not %r' % (name, entry))
    options = dict(entry)
    ports = options.pop('ports', {})
    if not isinstance(ports, dict):
        raise SettingsFileError('bridge %s: ports must be an object of port name -> settings' % name)
    normalized = _checked_options('bridge %s' % name, BRIDGE_OPTIONS, options)
    normalized['ports'] = {}
    for port, settings in ports.items():
        _checked_name(port, 'port of bridge %s' % name)
        if not isinstance(settings, dict) or not settings:
            raise SettingsFileError('port %s of bridge %s: give mcast_flood, mcast_router or both' % (port, name))
        normalized['ports'][port] = _checked_options('port %s of bridge %s' % (port, name), PORT_OPTIONS, settings)
    return normalized


def parse_settings(text):
    """``{bridge: {option: value, 'ports': {port: {option: value}}}}`` from the file's text, or SettingsFileError."""
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise SettingsFileError('not JSON: %s' % error)
    if not isinstance(entries, dict):
        raise SettingsFileError('the file must hold a JSON object of bridge name -> settings')
    return dict((name, validate_bridge(name, entry)) for name, entry in entries.items())


def dump_settings(settings):
    """The settings file's text: sorted keys and a stable layout, so unchanged settings read back the same."""
    normalized = dict((name, validate_bridge(name, entry)) for name, entry in settings.items())
    return json.dumps(normalized, indent=2, sort_keys=True) + '\n'


def load_settings(path):
    """The settings of the file at ``path``; no file means no bridges."""
    return load_file(path, parse_settings, {})


# --------------------------------------------------------------------------- what differs, and the ip commands

def differing(table, wanted, kernel_data):
    """``[(keyword, kernel value)]`` of the wanted options whose kernel value (``ip -j -d``) differs."""
    changes = []
    for option, attribute, keyword, kind in table:
        if option not in wanted:
            continue
        value = to_kernel(kind, wanted[option])
        current = kernel_data.get(json_key(attribute))
        if isinstance(current, bool):  # ip prints some port flags as JSON booleans
            current = int(current)
        if not same_value(kind, current, value):
            changes.append((keyword, value))
    return changes


def bridge_argv(ip, name, changes):
    return [ip, 'link', 'set', 'dev', name, 'type', 'bridge'] + [str(part) for change in changes for part in change]


def port_argv(ip, name, changes):
    # mcast_flood is on/off for `type bridge_slave`, mcast_router a number.
    words = []
    for keyword, value in changes:
        words += [keyword, ('on' if value else 'off') if keyword == 'mcast_flood' else str(value)]
    return [ip, 'link', 'set', 'dev', name, 'type', 'bridge_slave'] + words


def plan_commands(ip, settings, links):
    """The ``ip`` argv lists that bring existing bridges and enslaved ports in line with ``settings``.

    ``links`` is ``ip -j -d link show``. A bridge that does not exist (yet), and a port that is not
    (yet) enslaved to its bridge, are skipped: their link event brings the keeper back.
    """
    by_name = dict((link.get('ifname'), link) for link in links)
    commands = []
    for name, entry in sorted(settings.items()):
        link = by_name.get(name)
        info = (link or {}).get('linkinfo') or {}
        if info.get('info_kind') != 'bridge':
            continue
        options = dict((option, value) for option, value in entry.items() if option != 'ports')
        changes = differing(BRIDGE_OPTIONS, options, info.get('info_data') or {})
        if changes:
            commands.append(bridge_argv(ip, name, changes))
        for port, wanted in sorted(entry.get('ports', {}).items()):
            port_link = by_name.get(port)
            if not port_link or port_link.get('master') != name:
                continue
            port_data = (port_link.get('linkinfo') or {}).get('info_slave_data') or {}
            port_changes = differing(PORT_OPTIONS, wanted, port_data)
            if port_changes:
                commands.append(port_argv(ip, port, port_changes))
    return commands


class Keeper:
    """Reads the links with ``ip -j -d`` and sets what differs with ``ip link set``.

    A value the kernel does not keep (it clamps some silently) would differ again after every
    set, and each set raises the link event that brings the keeper back: such a command is
    reported once and left alone for that link until the file is read again.
    """

    def __init__(self, path, ip):
        self.path = path
        self.ip = ip
        self.settings = load_settings(path)
        self.refused = set()  # (ifindex, argv) the kernel did not keep

    def reload(self):
        """Read the file again; an unusable file keeps the settings known before."""
        try:
            self.settings = load_settings(self.path)
        except SettingsFileError as error:
            log.error('kept the settings of %d bridges known before: %s', len(self.settings), error)
            return
        self.refused = set()
        log.info('%s: %d bridges', self.path, len(self.settings))

    def status(self):
        return 'keeping %d bridges' % len(self.settings)

    def planned(self):
        """``{(ifindex, argv): argv}`` of the commands to run now, without those the kernel refused."""
        links = ip_json(self.ip, '-d', 'link', 'show')
        indexes = dict((link.get('ifname'), link.get('ifindex')) for link in links)
        planned = dict(((indexes.get(argv[4]), tuple(argv)), argv) for argv in plan_commands(self.ip, self.settings, links))
        return dict((key, argv) for key, argv in planned.items() if key not in self.refused)

    def reconcile(self):
        """Apply every setting that differs on the bridges and ports that exist; return how many commands ran."""
        if not self.settings:
            return 0
        try:
            commands = self.planned()
        except (OSError, ValueError) as error:
            log.error('cannot read the kernel state: %s', error)
            return 0
        applied = 0
        for argv in commands.values():
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode == 0:
                log.info('set %s', ' '.join(argv[4:]))
                applied += 1
            else:  # the link went away in between: its next event brings us back
                log.warning('could not set %s: %s', ' '.join(argv[4:]), done.stderr.strip())
        if applied:
            self.note_refused(commands)
        return applied

    def note_refused(self, commands):
        """Remember the commands that still differ right after running them: the kernel does not keep those values."""
        try:
            again = self.planned()
        except (OSError, ValueError):
            return
        for key in set(again) & set(commands):
            self.refused.add(key)
            log.error('the kernel does not keep %s (it clamps values outside its range); correct %s, then reload',
                      ' '.join(commands[key][4:]), self.path)


def main(argv=None):
    path, once = command_line(argv, 'Keep the bridge multicast settings of mcast.linux.bridge.', 'settings_file',
                              DEFAULT_SETTINGS_FILE, 'JSON object of bridge settings (default %(default)s)',
                              'apply what differs once and exit')
    return run_keeper(Keeper, path, once, EVENTS)


if __name__ == '__main__':
    raise SystemExit(main())
