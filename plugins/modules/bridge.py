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
  - Settings are applied to the running kernel only; see the notes about persistence.
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
notes:
  - Persistence is not implemented yet (there is no C(persist) option); the settings last until the
    bridge is deleted or the host reboots. Apply the module again at start-up, or configure the same
    values in the network manager, for example systemd-networkd's C([Bridge]) section of the bridge's
    C(.netdev) file (C(MulticastSnooping=), C(MulticastQuerier=), C(MulticastIGMPVersion=); it has no
    timers) and of each port's C(.network) file (C(MulticastFlood=), C(MulticastRouter=)), or
    C(post-up ip link set dev BRIDGE type bridge mcast_...) lines in C(/etc/network/interfaces).
  - A udev rule as in M(mcast.linux.link) does not fit here, because a bridge's C(add) event comes
    before the network manager configures the bridge and enslaves its ports, and enslaving a port
    raises no event, so the port settings would not be applied and the bridge settings could be
    overwritten by the network manager.
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
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._files import text_diff
from ansible_collections.mcast.linux.plugins.module_utils._netlink import (
    NetlinkError, check_interface_names, open_iproute, require_pyroute2)

# Module option -> (IFLA_BR_* attribute, kind). Kinds: 'bool' (u8 0/1), 'int' (u8 as is),
# 'interval' (u64 centiseconds in the kernel, seconds in the module).
BRIDGE_OPTIONS = (
    ('snooping', 'IFLA_BR_MCAST_SNOOPING', 'bool'),
    ('querier', 'IFLA_BR_MCAST_QUERIER', 'bool'),
    ('igmp_version', 'IFLA_BR_MCAST_IGMP_VERSION', 'int'),
    ('mld_version', 'IFLA_BR_MCAST_MLD_VERSION', 'int'),
    ('query_interval', 'IFLA_BR_MCAST_QUERY_INTVL', 'interval'),
    ('query_response_interval', 'IFLA_BR_MCAST_QUERY_RESPONSE_INTVL', 'interval'),
    ('membership_interval', 'IFLA_BR_MCAST_MEMBERSHIP_INTVL', 'interval'),
    ('querier_interval', 'IFLA_BR_MCAST_QUERIER_INTVL', 'interval'),
    ('last_member_interval', 'IFLA_BR_MCAST_LAST_MEMBER_INTVL', 'interval'),
    ('startup_query_interval', 'IFLA_BR_MCAST_STARTUP_QUERY_INTVL', 'interval'),
    ('query_use_ifaddr', 'IFLA_BR_MCAST_QUERY_USE_IFADDR', 'bool'),
)
# Port option -> (IFLA_BRPORT_* attribute, kind).
PORT_OPTIONS = (
    ('mcast_flood', 'IFLA_BRPORT_MCAST_FLOOD', 'bool'),
    ('mcast_router', 'IFLA_BRPORT_MULTICAST_ROUTER', 'int'),
)
INTERVALS = [option for option, _attribute, kind in BRIDGE_OPTIONS if kind == 'interval']
# Longer than any sensible IGMP timer, and far from the u64 the kernel takes.
MAX_INTERVAL_SECONDS = 86400
# With CONFIG_HZ=250 a jiffy is 4 ms, so 1.01 s reads back as 1.00 s: one centisecond is rounding.
ROUNDING_CENTISECONDS = 1


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
                for option, _attribute, kind in BRIDGE_OPTIONS if params.get(option) is not None)


def wanted_ports(ports):
    """``{port: {option: kernel value}}`` for the port settings given."""
    return dict((port['name'], dict((option, to_kernel(kind, port[option]))
                                    for option, _attribute, kind in PORT_OPTIONS if port.get(option) is not None))
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
    kinds = dict((option, kind) for option, _attribute, kind in table)
    return dict((option, (current.get(option), value)) for option, value in wanted.items()
                if not same_value(kinds[option], current.get(option), value))


def shown(table, values):
    """Kernel values as the module shows them (seconds, bools)."""
    kinds = dict((option, kind) for option, _attribute, kind in table)
    return dict((option, from_kernel(kinds[option], value)) for option, value in values.items())


def change_records(interface, table, changes):
    """One ``{interface, option, before, after}`` per change, sorted by option."""
    kinds = dict((option, kind) for option, _attribute, kind in table)
    return [{'interface': interface, 'option': option, 'before': from_kernel(kinds[option], before),
             'after': from_kernel(kinds[option], after)}
            for option, (before, after) in sorted(changes.items())]


def clamp_errors(interface, table, wanted, readback):
    """A sentence per value the kernel did not keep as written (kernel units in, seconds out)."""
    kinds = dict((option, kind) for option, _attribute, kind in table)
    messages = []
    for option, value in sorted(wanted.items()):
        kept = readback.get(option)
        if not same_value(kinds[option], kept, value):
            messages.append('the kernel kept %s of %s at %s instead of %s (it clamps values outside its range); '
                            'write %s: %s instead.' % (option, interface, from_kernel(kinds[option], kept),
                                                       from_kernel(kinds[option], value), option,
                                                       from_kernel(kinds[option], kept)))
    return messages


def netlink_keyword(attribute, prefix):
    """pyroute2's keyword for an attribute: IFLA_BR_MCAST_QUERIER -> br_mcast_querier (0.7 and 0.9)."""
    return attribute[len(prefix):].lower()


def read_data(table, data):
    """``{option: kernel value}`` from a decoded IFLA_INFO_DATA / IFLA_INFO_SLAVE_DATA."""
    return dict((option, data.get_attr(attribute) if data is not None else None) for option, attribute, _kind in table)


def link_summaries(ipr):
    """``{name: {'index', 'master', 'kind', 'data'}}`` for every link; data is the decoded link info."""
    links = {}
    for msg in ipr.get_links():
        info = msg.get_attr('IFLA_LINKINFO')
        links[msg.get_attr('IFLA_IFNAME')] = {
            'index': msg['index'], 'master': msg.get_attr('IFLA_MASTER'),
            'kind': info.get_attr('IFLA_INFO_KIND') if info is not None else None,
            'data': info.get_attr('IFLA_INFO_DATA') if info is not None else None,
            'slave_data': info.get_attr('IFLA_INFO_SLAVE_DATA') if info is not None else None,
        }
    return links


class Bridge(object):
    """Read the bridge and its ports, plan, set what differs (outside check mode), read back."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.name = self.params['name']
        self.result = {'changed': False, 'before': {}, 'after': {}, 'changes': []}

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
            if not self.module.check_mode and self.result['changed']:
                self.apply(ipr, bridge['index'], bridge_changes, port_changes, links)
                self.read_back(ipr, wanted, wanted_port_values)
        return self.result

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
        attributes = dict((option, attribute) for option, attribute, _kind in BRIDGE_OPTIONS)
        port_attributes = dict((option, attribute) for option, attribute, _kind in PORT_OPTIONS)
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
