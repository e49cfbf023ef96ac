#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: bridge
short_description: Set the IGMP/MLD snooping and querier settings of a Linux bridge and its ports
version_added: 0.1.0
description:
  - Makes sure a Linux bridge snoops (or not), acts as IGMP/MLD querier (or not), speaks the given
    IGMP and MLD versions and uses the given timers, and sets the multicast flooding and
    multicast-router mode of its ports. Options that are not given are left alone.
  - Talks to the kernel over netlink (pyroute2), changes only the values that differ, and reads
    every changed value back afterwards. The kernel silently clamps some values (a query
    interval below 1 s becomes 1 s); the module then fails and says which value the kernel
    kept and what to write instead.
  - Intervals are given in seconds (decimals allowed, in steps of 0.01 s); the kernel keeps them
    in centiseconds. RV(before), RV(after) and the diff show seconds too.
  - With O(persist=true) (the default) the settings given are also kept in a JSON settings file
    (O(settings_file)), and a small bridge keeper (O(keeper_file), Python standard library only) runs
    as the systemd service O(unit_file), enabled for C(multi-user.target). The keeper applies the
    settings of every bridge in the file as soon as the bridge exists, and listens to rtnetlink link
    events, so a bridge that the network manager creates at boot after the keeper started, a port
    enslaved later, or a bridge deleted and created again gets them within a second. This is the
    deployment of M(mcast.linux.route)'s route keeper, one pattern for the collection.
  - Why a keeper and not the network manager, a udev rule or a unit bound to the bridge's device
    (C(sys-subsystem-net-devices-BR.device)) - the bridge's C(add) event, which udev rules and device units
    follow, comes before systemd-networkd or ifupdown configure the bridge and enslave its ports.
    Enslaving a port raises no such event, so port settings would be missed and bridge settings
    could be overwritten by the network manager right after. systemd-networkd has no timers in its
    C([Bridge]) section, ifupdown needs C(post-up) lines per bridge, and containers booting systemd have
    no udev at all. The keeper works with any of them because it reacts to the kernel's own link
    events, after whatever created or changed the bridge.
author:
  - mcast.linux developers (@mcast-linux)
extends_documentation_fragment:
  - mcast.linux.attributes
requirements:
  - pyroute2 (Debian and Ubuntu package C(python3-pyroute2)) on the target.
