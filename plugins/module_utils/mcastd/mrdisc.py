# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Multicast Router Discovery (RFC 4286, IPv4) on ``phyint IF mrdisc`` interfaces.

Snooping switches forward a group only to the ports where they saw members and to the ports
where they believe a multicast router is.  A static router such as mcastd sends no PIM and no
IGMP queries, so without MRD a switch may never learn that it is there.  mcastd tells it:

- an Advertisement to All-Snoopers (224.0.0.106) when an interface becomes an mrdisc interface
  (up to MaxInitialAdvertisements, 3, at random intervals of up to MaxInitialAdvertisementInterval,
  2 s), then every AdvertisementInterval (``-m``, default 20 s) plus or minus AdvertisementJitter
  (0.025 times the interval);
- an Advertisement in answer to each Solicitation received on All-Routers (224.0.0.2), at most
  MaxMessageRate (10) advertisements per second per interface;
- a Termination when the interface stops being an mrdisc interface (its line removed at reload)
  and when the daemon stops.

Three parts: ``Advertiser`` is the pure state machine of one interface, driven by a clock the
caller passes in (tests fake it); ``MrdiscSocket`` is the thin socket part; ``Mrdisc`` ties them
to the daemon's selector and counts.  Nothing here may stop the daemon: a send error is logged
once and counted, a malformed packet is counted and ignored.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import argparse
import logging
import os
import selectors
import socket
import time
from collections import deque

from . import igmp, igmpsock
from .linux import name_matches
from .groups import IP_MREQN

DEFAULT_INTERVAL = 20  # AdvertisementInterval, seconds (smcrouted -m)
MIN_INTERVAL = 4
MAX_INTERVAL = 180
MAX_INITIAL_ADVERTISEMENT_INTERVAL = 2.0
MAX_INITIAL_ADVERTISEMENTS = 3
JITTER_FACTOR = 0.025  # AdvertisementJitter = 0.025 * AdvertisementInterval
MAX_MESSAGE_RATE = 10  # advertisements per second and interface
RETRY_INTERVAL = 5.0  # a socket that could not be opened is tried again this often
RECEIVE_BATCH = 64  # packets read per wake-up, so a flood cannot starve the routing socket


COUNTERS = ("mrdisc_advertisements", "mrdisc_solicitations", "mrdisc_answered", "mrdisc_rate_limited",
            "mrdisc_terminations", "mrdisc_send_errors", "mrdisc_malformed")


def parse_interval(text):
    """``-m SEC``: the advertisement interval, as argparse's ``type``."""
    try:
        value = int(text, 10)
    except ValueError:
        value = None
    if value is None or not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise argparse.ArgumentTypeError(
            "the mrdisc advertisement interval must be a whole number of seconds from %d to %d (RFC 4286), not %r"
            % (MIN_INTERVAL, MAX_INTERVAL, text))
    return value


def enabled_on(config, ifname):
    """True if a ``phyint`` line that matches ``ifname`` (wildcards included) says ``mrdisc``."""
    return any(phyint.mrdisc and phyint.enable and name_matches(phyint.ifname, ifname)
               for phyint in config.phyints.values())


def wanted_interfaces(config, vifs):
    """{ifname: ifindex} of the interfaces to advertise on.

    RFC 4286 has a router advertise where it forwards multicast, so an interface needs its VIF
    (as in smcroute, which registers mrdisc when it adds the VIF) and an mrdisc phyint line.
    """
    return {name: vif.ifindex for name, vif in vifs.items() if enabled_on(config, name)}


def solicitation_problem(ip):
    """Why a received Solicitation must be discarded (RFC 4286, section 4), or None if it is valid."""
    if ip.destination != igmp.ALL_ROUTERS:
        return "sent to %s, not All-Routers %s" % (ip.destination, igmp.ALL_ROUTERS)
    if ip.ttl != 1:
        return "IP TTL %d, not 1" % ip.ttl
    return None


def _no_igmp():
    return 0, 0


def uniform():
    """A random number in [0, 1) for the RFC's jitter, from os.urandom: the random module would
    cost the daemon about half a megabyte of memory (hashlib) for this one use."""
    return int.from_bytes(os.urandom(7), "big") / float(1 << 56)


