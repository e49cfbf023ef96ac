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
from . import control, groups, ifaces, kernel, notify, routes

VERSION = "1.0.0"
LINK_RESCAN_INTERVAL = 5.0  # safety net behind netlink events


class Daemon:
    """Everything mcastd knows, and the code that keeps the kernel equal to it."""

    def __init__(self, options, log=None):
        self.options = options
        self.log = log or logging.getLogger("mcastd")
        self.config = conf.Config()
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
        self.counters = {"upcalls": 0, "learned": 0, "stop_entries": 0, "expired": 0, "reloads": 0, "failed_reloads": 0}
        self.last_reload = None
        self.selector = selectors.DefaultSelector()
        self.wakeup = None
        self.running = False
        self.next_expiry = 0.0
        self.next_rescan = 0.0

    # -- start and stop ------------------------------------------------------------------------
    def start(self, config):
        """Take the routing API, install everything, open the control socket.

        Raises kernel.KernelError or control.SocketInUse with a sentence for the operator.
        """
        self.config = config
        self.table = routes.RouteTable(config)
        self.mroute = kernel.MrouteSocket()
        self.links = ifaces.LinkMonitor()
        self.ifaces = ifaces.scan()
        stats = self.apply()
        self.sync_groups()
        self.server = control.ControlServer(self.options.socket)
        self._register()
        self.log.info("mcastd %s started: %s", VERSION, self._summary(stats))
        for warning in config.warnings:
            self.log.warning("%s", warning)
        for row in routes.pending(self.config, self.ifaces, self.vifs):
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
        for client in list(self.clients.values()):
            client.close()
        self.clients = {}
        for part in (self.server, self.links, self.mroute):
            if part is not None:
                part.close()
        self.joins.close()
        self.selector.close()

    def _summary(self, stats):
        return "%d VIFs, %d entries installed (%d added, %d updated, %d removed), %d pending" % (
            len(self.vifs), len(self.installed), stats["added"], stats["updated"], stats["removed"],
            len(routes.pending(self.config, self.ifaces, self.vifs)))

    # -- making the kernel equal to the plan ---------------------------------------------------------
    def apply(self):
        """Bring VIFs and MFC entries in line with config, interfaces and learned flows."""
        wanted = routes.wanted_vifs(self.config, self.ifaces)
        table, vif_removals, vif_additions, left_out = routes.plan_vifs(self.vifs, wanted)
        if left_out and left_out != self.left_out:
            self.log.error("the kernel offers %d VIFs, all in use; left out: %s", conf.MAX_VIFS, ", ".join(left_out))
        self.left_out = left_out
        self.learned = routes.prune(self.table, self.learned, table)
        desired = routes.desired_entries(self.table, table, self.learned)
        changes, removals = routes.diff(self.installed, desired)
        added = sum(1 for change in changes if change[0] not in self.installed)
        refresh = self._entries_on(desired, {vif.index for vif in vif_removals + vif_additions}, changes)
        for key, entry in removals:
            self.mroute.del_mfc(key[0], key[1], entry)
            del self.installed[key]
        for vif in vif_removals:
            self.mroute.del_vif(vif)
        for vif in vif_additions:
            try:
                self.mroute.add_vif(vif)
            except OSError as exc:  # e.g. the interface vanished a moment ago; the next rescan retries
                self.log.error("cannot add VIF %d for %s: %s", vif.index, vif.ifname, exc.strerror)
                del table[vif.ifname]
                continue
            self.log.info("VIF %d: %s (ifindex %d, ttl-threshold %d)", vif.index, vif.ifname, vif.ifindex, vif.threshold)
        self.vifs = table
        for key, entry in changes + refresh:
            self._install(key, entry)
        return {"added": added, "updated": len(changes) - added + len(refresh), "removed": len(removals)}

    @staticmethod
    def _entries_on(desired, slots, changes):
        """Unchanged entries that use a re-created VIF slot: the kernel must be told again."""
        if not slots:
            return []
        changed = {change[0] for change in changes}
        return [(key, entry) for key, entry in desired.items()
                if key not in changed and (entry.parent in slots or any(entry.ttls[slot] for slot in slots))]

    def _install(self, key, entry):
        try:
            self.mroute.add_mfc(key[0], key[1], entry)
        except OSError as exc:
            self.log.error("cannot install %s: %s", routes.describe_entry(key, entry, self._vif_names()), exc.strerror)
            return
        self.installed[key] = entry

    def _vif_names(self):
        return {vif.index: name for name, vif in self.vifs.items()}

    def wanted_memberships(self):
        return self.config.memberships()

    def sync_groups(self):
        for message in self.joins.sync(self.wanted_memberships(), self.ifaces):
            self.log.info("mgroup: %s", message)

    # -- events ------------------------------------------------------------------------------------
    def on_upcalls(self, _source=None, _mask=None):
        upcalls = self.mroute.drain_upcalls()
        if not upcalls:
            return
        now = time.monotonic()
        by_slot = {vif.index: vif for vif in self.vifs.values()}
        cache = routes.TtlCache(self.vifs)
        for upcall in upcalls:
            self.counters["upcalls"] += 1
            key = (upcall.source, upcall.group)
            vif = by_slot.get(upcall.vif)
            if vif is None or key in self.installed:
                continue  # a repeated upcall, or from a VIF being replaced
            flow = self.table.learn(vif.ifname, upcall.source, upcall.group, now)
            entry = routes.learned_entry(flow, self.vifs, cache)
            self._install(key, entry)
            if key in self.installed:
                self.learned[key] = flow
                self.counters["stop_entries" if flow.route is None else "learned"] += 1
                self.log.debug("%s %s", flow.kind, routes.describe_entry(key, entry, self._vif_names()))

    def on_link_event(self, _source=None, _mask=None):
        if self.links.drain():
            self.rescan()

    def rescan(self):
        current = ifaces.scan()
        changes = ifaces.compare(self.ifaces, current)
        if not changes:
            return
        self.ifaces = current
        relevant = set(self.vifs) | {key[0] for key in self.wanted_memberships()}
        patterns = self.config.vif_names()
        for change in changes:
            name = change.iface.name
            if name in relevant or any(conf.ifname_matches(pattern, name) for pattern in patterns):
                self._report(change)
        self.apply()
        self.sync_groups()

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

    def expire(self, now):
        stale = routes.expired(self.learned, lambda key: self.mroute.packets(*key), now, self.options.cache_timeout)
        for key in stale:
            entry = self.installed.pop(key, None)
            if entry is not None:
                self.mroute.del_mfc(key[0], key[1], entry)
            del self.learned[key]
        if stale:
            self.counters["expired"] += len(stale)
            self.log.debug("expired %d idle learned entries", len(stale))

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
            new = conf.load(self.options.config, previous=self.config)
        except conf.ConfigError as exc:
            self.counters["failed_reloads"] += 1
            self.last_reload = {"ok": False, "errors": exc.errors, "time": time.time()}
            self.log.error("reload refused, nothing changed; %d error(s) in the configuration:", len(exc.errors))
            for error in exc.errors:
                self.log.error("  %s", error)
            notify.ready("running; last reload refused (configuration invalid)")
            raise control.ControlError("configuration invalid, nothing changed", exc.errors)
        started = time.monotonic()
        self.config = new
        self.table = routes.RouteTable(new)
        self.learned = routes.relearn(self.table, self.learned, self.vifs)
        stats = self.apply()
        self.sync_groups()
        stats["seconds"] = round(time.monotonic() - started, 4)
        stats["warnings"] = new.warnings
        self.counters["reloads"] += 1
        self.last_reload = dict(stats, ok=True, time=time.time())
        self.log.info("reloaded %s: %s", self.options.config, self._summary(stats))
        notify.ready("running: %d entries" % len(self.installed))
        return stats

    def flush(self):
        """Forget every learned and stop entry; new packets ask again."""
        count = len(self.learned)
        for key in list(self.learned):
            entry = self.installed.pop(key, None)
            if entry is not None:
                self.mroute.del_mfc(key[0], key[1], entry)
        self.learned = {}
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
        return {"routes": self.show_routes, "interfaces": self.show_interfaces,
                "groups": self.joins.rows, "pending": self.show_pending}[request["what"]]()

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
            "groups": len(self.joins.joined), "vifs_left_out": self.left_out,
            "upcall_buffer": self.mroute.receive_buffer, "counters": dict(self.counters),
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
            counters = self.mroute.counters(*key)
            row["packets"], row["bytes"], row["wrong_if"] = counters or (0, 0, 0)
            row["in_kernel"] = counters is not None
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
                         "multicast": iface.multicast, "problems": iface.problems() if vif else []})
        return rows

    def show_pending(self):
        return routes.pending(self.config, self.ifaces, self.vifs)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self):
        self.running = True
        notify.ready("running: %d entries" % len(self.installed))
        while self.running:
            now = time.monotonic()
            self.on_timer(now)
            timeout = max(0.0, min(self.next_expiry if self.options.cache_timeout > 0 else now + 60, self.next_rescan) - now)
            events = self.selector.select(timeout)
            # Upcalls first: the kernel holds only a few packets per unresolved flow.
            events.sort(key=lambda event: event[0].fileobj is not self.mroute)
            for key, mask in events:
                key.data(key.fileobj, mask)
        notify.stopping()