options:
  name:
    description:
      - The bridge, which must exist (create it with the network manager in use).
    type: str
    required: true
  snooping:
    description:
      - IGMP/MLD snooping (C(mcast_snooping)). With V(false) the bridge floods every group to every port.
    type: bool
  querier:
    description:
      - Let the bridge send general queries itself (C(mcast_querier)) when no other querier is heard.
        A snooping bridge without any querier on its segment prunes groups after O(membership_interval).
    type: bool
  igmp_version:
    description:
      - The IGMP version of the bridge's own queries (C(mcast_igmp_version)).
    type: int
    choices: [2, 3]
  mld_version:
    description:
      - The MLD version of the bridge's own queries (C(mcast_mld_version)).
    type: int
    choices: [1, 2]
  query_interval:
    description:
      - Seconds between general queries (C(mcast_query_interval)); the kernel default is 125.
      - The kernel raises values below 1 s to 1 s; the module fails then.
    type: float
  query_response_interval:
    description:
      - Maximum response time advertised in queries, in seconds (C(mcast_query_response_interval));
        the kernel default is 10. Must be shorter than the query interval.
    type: float
  membership_interval:
    description:
      - Seconds after which a group without reports is pruned from a port
        (C(mcast_membership_interval)); the kernel default is 260. Must be greater than 0.
    type: float
  querier_interval:
    description:
      - Other-querier-present interval in seconds (C(mcast_querier_interval)), that is how long the bridge
        stays silent after hearing another querier; the kernel default is 255.
    type: float
  last_member_interval:
    description:
      - Seconds between group-specific queries after a leave (C(mcast_last_member_interval));
        the kernel default is 1.
    type: float
  startup_query_interval:
    description:
      - Seconds between the queries of the startup burst (C(mcast_startup_query_interval));
        the kernel default is 31.25.
    type: float
  query_use_ifaddr:
    description:
      - Use the bridge's own IP address as the source of its queries (C(mcast_query_use_ifaddr))
        instead of 0.0.0.0, which many hosts and switches ignore in querier election.
    type: bool
  ports:
    description:
      - Per-port settings. Each port must be enslaved to this bridge; ports not listed are left alone.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The port's interface name.
        type: str
        required: true
      mcast_flood:
        description:
          - Flood unknown multicast to this port (C(mcast_flood)). V(false) also stops the
            link-local queries from reaching hosts behind the port, so their groups expire.
        type: bool
      mcast_router:
        description:
          - Multicast-router mode of the port (C(mcast_router)). V(0) never a router port,
            V(1) learned from queries and PIM hellos (temporary, the default), V(2) always a router
            port (permanent).
        type: int
        choices: [0, 1, 2]
  persist:
    description:
      - Also keep the settings given in O(settings_file), merged over the bridge's earlier ones (options
        not given keep their persisted value), so that the bridge keeper applies them at boot and
        whenever the bridge or a listed port appears. With V(false) only the running kernel is changed
        and the files are left as they are.
    type: bool
    default: true
    aliases: [persistent]
  settings_file:
    description:
      - The JSON object of persisted bridge settings the module owns, read by the bridge keeper. It maps
        each bridge name to the options of this module by name (seconds, booleans) and C(ports), which
        maps each port name to its C(mcast_flood) and C(mcast_router).
    type: path
    default: /etc/mcast-linux/bridges.json
  keeper_file:
    description:
      - Where the module deploys the bridge keeper script, run by C(/usr/bin/python3) from the unit.
    type: path
    default: /usr/lib/mcast-linux/bridge_keeper.py
  unit_file:
    description:
      - The systemd unit of the bridge keeper (C(Type=notify), C(ExecReload) re-reads O(settings_file)).
        It is enabled by a symlink in the C(multi-user.target.wants) directory next to it.
    type: path
    default: /etc/systemd/system/mcast-linux-bridges.service
  service_control:
    description:
      - V(auto) brings the running keeper in line with its files when systemd is the init system
        and O(unit_file) lies in C(/etc/systemd/system) or C(/run/systemd/system). It runs
        C(systemctl daemon-reload) after a unit change, C(restart) after a unit or keeper change, C(reload-or-restart) after a
        settings change, and C(start) when it is not running.
      - V(never) only writes the files; the keeper starts at the next boot (or when you start it).
    type: str
    choices: [auto, never]
    default: auto
notes:
  - The keeper enforces the persisted values. A value changed by hand (C(ip link set ... type bridge)), by
    the network manager or by this module with O(persist=false) is set back within a second (the module
    warns then); change it with this module and O(persist=true), which updates O(settings_file) and tells
    the keeper (C(systemctl reload)). To stop persisting a bridge, remove
    its entry from O(settings_file) and reload the unit.
  - The keeper needs C(python3) (3.9 or newer) and C(ip) (iproute2) on the target, but neither pyroute2
    nor udev. Its unit is hardened without mount namespaces, runs as root with only
    C(CAP_NET_ADMIN) and logs to C(journalctl -u mcast-linux-bridges).
  - The kernel counts time in jiffies; depending on C(CONFIG_HZ) an interval can read back up to
    0.01 s lower than written. The module treats that as equal.
seealso:
  - module: mcast.linux.link
  - module: mcast.linux.facts
'''

EXAMPLES = r'''
- name: A snooping switch that is also the querier of its segment, IGMPv3
  mcast.linux.bridge:
    name: br0
    snooping: true
    querier: true
    igmp_version: 3
    query_use_ifaddr: true