class Advertiser:
    """RFC 4286 on one interface: what to send and when, for times the caller passes in.

    ``poll(now)`` returns the advertisements due at ``now``; ``solicited(now)`` the answer to a
    Solicitation (empty when rate-limited); ``stop()`` the Termination; ``restart(now)`` starts
    the initial burst again (the interface came back up).  Every method returns a list of IGMP
    messages (bytes) for the caller to send; nothing here touches the network or the clock.
    """

    def __init__(self, interval, now, rand=None, igmp_values=None):
        self.interval = interval
        self.igmp_values = igmp_values or _no_igmp
        self.jitter = JITTER_FACTOR * interval
        self._rand = rand or uniform
        self._recent = deque()  # times of advertisements within the last second
        self.initial_left = 0
        self.next_at = now
        self.restart(now)

    def restart(self, now):
        self.initial_left = MAX_INITIAL_ADVERTISEMENTS
        self.next_at = now + self._initial_delay()

    def _initial_delay(self):
        return self._rand() * MAX_INITIAL_ADVERTISEMENT_INTERVAL

    def _periodic_delay(self):
        return self.interval + (2.0 * self._rand() - 1.0) * self.jitter

    def advertisement(self):
        # RFC 4286, 3.2: the query interval and robustness variable IGMP uses on the interface, 0 without IGMP.
        query_interval, robustness = self.igmp_values()
        return igmp.build_advertisement(self.interval, query_interval, robustness)

    def poll(self, now):
        """The advertisement due at ``now`` (a list of one, or empty), and the next one scheduled."""
        if now < self.next_at:
            return []
        if self.initial_left:
            self.initial_left -= 1
        # Scheduled from now, not from the missed deadline: a late loop never sends a catch-up burst.
        self.next_at = now + (self._initial_delay() if self.initial_left else self._periodic_delay())
        self._recent.append(now)
        return [self.advertisement()]

    def solicited(self, now):
        """The answer to a Solicitation, unless MaxMessageRate advertisements left in the last second."""
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= MAX_MESSAGE_RATE:
            return []
        self._recent.append(now)
        return [self.advertisement()]

    @staticmethod
    def stop():
        return [igmp.build_termination()]


class MrdiscSocket:
    """A raw IGMP socket on one interface: sends to All-Snoopers, hears Solicitations on All-Routers.

    Bound to the interface as smcroute does (igmpsock.bound: TTL 1 and Router Alert, as RFC 4286
    requires), joined to All-Routers on it for the Solicitations.
    """

    def __init__(self, ifname, ifindex):
        self.sock = igmpsock.bound(ifname, ifindex)
        try:
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                                 IP_MREQN.pack(socket.inet_aton(igmp.ALL_ROUTERS), b"\0" * 4, ifindex))
        except OSError:
            self.sock.close()
            raise

    def fileno(self):
        return self.sock.fileno()

    def send(self, message):
        self.sock.sendto(message, (igmp.ALL_SNOOPERS, 0))

    def receive(self):
        """The packets queued now (IP header included), at most RECEIVE_BATCH."""
        packets = []
        for _attempt in range(RECEIVE_BATCH):
            try:
                packets.append(self.sock.recv(2048))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. ENETDOWN reported on the socket; nothing to read
                break
        return packets

    def close(self):
        self.sock.close()


class Port:
    """One mrdisc interface: its socket, its state machine, and what the daemon knows of its link."""

    def __init__(self, name, ifindex, sock, advertiser, up):
        self.name = name
        self.ifindex = ifindex
        self.sock = sock
        self.advertiser = advertiser
        self.up = up
        self.failing = None  # errno of the send error being suppressed, None while sends work
        self.announced = False  # a Termination is owed only to a link that heard an Advertisement


