# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One address family's multicast routing: the routing socket, VIFs (MIFs), installed and learned entries.

The daemon holds two planes, IPv4 and IPv6, and drives both with the same code: the kernel
sockets (kernel.MrouteSocket, kernel.Mroute6Socket) take and give the same values, and the
route logic (routes.py) is family-neutral.  A plane knows nothing of the control socket, the
querier or the configuration file; the daemon owns those, and the plane reports kernel errors
to it (``owner.kernel_failed``) so they are counted and logged in one place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import logging
import time

from . import config as conf
from . import kernel, nftrun, routes
from . import overflow as ov


def unserved(wanted, vifs):
    """The interfaces of ``wanted`` (routes name them, they are present: routes.vif_demand) that have no VIF.

    Only these can be outputs (or inputs) that nftables copies: with none, routes.desired_overflow is
    empty, so it is not walked over every route and flow.
    """
    return [name for name in wanted if name not in vifs]


class Plane:
    """The routing state of one family, and the code that keeps its kernel table equal to the plan."""

    def __init__(self, family, owner):
        self.family = family
        self.owner = owner  # the daemon: log, counters, kernel_failed(), log_limit
        self.sock = None  # the routing socket once open()ed
        self.unavailable = None  # why the family's routing API could not be taken (IPv6 only: IPv4 is required)
        self.table = routes.RouteTable(conf.Config(), family)
        self.vifs = {}
        self.installed = {}
        self.learned = {}
        self.left_out = []
        self.overflow = {}  # overflow.Flow -> outputs that nftables copies (the kernel has no VIF for them)
        self.ifaces = {}  # the interfaces the last plan was made for
        # Interfaces the routes name, present, without a VIF: only they can make nftables copy anything. Empty
        # (every route fits the kernel) is the common case, where the overflow costs nothing per route or flow.
        self.unserved = []
        self.stale_vifs = []  # VIFs whose removal failed, retried before any VIF is added
        self.ttl_watch = routes.TtlWatch()
        self.too_low = {}  # key -> what check_ttl() last found about a flow whose TTL (hop limit) is too low

    @property
    def kind(self):
        return "VIF" if self.family == 4 else "MIF"

    @property
    def available(self):
        return self.sock is not None

    def open(self, opener=None):
        """Take the family's routing API; raises kernel.KernelError with a sentence."""
        opener = opener or (kernel.MrouteSocket if self.family == 4 else kernel.Mroute6Socket)
        self.sock = opener()
        self.unavailable = None
        return self.sock

    def close(self):
        if self.sock is not None:
            self.sock.close()

    def text(self, addr):
        return conf.ntop(addr, self.family)

    # -- making the kernel equal to the plan -------------------------------------------------------
    def plan(self, table, learned, ifaces, listening):
        """What the kernel should hold for ``table`` and ``learned``, compared with what it holds (pure)."""
        wanted, tiers = routes.vif_demand(table.config, ifaces, self.family)
        vifs, vif_removals, vif_additions, left_out = routes.plan_vifs(self.vifs, wanted, tiers)
        learned = routes.prune(table, learned, vifs)
        desired = routes.desired_entries(table, vifs, learned, listening)
        changes, removals = routes.diff(self.installed, desired)
        refresh = self._entries_on(desired, {vif.index for vif in vif_removals + vif_additions}, changes)
        overflow = routes.desired_overflow(table, vifs, learned, ifaces, listening) if unserved(wanted, vifs) else {}
        return {"vifs": vifs, "vif_removals": vif_removals, "vif_additions": vif_additions, "left_out": left_out,
                "learned": learned, "changes": changes, "removals": removals, "refresh": refresh,
                "overflow": overflow, "ifaces": ifaces, "tiers": tiers, "wanted": wanted}

    def execute(self, plan):
        """Make the kernel equal to a plan; each failed call is logged, counted and retried later."""
        self._log_moves(plan)
        if plan["left_out"] and plan["left_out"] != self.left_out:
            self._log_left_out(plan["left_out"], plan["tiers"])
        self.left_out = plan["left_out"]
        self.learned = plan["learned"]
        self.ifaces = plan["ifaces"]
        added = sum(1 for change in plan["changes"] if change[0] not in self.installed)
        for key, entry in plan["removals"]:
            if self.kernel_call("remove", self.sock.del_mfc, key[0], key[1], entry):
                del self.installed[key]
        for vif in self.stale_vifs + plan["vif_removals"]:
            self._remove_vif(vif)
        slots = set(vif.index for vif in plan["vif_additions"])
        # Entries that use none of the slots being added go first: a slot that changes hands (routes.plan_vifs)
        # would otherwise send an entry's copies for the old interface out of the new one until it is updated.
        early = [change for change in plan["changes"] if not self._uses(change[1], slots)]
        for key, entry in early:
            self.install(key, entry)
        self.vifs = self._add_vifs(plan["vif_additions"], plan["vifs"])
        # A VIF the kernel refused leaves its outputs to the next rescan, in the kernel or nftables.
        self.overflow = plan["overflow"]
        self.unserved = unserved(plan["wanted"], self.vifs)
        for key, entry in [change for change in plan["changes"] if self._uses(change[1], slots)] + plan["refresh"]:
            self.install(key, entry)
        return {"added": added, "updated": len(plan["changes"]) - added + len(plan["refresh"]),
                "removed": len(plan["removals"])}

    @staticmethod
    def _uses(entry, slots):
        return entry.parent in slots or any(entry.ttls[slot] for slot in slots)

    def _add_vifs(self, additions, table):
        """Add the planned VIFs; one the kernel refuses leaves ``table`` (returned) for the next rescan to retry."""
        for vif in additions:
            if not self.kernel_call("add", self.sock.add_vif, vif):
                del table[vif.ifname]  # e.g. the interface vanished a moment ago
                continue
            if self.family == 4:
                self.owner.log.info("VIF %d: %s (ifindex %d, ttl-threshold %d)", vif.index, vif.ifname, vif.ifindex,
                                    vif.threshold)
            else:
                self.owner.log.info("MIF %d: %s (ifindex %d)", vif.index, vif.ifname, vif.ifindex)
        return table

    def _log_moves(self, plan):
        """Name each VIF an interface of a better tier takes (routes.plan_vifs): the outputs it served are copied
        by nftables from now on."""
        tiers = plan["tiers"]
        taken = dict((vif.index, vif.ifname) for vif in plan["vif_additions"])
        for vif in plan["vif_removals"]:
            if vif.ifname in plan["left_out"] and vif.index in taken:
                self.owner.log.info("%s %d goes from %s (%s) to %s (%s): inputs get %ss before outputs, outputs "
                                    "before interfaces only a phyint line names", self.kind, vif.index, vif.ifname,
                                    routes.TIERS[tiers[vif.ifname]], taken[vif.index],
                                    routes.TIERS[tiers[taken[vif.index]]], self.kind)

    def _log_left_out(self, left_out, tiers):
        """One line: the interfaces without a VIF, by tier, and what that costs them; a warning when an input is
        among them (its templates learn nothing)."""
        log = self.owner.log
        named = routes.left_out_text(left_out, tiers)
        full = "the kernel offers %d %ss, all in use (inputs first, then outputs, then interfaces only a phyint line " \
               "names); without one: %s" % (conf.MAX_VIFS, self.kind, named)
        if not self.owner.overflow.available:
            log.error("%s (nftables could copy to them: %s)", full, nftrun.INSTALL_HINT)
        elif any(tiers.get(name) == routes.INPUT for name in left_out):
            log.warning("%s (a route from an input without one has no kernel entry and learns no flow: nftables copies "
                        "its (S,G) routes and its (*,G) routes of one group to every output)", full)
        else:
            log.info("%s (nftables copies to the outputs among them)", full)

    def _remove_vif(self, vif):
        if vif in self.stale_vifs:
            self.stale_vifs.remove(vif)
        if not self.kernel_call("remove", self.sock.del_vif, vif):
            self.stale_vifs.append(vif)

    def kernel_call(self, doing, call, *args):
        """One kernel call, contained: an error is reported to the daemon (logged, counted, retried at the next
        rescan) and every other route carries on.

        ``args`` are the call's: (source, group, entry) for an MFC entry or (vif,) for a VIF; they
        are described only when the call fails (10,000 installs must not format 10,000 sentences).
        """
        try:
            call(*args)
        except OSError as exc:
            self.owner.kernel_failed("cannot %s %s: %s" % (doing, self.what(args), exc.strerror or exc))
            return False
        return True

    def what(self, args):
        if len(args) == 1:
            return "%s %d for %s (ifindex %d)" % (self.kind, args[0].index, args[0].ifname, args[0].ifindex)
        row = routes.describe_entry((args[0], args[1]), args[2], self.vif_names())
        return "(%s, %s) from %s to %s" % (row["source"], row["group"], row["iif"], " ".join(row["oifs"]) or "nothing")

    @staticmethod
    def _entries_on(desired, slots, changes):
        """Unchanged entries that use a re-created VIF slot: the kernel must be told again."""
        if not slots:
            return []
        changed = {change[0] for change in changes}
        return [(key, entry) for key, entry in desired.items()
                if key not in changed and (entry.parent in slots or any(entry.ttls[slot] for slot in slots))]

    def install(self, key, entry):
        old = self.installed.get(key)
        if key[0] == 0 and self.family == 6 and old is not None and old.parent != entry.parent:
            # A kernel (*,G) entry is keyed by its input too: the old one would stay beside the new.
            if not self.kernel_call("replace", self.sock.del_mfc, key[0], key[1], old):
                return
            del self.installed[key]
        if self.kernel_call("install", self.sock.add_mfc, key[0], key[1], entry):
            self.installed[key] = entry

    def vif_names(self):
        return {vif.index: name for name, vif in self.vifs.items()}

    def on_memberships(self, groups, listening):
        """Listeners came or went for ``groups``: re-install the if-joined entries of those groups."""
        entries = routes.joined_entries(self.table, self.vifs, self.learned, groups, listening)
        for key, entry in entries.items():
            if self.installed.get(key) != entry:
                self.install(key, entry)
        if self.unserved:  # outputs without a VIF follow their listeners too
            self.overflow = routes.desired_overflow(self.table, self.vifs, self.learned, self.ifaces, listening)

    # -- upcalls ------------------------------------------------------------------------------------
    def learn(self, upcalls, now, listening):
        """Install an entry for each new flow the kernel asked about (and move flows after WRONGVIF)."""
        counters = self.owner.counters
        by_slot = {vif.index: vif for vif in self.vifs.values()}
        cache = routes.TtlCache(self.vifs)
        outputs = routes.OverflowCache(self.vifs, self.ifaces, self.table.config) if self.unserved else None
        for upcall in upcalls:
            if upcall.kind == kernel.IGMPMSG_WRONGVIF:  # MRT6MSG_WRONGMIF has the same value
                self.on_wrongvif(upcall, by_slot.get(upcall.vif), now, (cache, outputs), listening)
                continue
            counters["upcalls"] += 1
            key = (upcall.source, upcall.group)
            vif = by_slot.get(upcall.vif)
            if vif is None or key in self.installed:
                continue  # a repeated upcall, or from a VIF being replaced
            if upcall.source == 0 and self.family == 6:
                continue  # (::, G) is the key of a kernel (*,G) entry; a sender without an address is not routed
            flow = self.table.learn(vif.ifname, upcall.source, upcall.group, now)
            entry = routes.learned_entry(flow, self.vifs, cache, key, listening)
            self.install(key, entry)
            if key in self.installed:
                self.learned[key] = flow
                self._copy_overflow(key, flow, outputs, listening)
                counters["stop_entries" if flow.route is None else "learned"] += 1
                self.owner.log.debug("%s %s", flow.kind, routes.describe_entry(key, entry, self.vif_names()))

    def _copy_overflow(self, key, flow, cache, listening):
        """Record what nftables copies of a learned flow beside its entry (the outputs without a VIF); ``cache``
        None: every interface has a VIF, nothing to copy."""
        if cache is None or not routes.copied_per_flow(self.table, flow):
            return  # a stop entry, or a flow its template's group copies already
        outputs = routes.overflow_outputs(flow.route, flow.iif, key, cache, listening)
        if outputs:
            self.overflow[routes.overflow_flow(key, flow.iif, self.family)] = outputs

    def _drop_overflow(self, key, flow):
        if self.overflow:  # the flow's key is made (addresses as text) only when there is something to drop
            self.overflow.pop(routes.overflow_flow(key, flow.iif, self.family), None)

    def on_wrongvif(self, upcall, vif, now, caches, listening):
        """A known (S,G) arrives on another VIF than its entry's input: move it if a route allows."""
        counters = self.owner.counters
        counters["wrongvif"] += 1
        key = (upcall.source, upcall.group)
        decision = routes.on_wrongvif(self.table, self.learned, key, vif.ifname if vif else None, now)
        if decision.outcome == routes.MOVED and self._move(key, decision.flow, caches, listening):
            return
        if decision.outcome == routes.TO_STAR_G and self._forget(key, "hand over to the (*,G) entry"):
            counters["moved"] += 1
            self.owner.log.info("(%s,%s) arrives on %s, the input of the group's (*,G) route: its own entry removed, "
                                "the kernel (*,G) entry forwards it", self.text(key[0]), self.text(key[1]), vif.ifname)
            return
        counters["wrongvif_ignored"] += 1
        if decision.outcome in routes.WRONGVIF_REASONS and self.owner.log_limit.allow(key + (decision.outcome,), now):
            level = logging.DEBUG if decision.outcome in routes.BENIGN_WRONGVIF else logging.INFO
            self.owner.log.log(level, "(%s,%s) arrives on %s, not on its input: not moved, %s (logged once a minute)",
                               self.text(key[0]), self.text(key[1]),
                               vif.ifname if vif else "%s %d" % (self.kind, upcall.vif),
                               routes.WRONGVIF_REASONS[decision.outcome])

    def _move(self, key, flow, caches, listening):
        """Re-install a flow with its new input; False (the error logged) if the kernel refused."""
        entry = routes.learned_entry(flow, self.vifs, caches[0], key, listening)
        self.install(key, entry)
        if self.installed.get(key) != entry:
            return False  # the kernel reports again within 3 s while the flow keeps arriving
        old = self.learned[key]
        self.learned[key] = flow
        self._drop_overflow(key, old)
        self._copy_overflow(key, flow, caches[1], listening)
        self.owner.counters["moved"] += 1
        self.owner.log.info("moved (%s,%s) inbound from %s to %s after WRONGVIF: %s", self.text(key[0]),
                            self.text(key[1]), old.iif, flow.iif, routes.describe_entry(key, entry, self.vif_names()))
        return True

    def _forget(self, key, doing):
        """Remove a learned entry from the kernel and the plane; False (kept) if the kernel refused."""
        entry = self.installed.get(key)
        if entry is not None and not self.kernel_call(doing, self.sock.del_mfc, key[0], key[1], entry):
            return False
        self.installed.pop(key, None)
        flow = self.learned.pop(key, None)
        if flow is not None:
            self._drop_overflow(key, flow)
        return True

    # -- expiry and flush -----------------------------------------------------------------------------
    def expire(self, now, timeout):
        stale = routes.expired(self.learned, self._packets, now, timeout)
        gone = [key for key in stale if self._forget(key, "remove idle")]  # a refusal keeps it for the next round
        if gone:
            self.owner.counters["expired"] += len(gone)
            self.owner.log.debug("expired %d idle learned IPv%d entries", len(gone), self.family)

    def _packets(self, key):
        """The kernel's packet counter of an entry; on an error a value that keeps the entry (nothing lost)."""
        try:
            return self.sock.packets(*key)
        except OSError as exc:
            self.owner.kernel_failed("cannot read the counters of (%s, %s): %s" % (
                self.text(key[0]), self.text(key[1]), exc.strerror or exc), retry=False)
            return routes.UNKNOWN

    def flush(self):
        """Forget every learned and stop entry; new packets ask again.  Returns how many went."""
        return sum(1 for key in list(self.learned) if self._forget(key, "flush"))

    # -- flows that arrive but cannot leave ------------------------------------------------------------
    def check_ttl(self, now, interval):
        """Warn about routed flows whose datagrams arrive and never leave (TTL or hop limit too low)."""
        try:
            rows = kernel.read_vifs(kernel.PROC_VIFS if self.family == 4 else kernel.PROC_MIFS)
        except (OSError, ValueError):
            return  # the table is unreadable or malformed this time: looked at again at the next rescan
        counts = {}
        for key in self.ttl_watch.candidates(self.installed, rows):
            packets = self._packets(key)
            if isinstance(packets, int):
                counts[key] = packets
        self.too_low = dict((key, row) for key, row in self.too_low.items() if now - row["seen"] < 60)
        for key, arrived in self.ttl_watch.too_low(self.installed, counts).items():
            self._too_low(key, arrived, now, interval)

    def _too_low(self, key, arrived, now, interval):
        self.owner.counters["ttl_too_low"] += 1
        row = routes.describe_entry(key, self.installed[key], self.vif_names())
        row.update(arrived=arrived, seen=now)
        self.too_low[key] = row
        if not self.owner.log_limit.allow(("ttl-too-low",) + key, now):
            return
        if self.family == 4:
            why = ("their TTL does not exceed the outputs' ttl-threshold (1 unless set), so the kernel forwards none; "
                   "the sender must send with a TTL of at least 2 (IP_MULTICAST_TTL), one more per router on the way")
        else:
            why = ("their hop limit is 1, which no router forwards; the sender must send with a hop limit of at least "
                   "2 (IPV6_MULTICAST_HOPS), one more per router on the way")
        self.owner.log.warning("(%s, %s) from %s: %d datagrams arrived in the last %d s and none left through %s: %s "
                               "(logged once a minute)", row["source"], row["group"], row["iif"], arrived,
                               round(interval), ", ".join(row["oifs"]), why)

    def too_low_rows(self):
        now = time.monotonic()
        return [dict(((name, value) for name, value in row.items() if name != "seen"), family=self.family,
                     age=round(now - row["seen"], 1)) for row in self.too_low.values()]

    # -- what mcastctl shows ----------------------------------------------------------------------------
    def route_rows(self, copied=None):
        """Rows for ``show routes``: each entry with every output and where it is served (the kernel's MFC entry,
        or nftables' copies), then the flows nftables alone serves (input without a VIF), then the templates.

        ``copied``: {chain: {output: (packets, bytes)}} read from nftables, None when unreadable.
        """
        names = self.vif_names()
        now = time.monotonic()
        rows = []
        overflow = dict(self.overflow)
        shared = set()  # flows of any source that learned rows show: not listed again on their own
        for key, entry in sorted(self.installed.items()):
            row = routes.describe_entry(key, entry, names)
            flow = self.learned.get(key)
            static = self.table.static.get(key)
            row["kind"] = flow.kind if flow else ("static" if key[0] or self.family == 4 else "star-g")
            origin = static.origin if static else (flow.route.origin if flow and flow.route else None)
            row["origin"] = str(origin) if origin else None
            row["age"] = round(now - flow.since, 1) if flow else None
            try:
                counters = self.sock.counters(*key)
            except OSError:
                counters = False  # unknown: shown as such, the listing goes on
            row["packets"], row["bytes"], row["wrong_if"] = counters or ((None,) * 3 if counters is False else (0, 0, 0))
            row["in_kernel"] = None if counters is False else counters is not None
            copies, extra = None, ()
            if overflow:  # a row's flow key (addresses as text) is made only while nftables copies something
                copies = self._flow_of(key, row["iif"], flow, shared)
                extra = overflow.get(copies, ())
            self._outputs(row, extra, copied, copies)
            rows.append(row)
            if copies not in shared:
                overflow.pop(copies, None)
        for flow, outputs in sorted(overflow.items(), key=lambda item: ov.flow_order(item[0])):
            if flow not in shared:
                rows.append(self._copied_row(flow, outputs, copied))
        for route in self.table.templates:
            rows.append({"kind": "template", "source": str(route.source) if route.source else "*",
                         "group": str(route.group), "iif": route.iif, "oifs": list(route.oifs),
                         "origin": str(route.origin), "age": None, "packets": None, "bytes": None,
                         "wrong_if": None, "in_kernel": None})
        return rows

    def _flow_of(self, key, iif, flow, shared):
        """The overflow.Flow whose copies belong to an entry's row; one of any source (copied by its template's
        group) is added to ``shared``."""
        copies = routes.overflow_flow(key, iif, self.family)
        if flow is not None and flow.route is not None and not routes.copied_per_flow(self.table, flow):
            copies = ov.Flow(iif, None, copies.group)
            shared.add(copies)
        return copies

    @staticmethod
    def _outputs(row, extra, copied, flow):
        """Every output of the row with where it is served and its counters: the kernel counts per entry (each
        of its outputs sends what passed the ttl-threshold), nftables per rule of up to 30 outputs (for a flow
        of any source, what every source of the group sent)."""
        kernel_outputs = [{"name": name, "served": "kernel", "packets": row["packets"], "bytes": row["bytes"]}
                          for name in row["oifs"]]
        chain = (copied or {}).get(ov.chain_name(flow), {}) if extra else {}  # a name hashed only when needed
        copies = [{"name": output.name, "served": "nftables", "packets": chain.get(output.name, (None, None))[0],
                   "bytes": chain.get(output.name, (None, None))[1]} for output in extra]
        row["outputs"] = kernel_outputs + copies
        row["oifs"] = [output["name"] for output in row["outputs"]]
        row["nft_oifs"] = [output.name for output in extra]
        row["nft_packets"] = max([output["packets"] for output in copies if output["packets"] is not None] or [None])

    def _copied_row(self, flow, outputs, copied):
        key = (flow.source or "*", flow.group)
        static = self.table.static.get((self._address(flow.source) if flow.source else 0, self._address(flow.group)))
        kind = "static" if static and flow.source else "star-g"  # a flow of any source: as a kernel (*,G) entry
        row = {"source": key[0], "group": key[1], "iif": flow.iif, "oifs": [], "kind": kind,
               "origin": str(static.origin) if static else self._template_origin(flow), "age": None,
               "packets": None, "bytes": None, "wrong_if": None, "in_kernel": False}
        self._outputs(row, outputs, copied, flow)
        return row

    def _template_origin(self, flow):
        route = self.table.template_for(flow.iif, 0, self._address(flow.group))
        return str(route.origin) if route else None

    def _address(self, text):
        return conf.aton(text) if self.family == 4 else conf.aton6(text)