- name: Short timers for a lab, so an expiring group shows within seconds
  mcast.linux.bridge:
    name: br-lab
    query_interval: 2
    query_response_interval: 1
    membership_interval: 2.5

- name: Make the uplink a permanent router port and stop flooding unknown groups to a camera port
  mcast.linux.bridge:
    name: br0
    ports:
      - name: uplink0
        mcast_router: 2
      - name: cam1
        mcast_flood: false
  register: bridge

- name: Show what changed
  ansible.builtin.debug:
    var: bridge.changes

- name: Try a setting on the running kernel only, on a bridge whose settings are not persisted
  mcast.linux.bridge:
    name: br0
    query_interval: 30
    persist: false
'''

RETURN = r'''
before:
  description: The bridge's settings (intervals in seconds) and those of the listed ports before the run.
  returned: always
  type: dict
  sample: {"snooping": true, "querier": false, "igmp_version": 2, "mld_version": 1,
           "query_interval": 125.0, "query_response_interval": 10.0, "membership_interval": 260.0,
           "querier_interval": 255.0, "last_member_interval": 1.0, "startup_query_interval": 31.24,
           "query_use_ifaddr": false, "ports": {"veth1": {"mcast_flood": true, "mcast_router": 1}}}
after:
  description: The same after the run, read back from the kernel (in check mode, what it would be).
  returned: always
  type: dict
  sample: {"snooping": true, "querier": true, "igmp_version": 3, "mld_version": 1,
           "query_interval": 125.0, "query_response_interval": 10.0, "membership_interval": 260.0,
           "querier_interval": 255.0, "last_member_interval": 1.0, "startup_query_interval": 31.24,
           "query_use_ifaddr": false, "ports": {"veth1": {"mcast_flood": true, "mcast_router": 2}}}
changes:
  description: Every value that was (or would be) changed, on the bridge or a port.
  returned: always
  type: list
  elements: dict
  sample: [{"interface": "br0", "option": "querier", "before": false, "after": true},
           {"interface": "veth1", "option": "mcast_router", "before": 1, "after": 2}]
persistence:
  description:
    - The persistence files that were (or, in check mode, would be) written, including the
      C(multi-user.target.wants) symlink; and the C(systemctl) actions run (or planned) for the
      bridge keeper's unit.
  returned: always
  type: dict
  sample: {"files": ["/etc/mcast-linux/bridges.json", "/usr/lib/mcast-linux/bridge_keeper.py",
           "/etc/systemd/system/mcast-linux-bridges.service",
           "/etc/systemd/system/multi-user.target.wants/mcast-linux-bridges.service"],
           "service": ["daemon-reload", "restart mcast-linux-bridges.service"]}
  contains:
    files:
      description: Paths changed, in the order settings file, keeper, unit, symlink.
      type: list
      elements: str
    service:
      description: The C(systemctl) arguments, one action per item.
      type: list
      elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils import _bridge_keeper as bridge_keeper
from ansible_collections.mcast.linux.plugins.module_utils._bridge import (
    BRIDGE_OPTIONS, PORT_OPTIONS, link_summaries, netlink_keyword, option_kinds, read_data, shown)
from ansible_collections.mcast.linux.plugins.module_utils._bridge_keeper import (
    MAX_INTERVAL_SECONDS, from_kernel, same_value, to_kernel)
from ansible_collections.mcast.linux.plugins.module_utils._files import text_diff
from ansible_collections.mcast.linux.plugins.module_utils._keeper_deploy import (
    KeeperDeployment, keeper_script, render_unit as render_keeper_unit)
from ansible_collections.mcast.linux.plugins.module_utils._netlink import (
    NetlinkError, check_interface_names, open_iproute, require_pyroute2)

