# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IGMP (and, through mldrouter.py, MLD) on the router's interfaces: the querier, the memberships
and the queriers heard.

``querier.Querier`` and ``membership.Memberships`` are pure state machines; this file gives
them packets, a clock and sockets, and tells the daemon which groups may forward differently.
``GroupRouter`` does that for one protocol, described by a protocol object: ``Igmp`` here,
``mldrouter.Mld`` for IPv6.  The state machines speak IGMP's versions (MLDv1 is IGMPv2's twin,
MLDv2 IGMPv3's); the protocol object translates on the wire and in what people read.

Receiving: every IGMP message reaches the routing socket (``kernel.MrouteSocket.drain``) with
the ifindex it came in on, and the daemon hands it to ``on_packet``.  IGMPv1/v2 reports to
routable groups come there through the kernel's Router Alert path on VIF interfaces; IGMPv3
reports (224.0.0.22) and IGMPv2 leaves (224.0.0.2) only on interfaces that joined those
groups, so the routing socket joins them on every querier interface.  Queries (224.0.0.1)
arrive from every interface, so mcastd also knows who queries where it only listens.

Sending: one raw socket per querier interface, bound to it (SO_BINDTODEVICE), TTL 1, TOS
0xc0, Router Alert, from the chosen source address.  It receives nothing: no memberships,
IP_MULTICAST_ALL off and a filter that drops everything, so no packet is read twice.

