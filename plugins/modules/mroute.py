#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mroute
short_description: Manage the IPv4 and IPv6 multicast routes, group joins and IGMP queriers of mcastd, verified against the kernel
version_added: 0.1.0
description:
  - Manages a named set of mcastd routes (C(mroute)), group joins (C(mgroup)), interfaces with their
    IGMP querier (C(phyint ... querier)) and IGMP timers (C(igmp)) in its own drop-in file,
    O(conf_dir)/O(set).conf, so that different plays own different sets. mcastd reads the
    drop-ins through an C(include) line of its configuration, for example
    C(include /etc/mcastd/conf.d/*.conf).
  - Every entry is validated with mcastd's own configuration grammar, and the set as a whole within
    the whole configuration (other drop-ins included) before anything is written, so a route that
    conflicts with another set's route is refused with both places named. As in mcastd (and
    smcroute), routes with the same identity are not a conflict but merged, in one task or across
    sets, and the kernel forwards to the union of their outputs. What the grammar warns about (host bits
    cleared, an output that is also the input, a route without outputs, merged entries) is returned
    as a warning.
  - IPv4 and IPv6 alike, in the same lists. A route or join is IPv6 when its group is (within C(ff00::/8));
    its source, if given, must then be IPv6 too. mcastd gives every interface it routes a VIF (IPv4) and
    a MIF (IPv6), and joins IPv6 groups with MLD. It refuses what the kernel would accept and never
    forward, and says why. These are IPv6 groups of interface-local or link-local scope (C(ff01::/16),
    C(ff02::/16), and C(ffx1::) or C(ffx2::) with flags), and a C(ttl-threshold) on an interface that
    IPv6 routes use.
  - After writing the set the module asks the running daemon to reload (over its control socket;
    mcastd applies only the difference, so unchanged routes keep flowing), then verifies the result.
    An (S,G) route (one source, one group) must show up in the kernel's multicast forwarding cache,
    read over rtnetlink for IPv4 and from C(/proc/net/ip6_mr_cache) for IPv6. An IPv6 (*,G) route of
    one group from one named input (without its input among the outputs) is a kernel (*,G) entry
    (origin C(::)), which forwards every source of the group without an upcall. It must show up in the
    IPv6 forwarding cache at once, as kind C(star-g) (unless another line routes the same group from
    another input, when mcastd learns it per flow, as a template). Any other route without a source or
    with prefixes ((*,G) in IPv4, (*,G/LEN), (S/LEN,G/LEN), a wildcard input) is a template; the kernel has no entry for
    it until a source sends, so the module checks that the daemon holds the template instead. A join
    must be reported joined by the daemon. An (S,G) route
    with O(routes[].if_joined=true) has a kernel entry whose outputs are only those with listeners, or
    none at all while nobody listens; the daemon having loaded it is then what is checked. C(phyint)
    and C(igmp) lines must have been read by the daemon (it started or reloaded after the set file was
    written), an interface must have its VIF, and a querier must run on it, elected or tracking the
    listeners while a querier with a lower address is elected (C(mcastctl show queriers)).
  - The module fails when what was asked does not show within O(timeout) seconds and names each
    missing entry with the reason when it can tell, for example an interface that does not exist
    (the entry is pending), the VIF table being full where nft is not installed (with nft, mcastd copies
    the outputs without a VIF itself), an interface that is down or has no IFF_MULTICAST, or the daemon
    not running.
  - In check mode nothing is written or reloaded; the module reports the drift between the desired
    set, the configured set (the file) and what is installed (kernel and daemon).
author:
  - mcast.linux developers (@mcast-linux)
extends_documentation_fragment:
  - mcast.linux.attributes
requirements:
  - pyroute2 (Debian and Ubuntu package C(python3-pyroute2)) on the target.
  - mcastd running on the target (deployed by the C(mcast.linux.router) role), unless O(reload=false) and O(verify=false).
options:
  set:
    description:
      - The name of the set, which is also the name of its file, O(conf_dir)/NAME.conf. Letters, digits,
        C(.), C(_) and C(-), starting with a letter or digit.
    type: str
    required: true
  routes:
    description:
      - Multicast routes. Traffic to O(routes[].group) (from O(routes[].source), if given) arriving on
        O(routes[].iif) is forwarded out of every interface in O(routes[].oifs).
      - A route is identified as the kernel identifies it. An (S,G) route by its source and group,
        whatever its interfaces, and a template by its input interface, source and group. With
        O(state=present) a route with the same identity in the set is replaced.
      - Two items of this list with the same identity and the same O(routes[].iif) are merged into one
        route with the union of their outputs; an (S,G) given with two different inputs is refused (the
        kernel keeps one entry per source and group, with one input).
    type: list
    elements: dict
    default: []
    suboptions:
      source:
        description:
          - The unicast address of the sender, or a prefix of senders, of the group's family. Omit it (or give
            C(0.0.0.0), or C(::) for an IPv6 group) for any source ((*,G)).
          - Host bits of a prefix are cleared with a warning, as smcroute masks them (C(10.0.0.1/24) is used
            as C(10.0.0.0/24)).
        type: str
      group:
        description:
          - The group, or a prefix of groups. IPv4 inside 224.0.0.0/4 and outside the link-local 224.0.0.0/24;
            IPv6 inside C(ff00::/8) with a scope wider than link-local, such as C(ff05::/16) (site) or
            C(ff0e::/16) (global), never C(ff01::/16), C(ff02::/16) nor C(ffx1::), C(ffx2::) with flags.
          - Host bits of a prefix are cleared with a warning (C(225.1.2.3/24) is used as C(225.1.2.0/24)).
        type: str
        required: true
      iif:
        description:
          - The input interface. A name ending in C(+) matches every interface starting with the rest; a route
            with such an input is a template even with one source and one group (mcastd learns the flow on
            the input it arrives on).
        type: str
        required: true
      oifs:
        description:
          - The output interfaces. Required with O(state=present).
          - An empty list makes a route without outputs, as an smcroute C(mroute) without C(to) does; its
            kernel entry drops the flow.
          - An output named explicitly that is also the input gets a copy of every datagram back (the
            kernel forwards it back out of the input, TTL decremented), with a warning. A wildcard output
            (C(trunk+)) never includes the input.
        type: list
        elements: str
      if_joined:
        description:
          - Forward to each output only while it has listeners for the group (and source), as mcastd learns
            them from IGMP reports (MLD reports for an IPv6 route) (C(mroute ... to OIF ... if-joined)). Without
            it the route is static and
            forwards to every output at all times.
          - mcastd sees listeners only on interfaces where it runs a querier (elected or not), so give each
            output an O(interfaces) item with O(interfaces[].querier=true) in this set or in another part of
            the configuration, otherwise the module warns that nothing will be forwarded there.
          - The same route (identity) cannot be given once with and once without O(routes[].if_joined).
        type: bool
        default: false
  interfaces:
    description:
      - Interfaces that get a VIF (and a MIF for IPv6) in mcastd and, by default, its IGMP querier, one C(phyint) line each
        (C(phyint NAME enable querier igmpv3 [address A.B.C.D])). An interface is identified by its name.
      - mcastd refuses two different C(phyint) lines for one interface anywhere in its configuration, so an
        interface named here must not have a C(phyint) line in the main configuration or another set.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The interface. A name ending in C(+) stands for every interface starting with the rest (then
            without O(interfaces[].address)).
        type: str
        required: true
      querier:
        description:
          - Run the IGMP querier on the interface. mcastd sends general queries and tracks memberships
            there; by the election of RFC 9776 (and RFC 2236) the querier with the lowest address on the
            segment queries, so a switch or another router with a lower address keeps the role and mcastd
            still tracks the listeners.
          - The same line makes mcastd the MLD querier of the interface for IPv6 (from its lowest link-local
            address); the module verifies the IGMP querier (C(mcastctl show queriers)).
          - With V(false) the interface only gets a VIF and a MIF (C(phyint NAME enable)).
        type: bool
        default: true
      version:
        description:
          - The IGMP version of the queries (C(igmpv2) or C(igmpv3)); 3 when not given. Only with
            O(interfaces[].querier=true).
        type: int
        choices: [2, 3]
      address:
        description:
          - The source address of the queries, one configured on the interface. Without it mcastd uses the
            interface's lowest address (never 0.0.0.0, nor 169.254/16 while a real one exists).
          - An address that is not on the interface, or not on its subnet, is refused when the interface
            exists (hosts with rp_filter drop queries from a source they would not route back).
        type: str
  igmp:
    description:
      - The IGMP timers of every querier of mcastd, an C(igmp) line; its MLD queriers (IPv6) use the same
        timers. The RFC 9776 defaults stand for what is not given. mcastd has one set of timers, so another
        C(igmp) line in its configuration must agree with this one (lines that give one setting two values
        are refused).
      - With O(state=present) the set's C(igmp) line becomes exactly these settings (an empty dict removes
        it); with O(state=absent) the line is removed, whatever the values. Not given, the line stays as it
        is (unless O(exclusive=true)).
      - Seconds are plain decimal numbers (up to 6 decimals), such as V(125) or V(0.5).
    type: dict
    suboptions:
      query_interval:
        description: Seconds between general queries (C(query-interval)); 125 by default.
        type: raw
      query_response_interval:
        description:
          - The maximum response time of general queries in seconds, less than the query interval; 10 by default.
        type: raw
      robustness:
        description: The robustness variable, a whole number from 1 to 255; 2 by default.
        type: raw
      last_member_interval:
        description: Seconds between group-specific queries after a leave; 1 by default.
        type: raw
      startup_query_interval:
        description: Seconds between the queries of the startup burst; a quarter of the query interval by default.
        type: raw
  mgroups:
    description:
      - Groups mcastd joins (IGMP membership, MLD for an IPv6 group) on an interface, so that snooping switches
        send the group there. A join is identified by interface, source and group.
    type: list
    elements: dict
    default: []
    suboptions:
      iif:
        description:
          - The interface to join on.
        type: str
        required: true
        aliases: [interface]
      group:
        description:
          - The group, or a prefix of groups (at most 4096 joins), IPv4 or IPv6. Host bits are cleared with a
            warning, and the joins start at the network address, as smcroute iterates a range.
        type: str
        required: true
      source:
        description:
          - Join source-specifically (SSM), only from this address or prefix (of the group's family).
        type: str
  state:
    description:
      - V(present) puts the entries into the set (replacing entries with the same identity).
      - V(absent) takes the entries out of the set (interfaces by name, routes and joins by identity, the
        C(igmp) line when O(igmp) is given); without any entry it removes the whole set file.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With V(true) the set becomes exactly O(interfaces), O(igmp), O(routes) and O(mgroups); entries of the
        set that are not listed are removed. Only with O(state=present).
    type: bool
    default: false
  conf_dir:
    description:
      - The directory of the drop-in files that the mcastd configuration includes.
    type: path
    default: /etc/mcastd/conf.d
  config:
    description:
      - The main mcastd configuration, used to validate the set within the whole configuration and to
        make sure it includes the set's file. Defaults to the file the running daemon reports, or
        C(/etc/mcastd/mcastd.conf). When it does not exist, the set is validated on its own.
    type: path
  socket:
    description:
      - The control socket of mcastd.
    type: path
    default: /run/mcastd/mcastd.sock
  reload:
    description:
      - Ask the daemon to reload after the set changed, or when it has not loaded the set as configured.
    type: bool
    default: true
  verify:
    description:
      - Wait until the kernel and the daemon show every entry of the set, and fail after O(timeout) seconds otherwise.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for the entries to show.
    type: float
    default: 5
  allow_pending:
    description:
      - Accept entries that wait for an interface that does not exist yet (mcastd activates them as soon
        as it appears). With V(false), an interface name that does not exist is refused before anything
        is written, and a pending entry fails the verification. This holds for O(interfaces) too.
    type: bool
    default: false
notes:
  - The set's file is written atomically with mode 0644 (the daemon runs as an unprivileged user).
    It is what makes the routes survive a reboot; the running daemon holds them in the kernel.
  - The IPv6 forwarding cache is read from C(/proc/net/ip6_mr_cache) and C(/proc/net/ip6_mr_vif), which
    show the default table (the one mcastd uses) of the module's network namespace, whatever version of
    pyroute2 the target has.
  - The kernel keeps one entry per source and group whatever the input interface, so two (S,G) routes
    for the same source and group with different input interfaces conflict, in one set or in two, and
    the module refuses the second one. With the same input they are merged, and an installed route
    may then have more outputs than this set gives it (the reason of its entry names them).
seealso:
  - module: mcast.linux.facts
  - module: mcast.linux.rp_filter
'''

EXAMPLES = r'''
- name: Forward one video source from VLAN 10 to VLANs 20 and 30
  mcast.linux.mroute:
    set: video
    routes:
      - source: 192.0.2.10
        group: 225.1.2.3
        iif: trunk.10
        oifs: [trunk.20, trunk.30]

- name: Any source of 239.10.0.0/16 from VLAN 10, and pull the groups in with a join
  mcast.linux.mroute:
    set: video
    routes:
      - group: 239.10.0.0/16
        iif: trunk.10
        oifs: [trunk.20]
    mgroups:
      - iif: trunk.10
        group: 239.10.1.1

- name: The audio set is exactly these routes, whatever it held before
  mcast.linux.mroute:
    set: audio
    exclusive: true
    routes:
      - group: 239.20.0.1
        iif: trunk.10
        oifs: [trunk.20]

- name: Take one route out of the video set
  mcast.linux.mroute:
    set: video
    state: absent
    routes:
      - source: 192.0.2.10
        group: 225.1.2.3
        iif: trunk.10

- name: Remove the whole audio set
  mcast.linux.mroute:
    set: audio
    state: absent

- name: VLANs 20 and 30 get the group only while a receiver there listens; the router queries them
  mcast.linux.mroute:
    set: video
    interfaces:
      - name: trunk.20
      - name: trunk.30
        version: 2
        address: 198.51.100.1
    routes:
      - group: 239.20.0.0/16
        iif: trunk.10
        oifs: [trunk.20, trunk.30]
        if_joined: true

- name: IPv6 beside IPv4 in one set, an (S,G), a (*,G) (a kernel (*,G) entry) and an MLD join
  mcast.linux.mroute:
    set: video
    routes:
      - source: 192.0.2.10
        group: 225.1.2.3
        iif: trunk.10
        oifs: [trunk.20, trunk.30]
      - source: 2001:db8:10::10
        group: ff0e::1:1
        iif: trunk.10
        oifs: [trunk.20, trunk.30]
      - group: ff0e::2:2
        iif: trunk.10
        oifs: [trunk.20]
    mgroups:
      - iif: trunk.10
        group: ff0e::2:2

- name: Shorter IGMP timers (a lab where a lost membership shows in seconds)
  mcast.linux.mroute:
    set: timers
    igmp:
      query_interval: 10
      query_response_interval: 2.5
      last_member_interval: 0.5

- name: Show the drift between desired, configured and installed
  mcast.linux.mroute:
    set: video
    routes:
      - group: 239.10.0.0/16
        iif: trunk.10
        oifs: [trunk.20]
  check_mode: true
  register: video

- name: Entries missing from the kernel or the daemon
  ansible.builtin.debug:
    var: video.drift.desired_vs_installed
'''

RETURN = r'''
file:
  description: The set's file.
  returned: always
  type: str
  sample: /etc/mcastd/conf.d/video.conf
entries:
  description:
    - Every entry of the set after the run, with its C(line) in mcastd's grammar, its C(kind) (V(mroute)
      for an (S,G) route, V(star-g) for an IPv6 (*,G) route of one group, which is a kernel (*,G) entry
      (a template when another line routes that group from another input, since a kernel (*,G) entry has
      one input), V(template) for a route matched against new flows, V(mgroup) for a join, V(phyint) for an interface,
      V(igmp) for the timers), its C(state) and the C(reason).
    - C(state) is V(installed) (in the kernel's MFC, IPv4 or IPv6, or with outputs beyond the kernel's 31 or
      without a VIF for the input copied by nftables in mcastd's own table, as the C(reason) says), V(active) (a template the daemon holds, a phyint or
      igmp line it has read, an if-joined (S,G) route it holds while nobody listens), V(joined),
      V(pending) (waits for an interface, or for an address on a querier's interface), V(failed) (the join
      failed, or mcastd runs no querier where one is configured), V(not loaded) (the daemon has not read
      it), V(not installed) (the daemon has it but the kernel does not show it, or mcastd cannot route its
      family, for example IPv6 disabled on the host) or V(daemon not running).
      In check mode, the state before the run.
  returned: always
  type: list
  elements: dict
  sample: [{"line": "mroute from trunk.10 source 192.0.2.10 group 225.1.2.3 to trunk.20 trunk.30",
            "kind": "mroute", "state": "installed", "reason": "in the kernel's MFC"},
           {"line": "mroute from trunk.10 group ff0e::2:2 to trunk.20", "kind": "star-g", "state": "installed",
            "reason": "in the kernel's MFC as a (*,G) entry, which forwards every source of the group without an upcall"}]
added:
  description: Lines added to the set's file.
  returned: always
  type: list
  elements: str
  sample: ["mroute from trunk.10 group 239.10.0.0/16 to trunk.20"]
removed:
  description: Lines removed from the set's file.
  returned: always
  type: list
  elements: str
  sample: []
reloaded:
  description: Whether the daemon was (in check mode, would be) asked to reload.
  returned: always
  type: bool
  sample: true
reload:
  description: The daemon's reply to the reload (entries added, updated and removed in the kernel, and seconds).
  returned: when the daemon reloaded
  type: dict
  sample: {"added": 1, "updated": 0, "removed": 0, "seconds": 0.002, "warnings": []}
daemon:
  description: Whether mcastd answered on the socket, its PID and its configuration file.
  returned: always
  type: dict
  sample: {"running": true, "socket": "/run/mcastd/mcastd.sock", "pid": 901, "config": "/etc/mcastd/mcastd.conf"}
drift:
  description:
    - C(desired_vs_configured) lists the lines the file lacks (C(missing)) and the lines it has beyond the
      desired set (C(extra)).
    - C(configured_vs_installed) and C(desired_vs_installed) list the entries of the file, and of the
      desired set, that the kernel or the daemon do not show (C(missing), with state and reason), and
      entries of this set that the daemon still holds although the set no longer has them (C(stale)).
    - Computed before any change.
  returned: always
  type: dict
  sample: {"desired_vs_configured": {"missing": ["mroute from trunk.10 group 239.10.0.0/16 to trunk.20"], "extra": []},
           "configured_vs_installed": {"missing": [], "stale": []},
           "desired_vs_installed": {"missing": [{"line": "mroute from trunk.10 group 239.10.0.0/16 to trunk.20",
                                                 "kind": "template", "state": "not loaded",
                                                 "reason": "mcastd has not loaded it"}], "stale": []}}
'''

import os
import re
import socket
import time
from collections import namedtuple
from decimal import Decimal

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils._files import atomic_write, file_diff, read_text, remove_file, text_diff
from ansible_collections.mcast.linux.plugins.module_utils._mcastd_client import (
    DEFAULT_CONFIG, DEFAULT_SOCKET, DaemonRefused, DaemonUnavailable, ask, routing_api, snapshot)
from ansible_collections.mcast.linux.plugins.module_utils._netlink import (
    address_summaries, interface_not_found_message, link_summaries, open_iproute, require_pyroute2)
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as grammar
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import kernel, nftrun
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import WILDCARD, name_matches
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.routes import is_kernel_star_g

SET_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
HEADER = ('# Managed by mcast.linux.mroute, set "%s": changes here are overwritten.\n'
          '# mcastd reads this file through an include of its configuration (mcastctl reload applies it).\n')
OK_STATES = ('installed', 'active', 'joined')
# The grammar's note that two lines are one route: "HERE:N: same route as the mroute at THERE:M, ..."
MERGE_NOTE = re.compile(r'^(?P<here>.+?):\d+: (?:same route as|duplicate of) the \w+ at (?P<there>.+?):\d+,')
ORIGIN = re.compile(r'^(?P<file>.+?):\d+: ')  # FILE:LINE: that begins each of the grammar's sentences
POLL_INTERVAL = 0.1


class InvalidInput(ValueError):
    """A user input mcastd would refuse; the message says what to change."""


# --------------------------------------------------------------------------- input, validated by the grammar

def _word(value, what):
    """One word of a configuration line: nothing that could split or end the line."""
    text = '' if value is None else str(value).strip()
    if not text:
        raise InvalidInput('%s is empty: give a value.' % what)
    if any(character.isspace() or character == '#' for character in text):
        raise InvalidInput("%s '%s' must be one word: no spaces and no '#'." % (what, text))
    return text


class Interface(namedtuple('Interface', 'phyint')):
    """A ``phyint`` line of the set (grammar.Phyint): the interface's VIF and its IGMP querier."""

    __slots__ = ()

    @property
    def ifname(self):
        return self.phyint.ifname

    def to_line(self):
        phyint = self.phyint
        words = ['phyint', phyint.ifname, 'enable' if phyint.enable else 'disable']
        if phyint.mrdisc:
            words.append('mrdisc')
        if phyint.threshold != 1:
            words += ['ttl-threshold', str(phyint.threshold)]
        if phyint.querier:
            words += ['querier', 'igmpv%d' % phyint.querier]
        if phyint.querier_address is not None:
            words += ['address', grammar.ntoa(phyint.querier_address)]
        return ' '.join(words)


class Igmp(namedtuple('Igmp', 'settings')):
    """The ``igmp`` line of the set: ``settings`` are (keyword, value) pairs in the grammar's order."""

    __slots__ = ()

    def to_line(self):
        return ' '.join(['igmp'] + ['%s %s' % (keyword, _number_text(value)) for keyword, value in self.settings])


def _number_text(value):
    """Seconds as the plain decimal the grammar reads (it allows 6 decimals), without a trailing .0."""
    if isinstance(value, float):
        return ('%.6f' % value).rstrip('0').rstrip('.')
    return str(value)


def _igmp_word(value, what):
    """A timer value as the word of the igmp line; the grammar judges it (its sentences say what is wrong)."""
    if isinstance(value, bool):
        raise InvalidInput('%s is %s, not a number: give seconds (such as 125 or 0.5), or the robustness as a whole '
                           'number.' % (what, 'true' if value else 'false'))
    if isinstance(value, float):  # YAML gives 0.000001 as 1e-06: written out, the grammar judges the digits
        text = format(Decimal(repr(value)), 'f')
        return text.rstrip('0').rstrip('.') if '.' in text else text
    return _word(value, what)


def entry_line(directive, item, label):
    """The grammar line for one routes/mgroups item (its words checked, not yet its meaning)."""
    words = [directive, 'from', _word(item.get('iif'), '%s iif' % label)]
    if item.get('source') is not None:
        words += ['source', _word(item['source'], '%s source' % label)]
    words += ['group', _word(item.get('group'), '%s group' % label)]
    if directive == 'mroute':
        oifs = item.get('oifs')
        if oifs is None:
            raise InvalidInput('%s has no oifs: list the interfaces the traffic leaves through, or give oifs: [] for a '
                               'route that drops the flow (an mroute without outputs).' % label)
        if oifs:  # none: the grammar's mroute without 'to', a route whose kernel entry drops the flow
            words += ['to'] + [_word(oif, '%s oif' % label) for oif in oifs]
        if item.get('if_joined'):
            words.append(grammar.IF_JOINED)
    return ' '.join(words)


def phyint_line(item, label):
    """The grammar line for one interfaces item: ``phyint NAME enable [querier igmpvN [address A]]``."""
    words = ['phyint', _word(item.get('name'), '%s name' % label), 'enable']
    if item.get('querier', True) is False:
        given = [key for key in ('version', 'address') if item.get(key) is not None]
        if given:
            raise InvalidInput('%s gives %s but querier: false; %s only for a querier: set querier: true, or leave '
                               'out %s.' % (label, ' and '.join(given), 'it is' if len(given) == 1 else 'they are',
                                            ' and '.join(given)))
        return ' '.join(words)
    version = item.get('version')
    words += ['querier', 'igmpv%s' % (3 if version is None else version)]
    if item.get('address') is not None:
        words += ['address', _word(item['address'], '%s address' % label)]
    return ' '.join(words)


def igmp_line(settings, label):
    """The grammar line for the igmp option, or None when it sets nothing (the RFC defaults)."""
    words = ['igmp']
    for keyword in grammar.IGMP_KEYWORDS:
        value = (settings or {}).get(keyword.replace('-', '_'))
        if value is not None:
            words += [keyword, _igmp_word(value, '%s.%s' % (label, keyword.replace('-', '_')))]
    return ' '.join(words) if len(words) > 1 else None


def _without_origin(texts, label):
    origin = '%s:1: ' % label
    return [text[len(origin):] if text.startswith(origin) else text for text in texts]


def igmp_keywords(text):
    """The igmp settings the lines of ``text`` give, in the grammar's order (text the grammar accepted)."""
    given = set()
    for line in grammar.split_lines(text):
        words = line.split('#', 1)[0].split()
        if words and words[0] == 'igmp':
            given.update(words[1::2])
    return [keyword for keyword in grammar.IGMP_KEYWORDS if keyword in given]


def entries_of(parsed, text):
    """Every entry of a parsed configuration text: routes, joins, phyint lines and the igmp settings."""
    keywords = igmp_keywords(text)
    timers = [Igmp(tuple((keyword, getattr(parsed.igmp, keyword.replace('-', '_'))) for keyword in keywords))]
    return ([Interface(phyint) for phyint in parsed.phyints.values()] + (timers if keywords else []) +
            list(parsed.mroutes) + list(parsed.mgroups))


def is_blind_if_joined(warning):
    """The grammar's note that an if-joined output has no querier: true of every such route read alone."""
    return 'mcastd sees listeners only on interfaces with a querier' in warning


def parse_entry(line, label, warnings=None):
    """The entry of one line, or InvalidInput with the grammar's own sentences.

    The grammar's warnings (host bits cleared, an output that is the input, no outputs, ...) are
    added to ``warnings`` as ``LABEL: sentence`` when a list is given. Whether an if-joined output
    has a querier depends on the whole configuration: that is said after validating it whole.
    """
    try:
        # overflow=True: how many interfaces fit the kernel's VIFs (the rest copied by nftables, if nft is there)
        # is a matter of the whole configuration, which validate_whole checks.
        parsed = grammar.parse_text(line, label, overflow=True)
        found = entries_of(parsed, line)
        reasons = [] if found else parsed.warnings  # a line the grammar only skips (it says why)
    except grammar.ConfigError as error:
        reasons = error.errors
    if reasons:
        reasons = _without_origin(reasons, label)
        raise InvalidInput('%s (%s): %s.' % (label, line, '; '.join(reason.rstrip('.') for reason in reasons)))
    if warnings is not None:
        warnings.extend('%s: %s' % (label, text) for text in _without_origin(parsed.warnings, label)
                        if not is_blind_if_joined(text))
    return found[0]


def identity(entry):
    """What the kernel (or the daemon) keys an entry by; a new entry with the same identity replaces the old."""
    if isinstance(entry, Interface):
        return ('phyint', entry.ifname)
    if isinstance(entry, Igmp):
        return ('igmp',)
    if isinstance(entry, grammar.Mgroup):
        return ('mgroup', entry.ifname, entry.source, entry.group)
    if entry.is_template:
        return ('template', entry.iif, entry.source, entry.group)
    return ('mroute', entry.source, entry.group)


def absent_identity(item, directive, label):
    """The identity of an item to remove: oifs are not needed, the grammar reads the rest (as without 'to')."""
    if directive == 'phyint':
        return identity(parse_entry(phyint_line({'name': item.get('name'), 'querier': False}, label), label))
    return identity(parse_entry(entry_line(directive, dict(item, oifs=[], if_joined=False), label), label))


def merge_entry(entries, index, entry, labels, label, warnings):
    """A second item for the entry at ``index``: merged as the grammar merges lines, or InvalidInput."""
    first = entries[index]
    if isinstance(first, Interface):
        if first.phyint.settings() != entry.phyint.settings():
            raise InvalidInput('%s names interface %s again, with other settings than %s (%s, not %s): give each '
                               'interface once (mcastd refuses two different phyint lines for one interface).'
                               % (label, entry.ifname, labels[index], entry.to_line(), first.to_line()))
        warnings.append('%s repeats %s; used once.' % (label, labels[index]))
        return
    if isinstance(first, grammar.Mgroup):
        warnings.append('%s repeats %s; joined once.' % (label, labels[index]))
        return
    if first.iif != entry.iif:
        raise InvalidInput('%s gives the (S,G) %s, %s of %s another input interface (%s, not %s): the kernel keeps '
                           'one entry per source and group, with one input; give the route once.'
                           % (label, entry.source, entry.group, labels[index], entry.iif, first.iif))
    if first.if_joined != entry.if_joined:
        joined = labels[index] if first.if_joined else label
        raise InvalidInput('%s has the input, source and group of %s, but only %s has if_joined: true: one route '
                           'cannot both forward by membership and always; give both the same if_joined.'
                           % (label, labels[index], joined))
    extra = tuple(oif for oif in entry.oifs if oif not in first.oifs)
    if extra:
        entries[index] = first._replace(oifs=first.oifs + extra)
        warnings.append('%s has the input, source and group of %s: outputs merged, as mcastd and smcroute merge '
                        'such lines: %s.' % (label, labels[index], entries[index].to_line()))
    else:
        warnings.append('%s repeats %s; it adds no output.' % (label, labels[index]))


def _items(params):
    """(directive, label, item) for every item of the parameters, the igmp option as one item."""
    for directive, key in (('phyint', 'interfaces'), ('mroute', 'routes'), ('mgroup', 'mgroups')):
        for position, item in enumerate(params.get(key) or []):
            yield directive, '%s[%d]' % (key, position), item
    if params.get('igmp') is not None:
        yield 'igmp', 'igmp', params['igmp']


def _desired_line(directive, item, label):
    return phyint_line(item, label) if directive == 'phyint' else entry_line(directive, item, label)


def desired_entries(params, warnings=None):
    """Validate interfaces, igmp, routes and mgroups: ``(entries, identities)``; entries are empty for state absent.

    Items with the same identity are merged as the grammar merges lines (the union of their
    outputs); what the grammar and the merge warn about is added to ``warnings`` if given. An
    igmp option without settings has an identity but no entry: the set's igmp line goes.
    """
    if not SET_NAME.match(params['set'] or ''):
        raise InvalidInput("set '%s' cannot name a file: use letters, digits, '.', '_' and '-', starting with a letter "
                           "or digit (for example video or vlan10-audio)." % params['set'])
    if params['exclusive'] and params['state'] == 'absent':
        raise InvalidInput('exclusive applies to state: present only; to empty a set, use state: absent without '
                           'entries (removes the file) or exclusive: true with no entries.')
    warnings = [] if warnings is None else warnings
    present = params['state'] == 'present'
    entries = []
    labels = []
    seen = {}  # identity -> index in entries
    for directive, label, item in _items(params):
        entry = None
        if directive == 'igmp':
            line = igmp_line(item, label) if present else None
            entry = parse_entry(line, label, warnings) if line else None
            found = ('igmp',)
        elif not present and not (directive == 'mroute' and item.get('oifs')):
            found = absent_identity(item, directive, label)
        else:
            entry = parse_entry(_desired_line(directive, item, label), label, warnings if present else None)
            found = identity(entry)
        if found in seen:
            if entry is not None and present:
                merge_entry(entries, seen[found], entry, labels, label, warnings)
            continue  # state absent: the same entry named twice is removed once
        seen[found] = len(entries)
        entries.append(entry)
        labels.append(label)
    return ([entry for entry in entries if entry is not None] if present else []), list(seen)


def entry_names(entry):
    """The interface names (or patterns) an entry uses; none for the igmp settings."""
    if isinstance(entry, Igmp):
        return []
    if isinstance(entry, (Interface, grammar.Mgroup)):
        return [entry.ifname]
    return [entry.iif] + list(entry.oifs)


def check_interfaces(entries, existing):
    """Names (not wildcards) the entries use that do not exist on this host, in order."""
    missing = []
    for entry in entries:
        for name in entry_names(entry):
            if not name.endswith(WILDCARD) and name not in existing and name not in missing:
                missing.append(name)
    return missing


def querier_address_problems(entries, addresses):
    """(errors, warnings) of the queriers' source addresses on the interfaces as they are now.

    ``addresses``: {interface name: [(address, prefix length) as integers]} of existing interfaces.
    An explicit address must be one configured on the interface (mcastd's own rule, with its
    sentence); an interface without an IPv4 address only cannot query yet.
    """
    errors, warnings = [], []
    for entry in entries:
        if not isinstance(entry, Interface) or not entry.phyint.querier or entry.ifname not in addresses:
            continue
        problem = grammar.querier_address_problem(entry.phyint.querier_address, addresses[entry.ifname])
        if problem is None:
            continue
        if entry.phyint.querier_address is None:
            warnings.append('%s: %s; mcastd sends no query there until it has one.' % (entry.to_line(), problem))
        else:
            errors.append('%s: querier address %s' % (entry.to_line(), problem))
    return errors, warnings


# --------------------------------------------------------------------------- the set's file

KIND_ORDER = (Interface, Igmp, grammar.Mroute, grammar.Mgroup)  # the order of lines in a set's file


def parse_set(text, path):
    """The entries of the set file (None text: no file); raises ConfigError if mcastd would refuse it."""
    if text is None:
        return []
    # The VIF limit is checked on the whole configuration (validate_whole), with nft's presence known.
    return entries_of(grammar.parse_text(text, path, overflow=True), text)


def plan_set(current, entries, identities, state, exclusive):
    """The set after the run, as a list of entries (phyint, igmp, mroute, mgroup lines, in a stable order).

    With state present an identity without an entry (an igmp option without settings) is removed.
    """
    if state == 'absent':
        wanted = [entry for entry in current if identity(entry) not in identities]
    elif exclusive:
        wanted = list(entries)
    else:
        given = set(identity(entry) for entry in entries)
        wanted = [entry for entry in current if identity(entry) in given or identity(entry) not in identities]
        for entry in entries:
            keys = [identity(old) for old in wanted]
            if identity(entry) in keys:
                wanted[keys.index(identity(entry))] = entry
            else:
                wanted.append(entry)
    return [entry for kind_ in KIND_ORDER for entry in wanted if isinstance(entry, kind_)]


def render_set(name, entries):
    return HEADER % name + ''.join(entry.to_line() + '\n' for entry in entries)


# --------------------------------------------------------------------------- what is installed

def _expand(pattern, names, exclude=None):
    return sorted(name for name in names if name_matches(pattern, name) and name != exclude)


def _pending_row(entry, daemon):
    """The daemon's pending row for an entry: by its line, or by identity when other lines were merged into it."""
    line = entry.to_line()
    for row in daemon['pending']:
        if row['line'] == line:
            return row
    for row in daemon['pending']:
        try:
            parsed = grammar.parse_text(row['line'], 'pending', overflow=True)
        except grammar.ConfigError:
            continue
        if any(identity(other) == identity(entry) for other in parsed.mroutes + parsed.mgroups):
            return row
    return None


def _outputs_of(entry, iif, existing):
    """Interface names an entry's outputs stand for when the flow arrives on ``iif``.

    A named output is used even when it is the input (the kernel sends a copy back out of it);
    a wildcard never includes the input, as in mcastd's routes.TtlCache.
    """
    names = set()
    for oif in entry.oifs:
        if oif.endswith(WILDCARD):
            names.update(_expand(oif, existing, exclude=iif))
        else:
            names.add(oif)
    return names


def _merged_note(extra):
    """What a merged route adds to an entry's outputs, for the reason."""
    return ' (also to %s: another line for this route adds it, merged as mcastd merges them)' % ', '.join(extra) \
        if extra else ''


def pending_reason(row, daemon, existing, family=4):
    """Why a pending entry waits, from the daemon's tables and the host's interfaces (VIFs, or MIFs for IPv6)."""
    slot, left_out_key = ('VIF', 'vifs_left_out') if family == 4 else ('MIF', 'mifs_left_out')
    left_out = daemon['status'].get(left_out_key) or []
    reasons = []
    for name in row['missing']:
        if name in left_out:
            reasons.append('the %s table is full (the kernel offers %d %ss): no %s for %s'
                           % (slot, grammar.MAX_VIFS, slot, slot, name))
        elif name.endswith(WILDCARD):
            reasons.append('no interface matches %s' % name)
        elif name not in existing:
            reasons.append('interface %s does not exist; mcastd activates the entry when it appears' % name)
        else:
            reasons.append('interface %s has no %s (see mcastctl show interfaces and the daemon log)' % (name, slot))
    return '; '.join(reasons)


def family_of(entry):
    """4 or 6: the family of a route's or a join's group; interfaces and timers are of both (4)."""
    return entry.group.family if isinstance(entry, (grammar.Mroute, grammar.Mgroup)) else 4


def flow_key(entry):
    """A route's kernel entry as the MFC is read here: (source, group) as text, source '::' for a kernel (*,G)."""
    family = entry.group.family
    source = '::' if entry.source is None else grammar.ntop(entry.source.addr, family)
    return source, grammar.ntop(entry.group.addr, family)


def is_star_g(entry, daemon=None):
    """An IPv6 (*,G) route of one group that mcastd serves with a kernel (*,G) entry (no template, no upcall).

    Unless the daemon holds it as a template: it does so when another line routes the same group from
    another input (a kernel (*,G) entry has one input), which only the whole configuration tells.
    """
    if not (isinstance(entry, grammar.Mroute) and is_kernel_star_g(entry)):
        return False
    return daemon is None or not any(row['kind'] == 'template' and (row['iif'], row['source'], row['group']) ==
                                     (entry.iif, '*', str(entry.group)) for row in daemon['routes'])


def mfc6_by_flow(rows, mif_names):
    """The IPv6 MFC (kernel.read_mfc6 rows) by flow_key: (iif name, sorted oif names).

    A kernel (*,G) entry holds its input in its output set (so that it forwards from it); that is
    no output, as ``mcastctl show routes`` does not show it as one. Unresolved entries (no input
    yet) are left out: they are no route's.
    """
    found = {}
    for row in rows:
        if row.iif is None:
            continue
        star = row.source == 0
        oifs = sorted(mif_names.get(mif, 'mif%d' % mif) for mif in row.oifs if not (star and mif == row.iif))
        found[(grammar.ntop(row.source, 6), grammar.ntop(row.group, 6))] = (mif_names.get(row.iif), oifs)
    return found


def interface_problems(entry, daemon):
    names = entry_names(entry)
    return ['interface %s: %s' % (row['name'], ' and '.join(row['problems']))
            for row in daemon['interfaces'] if row.get('problems') and
            any(name_matches(name, row['name']) for name in names)]


def _if_joined_route_state(entry, installed, loaded):
    """An (S,G) if-joined route: the kernel entry forwards only to the outputs with listeners, or is absent."""
    if installed is not None and installed[0] == entry.iif:
        listening = ', '.join(installed[1]) or 'none of its outputs'
        return 'installed', "in the kernel's MFC, forwarding by membership to %s (the outputs with listeners now)" \
            % listening
    if entry.to_line() in loaded:
        return 'active', ('mcastd has loaded it and forwards by membership: no output has listeners now, so the kernel '
                          'has no entry for it yet')
    return None


def _route_state(entry, daemon, mfc, existing, loaded=frozenset()):
    """An (S,G) route, or an IPv6 (*,G) route of one group: its kernel entry ((::, G) for the latter)."""
    source, group = flow_key(entry)
    installed = mfc.get((source, group))
    if entry.if_joined:
        found = _if_joined_route_state(entry, installed, loaded)
        if found is not None:
            return found
    if installed is not None and installed[0] == entry.iif:
        oifs = _outputs_of(entry, entry.iif, existing) & set(existing)
        if oifs <= set(installed[1]):
            star = (" as a (*,G) entry, which forwards every source of the group without an upcall"
                    if entry.source is None else '')
            return 'installed', "in the kernel's MFC" + star + _merged_note(sorted(set(installed[1]) - oifs))
    shown = '*' if entry.source is None else source  # how mcastctl show routes names a kernel (*,G) entry
    known = [row for row in daemon['routes'] if row['kind'] in ('static', 'star-g') and
             (row['source'], row['group']) == (shown, group)]
    if known:
        copied = _copied_state(entry, known, installed, existing)
        if copied is not None:
            return copied
        seen = 'no entry' if installed is None else 'iif %s, oifs %s' % (installed[0], ', '.join(installed[1]) or 'none')
        return 'not installed', "mcastd holds the route but the kernel's MFC shows %s" % seen
    return 'not loaded', 'mcastd has not loaded it'


def _copied_state(entry, rows, installed, existing):
    """A route whose outputs the kernel's MFC entry and mcastd's nftables copies serve together (the kernel
    offers 31 outputs per entry, none when the input has no VIF): installed when every output is in one of
    them, or None."""
    copied = set(name for row in rows if row.get('iif') == entry.iif
                 for name in row.get('nft_oifs') or ())
    if not copied:
        return None
    in_kernel = set(installed[1]) if installed is not None and installed[0] == entry.iif else set()
    oifs = _outputs_of(entry, entry.iif, existing) & set(existing)
    if not oifs <= in_kernel | copied:
        return None
    kernel = sorted(oifs & in_kernel)
    return 'installed', "%scopied by nftables (mcastd's table) to %s" % (
        "in the kernel's MFC for %s, and " % ', '.join(kernel) if kernel else '', ', '.join(sorted(oifs - in_kernel)))


def _template_state(entry, daemon):
    source = str(entry.source) if entry.source is not None else '*'
    for row in daemon['routes']:
        if row['kind'] == 'template' and (row['iif'], row['source'], row['group']) == \
                (entry.iif, source, str(entry.group)) and set(entry.oifs) <= set(row['oifs']):
            extra = [oif for oif in row['oifs'] if oif not in entry.oifs]
            return 'active', ('mcastd holds the template%s; the kernel gets an (S,G) entry only when a source sends, '
                              'so there is nothing in the MFC to check yet' % _merged_note(extra))
    return 'not loaded', 'mcastd has not loaded it'


def _mgroup_state(entry, daemon):
    rows = dict(((row['interface'], row['group'], row['source']), row['state']) for row in daemon['groups'])
    family = entry.group.family
    states = [rows.get((ifname, grammar.ntop(group, family), None if source is None else grammar.ntop(source, family)))
              for ifname, group, source in entry.memberships()]
    failed = [state for state in states if state and state != 'joined']
    if failed:
        return 'failed', failed[0]
    if all(state == 'joined' for state in states):
        return 'joined', 'mcastd reports it joined'
    return 'not loaded', 'mcastd has not loaded it'


def _interface_state(entry, daemon, existing, loaded):
    """A phyint line: loaded by the daemon, its interface present with a VIF (patterns: loaded only), its querier up."""
    if entry.to_line() not in loaded:
        return 'not loaded', 'mcastd has not loaded it'
    name = entry.ifname
    if name.endswith(WILDCARD):
        return 'active', 'mcastd has loaded it for every interface matching %s' % name
    if name not in existing:
        return 'pending', 'interface %s does not exist; mcastd uses the line when it appears' % name
    rows = [row for row in daemon['interfaces'] if row.get('name') == name]
    if rows and rows[0].get('vif') is None:
        return 'pending', pending_reason({'missing': [name]}, daemon, existing)
    if not entry.phyint.querier:
        return 'active', 'mcastd has loaded it'
    if daemon.get('queriers') is None:  # a daemon without show queriers: loaded is all there is to see
        return 'active', 'mcastd has loaded it; it queries with IGMPv%d' % entry.phyint.querier
    # the IGMP querier's row (a daemon that also queries MLD shows a row per protocol; an older one has no column)
    return _querier_state(entry, [row for row in daemon['queriers'] if row.get('interface') == name and
                                  row.get('protocol', 'IGMP') == 'IGMP'])


def _querier_state(entry, rows):
    """The querier of an interface as ``mcastctl show queriers`` reports it."""
    row = rows[0] if rows else {}
    if row.get('role') not in ('querier', 'non-querier'):
        problem = row.get('problem') or 'mcastd runs no querier there (see mcastctl show queriers and the daemon log)'
        # No address yet: mcastd starts the querier when one is added, as it activates pending routes.
        return ('pending' if row and not row.get('subnets') else 'failed'), 'no querier on %s: %s' % (
            entry.ifname, problem)
    own = row.get('own_address')
    if entry.phyint.querier_address is not None and own != grammar.ntoa(entry.phyint.querier_address):
        return 'failed', 'mcastd queries on %s from %s, not from the address given' % (entry.ifname, own)
    if row['role'] == 'querier':
        return 'active', 'mcastd is the elected querier on %s (from %s, IGMPv%s)' % (
            entry.ifname, own, row.get('version'))
    return 'active', ('%s, a lower address, is the elected querier on %s; mcastd (from %s) tracks the listeners and '
                      'takes over if it falls silent' % (row.get('querier'), entry.ifname, own))


def _igmp_state(entry, loaded):
    if entry.to_line() not in loaded:
        return 'not loaded', 'mcastd has not loaded it'
    return 'active', 'mcastd has loaded these timers (the RFC defaults stand for those not given)'


def entry_state(entry, daemon, mfc, existing, loaded=frozenset()):
    """``(state, reason)`` of one entry; see RETURN entries for the states.

    ``loaded``: the lines of the set file as the daemon last read it (phyint and igmp lines, and
    if-joined routes without listeners, leave nothing else to check).
    """
    if daemon is None:
        return 'daemon not running', 'mcastd does not answer on its control socket'
    pending = None if isinstance(entry, (Interface, Igmp)) else _pending_row(entry, daemon)
    if pending is not None and pending.get('reason') and not pending['missing']:
        # mcastd could not take the family's routing API (IPv6 off, or another daemon holds it)
        state, reason = 'not installed', 'mcastd cannot route it: %s' % pending['reason']
    elif pending is not None:
        state, reason = 'pending', pending_reason(pending, daemon, existing, family_of(entry))
    elif isinstance(entry, Interface):
        state, reason = _interface_state(entry, daemon, existing, loaded)
    elif isinstance(entry, Igmp):
        state, reason = _igmp_state(entry, loaded)
    elif isinstance(entry, grammar.Mgroup):
        state, reason = _mgroup_state(entry, daemon)
    elif entry.is_template and not is_star_g(entry, daemon):
        state, reason = _template_state(entry, daemon)
    else:
        state, reason = _route_state(entry, daemon, mfc, existing, loaded)
    if state not in OK_STATES:
        reason = '; '.join([reason] + interface_problems(entry, daemon))
    return state, reason


def kind(entry, daemon=None):
    """The entry's kind (see RETURN); an IPv6 (*,G) route is a template when the daemon holds it as one."""
    if isinstance(entry, Interface):
        return 'phyint'
    if isinstance(entry, Igmp):
        return 'igmp'
    if isinstance(entry, grammar.Mgroup):
        return 'mgroup'
    if is_star_g(entry, daemon):
        return 'star-g'
    return 'template' if entry.is_template else 'mroute'


def needs_loaded_lines(entry):
    """Whether an entry's state depends on the daemon having read the set file (nothing else may show it)."""
    return isinstance(entry, (Interface, Igmp)) or (isinstance(entry, grammar.Mroute) and entry.if_joined)


def entry_report(entries, daemon, mfc, existing, loaded=frozenset()):
    report = []
    for entry in entries:
        state, reason = entry_state(entry, daemon, mfc, existing, loaded)
        report.append({'line': entry.to_line(), 'kind': kind(entry, daemon), 'state': state, 'reason': reason})
    return report


def _from_file(origin, path):
    return bool(origin) and os.path.realpath(origin.rsplit(':', 1)[0]) == os.path.realpath(path)


def stale_lines(daemon, path, entries):
    """Routes and joins of this set that the daemon holds although the set does not have them."""
    if daemon is None:
        return []
    lines = set(entry.to_line() for entry in entries)
    routes = [entry for entry in entries if isinstance(entry, grammar.Mroute)]
    # how mcastctl show routes names them: (S,G) by source and group, a kernel (*,G) with source '*'
    statics = set(('*' if e.source is None else flow_key(e)[0], flow_key(e)[1])
                  for e in routes if not e.is_template or is_star_g(e))
    # an IPv6 (*,G) of one group may be either, as the daemon decides from the whole configuration
    templates = set((e.iif, '*' if e.source is None else str(e.source), str(e.group)) for e in routes if e.is_template)
    stale = [row['line'] for row in daemon['pending'] if _from_file(row['origin'], path) and row['line'] not in lines
             and _pending_row_is_stale(row, entries)]
    for row in daemon['routes']:
        if not _from_file(row.get('origin'), path):
            continue
        if row['kind'] == 'template' and (row['iif'], row['source'], row['group']) not in templates:
            stale.append(_row_line(row))
        elif row['kind'] in ('static', 'star-g') and (row['source'], row['group']) not in statics:
            stale.append(_row_line(row))
    return sorted(set(stale))


def _row_line(row):
    """A route row of the daemon as a configuration line."""
    words = ['mroute', 'from', row['iif']] + ([] if row['source'] == '*' else ['source', row['source']])
    return ' '.join(words + ['group', row['group']] + (['to'] + list(row['oifs']) if row['oifs'] else []))


def _pending_row_is_stale(row, entries):
    """A pending row whose line differs from every entry's: stale unless it is one of them with outputs merged in."""
    return not any(_pending_row(entry, {'pending': [row]}) is not None for entry in entries)


def merges_with_others(warnings, path):
    """The grammar's notes that a line of this set and a line of another file are one route (merged or repeated).

    Notes between two lines of the set itself say nothing new: the items' warnings said it already.
    """
    mine = os.path.realpath(path)
    found = []
    for text in warnings:
        match = MERGE_NOTE.match(text)
        if match and (os.path.realpath(match.group('here')) == mine) != (os.path.realpath(match.group('there')) == mine):
            found.append(text)
    return found


def blind_if_joined(warnings, path):
    """The grammar's notes that an if-joined output of this set has no querier anywhere in the configuration."""
    mine = os.path.realpath(path)
    found = []
    for text in warnings:
        match = ORIGIN.match(text)
        if match and is_blind_if_joined(text) and os.path.realpath(match.group('file')) == mine:
            found.append(text)
    return found


def loaded_since(status, written, now):
    """Whether the daemon (its ``status``) last read its configuration after ``written`` (a file's mtime).

    The last successful reload if that was the last one, else the start (a refused reload leaves the
    configuration the daemon started with, or reloaded before, which this cannot tell apart: not loaded).
    """
    last = status.get('last_reload') or {}
    if last.get('ok') and last.get('time') is not None:
        read_at = last['time']
    elif not last and status.get('uptime') is not None:
        read_at = now - status['uptime']
    else:
        return False
    return read_at >= written


def drift(report, stale):
    return {'missing': [row for row in report if row['state'] not in OK_STATES], 'stale': stale}


def is_satisfied(report, allow_pending):
    accepted = OK_STATES + (('pending',) if allow_pending else ())
    return all(row['state'] in accepted for row in report)


# --------------------------------------------------------------------------- the module

class Mroute(object):
    """Read the set, the daemon and the kernel; plan; write, reload and verify (outside check mode)."""

    def __init__(self, module, entries, identities):
        self.module = module
        self.params = module.params
        self.entries = entries
        self.identities = identities
        self.path = os.path.join(self.params['conf_dir'], self.params['set'] + '.conf')
        self.result = {'changed': False, 'file': self.path, 'entries': [], 'added': [], 'removed': [],
                       'reloaded': False, 'daemon': {'running': False, 'socket': self.params['socket']}, 'drift': {}}
        self.names = {}
        self.addresses = {}
        self.daemon = None

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def run(self):
        self.read_daemon()
        existing = self.read_links()
        if self.params['state'] == 'present' and not self.params['allow_pending']:
            self.check_interfaces(existing)
        if self.params['state'] == 'present':
            self.check_querier_addresses()
        current_text = read_text(self.path)
        current = self.read_set(current_text)
        wanted = plan_set(current, self.entries, self.identities, self.params['state'], self.params['exclusive'])
        removing_all = self.params['state'] == 'absent' and (not self.identities or current_text is None)
        if removing_all:
            wanted = []  # the file goes, so removed, entries and drift must say that every line goes
        new_text = None if removing_all else render_set(self.params['set'], wanted)
        self.validate_whole(new_text)
        file_changed = new_text != current_text
        before = self.observe(wanted, existing)
        stale = stale_lines(self.daemon, self.path, wanted)
        reload_needed = self.params['reload'] and self.daemon is not None and (
            file_changed or stale or any(row['state'] == 'not loaded' for row in before))
        self.report(current, wanted, before, stale, existing)
        self.result.update(changed=bool(file_changed or reload_needed), reloaded=bool(reload_needed),
                           entries=before)
        self.make_diff(current_text, new_text, file_changed, reload_needed, before)
        if self.module.check_mode:
            if self.daemon is None:
                self.module.warn(self.no_daemon_message())
            return self.result
        if self.daemon is None and (self.params['verify'] or (self.params['reload'] and file_changed)):
            self.fail(self.no_daemon_message() + ' Nothing was changed.')
        if file_changed:
            self.write(new_text)
        if reload_needed:
            self.reload(current_text, new_text)
        if self.params['verify']:
            self.verify(wanted, existing)
        return self.result

    def read_daemon(self):
        try:
            self.daemon = snapshot(self.params['socket'])
        except DaemonRefused as error:
            self.fail('mcastd on %s refused a query: %s' % (self.params['socket'], error))
        if self.daemon is not None:
            status = self.daemon['status']
            self.result['daemon'].update(running=True, pid=status.get('pid'), config=status.get('config'))

    def read_links(self):
        with open_iproute() as ipr:
            links = link_summaries()
            addresses = address_summaries(ipr)
        self.names = dict((link['index'], link['name']) for link in links)
        self.addresses = dict((link['name'], []) for link in links)
        for row in addresses:
            if row['family'] == socket.AF_INET and row['index'] in self.names:
                address, length = row['address'].split('/')
                self.addresses[self.names[row['index']]].append((grammar.aton(address), int(length)))
        return [link['name'] for link in links]

    def check_querier_addresses(self):
        errors, warnings = querier_address_problems(self.entries, self.addresses)
        for warning in warnings:
            self.module.warn(warning)
        if errors:
            self.fail('mcastd would not query with the address given: %s. Nothing was changed.' % '; '.join(errors))

    def check_interfaces(self, existing):
        missing = check_interfaces(self.entries, existing)
        if missing:
            self.fail('%s Or set allow_pending: true if it will appear later (mcastd keeps the entry pending until '
                      'then).' % interface_not_found_message(missing, existing))

    def read_set(self, text):
        try:
            return parse_set(text, self.path)
        except grammar.ConfigError as error:
            if self.params['exclusive']:
                return []  # replaced whole
            self.fail('the set file %s is not valid mcastd configuration: %s. Fix or remove it, or use exclusive: true '
                      'to replace it.' % (self.path, '; '.join(error.errors)))

    def config_path(self):
        daemon_config = self.result['daemon'].get('config')
        if self.params['config'] and daemon_config and os.path.realpath(daemon_config) != \
                os.path.realpath(self.params['config']):
            self.module.warn('mcastd runs with %s, not with config %s: the set was validated against %s.'
                             % (daemon_config, self.params['config'], self.params['config']))
        return self.params['config'] or daemon_config or DEFAULT_CONFIG

    def validate_whole(self, new_text):
        """The whole configuration as it will be must be valid and must include the set's file."""
        config_path = self.config_path()
        alone = not os.path.exists(config_path)
        overflow = self.nft_copies()
        try:
            if alone:
                loaded = grammar.parse_text(new_text or '', self.path, overflow=overflow)
                self.module.warn('%s does not exist, so the set was validated on its own; mcastd reads %s only '
                                 'through an include in its configuration.' % (config_path, self.path))
            else:
                loaded = grammar.load(config_path, {self.path: new_text}, overflow=overflow)
        except grammar.ConfigError as error:
            self.fail('mcastd would refuse the configuration with this set: %s. Nothing was changed.'
                      % '; '.join(error.errors))
        read = set(os.path.realpath(path) for path in loaded.files)
        if new_text is not None and not alone and os.path.realpath(self.path) not in read:
            self.fail("the mcastd configuration %s does not include %s, so the daemon would never read this set: add "
                      "the line 'include %s' to it, or point conf_dir at the directory it includes."
                      % (config_path, self.path, os.path.join(self.params['conf_dir'], '*.conf')))
        for warning in merges_with_others(loaded.warnings, self.path) + blind_if_joined(loaded.warnings, self.path):
            self.module.warn('mcastd: %s' % warning)

    def nft_copies(self):
        """Whether mcastd copies the outputs beyond the kernel's VIFs with nftables, so that the grammar accepts
        routes through more than 32 interfaces (issue 12): as the running daemon says (the nft it found), or, with
        no daemon running, whether nft is installed where mcastd looks for it."""
        if self.daemon is not None:
            return bool((self.daemon['status'].get('nftables') or {}).get('nft'))
        return nftrun.find_nft() is not None

    def read_mfc(self):
        """The kernel's MFC of both families by (source, group) as text: (iif name, sorted oif names)."""
        try:
            rows = kernel.read_mfc()
        except (kernel.KernelError, OSError) as error:
            self.fail('cannot read the kernel multicast forwarding cache over rtnetlink: %s' % error)
        mfc = dict(((grammar.ntoa(row.source), grammar.ntoa(row.group)),
                    (self.names.get(row.iif), sorted(self.names.get(oif, str(oif)) for oif in row.oifs)))
                   for row in rows)
        mfc.update(self.read_mfc6())
        return mfc

    def read_mfc6(self):
        """The IPv6 MFC, from the kernel's own tables (pyroute2 0.7 decodes nothing of rtnetlink family 129)."""
        try:
            mifs = dict((row.index, row.ifname) for row in kernel.read_vifs(kernel.PROC_MIFS))
            rows = kernel.read_mfc6()
        except (OSError, ValueError) as error:
            self.fail('cannot read the kernel IPv6 multicast forwarding cache (%s, %s): %s'
                      % (kernel.PROC_MFC6, kernel.PROC_MIFS, error))
        return mfc6_by_flow(rows, mifs)

    def observe(self, entries, existing):
        loaded = self.loaded_lines() if any(map(needs_loaded_lines, entries)) else frozenset()
        return entry_report(entries, self.daemon, self.read_mfc() if self.daemon else {}, existing, loaded)

    def loaded_lines(self):
        """The lines of the set file if the daemon read it as it is now (loaded or reloaded since it was written)."""
        if self.daemon is None:
            return frozenset()
        try:
            written = os.stat(self.path).st_mtime
        except OSError:
            return frozenset()
        if not loaded_since(self.daemon['status'], written, time.time()):
            return frozenset()
        try:
            return frozenset(entry.to_line() for entry in parse_set(read_text(self.path), self.path))
        except grammar.ConfigError:
            return frozenset()

    def report(self, current, wanted, before, stale, existing):
        current_lines = [entry.to_line() for entry in current]
        wanted_lines = [entry.to_line() for entry in wanted]
        self.result['added'] = [line for line in wanted_lines if line not in current_lines]
        self.result['removed'] = [line for line in current_lines if line not in wanted_lines]
        desired_lines = [entry.to_line() for entry in self.entries]
        if self.params['state'] == 'absent':
            desired_lines = wanted_lines
        configured = self.observe(current, existing)
        self.result['drift'] = {
            'desired_vs_configured': {'missing': [line for line in desired_lines if line not in current_lines],
                                      'extra': [line for line in current_lines if line not in wanted_lines]},
            'configured_vs_installed': drift(configured, stale_lines(self.daemon, self.path, current)),
            'desired_vs_installed': drift(before, stale),
        }

    def make_diff(self, current_text, new_text, file_changed, reload_needed, before):
        if not self.module._diff:
            return
        diffs = []
        if file_changed:
            diffs.append(file_diff(self.path, current_text, new_text))
        if reload_needed:
            header = 'mcastd (running daemon): entries of set %s' % self.params['set']
            diffs.append(text_diff(header, ['%s  [%s]' % (row['line'], row['state']) for row in before],
                                   ['%s  [loaded]' % row['line'] for row in before]))
        self.result['diff'] = diffs

    def no_daemon_message(self):
        message = ('mcastd does not answer on %s: start it (systemctl start mcastd), point socket at the daemon\'s '
                   'control socket, or set reload: false and verify: false to only write the set.' % self.params['socket'])
        api = routing_api()
        if api['held']:
            holders = ', '.join('%s (pid %d)' % (holder['name'], holder['pid']) for holder in api['holders'])
            message += (' Note: another process holds the multicast routing API in this namespace%s, so mcastd '
                        'cannot start until it stops.' % (' (%s)' % holders if holders else ''))
        return message

    def write(self, new_text):
        if new_text is None:
            remove_file(self.path)
        else:
            atomic_write(self.module, self.path, new_text)

    def restore(self, old_text):
        self.write(old_text)

    def reload(self, old_text, new_text):
        try:
            self.result['reload'] = ask(self.params['socket'], 'reload', timeout=max(self.params['timeout'], 30))
        except DaemonRefused as error:
            if new_text != old_text:
                self.restore(old_text)
            self.fail('mcastd refused the reload (%s): %s. The set file was restored; nothing else changed.'
                      % (error, '; '.join(error.details)))
        except DaemonUnavailable as error:
            if new_text != old_text:
                self.restore(old_text)
            self.fail('%s; the set file was restored.' % error)

    def verify(self, wanted, existing):
        deadline = time.monotonic() + self.params['timeout']
        while True:
            self.read_daemon()
            report = self.observe(wanted, existing)
            if is_satisfied(report, self.params['allow_pending']) or time.monotonic() >= deadline:
                break
            time.sleep(POLL_INTERVAL)
        self.result['entries'] = report
        missing = [row for row in report if row['state'] not in OK_STATES + (('pending',) if self.params['allow_pending'] else ())]
        if missing:
            self.fail('after %.1f s the kernel and mcastd do not show %d of the %d entries of set %s: %s.' % (
                self.params['timeout'], len(missing), len(report), self.params['set'],
                '; '.join('%s (%s: %s)' % (row['line'], row['state'], row['reason']) for row in missing)))


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            set=dict(type='str', required=True),
            routes=dict(type='list', elements='dict', default=[], options=dict(
                source=dict(type='str'),
                group=dict(type='str', required=True),
                iif=dict(type='str', required=True),
                oifs=dict(type='list', elements='str'),
                if_joined=dict(type='bool', default=False),
            )),
            mgroups=dict(type='list', elements='dict', default=[], options=dict(
                iif=dict(type='str', required=True, aliases=['interface']),
                group=dict(type='str', required=True),
                source=dict(type='str'),
            )),
            interfaces=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                querier=dict(type='bool', default=True),
                version=dict(type='int', choices=[2, 3]),
                address=dict(type='str'),
            )),
            igmp=dict(type='dict', options=dict(
                query_interval=dict(type='raw'),
                query_response_interval=dict(type='raw'),
                robustness=dict(type='raw'),
                last_member_interval=dict(type='raw'),
                startup_query_interval=dict(type='raw'),
            )),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            exclusive=dict(type='bool', default=False),
            conf_dir=dict(type='path', default='/etc/mcastd/conf.d'),
            config=dict(type='path'),
            socket=dict(type='path', default=DEFAULT_SOCKET),
            reload=dict(type='bool', default=True),
            verify=dict(type='bool', default=True),
            timeout=dict(type='float', default=5.0),
            allow_pending=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )


def main():
    module = build_module()
    if module.params['timeout'] < 0:
        module.fail_json(msg='timeout %s is negative: give the seconds to wait for the kernel, for example 5.'
                         % module.params['timeout'])
    warnings = []
    try:
        entries, identities = desired_entries(module.params, warnings)
    except InvalidInput as error:
        module.fail_json(msg=str(error))
    for warning in warnings:
        module.warn(warning)
    require_pyroute2(module)
    module.exit_json(**Mroute(module, entries, identities).run())


if __name__ == '__main__':
    main()