INTERVALS = [option for option, kind in option_kinds(BRIDGE_OPTIONS).items() if kind == 'interval']
KEEPER_HEADER = ('# Deployed by mcast.linux.bridge (its module_utils/mcastd/linux.py, _keeper_runtime.py, '
                 'then _bridge_keeper.py). '
                 'Edits are overwritten.\n')
UNIT_HEADER = """# Managed by mcast.linux.bridge: keeps the bridge multicast settings of %s in the
# kernel, also when a bridge or port is created (again) after boot. Edits are overwritten.
"""


def interval_error(option, seconds):
    """Why ``seconds`` cannot be the value of interval ``option``, or None when it is fine."""
    if seconds < 0:
        return '%s is %s: an interval cannot be negative; give seconds such as 1 or 0.5.' % (option, seconds)
    if seconds == 0:
        return ('%s is 0: the kernel would accept it, but a zero interval makes the bridge expire or query '
                'constantly; give a positive number of seconds.' % option)
    if seconds > MAX_INTERVAL_SECONDS:
        return '%s is %s s: more than a day (%d s) is no IGMP or MLD timer; give seconds, not centiseconds.' % (
            option, seconds, MAX_INTERVAL_SECONDS)
    if abs(seconds * 100 - round(seconds * 100)) > 1e-6:
        return '%s is %s s: the kernel keeps intervals in centiseconds; round it to 0.01 s.' % (option, seconds)
    return None


def port_name_error(ports):
    """Why the list of ports is wrong in itself (before looking at the kernel), or None."""
    names = [port['name'] for port in ports]
    duplicates = sorted(set(name for name in names if names.count(name) > 1))
    if duplicates:
        return 'ports lists %s more than once; give each port once with all its settings.' % ', '.join(duplicates)
    for port in ports:
        if port.get('mcast_flood') is None and port.get('mcast_router') is None:
            return 'port %s has no setting; give mcast_flood, mcast_router or both, or leave the port out.' % port['name']
    return None


def input_error(params):
    """The first problem with the parameters that needs no kernel to find, or None."""
    for option in INTERVALS:
        if params.get(option) is not None:
            message = interval_error(option, params[option])
            if message:
                return message
    return port_name_error(params.get('ports') or [])


def wanted_bridge(params):
    """The bridge values asked for, in kernel units: ``{option: value}`` for options given."""
    return dict((option, to_kernel(kind, params[option]))
                for option, kind in option_kinds(BRIDGE_OPTIONS).items() if params.get(option) is not None)


def wanted_ports(ports):
    """``{port: {option: kernel value}}`` for the port settings given."""
    return dict((port['name'], dict((option, to_kernel(kind, port[option]))
                                    for option, kind in option_kinds(PORT_OPTIONS).items() if port.get(option) is not None))
                for port in ports)


def relation_error(current, wanted):
    """Refuse timers that contradict each other once applied (kernel units), or None."""
    merged = dict(current, **wanted)
    query, response = merged.get('query_interval'), merged.get('query_response_interval')
    if query is not None and response is not None and response >= query:
        return ('query_response_interval (%s s) must be shorter than query_interval (%s s): hosts spread their '
                'reports over the response interval, so it has to end before the next query. Lower '
                'query_response_interval or raise query_interval.'
                % (from_kernel('interval', response), from_kernel('interval', query)))
    return None


def membership_error(bridge_name, bridge_index, ports, links):
    """Why a listed port is not a port of this bridge, or None. ``links`` maps name -> summary."""
    for name in ports:
        link = links.get(name)
        if link is None:
            return 'port %s does not exist on this host; existing interfaces: %s.' % (name, ', '.join(sorted(links)))
        if link['master'] != bridge_index:
            return ('%s is not a port of bridge %s; enslave it first (ip link set dev %s master %s) or remove it '
                    'from ports.' % (name, bridge_name, name, bridge_name))
    return None


def plan_changes(table, current, wanted):
    """``{option: (before, after)}`` in kernel units for the options whose value differs."""
    kinds = option_kinds(table)
    return dict((option, (current.get(option), value)) for option, value in wanted.items()
                if not same_value(kinds[option], current.get(option), value))