Nothing here may stop the daemon: a send error is logged once and counted, a malformed
packet is counted and ignored, an interface without a usable address does not query and
says why (``show queriers``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import logging
import socket
import struct
import time
from collections import namedtuple

from . import igmp, igmpsock, membership
from .config import address_text, aton, ntoa, querier_address_problem, querier_source
from .linux import name_matches
from .querier import ElectionChange, Querier, SendQuery, VersionChange

ALL_SYSTEMS = 0xE0000001  # general queries
ALL_ROUTERS = 0xE0000002  # IGMPv2 leaves
IGMPV3_ROUTERS = 0xE0000016  # IGMPv3 reports
ROUTER_GROUPS = (IGMPV3_ROUTERS, ALL_ROUTERS)

SO_ATTACH_FILTER = 26
IP_MULTICAST_ALL = 49
DROP_ALL = struct.pack("=HBBI", 0x06, 0, 0, 0)  # classic BPF: "ret #0", keep no byte of any packet

COUNTERS = ("received", "malformed", "queries_sent", "query_send_errors",
            "queries_heard", "reports", "leaves", "membership_changes", "router_join_errors")


class QuerySocket:
    """A raw IGMP socket that sends queries on one interface and receives nothing."""

    def __init__(self, ifname, ifindex, source):
        self.sock = igmpsock.bound(ifname, ifindex, source, setup=_receive_nothing)

    def send(self, message, destination):
        self.sock.sendto(message, (ntoa(destination), 0))

    def close(self):
        self.sock.close()


class Igmp:
    """IGMP's part in a GroupRouter: addresses, sockets and messages of IPv4."""

    name = "IGMP"
    family = 4
    counter_prefix = "igmp_"  # the IGMP router's counters keep the names they had before MLD came
    general = ALL_SYSTEMS
    router_groups = ROUTER_GROUPS

    @staticmethod
    def version(phyint):
        """The querier's (IGMP) version on an interface of this phyint line, or None: no querier of ours."""
        return phyint.querier

    @staticmethod
    def wire_version(version):
        return version

    @staticmethod
    def problem(phyint, prefixes):
        return querier_address_problem(phyint.querier_address, prefixes)

    @staticmethod
    def source(phyint, prefixes):
        return phyint.querier_address if phyint.querier_address is not None else querier_source(prefixes)

    @staticmethod
    def open(ifname, ifindex, source):
        return QuerySocket(ifname, ifindex, source)

    @staticmethod
    def decode(data, _source=None):
        """(source address, message) of one received packet (IP header included); MalformedPacket if not IGMP."""
        received = igmp.parse_packet(data)
        return aton(received.ip.source), received.message

    @staticmethod
    def build(version, max_resp_time, group, s_flag, qrv, qqi, sources):
        return igmp.build_query(version, max_resp_time, group, s_flag, qrv, qqi, sources)

    @staticmethod
    def is_query(message):
        return isinstance(message, igmp.Query)

    @staticmethod
    def query_version(query):
        return query.version

    @staticmethod
    def records(message):
        """The membership events of a report as (version, record type, group, sources), or None: no report."""
        if isinstance(message, igmp.ReportV3):
            return [(3, record.type, record.group, record.sources) for record in message.records]
        if isinstance(message, igmp.ReportV2):
            return [(2, membership.REPORT, message.group, ())]
        if isinstance(message, igmp.Leave):
            return [(2, membership.LEAVE, message.group, ())]
        if isinstance(message, igmp.ReportV1):
            return [(1, membership.REPORT, message.group, ())]
        return None  # MRD messages and unknown types: not about memberships


class Port:
    """One querier interface: its querier, its memberships, its socket, and how its sends fare."""

    def __init__(self, name, ifindex, source, version, timers, sock, now):
        self.name = name
        self.ifindex = ifindex
        self.source = source
        self.sock = sock
        self.members = membership.Memberships(lambda: self.querier.timers)
        self.querier = Querier(source, version, timers, now, self.members)
        self.failing = None  # errno of the send error being suppressed

    def identity(self):
        return (self.ifindex, self.source, self.querier.configured_version, self.querier.configured)


Heard = namedtuple("Heard", "source version time")
Heard.__doc__ = "The last general query heard on an interface (any interface: also where mcastd only listens)."


class GroupRouter:
    """Every querier interface of the daemon for one protocol and the queries heard on all interfaces.

    The daemon calls ``sync()`` whenever configuration, interfaces or addresses changed (before
    it plans routes: ``listening`` answers from the ports), ``on_packet()`` for each IGMP
    message, ``on_timer()`` on each turn of its loop (sleeping no longer than ``next_due()``),
    and ``close()`` last.  The first three return the groups whose forwarding may have changed.
    """

    protocol = Igmp

    def __init__(self, mroute=None, log=None, clock=time.monotonic, opener=None):
        # joins the router groups (IGMP: the routing socket, set by the daemon once it holds it)
        self.mroute = mroute
        self.log = log or logging.getLogger("mcastd")
        self.clock = clock
        self.opener = opener or self.protocol.open
        self.ports = {}  # ifname -> Port
        self.by_index = {}  # ifindex -> Port
        self.heard = {}  # ifindex -> Heard
        self.addresses = {}  # ifindex -> [(address, prefix length)]
        self.problems = {}  # ifname -> why that querier interface does not query
        self.timers = None  # the configured timers (igmp line), for listeners' validity windows
        # "received" and "malformed" carry the protocol's name (igmp_received, mld_malformed, ...)
        self.received = self.protocol.counter_prefix + "received"
        self.malformed = self.protocol.counter_prefix + "malformed"
        named = {"received": self.received, "malformed": self.malformed}
        self.counters = dict((named.get(name, name), 0) for name in COUNTERS)

    # -- keeping the set of querier interfaces ------------------------------------------------------------
    def sync(self, config, ifaces, addresses):
        """Open, keep or close querier interfaces; returns the groups that lost their listeners there."""
        now = self.clock()
        self.timers = config.igmp
        self.addresses = addresses
        wanted, problems = self._wanted(config, ifaces, addresses)
        for name, problem in problems.items():
            if self.problems.get(name) != problem:
                self.log.error("%s querier on %s: not querying: %s", self.protocol.name, name, problem)
        self.problems = problems
        changed = set()
        for name, port in list(self.ports.items()):
            if wanted.get(name) != port.identity():
                changed.update(self._close(port, "reconfigured" if name in wanted else "no longer a querier interface"))
        for name, (ifindex, source, version, timers) in wanted.items():
            if name not in self.ports:
                self._open(name, ifindex, source, version, timers, now)
        return changed

    def _wanted(self, config, ifaces, addresses):
        """{ifname: identity} of the interfaces to query on, and {ifname: problem} of those that cannot."""
        wanted, problems = {}, {}
        protocol = self.protocol
        queriers = [phyint for phyint in config.phyints.values() if protocol.version(phyint) and phyint.enable]
        for iface in sorted(ifaces.values(), key=lambda item: item.index):
            exact = config.phyints.get(iface.name)  # a line naming the interface beats a wildcard line
            if exact is not None and not exact.enable:
                continue  # "phyint IF disable": no VIF, no querier, whatever a wildcard line says
            phyint = exact if exact in queriers else next((p for p in queriers if name_matches(p.ifname, iface.name)),
                                                          None)
            if phyint is None:
                continue
            prefixes = addresses.get(iface.index, [])
            problem = protocol.problem(phyint, prefixes)
            if problem:
                problems[iface.name] = problem
                continue
            source = protocol.source(phyint, prefixes)
            if source is not None:  # None: this protocol has nothing to query with here, and that is fine
                wanted[iface.name] = (iface.index, source, protocol.version(phyint), config.igmp)
        return wanted, problems

    def _open(self, name, ifindex, source, version, timers, now):
        try:
            sock = self.opener(name, ifindex, source)
        except OSError as exc:
            self.problems[name] = "cannot open its %s socket: %s" % (self.protocol.name, exc.strerror or exc)
            self.log.error("%s querier on %s: %s; retried at the next interface change or rescan", self.protocol.name,
                           name, self.problems[name])
            return
        port = Port(name, ifindex, source, version, timers, sock, now)
        joined = []
        try:
            for group in self.protocol.router_groups:
                if self.mroute is not None:
                    self.mroute.join(group, ifindex)
                    joined.append(group)
        except OSError as exc:
            self._leave_router_groups(joined, ifindex)  # all or none: the next rescan tries again
            sock.close()
            self.counters["router_join_errors"] += 1
            self.problems[name] = "cannot join %s to hear reports: %s" % (address_text(group), exc.strerror or exc)
            self.log.error("%s querier on %s: %s; retried at the next interface change or rescan", self.protocol.name,
                           name, self.problems[name])
            return
        self.ports[name] = port
        self.by_index[ifindex] = port
        self.log.info("querier on %s: %s from %s, query interval %s s, robustness %d", name, self._version_text(version),
                      address_text(source), _seconds(timers.query_interval), timers.robustness)
        self._carry_out(port, port.querier.start(now))

    def _close(self, port, why):
        """Forget an interface's querier; returns the groups that had listeners there."""
        groups = set(port.members.table)
        self._leave_router_groups(self.protocol.router_groups, port.ifindex)
        port.sock.close()
        del self.ports[port.name]
        if self.by_index.get(port.ifindex) is port:
            del self.by_index[port.ifindex]
        self.log.info("%s querier on %s: stopped (%s)", self.protocol.name, port.name, why)
        return groups

    def close(self):
        for port in list(self.ports.values()):
            self._close(port, "mcastd stopping")

    def _leave_router_groups(self, groups, ifindex):
        for group in groups:
            try:
                if self.mroute is not None:
                    self.mroute.leave(group, ifindex)
            except OSError:
                pass  # the interface is gone: so is its membership

    # -- packets -----------------------------------------------------------------------------------
    def on_packet(self, ifindex, data, now, source=None):
        """One packet of the protocol that arrived on ``ifindex``; returns changed groups.

        IGMP: ``data`` has its IP header, which gives the source; MLD: ``data`` is the ICMPv6
        message and ``source`` the sender's address (an integer).
        """
        self.counters[self.received] += 1
        try:
            source, message = self.protocol.decode(data, source)
            if self.protocol.is_query(message):
                return self._query(ifindex, source, message, now)
            port = self.by_index.get(ifindex)
            if port is None:
                return ()
            return self._report(port, message, now)
        except ValueError as exc:  # MalformedPacket, or a report the membership table refuses
            self.counters[self.malformed] += 1
            self.log.debug("ignored an %s packet on ifindex %d: %s", self.protocol.name, ifindex, exc)
            return ()

    def _query(self, ifindex, source, query, now):
        self.counters["queries_heard"] += 1
        version = self.protocol.query_version(query)  # the IGMP twin
        if not query.group:
            self.heard[ifindex] = Heard(source, version, now)
        port = self.by_index.get(ifindex)
        if port is None:
            return ()
        qqic = igmp.encode_float_code(int(query.qqi)) if query.qqi else 0
        actions = port.querier.on_query(now, source, version, query.max_resp_time, query.group, query.s_flag,
                                        query.qrv or 0, qqic, query.sources)
        self._carry_out(port, actions)
        return ()

    def _report(self, port, message, now):
        is_querier = port.querier.is_querier
        records = self.protocol.records(message)
        if records is None:
            return ()
        results = []
        for version, record_type, group, sources in records:
            if record_type == membership.LEAVE:
                self.counters["leaves"] += 1
            results.append(port.members.on_report(now, version, record_type, group, sources, is_querier))
        self.counters["reports"] += 1
        changed = set()
        for result in results:
            changed.update(result.changed)
            for request in result.queries:
                self._carry_out(port, port.querier.on_leave(now, request.group, request.sources))
        self.counters["membership_changes"] += len(changed)
        return changed

    # -- timers --------------------------------------------------------------------------------------
    def on_timer(self, now):
        """Queries due and memberships that ran out; returns the groups whose forwarding changed."""
        changed = set()
        for port in list(self.ports.values()):
            if now >= port.querier.next_due():
                self._carry_out(port, port.querier.tick(now))
            if now >= _members_due(port):
                expired = port.members.expire(now)
                self.counters["membership_changes"] += len(expired)
                changed.update(expired)
        return changed

    def next_due(self):
        due = [min(port.querier.next_due(), _members_due(port)) for port in self.ports.values()]
        return min(due) if due else float("inf")

    # -- actions -------------------------------------------------------------------------------------
    def _carry_out(self, port, actions):
        for action in actions:
            if isinstance(action, SendQuery):
                self._send(port, action)
            elif isinstance(action, ElectionChange):
                if action.is_querier:
                    self.log.info("%s querier on %s: we are the querier again (%s)", self.protocol.name, port.name,
                                  action.reason)
                else:
                    self.log.info("%s querier on %s: %s is the querier now (%s); we listen", self.protocol.name,
                                  port.name, address_text(action.querier), action.reason)
            elif isinstance(action, VersionChange):
                self.log.info("querier on %s: querying with %s (%s)", port.name, self._version_text(action.version),
                              action.reason)

    def _send(self, port, action):
        qqi = igmp.decode_float_code(action.qqic) if action.qqic else 0
        qrv = action.qrv or port.querier.timers.robustness  # a robustness above 7 is sent as 0 by build_query
        try:
            message = self.protocol.build(self.protocol.wire_version(action.version), action.max_resp_time,
                                          action.group, action.s_flag, qrv, qqi, action.sources)
            port.sock.send(message, action.group or self.protocol.general)
        except (OSError, ValueError) as exc:
            self.counters["query_send_errors"] += 1
            if port.failing is None:
                self.log.warning("%s querier on %s: cannot send a query: %s; further failures are only counted "
                                 "until a send works again", self.protocol.name, port.name,
                                 getattr(exc, "strerror", None) or exc)
            port.failing = getattr(exc, "errno", None) or -1
            return
        if port.failing is not None:
            self.log.info("%s querier on %s: sending works again", self.protocol.name, port.name)
            port.failing = None
        self.counters["queries_sent"] += 1

    # -- what the routes ask ---------------------------------------------------------------------------
    def listening(self, ifname, source, group):
        """Does ``ifname`` have a listener for (source, group)?  Only querier interfaces know."""
        port = self.ports.get(ifname)
        return port is not None and port.members.forwarding(group, source)

    def advertised(self, ifname):
        """(query interval, robustness) for RFC 4286 advertisements on ``ifname``: (0, 0) without a querier."""
        port = self.ports.get(ifname)
        if port is None:
            return 0, 0
        timers = port.querier.timers
        return min(0xFFFF, int(round(timers.query_interval))), min(0xFFFF, timers.robustness)

    # -- reporting -----------------------------------------------------------------------------------
    def _version_text(self, version):
        return "%sv%d" % (self.protocol.name, self.protocol.wire_version(version))

    def querier_rows(self, vifs, ifaces):
        """``show queriers``: every querier interface and every VIF (MIF) interface, what the protocol sees there."""
        now = self.clock()
        rows = []
        names = set(self.ports) | set(self.problems) | set(vifs)
        for name in sorted(names, key=lambda item: (ifaces[item].index if item in ifaces else 0, item)):
            iface = ifaces.get(name)
            ifindex = iface.index if iface else None
            port = self.ports.get(name)
            row = {"interface": name, "protocol": self.protocol.name, "ifindex": ifindex,
                   "problem": self.problems.get(name),
                   "subnets": _subnets(self.addresses.get(ifindex, [])),
                   "last_query": self._last_query(ifindex, now)}
            row.update(self._port_state(port, now) if port else self._listener_state(row["last_query"]))
            rows.append(row)
        return rows

    def _last_query(self, ifindex, now):
        heard = self.heard.get(ifindex)
        if heard is None:
            return None
        return {"source": address_text(heard.source), "version": self.protocol.wire_version(heard.version),
                "age": round(now - heard.time, 1)}

    def _port_state(self, port, now):
        state = port.querier.state()
        expires = state["other_querier_expires"]
        return {"role": "querier" if state["is_us"] else "non-querier", "querier": state["querier_text"],
                "is_us": state["is_us"], "own_address": address_text(port.source),
                "version": self.protocol.wire_version(state["version"]),
                "other_querier_expires_in": None if expires is None else round(max(0.0, expires - now), 1),
                "next_query_in": None if state["next_query"] is None else round(max(0.0, state["next_query"] - now), 1),
                "timers": state["timers"], "counters": state["counters"],
                "groups": len(port.members.table)}

    def _listener_state(self, last_query):
        """An interface where mcastd only listens: the querier is whoever queried within the interval."""
        window = self.timers.other_querier_present if self.timers is not None else None
        current = last_query is not None and window is not None and last_query["age"] <= window
        return {"role": "listener", "querier": last_query["source"] if current else None, "is_us": False,
                "own_address": None, "version": last_query["version"] if current else None,
                "other_querier_expires_in": round(window - last_query["age"], 1) if current else None,
                "next_query_in": None, "timers": None, "counters": None, "groups": None}

    def member_rows(self):
        """``show members``: one row per interface, group and source (``*``: any source, EXCLUDE mode)."""
        now = self.clock()
        rows = []
        for name in sorted(self.ports):
            port = self.ports[name]
            for row in port.members.groups(now):
                expires = row["expires"]
                rows.append({"interface": name, "protocol": self.protocol.name, "group": row["group_text"],
                             "source": row["source_text"],
                             "mode": row["mode"], "compat": row["compat"],
                             "expires_in": None if expires is None else round(max(0.0, expires - now), 1),
                             "forwarding": row["forwarding"]})
        return rows

    def status(self):
        return {"queriers": len(self.ports), "queriers_elected": sum(1 for p in self.ports.values()
                                                                     if p.querier.is_querier),
                "querier_problems": dict(self.problems),
                "members": sum(len(port.members.table) for port in self.ports.values())}


class IgmpRouter(GroupRouter):
    """The IGMP querier and memberships of the IPv4 interfaces."""

    protocol = Igmp


def _receive_nothing(sock):
    """No memberships, IP_MULTICAST_ALL off, and a filter that keeps no byte of any packet."""
    # Imported here: only querier interfaces need it, and every daemon pays for what it imports at start.
    import ctypes  # pylint: disable=import-outside-toplevel
    program = ctypes.create_string_buffer(DROP_ALL)
    # struct sock_fprog: unsigned short len, then a pointer (aligned as a pointer)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("@HP", 1, ctypes.addressof(program)))
    sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)


def _members_due(port):
    """When a port's memberships next run out (never while it has none)."""
    return port.members.next_due() if port.members.table else float("inf")


def _subnets(prefixes):
    return ["%s/%d" % (address_text(addr), length) for addr, length in prefixes]


def _seconds(value):
    return ("%.3f" % value).rstrip("0").rstrip(".")
