# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daemon's state and main loop.

One thread, one selector: the routing socket (upcalls), the link monitor, the
control socket and its clients, and a self-pipe for signals.  Upcalls are read
first and completely on every wake-up, so a burst of new sources is learned
before the kernel's per-flow queue (a few packets) overflows.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import logging
import os
import selectors
import signal
import socket
import time

from . import config as conf
from . import control, groups, ifaces, igmprouter, kernel, mrdisc, notify, routes

VERSION = control.VERSION
LINK_RESCAN_INTERVAL = 5.0  # safety net behind netlink events; also when failed kernel calls are retried
ERROR_LOG_INTERVAL = 60.0  # the same failure is logged at most this often (it is counted every time)


class Daemon:
    """Everything mcastd knows, and the code that keeps the kernel equal to it."""

    def __init__(self, options, log=None):
        self.options = options
        self.log = log or logging.getLogger("mcastd")
        self.config = conf.Config()  # what is in force: the file plus runtime changes (mcastctl add, ...)
        self.file_config = self.config  # the file alone, as last loaded (reload re-reads only changed lines)
        self.runtime_changes = 0  # mcastctl add/del/join/leave since the last load of the file
        self.table = routes.RouteTable(self.config)
        self.mroute = None
        self.links = None
        self.server = None
        self.clients = {}
        self.joins = groups.GroupJoins()
        self.ifaces = {}
        self.vifs = {}
        self.installed = {}
        self.learned = {}
        self.left_out = []
        self.started = time.time()
        self.counters = {"upcalls": 0, "learned": 0, "stop_entries": 0, "expired": 0, "reloads": 0, "failed_reloads": 0,
                         "kernel_errors": 0, "handler_errors": 0, "runtime_changes": 0,
                         "wrongvif": 0, "moved": 0, "wrongvif_ignored": 0}
        self.retry = False  # a kernel call failed: the next rescan applies the plan again
        self.stale_vifs = []  # VIFs whose removal failed, retried before any VIF is added
        # Repeated failures and WRONGVIF notes are logged at most once per interval each (always counted).
        self.log_limit = routes.LogLimit(interval=ERROR_LOG_INTERVAL)
        self.last_reload = None
        self.selector = selectors.DefaultSelector()
        self.mrdisc = mrdisc.Mrdisc(self.selector, getattr(options, "mrdisc_interval", mrdisc.DEFAULT_INTERVAL), self.log)
        self.igmp = igmprouter.IgmpRouter(log=self.log)
        self.mrdisc.igmp_values = self.igmp.advertised
        self.wakeup = None
        self.running = False
        self.next_expiry = 0.0
        self.next_rescan = 0.0

    # -- start and stop ------------------------------------------------------------------------
    def start(self, config):
        """Take the routing API, install everything, open the control socket.

        Raises kernel.KernelError or control.SocketInUse with a sentence for the operator.
        """
        self.config = self.file_config = config
        self.table = routes.RouteTable(config)
        self.mroute = kernel.MrouteSocket()
        if self.mroute.wrongvif_error:
            self.log.error("cannot enable WRONGVIF upcalls (%s): %s; a flow that changes its input interface "
                           "moves only after it expires", self.mroute.wrongvif_mode or "off", self.mroute.wrongvif_error)
        self.igmp.mroute = self.mroute
        self.links = ifaces.LinkMonitor()
        self.ifaces = ifaces.scan()
        self.sync_igmp()  # before the routes: if-joined outputs ask it who listens
        stats = self.apply()
        self.sync_groups()
        self.server = control.ControlServer(self.options.socket)
        self._register()
        self.sync_mrdisc()  # only now: a start that failed must not announce (or terminate) anything
        waiting = routes.pending(self.config, self.ifaces, self.vifs)  # once: it walks every route
        self.log.info("mcastd %s started: %s", VERSION, self._summary(stats, waiting))
        for warning in config.warnings:
            self.log.warning("%s", warning)
        for row in waiting:
            self.log.warning("pending (%s): %s waits for %s", row["origin"], row["line"], ", ".join(row["missing"]))

    def _register(self):
        read, self.wakeup = socket.socketpair()
        read.setblocking(False)
        self.wakeup.setblocking(False)
        signal.set_wakeup_fd(self.wakeup.fileno())
        for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: None)  # handled in the loop, through the wake-up fd
        self.selector.register(self.mroute, selectors.EVENT_READ, self.on_upcalls)
        self.selector.register(self.links, selectors.EVENT_READ, self.on_link_event)
        self.selector.register(self.server, selectors.EVENT_READ, self.on_connect)
        self.selector.register(read, selectors.EVENT_READ, self.on_signal)

    def close(self):
        self.mrdisc.close()  # Terminations first, while every interface is as it was
        self.igmp.close()
        for client in list(self.clients.values()):
            client.close()
        self.clients = {}
        for part in (self.server, self.links, self.mroute):
            if part is not None:
                part.close()
        self.joins.close()
        self.selector.close()

    def _summary(self, stats, waiting=None):
        if waiting is None:
            waiting = routes.pending(self.config, self.ifaces, self.vifs)
        return "%d VIFs, %d entries installed (%d added, %d updated, %d removed), %d pending" % (
            len(self.vifs), len(self.installed), stats["added"], stats["updated"], stats["removed"], len(waiting))

    # -- making the kernel equal to the plan ---------------------------------------------------------
    def apply(self):
        """Bring VIFs and MFC entries in line with config, interfaces and learned flows."""
        return self.execute(self.plan(self.table, self.learned))

    def plan(self, table, learned):
        """What the kernel should hold for ``table`` and ``learned``, compared with what it holds.

        Pure: nothing in the daemon or the kernel changes, so a reload can compute the whole new
        state first and give up with nothing changed if that fails.
        """
        wanted = routes.wanted_vifs(table.config, self.ifaces)
        vifs, vif_removals, vif_additions, left_out = routes.plan_vifs(self.vifs, wanted)
        learned = routes.prune(table, learned, vifs)
        desired = routes.desired_entries(table, vifs, learned, self.igmp.listening)
        changes, removals = routes.diff(self.installed, desired)
        refresh = self._entries_on(desired, {vif.index for vif in vif_removals + vif_additions}, changes)
        return {"vifs": vifs, "vif_removals": vif_removals, "vif_additions": vif_additions, "left_out": left_out,
                "learned": learned, "changes": changes, "removals": removals, "refresh": refresh}

    def execute(self, plan):
        """Make the kernel equal to a plan; each failed call is logged, counted and retried later."""
        if plan["left_out"] and plan["left_out"] != self.left_out:
            self.log.error("the kernel offers %d VIFs, all in use; left out: %s", conf.MAX_VIFS,
                           ", ".join(plan["left_out"]))
        self.left_out = plan["left_out"]
        self.learned = plan["learned"]
        added = sum(1 for change in plan["changes"] if change[0] not in self.installed)
        for key, entry in plan["removals"]:
            if self._kernel_call("remove", self.mroute.del_mfc, key[0], key[1], entry):
                del self.installed[key]
        for vif in self.stale_vifs + plan["vif_removals"]:
            self._remove_vif(vif)
        table = plan["vifs"]
        for vif in plan["vif_additions"]:
            if not self._kernel_call("add", self.mroute.add_vif, vif):
                del table[vif.ifname]  # e.g. the interface vanished a moment ago; the next rescan retries
                continue
            self.log.info("VIF %d: %s (ifindex %d, ttl-threshold %d)", vif.index, vif.ifname, vif.ifindex, vif.threshold)
        self.vifs = table
        for key, entry in plan["changes"] + plan["refresh"]:
            self._install(key, entry)
        return {"added": added, "updated": len(plan["changes"]) - added + len(plan["refresh"]),
                "removed": len(plan["removals"])}

    def _remove_vif(self, vif):
        if vif in self.stale_vifs:
            self.stale_vifs.remove(vif)
        if not self._kernel_call("remove", self.mroute.del_vif, vif):
            self.stale_vifs.append(vif)

    def _kernel_call(self, doing, call, *args):
        """One kernel call, contained: an error is logged with what it was doing, counted and retried
        at the next rescan; the daemon and every other route carry on.

        ``args`` are the call's: (source, group, entry) for an MFC entry or (vif,) for a VIF; they
        are described only when the call fails (10,000 installs must not format 10,000 sentences).
        """
        try:
            call(*args)
        except OSError as exc:
            self.counters["kernel_errors"] += 1
            self.retry = True
            self._log_limited(logging.ERROR, "cannot %s %s: %s (retried within %d s)", doing, self._what(args),
                              exc.strerror or exc, int(LINK_RESCAN_INTERVAL))
            return False
        return True

    def _what(self, args):
        if len(args) == 1:
            return "VIF %d for %s (ifindex %d)" % (args[0].index, args[0].ifname, args[0].ifindex)
        row = routes.describe_entry((args[0], args[1]), args[2], self._vif_names())
        return "(%s, %s) from %s to %s" % (row["source"], row["group"], row["iif"], " ".join(row["oifs"]) or "nothing")

    def _log_limited(self, level, message, *args):
        """Log a failure, but the same one at most once per ERROR_LOG_INTERVAL."""
        text = message % args
        if self.log_limit.allow(text, time.monotonic()):
            self.log.log(level, "%s", text)

    @staticmethod
    def _entries_on(desired, slots, changes):
        """Unchanged entries that use a re-created VIF slot: the kernel must be told again."""
        if not slots:
            return []
        changed = {change[0] for change in changes}
        return [(key, entry) for key, entry in desired.items()
                if key not in changed and (entry.parent in slots or any(entry.ttls[slot] for slot in slots))]

    def _install(self, key, entry):
        if self._kernel_call("install", self.mroute.add_mfc, key[0], key[1], entry):
            self.installed[key] = entry

    def _vif_names(self):
        return {vif.index: name for name, vif in self.vifs.items()}

    def wanted_memberships(self):
        return self.config.memberships()

    def sync_groups(self):
        for message in self.joins.sync(self.wanted_memberships(), self.ifaces):
            self.log.info("mgroup: %s", message)

    def sync_mrdisc(self):
        self.mrdisc.sync(self.config, self.vifs, self.ifaces)

    def sync_igmp(self):
        """Querier interfaces for the configuration, interfaces and addresses in force; returns changed groups."""
        try:
            addresses = ifaces.ipv4_addresses()
        except OSError as exc:
            self.counters["kernel_errors"] += 1
            self.retry = True
            self._log_limited(logging.ERROR, "cannot read the interfaces' addresses: %s (retried within %d s)",
                              exc.strerror or exc, int(LINK_RESCAN_INTERVAL))
            return set()
        return self.igmp.sync(self.config, self.ifaces, addresses)

    def on_memberships(self, groups):
        """Listeners came or went for ``groups``: re-install the if-joined entries of those groups."""
        if not groups:
            return
        entries = routes.joined_entries(self.table, self.vifs, self.learned, groups, self.igmp.listening)
        for key, entry in entries.items():
            if self.installed.get(key) != entry:
                self._install(key, entry)

    # -- events ------------------------------------------------------------------------------------
    def on_upcalls(self, _source=None, _mask=None):
        upcalls, packets = self.mroute.drain()
        now = time.monotonic()
        if upcalls:
            self.learn(upcalls, now)
        changed = set()
        for ifindex, data in packets:
            changed.update(self.igmp.on_packet(ifindex, data, now))
        self.on_memberships(changed)

    def learn(self, upcalls, now):
        """Install an entry for each new flow the kernel asked about (and move flows after WRONGVIF)."""
        by_slot = {vif.index: vif for vif in self.vifs.values()}
        cache = routes.TtlCache(self.vifs)
        for upcall in upcalls:
            if upcall.kind == kernel.IGMPMSG_WRONGVIF:
                self.on_wrongvif(upcall, by_slot.get(upcall.vif), now, cache)
                continue
            self.counters["upcalls"] += 1
            key = (upcall.source, upcall.group)
            vif = by_slot.get(upcall.vif)
            if vif is None or key in self.installed:
                continue  # a repeated upcall, or from a VIF being replaced
            flow = self.table.learn(vif.ifname, upcall.source, upcall.group, now)
            entry = routes.learned_entry(flow, self.vifs, cache, key, self.igmp.listening)
            self._install(key, entry)
            if key in self.installed:
                self.learned[key] = flow
                self.counters["stop_entries" if flow.route is None else "learned"] += 1
                self.log.debug("%s %s", flow.kind, routes.describe_entry(key, entry, self._vif_names()))

    def on_wrongvif(self, upcall, vif, now, cache):
        """A known (S,G) arrives on another VIF than its entry's input: move it if a route allows."""
        self.counters["wrongvif"] += 1
        key = (upcall.source, upcall.group)
        decision = routes.on_wrongvif(self.table, self.learned, key, vif.ifname if vif else None, now)
        if decision.outcome == routes.MOVED and self._move(key, decision.flow, cache):
            return
        self.counters["wrongvif_ignored"] += 1
        if decision.outcome != routes.MOVED and self.log_limit.allow(key + (decision.outcome,), now):
            level = logging.DEBUG if decision.outcome in routes.BENIGN_WRONGVIF else logging.INFO
            self.log.log(level, "(%s,%s) arrives on %s, not on its input: not moved, %s (logged once a minute)",
                         conf.ntoa(key[0]), conf.ntoa(key[1]), vif.ifname if vif else "VIF %d" % upcall.vif,
                         routes.WRONGVIF_REASONS[decision.outcome])

    def _move(self, key, flow, cache):
        """Re-install a flow with its new input; False (the error logged) if the kernel refused."""
        entry = routes.learned_entry(flow, self.vifs, cache, key, self.igmp.listening)
        self._install(key, entry)
        if self.installed.get(key) != entry:
            return False  # the kernel reports again within 3 s while the flow keeps arriving
        old = self.learned[key]
        self.learned[key] = flow
        self.counters["moved"] += 1
        self.log.info("moved (%s,%s) inbound from %s to %s after WRONGVIF: %s", conf.ntoa(key[0]), conf.ntoa(key[1]),
                      old.iif, flow.iif, routes.describe_entry(key, entry, self._vif_names()))
        return True

    def on_link_event(self, _source=None, _mask=None):
        if self.links.drain():
            self.rescan()

    def rescan(self):
        current = ifaces.scan()
        changes = ifaces.compare(self.ifaces, current)
        self.ifaces = current
        # Addresses change without a link change; the querier's source address follows them.
        self.on_memberships(self.sync_igmp())
        if not changes and not self.retry:
            return
        self.retry = False
        relevant = set(self.vifs) | {key[0] for key in self.wanted_memberships()}
        patterns = self.config.vif_names()
        for change in changes:
            name = change.iface.name
            if name in relevant or any(conf.ifname_matches(pattern, name) for pattern in patterns):
                self._report(change)
        self.apply()
        self.sync_groups()
        self.sync_mrdisc()

    def _report(self, change):
        iface = change.iface
        if change.kind == "flags":
            problems = iface.problems()
            if problems:
                self.log.warning("interface %s: %s; multicast cannot pass it", iface.name, " and ".join(problems))
            else:
                self.log.info("interface %s: up with MULTICAST again", iface.name)
        elif change.kind == "reindexed":
            self.log.warning("interface %s was re-created (ifindex %d -> %d); restoring its VIF and routes",
                             iface.name, change.old.index, iface.index)
        else:
            self.log.warning("interface %s %s (ifindex %d)", iface.name, change.kind, iface.index)

    def on_timer(self, now):
        if self.options.cache_timeout > 0 and now >= self.next_expiry:
            self.expire(now)
            self.next_expiry = now + min(max(self.options.cache_timeout / 4.0, 0.25), 10.0)
        if now >= self.next_rescan:
            self.rescan()
            self.next_rescan = now + LINK_RESCAN_INTERVAL
        self.mrdisc.on_timer(now)
        self.on_memberships(self.igmp.on_timer(now))

    def expire(self, now):
        stale = routes.expired(self.learned, self._packets, now, self.options.cache_timeout)
        for key in stale:
            entry = self.installed.get(key)
            if entry is not None and not self._kernel_call("remove idle", self.mroute.del_mfc, key[0], key[1], entry):
                continue  # still in the kernel: kept, and tried again at the next expiry
            self.installed.pop(key, None)
            del self.learned[key]
        if stale:
            self.counters["expired"] += len(stale)
            self.log.debug("expired %d idle learned entries", len(stale))

    def _packets(self, key):
        """The kernel's packet counter of an entry; on an error a value that keeps the entry (nothing lost)."""
        try:
            return self.mroute.packets(*key)
        except OSError as exc:
            self.counters["kernel_errors"] += 1
            self._log_limited(logging.ERROR, "cannot read the counters of (%s, %s): %s", conf.ntoa(key[0]),
                              conf.ntoa(key[1]), exc.strerror or exc)
            return routes.UNKNOWN

    def on_signal(self, sock, _mask=None):
        try:
            data = sock.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        for signum in data:
            if signum == signal.SIGHUP:
                try:
                    self.reload()
                except control.ControlError:
                    pass  # already logged with every error; the old configuration stays
            elif signum in (signal.SIGTERM, signal.SIGINT):
                self.log.info("signal %d: stopping; the kernel drops every route now", signum)
                self.running = False

    def on_connect(self, _source=None, _mask=None):
        client = self.server.accept()
        if client is not None:
            self.clients[client.fileno()] = client
            self.selector.register(client, selectors.EVENT_READ, self.on_client)

    def on_client(self, client, mask):
        alive = True
        if mask & selectors.EVENT_READ:
            alive = client.receive(self.handle_request, self.log)
        if alive and mask & selectors.EVENT_WRITE and client.outbuf:
            alive = client.send()
        events = (0 if client.eof else selectors.EVENT_READ) | (selectors.EVENT_WRITE if client.outbuf else 0)
        if not alive or not events:
            self.selector.unregister(client)
            del self.clients[client.fileno()]
            client.close()
        else:
            self.selector.modify(client, events, self.on_client)

    # -- commands --------------------------------------------------------------------------------
    def reload(self):
        """Validate the whole new configuration first; apply only the difference."""
        notify.reloading()
        try:
            new = conf.load(self.options.config, previous=self.file_config)
        except conf.ConfigError as exc:
            self.counters["failed_reloads"] += 1
            self.last_reload = {"ok": False, "errors": exc.errors, "time": time.time()}
            self.log.error("reload refused, nothing changed; %d error(s) in the configuration:", len(exc.errors))
            for error in exc.errors:
                self.log.error("  %s", error)
            notify.ready("running; last reload refused (configuration invalid)")
            raise control.ControlError("configuration invalid, nothing changed", exc.errors)
        # The old lines served the parse; dropped now, they free the memory the new state is computed
        # in (with 10,000 routes, a megabyte). Should the switch fail, the next reload parses afresh.
        self.file_config.known_lines = {}
        started = time.monotonic()
        try:
            stats = self.switch_to(new, file_config=new)
        except control.ControlError as exc:
            self.counters["failed_reloads"] += 1
            self.last_reload = {"ok": False, "errors": [str(exc)] + exc.details, "time": time.time()}
            notify.ready("running; last reload failed, nothing changed")
            raise
        stats["seconds"] = round(time.monotonic() - started, 4)
        stats["warnings"] = new.warnings
        self.counters["reloads"] += 1
        self.last_reload = dict(stats, ok=True, time=time.time())
        self.log.info("reloaded %s: %s", self.options.config, self._summary(stats))
        for warning in new.warnings:
            self.log.warning("%s", warning)
        notify.ready("running: %d entries" % len(self.installed))
        return stats

    def switch_to(self, config, file_config=None):
        """Put a validated configuration in force: compute the whole new state, then swap and apply.

        If computing the new state fails (a bug), nothing is swapped and nothing in the kernel
        changes: the configuration in force stays and the caller gets an error.  Kernel calls that
        fail while applying are contained per entry (logged, counted, retried).
        """
        # The table in force is only an index of self.config: dropped while the new state is computed
        # (with 10,000 routes that memory serves the new one) and rebuilt from it if that fails.
        self.table = None
        try:
            table = routes.RouteTable(config)
            plan = self.plan(table, routes.relearn(table, self.learned, self.vifs))
        except Exception as exc:  # pylint: disable=broad-except
            self.table = routes.RouteTable(self.config)
            self.counters["handler_errors"] += 1
            self.log.exception("cannot compute the new state; the configuration in force stays, nothing changed")
            raise control.ControlError("internal error while computing the new state, nothing changed: %s" % exc)
        self.config, self.table = config, table
        if file_config is not None:
            self.file_config = file_config
            self.runtime_changes = 0  # as smcroute: a reload applies the file alone
        stats = self.execute(plan)
        self.on_memberships(self.sync_igmp())
        self.sync_groups()
        self.sync_mrdisc()
        return stats

    def change(self, request):
        """mcastctl add/del/join/leave: the configuration in force plus one change, validated whole first."""
        # Imported on first use: most daemons never get a runtime change, and each module costs start-up time.
        from . import runtime  # pylint: disable=import-outside-toplevel
        new, warnings = runtime.change(self.config, request, self.runtime_changes + 1)
        stats = self.switch_to(new)
        self.runtime_changes += 1
        self.counters["runtime_changes"] += 1
        self.log.info("%s: %d added, %d updated, %d removed (until the next reload)", runtime.describe(request),
                      stats["added"], stats["updated"], stats["removed"])
        for warning in warnings:
            self.log.warning("%s", warning)
        return dict(stats, warnings=warnings)

    def flush(self):
        """Forget every learned and stop entry; new packets ask again."""
        count = 0
        for key in list(self.learned):
            entry = self.installed.get(key)
            if entry is not None and not self._kernel_call("flush", self.mroute.del_mfc, key[0], key[1], entry):
                continue
            self.installed.pop(key, None)
            del self.learned[key]
            count += 1
        self.log.info("flushed %d learned entries", count)
        return {"flushed": count}

    def handle_request(self, request):
        command = request["command"]
        if command == "reload":
            return self.reload()
        if command == "flush":
            return self.flush()
        if command == "status":
            return self.status()
        if command in ("add", "del", "join", "leave"):
            return self.change(request)
        if command == "kill":
            self.log.info("mcastctl kill: stopping; the kernel drops every route now")
            self.running = False
            return {"stopping": True}
        return {"routes": self.show_routes, "interfaces": self.show_interfaces,
                "groups": self.joins.rows, "pending": self.show_pending,
                "queriers": lambda: self.igmp.querier_rows(self.vifs, self.ifaces),
                "members": self.igmp.member_rows}[request["what"]]()

    def status(self):
        kinds = [flow.kind for flow in self.learned.values()]
        return {
            "version": VERSION, "protocol": control.PROTOCOL_VERSION, "pid": os.getpid(),
            "config": self.options.config, "uptime": round(time.time() - self.started, 1),
            "cache_timeout": self.options.cache_timeout,
            "vifs": len(self.vifs), "entries": len(self.installed),
            "static_routes": len(self.table.static), "templates": len(self.table.templates),
            "learned": kinds.count("learned"), "stop_entries": kinds.count("stop"),
            "pending": len(routes.pending(self.config, self.ifaces, self.vifs)),
            "runtime_changes": self.runtime_changes,
            "groups": len(self.joins.joined), "vifs_left_out": self.left_out,
            "upcall_buffer": self.mroute.receive_buffer,
            "counters": dict(self.counters, **dict(self.mrdisc.counters, **self.igmp.counters)),
            "mrdisc": self.mrdisc.status(), "igmp": self.igmp.status(),
            "wrongvif_upcalls": self.mroute.wrongvif_mode,
            "last_reload": self.last_reload,
        }

    def show_routes(self):
        names = self._vif_names()
        now = time.monotonic()
        rows = []
        for key, entry in sorted(self.installed.items()):
            row = routes.describe_entry(key, entry, names)
            flow = self.learned.get(key)
            static = self.table.static.get(key)
            row["kind"] = flow.kind if flow else "static"
            origin = static.origin if static else (flow.route.origin if flow and flow.route else None)
            row["origin"] = str(origin) if origin else None
            row["age"] = round(now - flow.since, 1) if flow else None
            try:
                counters = self.mroute.counters(*key)
            except OSError:
                counters = False  # unknown: shown as such, the listing goes on
            row["packets"], row["bytes"], row["wrong_if"] = counters or ((None,) * 3 if counters is False else (0, 0, 0))
            row["in_kernel"] = None if counters is False else counters is not None
            rows.append(row)
        for route in self.table.templates:
            rows.append({"kind": "template", "source": str(route.source) if route.source else "*",
                         "group": str(route.group), "iif": route.iif, "oifs": list(route.oifs),
                         "origin": str(route.origin), "age": None, "packets": None, "bytes": None,
                         "wrong_if": None, "in_kernel": None})
        return rows

    def show_interfaces(self):
        rows = []
        for name, iface in sorted(self.ifaces.items(), key=lambda item: item[1].index):
            vif = self.vifs.get(name)
            rows.append({"name": name, "ifindex": iface.index, "vif": vif.index if vif else None,
                         "threshold": vif.threshold if vif else None, "up": iface.up,
                         "multicast": iface.multicast, "problems": iface.problems() if vif else [],
                         "mrdisc": self.mrdisc.active(name)})
        return rows

    def show_pending(self):
        return routes.pending(self.config, self.ifaces, self.vifs)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self):
        self.running = True
        notify.ready("running: %d entries" % len(self.installed))
        while self.running:
            now = time.monotonic()
            self.contained("timer", self.on_timer, now)
            timeout = max(0.0, min(self.next_expiry if self.options.cache_timeout > 0 else now + 60, self.next_rescan,
                                   self.mrdisc.next_due(), self.igmp.next_due()) - now)
            events = self.selector.select(timeout)
            # Upcalls first: the kernel holds only a few packets per unresolved flow.
            events.sort(key=lambda event: event[0].fileobj is not self.mroute)
            for key, mask in events:
                self.contained(getattr(key.data, "__name__", "event"), key.data, key.fileobj, mask)
        notify.stopping()

    def contained(self, what, handler, *args):
        """Run one event handler; an unexpected error costs that event, never the site's routes.

        The kernel drops every route when this process exits, so a bug in one handler is logged
        with its traceback, counted (status: handler_errors) and the loop carries on.
        """
        try:
            handler(*args)
        except Exception as exc:  # pylint: disable=broad-except
            self.counters["handler_errors"] += 1
            if self.log_limit.allow((what, repr(exc)), time.monotonic()):  # a fault that repeats must not flood the log
                self.log.exception("unexpected error in %s; mcastd carries on with every route it has", what)