def change_records(interface, table, changes):
    """One ``{interface, option, before, after}`` per change, sorted by option."""
    kinds = option_kinds(table)
    return [{'interface': interface, 'option': option, 'before': from_kernel(kinds[option], before),
             'after': from_kernel(kinds[option], after)}
            for option, (before, after) in sorted(changes.items())]


def clamp_errors(interface, table, wanted, readback):
    """A sentence per value the kernel did not keep as written (kernel units in, seconds out)."""
    kinds = option_kinds(table)
    messages = []
    for option, value in sorted(wanted.items()):
        kept = readback.get(option)
        if not same_value(kinds[option], kept, value):
            messages.append('the kernel kept %s of %s at %s instead of %s (it clamps values outside its range); '
                            'write %s: %s instead.' % (option, interface, from_kernel(kinds[option], kept),
                                                       from_kernel(kinds[option], value), option,
                                                       from_kernel(kinds[option], kept)))
    return messages


def persisted_entry(params):
    """The settings this task gives, in the settings file's format (module units); ports only with a setting."""
    entry = dict((option, params[option]) for option in option_kinds(BRIDGE_OPTIONS) if params.get(option) is not None)
    ports = dict((port['name'], dict((option, port[option]) for option in option_kinds(PORT_OPTIONS)
                                     if port.get(option) is not None)) for port in params.get('ports') or [])
    entry['ports'] = dict((name, values) for name, values in ports.items() if values)
    return entry


def updated_settings(settings, name, entry):
    """The persisted settings after this task: its values merged over the bridge's (options not given stay)."""
    merged = dict((bridge, dict(values, ports=dict((port, dict(port_values))
                                                   for port, port_values in values.get('ports', {}).items())))
                  for bridge, values in settings.items())
    if not entry['ports'] and len(entry) == 1:
        return merged  # nothing given: nothing to persist
    current = merged.setdefault(name, {'ports': {}})
    current.update((option, value) for option, value in entry.items() if option != 'ports')
    for port, values in entry['ports'].items():
        current['ports'].setdefault(port, {}).update(values)
    return merged


def keeper_conflicts(settings, name, entry):
    """``bridge option`` or ``port option`` texts whose persisted value differs from the one given now."""
    kept = settings.get(name) or {}
    conflicts = ['%s %s' % (name, option) for option, value in sorted(entry.items())
                 if option != 'ports' and option in kept and kept[option] != value]
    for port, values in sorted(entry['ports'].items()):
        kept_port = kept.get('ports', {}).get(port, {})
        conflicts.extend('%s %s' % (port, option) for option, value in sorted(values.items())
                         if option in kept_port and kept_port[option] != value)
    return conflicts


def render_unit(keeper_file, settings_file):
    return render_keeper_unit(UNIT_HEADER % settings_file,
                              'Bridge multicast settings managed by mcast.linux (bridge keeper)',
                              keeper_file, settings_file, 'settings file')


def keeper_source():
    """The keeper script: the runtime's source and the bridge keeper's, as one file."""
    return keeper_script(KEEPER_HEADER, bridge_keeper)