class Mrdisc:
    """Every mrdisc interface of the daemon; its sockets live in the daemon's selector.

    The daemon calls ``sync()`` whenever configuration, VIFs or interfaces changed, ``on_timer()``
    on each turn of its loop (and sleeps no longer than ``next_due()``), and ``close()`` last.
    """

    def __init__(self, selector, interval=DEFAULT_INTERVAL, log=None, clock=time.monotonic, opener=MrdiscSocket,
                 rand=None):
        self.selector = selector
        self.interval = interval
        self.log = log or logging.getLogger("mcastd")
        self.clock = clock
        self.opener = opener
        self.rand = rand or uniform
        self.igmp_values = lambda _ifname: (0, 0)  # the daemon's querier sets it: (query interval, robustness)
        self.ports = {}
        self.wanted = {}
        self.ifaces = {}
        self.failed = {}  # {ifname: errno} of sockets that could not be opened; retried
        self.retry_at = float("inf")
        self.counters = dict.fromkeys(COUNTERS, 0)

    # -- what the daemon calls ---------------------------------------------------------------------
    def sync(self, config, vifs, ifaces):
        """Open, keep or close interfaces so that exactly the wanted ones advertise."""
        self.wanted = wanted_interfaces(config, vifs)
        self.ifaces = ifaces
        self._reconcile(self.clock())

    def on_timer(self, now):
        for port in list(self.ports.values()):
            for message in port.advertiser.poll(now):
                if port.up:  # a down link cannot carry it; the burst starts again when it comes up
                    self._send(port, message, "mrdisc_advertisements")
        if self.failed and now >= self.retry_at:
            self._reconcile(now)

    def next_due(self):
        """When on_timer() next has something to do (monotonic seconds; infinity if never)."""
        due = [port.advertiser.next_at for port in self.ports.values()]
        if self.failed:
            due.append(self.retry_at)
        return min(due) if due else float("inf")

    def close(self):
        """Daemon stopping: a Termination on every mrdisc interface that is up, sockets closed."""
        for port in list(self.ports.values()):
            self._close(port, goodbye=port.up)

    def active(self, ifname):
        return ifname in self.ports

    def status(self):
        return {"interval": self.interval, "interfaces": sorted(self.ports)}

    # -- keeping the set of interfaces -------------------------------------------------------------
    def _reconcile(self, now):
        for name, port in list(self.ports.items()):
            if self.wanted.get(name) != port.ifindex:
                iface = self.ifaces.get(name)
                # Only an interface that is still the same one, and up, can carry a Termination.
                self._close(port, goodbye=bool(iface and iface.index == port.ifindex and iface.up))
        failed, self.failed = self.failed, {}
        for name, ifindex in self.wanted.items():
            iface = self.ifaces.get(name)
            up = bool(iface and iface.up)
            port = self.ports.get(name)
            if port is None:
                self._open(name, ifindex, up, now, failed.get(name))
                continue
            if up and not port.up:
                self.log.info("mrdisc on %s: interface up again, advertising from the start", name)
                port.advertiser.restart(now)
            port.up = up
        self.retry_at = now + RETRY_INTERVAL if self.failed else float("inf")

    def _open(self, name, ifindex, up, now, failed_before):
        try:
            sock = self.opener(name, ifindex)
        except OSError as exc:
            self.failed[name] = exc.errno
            if failed_before != exc.errno:  # log once, not at every retry
                self.log.error("mrdisc on %s: cannot open its IGMP socket: %s; retrying every %d s",
                               name, exc.strerror or exc, RETRY_INTERVAL)
            return
        advertiser = Advertiser(self.interval, now, self.rand, lambda: self.igmp_values(name))
        port = Port(name, ifindex, sock, advertiser, up)
        self.ports[name] = port
        self.selector.register(sock, selectors.EVENT_READ, self.on_packets)
        self.log.info("mrdisc on %s: advertising to %s every %d s (RFC 4286)", name, igmp.ALL_SNOOPERS, self.interval)

    def _close(self, port, goodbye):
        if not goodbye:
            outcome = " (the interface is gone, re-created or down: no termination)"
        elif not port.announced:
            outcome = " before its first advertisement"
        else:
            sent = [self._send(port, message, "mrdisc_terminations") for message in port.advertiser.stop()]
            outcome = ", termination sent" if all(sent) else ", termination not sent"
        try:
            self.selector.unregister(port.sock)
        except (KeyError, ValueError, RuntimeError):
            pass  # the daemon's selector is already closed
        port.sock.close()
        del self.ports[port.name]
        self.log.info("mrdisc on %s: stopped%s", port.name, outcome)

    # -- packets -----------------------------------------------------------------------------------
    def on_packets(self, sock, _mask=None):
        """The selector's callback for every mrdisc socket: read what is queued and answer Solicitations."""
        port = next((port for port in self.ports.values() if port.sock is sock), None)
        if port is None:
            return  # closed by an earlier event of the same wake-up
        now = self.clock()
        for packet in port.sock.receive():
            self._handle(port, packet, now)

    def _handle(self, port, packet, now):
        try:
            received = igmp.parse_packet(packet)
        except igmp.MalformedPacket as exc:
            self.counters["mrdisc_malformed"] += 1
            self.log.debug("mrdisc on %s: ignored a malformed packet: %s", port.name, exc)
            return
        if not isinstance(received.message, igmp.Solicitation):
            return  # reports, queries, other routers' advertisements: not ours to answer
        problem = solicitation_problem(received.ip)
        if problem:
            self.counters["mrdisc_malformed"] += 1
            self.log.debug("mrdisc on %s: ignored a solicitation from %s: %s", port.name, received.ip.source, problem)
            return
        self.counters["mrdisc_solicitations"] += 1
        answer = port.advertiser.solicited(now)
        if not answer:
            self.counters["mrdisc_rate_limited"] += 1
            self.log.debug("mrdisc on %s: solicitation from %s not answered: %d advertisements in the last second",
                           port.name, received.ip.source, MAX_MESSAGE_RATE)
            return
        if port.up and self._send(port, answer[0], "mrdisc_advertisements"):
            self.counters["mrdisc_answered"] += 1

    def _send(self, port, message, counter):
        try:
            port.sock.send(message)
        except OSError as exc:
            self.counters["mrdisc_send_errors"] += 1
            if port.failing is None:
                self.log.warning("mrdisc on %s: cannot send: %s; further failures are only counted until a send "
                                 "works again", port.name, exc.strerror or exc)
            port.failing = exc.errno
            return False
        if port.failing is not None:
            self.log.info("mrdisc on %s: sending works again", port.name)
            port.failing = None
        self.counters[counter] += 1
        port.announced = port.announced or counter == "mrdisc_advertisements"
        return True