class Bridge(object):
    """Read the bridge and its ports, plan, set what differs (outside check mode), read back, persist."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.name = self.params['name']
        self.persistence = Persistence(module) if self.params['persist'] else None
        self.result = {'changed': False, 'before': {}, 'after': {}, 'changes': [],
                       'persistence': {'files': [], 'service': []}}

    def run(self):
        with open_iproute() as ipr:
            links = link_summaries(ipr)
            bridge = self.find_bridge(links)
            wanted, wanted_port_values = wanted_bridge(self.params), wanted_ports(self.params['ports'])
            self.refuse(membership_error(self.name, bridge['index'], wanted_port_values, links))
            current = read_data(BRIDGE_OPTIONS, bridge['data'])
            self.refuse(relation_error(current, wanted))
            current_ports = dict((name, read_data(PORT_OPTIONS, links[name]['slave_data'])) for name in wanted_port_values)
            bridge_changes = plan_changes(BRIDGE_OPTIONS, current, wanted)
            port_changes = dict((name, plan_changes(PORT_OPTIONS, current_ports[name], values))
                                for name, values in wanted_port_values.items())
            self.report(current, current_ports, bridge_changes, port_changes)
            if self.persistence:
                self.plan_persistence()
            else:
                self.warn_about_keeper()
            if not self.module.check_mode and self.result['changes']:
                self.apply(ipr, bridge['index'], bridge_changes, port_changes, links)
                self.read_back(ipr, wanted, wanted_port_values)
        # Only values the kernel kept as written are persisted: read_back fails before this otherwise.
        if self.persistence and not self.module.check_mode:
            self.persistence.apply()
        return self.result

    def warn_about_keeper(self):
        """With persist false, say which values the bridge keeper will set back to its persisted ones."""
        try:
            settings = bridge_keeper.load_settings(self.params['settings_file'])
        except (bridge_keeper.SettingsFileError, IOError, OSError):  # not ours to judge without persist
            return
        conflicts = keeper_conflicts(settings, self.name, persisted_entry(self.params))
        if conflicts:
            self.module.warn('%s persists other values for %s: its bridge keeper sets them back within a second '
                             'if it runs. Use persist: true to change them for good.'
                             % (self.params['settings_file'], ', '.join(conflicts)))

    def plan_persistence(self):
        self.result['persistence'] = self.persistence.plan(self.name, persisted_entry(self.params))
        if self.result['persistence']['files'] or self.result['persistence']['service']:
            self.result['changed'] = True
        if self.module._diff:
            self.result['diff'].extend(self.persistence.diff())

    def refuse(self, message):
        if message:
            self.module.fail_json(msg=message)

    def find_bridge(self, links):
        bridge = links.get(self.name)
        if bridge is None:
            self.refuse('bridge %s does not exist on this host; existing interfaces: %s. Create the bridge first.'
                        % (self.name, ', '.join(sorted(links))))
        if bridge['kind'] != 'bridge':
            self.refuse('%s is not a bridge (its kind is %s); give the name of a Linux bridge.'
                        % (self.name, bridge['kind'] or 'a plain interface'))
        return bridge

    def report(self, current, current_ports, bridge_changes, port_changes):
        """Fill before, after, changes, changed and the diff from the plan."""
        after = dict(current, **dict((option, value) for option, (_before, value) in bridge_changes.items()))
        self.result['before'] = dict(shown(BRIDGE_OPTIONS, current), ports={})
        self.result['after'] = dict(shown(BRIDGE_OPTIONS, after), ports={})
        changes = change_records(self.name, BRIDGE_OPTIONS, bridge_changes)
        for name in sorted(current_ports):
            planned = dict((option, value) for option, (_before, value) in port_changes[name].items())
            self.result['before']['ports'][name] = shown(PORT_OPTIONS, current_ports[name])
            self.result['after']['ports'][name] = shown(PORT_OPTIONS, dict(current_ports[name], **planned))
            changes.extend(change_records(name, PORT_OPTIONS, port_changes[name]))
        self.result['changes'] = changes
        self.result['changed'] = bool(changes)
        if self.module._diff:
            self.result['diff'] = [text_diff('multicast settings of bridge %s (running kernel)' % self.name,
                                             ['%s %s=%s' % (c['interface'], c['option'], c['before']) for c in changes],
                                             ['%s %s=%s' % (c['interface'], c['option'], c['after']) for c in changes])
                                   ] if changes else []

    def apply(self, ipr, bridge_index, bridge_changes, port_changes, links):
        attributes = dict((option, attribute) for option, attribute, _keyword, _kind in BRIDGE_OPTIONS)
        port_attributes = dict((option, attribute) for option, attribute, _keyword, _kind in PORT_OPTIONS)
        try:
            if bridge_changes:
                settings = dict((netlink_keyword(attributes[option], 'IFLA_'), value)
                                for option, (_before, value) in bridge_changes.items())
                ipr.link('set', index=bridge_index, kind='bridge', **settings)
            for name, changes in sorted(port_changes.items()):
                if changes:
                    settings = dict((netlink_keyword(port_attributes[option], 'IFLA_BRPORT_'), value)
                                    for option, (_before, value) in changes.items())
                    ipr.brport('set', index=links[name]['index'], **settings)
        except NetlinkError as error:
            self.module.fail_json(msg='setting the multicast options of bridge %s failed: %s. Run as root (become: true).'
                                      % (self.name, error), **self.result)

    def read_back(self, ipr, wanted, wanted_port_values):
        """Read every value again; fail when the kernel kept something else than was written."""
        links = link_summaries(ipr)
        readback = read_data(BRIDGE_OPTIONS, links[self.name]['data'])
        messages = clamp_errors(self.name, BRIDGE_OPTIONS, wanted, readback)
        self.result['after'] = dict(shown(BRIDGE_OPTIONS, readback), ports={})
        for name, values in sorted(wanted_port_values.items()):
            port_readback = read_data(PORT_OPTIONS, links[name]['slave_data'])
            self.result['after']['ports'][name] = shown(PORT_OPTIONS, port_readback)
            messages.extend(clamp_errors(name, PORT_OPTIONS, values, port_readback))
        if messages:
            self.module.fail_json(msg=' '.join(messages), **self.result)


class Persistence(KeeperDeployment):
    """The settings file, the keeper script, its unit and the symlink that enables it; and the running unit.

    The same deployment as mcast.linux.route's route keeper (``_keeper_deploy.py``).
    """

    def __init__(self, module):
        super(Persistence, self).__init__(module, 'bridge keeper', module.params['settings_file'])

    def plan(self, name, entry):
        """Decide the file changes and the systemctl actions; return them for the result."""
        settings = updated_settings(self.read_kept_file(bridge_keeper.parse_settings, {}), name, entry)
        if not settings:
            return self.plan_files(None)
        return self.plan_files((bridge_keeper.dump_settings(settings), keeper_source(),
                                render_unit(self.keeper_file, self.kept_file)))


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            snooping=dict(type='bool'),
            querier=dict(type='bool'),
            igmp_version=dict(type='int', choices=[2, 3]),
            mld_version=dict(type='int', choices=[1, 2]),
            query_interval=dict(type='float'),
            query_response_interval=dict(type='float'),
            membership_interval=dict(type='float'),
            querier_interval=dict(type='float'),
            last_member_interval=dict(type='float'),
            startup_query_interval=dict(type='float'),
            query_use_ifaddr=dict(type='bool'),
            ports=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                mcast_flood=dict(type='bool'),
                mcast_router=dict(type='int', choices=[0, 1, 2]),
            )),
            persist=dict(type='bool', default=True, aliases=['persistent']),
            settings_file=dict(type='path', default=bridge_keeper.DEFAULT_SETTINGS_FILE),
            keeper_file=dict(type='path', default='/usr/lib/mcast-linux/bridge_keeper.py'),
            unit_file=dict(type='path', default='/etc/systemd/system/mcast-linux-bridges.service'),
            service_control=dict(type='str', choices=['auto', 'never'], default='auto'),
        ),
        supports_check_mode=True,
    )


def validate(module):
    params = module.params
    check_interface_names(module, [params['name']] + [port['name'] for port in params['ports']])
    message = input_error(params)
    if message:
        module.fail_json(msg=message)


def main():
    module = build_module()
    validate(module)
    require_pyroute2(module)
    result = Bridge(module).run()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
