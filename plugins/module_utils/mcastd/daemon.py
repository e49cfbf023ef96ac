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
import time

from . import config as conf
from . import control, groups, ifaces, igmprouter, kernel, linux, mldrouter, mrdisc, nftrun, notify, plane, routes

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
        self.planes = {4: plane.Plane(4, self), 6: plane.Plane(6, self)}
        self.links = None
        self.server = None
        self.clients = {}
        self.joins = groups.GroupJoins()
        self.ifaces = {}
        self.started = time.time()
        self.counters = {"upcalls": 0, "learned": 0, "stop_entries": 0, "expired": 0, "reloads": 0, "failed_reloads": 0,
                         "kernel_errors": 0, "handler_errors": 0, "runtime_changes": 0,
                         "wrongvif": 0, "moved": 0, "wrongvif_ignored": 0, "ttl_too_low": 0,
                         "nft_transactions": 0, "nft_errors": 0}
        # Outputs the kernel has no VIF for are copied by nftables (a table of mcastd's own). nft is looked for
        # by start() only: a daemon that did not start (a test's) never runs it.
        self.overflow = nftrun.OverflowTable()
        self.retry = False  # a kernel call failed: the next rescan applies the plan again
        # Repeated failures and WRONGVIF notes are logged at most once per interval each (always counted).
        self.log_limit = routes.LogLimit(interval=ERROR_LOG_INTERVAL)
        self.last_reload = None
        self.selector = selectors.DefaultSelector()
        self.mrdisc = mrdisc.Mrdisc(self.selector, getattr(options, "mrdisc_interval", mrdisc.DEFAULT_INTERVAL), self.log)
        self.igmp = igmprouter.IgmpRouter(log=self.log)
        self.mld = mldrouter.MldRouter(log=self.log)  # its listening socket: opened with the IPv6 routing API
        self.mrdisc.igmp_values = self.igmp.advertised
        self.wakeup = None
        self.running = False
        self.next_expiry = 0.0
        self.next_rescan = 0.0

    # The IPv4 plane's state, by the names the querier, mrdisc and the tests use.
    v4 = property(lambda self: self.planes[4])
    v6 = property(lambda self: self.planes[6])
    vifs = property(lambda self: self.v4.vifs, lambda self, value: setattr(self.v4, "vifs", value))
    installed = property(lambda self: self.v4.installed, lambda self, value: setattr(self.v4, "installed", value))
    learned = property(lambda self: self.v4.learned, lambda self, value: setattr(self.v4, "learned", value))
    table = property(lambda self: self.v4.table, lambda self, value: setattr(self.v4, "table", value))
    mroute = property(lambda self: self.v4.sock, lambda self, value: setattr(self.v4, "sock", value))

    def available_planes(self):
        return [each for each in self.planes.values() if each.available]

    # -- start and stop ------------------------------------------------------------------------
    def start(self, config):
        """Take the routing API, install everything, open the control socket.

        Raises kernel.KernelError or control.SocketInUse with a sentence for the operator.  IPv4
        routing is required; without IPv6 routing (no kernel support, IPv6 disabled, or another
        daemon holding it) mcastd runs IPv4 only and says why its IPv6 routes wait.
        """
        self.config = self.file_config = config
        for each in self.planes.values():
            each.table = routes.RouteTable(config, each.family)
        self._open_planes(config)
        self.overflow.nft = nftrun.find_nft()  # only now: this namespace's routing API is ours
        self.overflow.probe = nftrun.table_exists  # a start without a stale table runs no nft
        self.igmp.mroute = self.mroute
        self._open_mld()
        self.links = ifaces.LinkMonitor()
        self.ifaces = linux.interfaces()
        self.sync_igmp()  # before the routes: if-joined outputs ask it who listens
        stats = self.apply()
        self.render_overflow()
        self.sync_groups()
        self.server = control.ControlServer(self.options.socket)
        self._register()
        self.sync_mrdisc()  # only now: a start that failed must not announce (or terminate) anything
        waiting = self.show_pending()  # once: it walks every route
        self.log.info("mcastd %s started: %s", VERSION, self._summary(stats, waiting))
        for warning in config.warnings:
            self.log.warning("%s", warning)
        for row in waiting:
            self.log.warning("pending (%s): %s waits for %s", row["origin"], row["line"], ", ".join(row["missing"]))

    def _open_planes(self, config):
        self.v4.open()
        try:
            self.v6.open()
        except kernel.KernelError as exc:
            self.v6.unavailable = str(exc)
            wanted = any(route.family == 6 for route in config.mroutes) or \
                any(mgroup.group.family == 6 for mgroup in config.mgroups)
            self.log.log(logging.ERROR if wanted else logging.WARNING, "no IPv6 multicast routing: %s; IPv6 routes "
                         "wait (show pending), IPv4 is routed", exc)
        for each in self.available_planes():
            if each.sock.wrongvif_error:
                self.log.error("cannot enable WRONG%s upcalls (%s): %s; a flow that changes its input interface "
                               "moves only after it expires", each.kind, each.sock.wrongvif_mode or "off",
                               each.sock.wrongvif_error)

    def _open_mld(self):
        """The socket MLD messages are read from, when IPv6 is routed (without it the MLD querier stays idle)."""
        if not self.v6.available:
            return
        try:
            self.mld.mroute = mldrouter.Listener()
        except OSError as exc:
            self.log.error("cannot open the MLD listening socket: %s; the MLD querier stays off", exc.strerror or exc)

    def _register(self):
        read, self.wakeup = linux.watch_signals()  # handled in the loop, through the wake-up fd
        for each in self.available_planes():
            self.selector.register(each.sock, selectors.EVENT_READ, self.on_upcalls)
        if self.mld.mroute is not None:
            self.selector.register(self.mld.mroute, selectors.EVENT_READ, self.on_mld)
        self.selector.register(self.links, selectors.EVENT_READ, self.on_link_event)
        self.selector.register(self.server, selectors.EVENT_READ, self.on_connect)
        self.selector.register(read, selectors.EVENT_READ, self.on_signal)

    def close(self):
        self.mrdisc.close()  # Terminations first, while every interface is as it was
        self.igmp.close()
        self.mld.close()
        if self.mld.mroute is not None:
            self.mld.mroute.close()
        for client in list(self.clients.values()):
            client.close()
        self.clients = {}
        for part in (self.server, self.links):
            if part is not None:
                part.close()
        for failure in self.overflow.close():
            self.log.error("cannot remove mcastd's nftables table: %s", failure)
        for each in self.planes.values():
            each.close()
        self.joins.close()
        self.selector.close()

    def _summary(self, stats, waiting=None):
        if waiting is None:
            waiting = self.show_pending()
        mifs = "" if not self.v6.available else ", %d MIFs" % len(self.v6.vifs)
        return "%d VIFs%s, %d entries installed (%d added, %d updated, %d removed), %d pending" % (
            len(self.vifs), mifs, self.entry_count(), stats["added"], stats["updated"], stats["removed"], len(waiting))

    def entry_count(self):
        return sum(len(each.installed) for each in self.planes.values())

    # -- making the kernel equal to the plan ---------------------------------------------------------
    def listening_for(self, family):
        """Who listens where, for if-joined routes: the IGMP (IPv4) or MLD (IPv6) querier's memberships."""
        return self.igmp.listening if family == 4 else self.mld.listening

    def apply(self):
        """Bring VIFs, MIFs and MFC entries in line with config, interfaces and learned flows."""
        totals = {"added": 0, "updated": 0, "removed": 0}
        for each in self.available_planes():
            stats = each.execute(each.plan(each.table, each.learned, self.ifaces, self.listening_for(each.family)))
            totals = dict((name, totals[name] + stats[name]) for name in totals)
        return totals

    def render_overflow(self):
        """Make mcastd's nftables table copy what each plane's kernel table cannot (one transaction per family
        that changed). A failure is logged and counted, and the next rescan renders the table anew."""
        for each in self.available_planes():
            try:
                if self.overflow.sync(each.family, each.overflow):
                    self.counters["nft_transactions"] += 1
            except nftrun.NftError as exc:
                self.counters["nft_errors"] += 1
                self.retry = True
                self._log_limited(logging.ERROR, "cannot copy IPv%d outputs without a %s with nftables: %s "
                                  "(retried within %d s)", each.family, each.kind, exc, int(LINK_RESCAN_INTERVAL))

    def kernel_failed(self, sentence, retry=True):
        """A kernel call failed: logged (the same sentence once per interval), counted, and, with ``retry``,
        tried again at the next rescan; the daemon and every other route carry on."""
        self.counters["kernel_errors"] += 1
        if retry:
            self.retry = True
            sentence = "%s (retried within %d s)" % (sentence, int(LINK_RESCAN_INTERVAL))
        self._log_limited(logging.ERROR, "%s", sentence)

    def _log_limited(self, level, message, *args):
        """Log a failure, but the same one at most once per ERROR_LOG_INTERVAL."""
        text = message % args
        if self.log_limit.allow(text, time.monotonic()):
            self.log.log(level, "%s", text)

    def wanted_memberships(self):
        return self.config.memberships()

    def sync_groups(self):
        for message in self.joins.sync(self.wanted_memberships(), self.ifaces):
            self.log.info("mgroup: %s", message)

    def sync_mrdisc(self):
        self.mrdisc.sync(self.config, self.vifs, self.ifaces)

    def sync_igmp(self):
        """IGMP and MLD querier interfaces for the configuration, interfaces and addresses in force; returns the
        groups whose listeners changed."""
        changed = set()
        for router, read in ((self.igmp, ifaces.ipv4_addresses), (self.mld, ifaces.ipv6_addresses)):
            if router is self.mld and router.mroute is None:
                continue  # no IPv6 routing: no MLD querier
            try:
                addresses = read()
            except OSError as exc:
                self.counters["kernel_errors"] += 1
                self.retry = True
                self._log_limited(logging.ERROR, "cannot read the interfaces' addresses: %s (retried within %d s)",
                                  exc.strerror or exc, int(LINK_RESCAN_INTERVAL))
                continue
            changed.update(router.sync(self.config, self.ifaces, addresses))
        return changed

    def on_memberships(self, groups):
        """Listeners came or went for ``groups`` (either family): re-install the if-joined entries of those groups."""
        if not groups:
            return
        for each in self.available_planes():
            mine = set(group for group in groups if conf.group_family(group) == each.family)
            if mine:
                each.on_memberships(mine, self.listening_for(each.family))
        self.render_overflow()

    # -- events ------------------------------------------------------------------------------------
    def on_upcalls(self, sock=None, _mask=None):
        each = self.v4 if sock is None or sock is self.v4.sock else self.v6
        upcalls, packets = each.sock.drain()
        now = time.monotonic()
        if upcalls:
            each.learn(upcalls, now, self.listening_for(each.family))
            self.render_overflow()
        changed = set()
        for ifindex, data in packets:
            changed.update(self.igmp.on_packet(ifindex, data, now))
        self.on_memberships(changed)

    def on_mld(self, _sock=None, _mask=None):
        now = time.monotonic()
        changed = set()
        for ifindex, source, data in self.mld.mroute.drain():
            changed.update(self.mld.on_packet(ifindex, data, now, source))
        self.on_memberships(changed)

    def on_link_event(self, _source=None, _mask=None):
        if self.links.drain():
            self.rescan()

    def rescan(self):
        current = linux.interfaces()
        changes = ifaces.compare(self.ifaces, current)
        self.ifaces = current
        # Addresses change without a link change; the querier's source address follows them.
        self.on_memberships(self.sync_igmp())
        if not changes and not self.retry:
            return
        self.retry = False
        relevant = set(self.vifs) | set(self.v6.vifs) | {key[0] for key in self.wanted_memberships()}
        patterns = self.config.vif_names(4) + self.config.vif_names(6)
        for change in changes:
            name = change.iface.name
            if name in relevant or any(linux.name_matches(pattern, name) for pattern in patterns):
                self._report(change)
        self.apply()
        self.render_overflow()
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
            for each in self.available_planes():
                each.check_ttl(now, LINK_RESCAN_INTERVAL)
            self.next_rescan = now + LINK_RESCAN_INTERVAL
        self.mrdisc.on_timer(now)
        self.on_memberships(self.igmp.on_timer(now) | self.mld.on_timer(now))

    def expire(self, now):
        for each in self.available_planes():
            each.expire(now, self.options.cache_timeout)
        self.render_overflow()

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
            new = conf.load(self.options.config, previous=self.file_config, overflow=self.overflow.available)
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
        notify.ready("running: %d entries" % self.entry_count())
        return stats

    def switch_to(self, config, file_config=None):
        """Put a validated configuration in force: compute the whole new state, then swap and apply.

        If computing the new state fails (a bug), nothing is swapped and nothing in the kernel
        changes: the configuration in force stays and the caller gets an error.  Kernel calls that
        fail while applying are contained per entry (logged, counted, retried).
        """
        # The table in force is only an index of self.config: dropped while the new state is computed
        # (with 10,000 routes that memory serves the new one) and rebuilt from it if that fails.
        for each in self.planes.values():
            each.table = None
        plans = {}
        try:
            for each in self.available_planes():
                table = routes.RouteTable(config, each.family)
                plans[each.family] = (table, each.plan(table, routes.relearn(table, each.learned, each.vifs),
                                                       self.ifaces, self.listening_for(each.family)))
        except Exception as exc:  # pylint: disable=broad-except
            for each in self.planes.values():
                each.table = routes.RouteTable(self.config, each.family)
            self.counters["handler_errors"] += 1
            self.log.exception("cannot compute the new state; the configuration in force stays, nothing changed")
            raise control.ControlError("internal error while computing the new state, nothing changed: %s" % exc)
        self.config = config
        for each in self.planes.values():
            each.table = plans[each.family][0] if each.family in plans else routes.RouteTable(config, each.family)
        if file_config is not None:
            self.file_config = file_config
            self.runtime_changes = 0  # as smcroute: a reload applies the file alone
        stats = {"added": 0, "updated": 0, "removed": 0}
        for family, (_table, plan_) in sorted(plans.items()):
            done = self.planes[family].execute(plan_)
            stats = dict((name, stats[name] + done[name]) for name in stats)
        self.render_overflow()
        self.on_memberships(self.sync_igmp())
        self.sync_groups()
        self.sync_mrdisc()
        return stats

    def change(self, request):
        """mcastctl add/del/join/leave: the configuration in force plus one change, validated whole first."""
        # Imported on first use: most daemons never get a runtime change, and each module costs start-up time.
        from . import runtime  # pylint: disable=import-outside-toplevel
        new, warnings = runtime.change(self.config, request, self.runtime_changes + 1, overflow=self.overflow.available)
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
        count = sum(each.flush() for each in self.available_planes())
        self.render_overflow()
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
                "queriers": self.querier_rows, "members": self.member_rows}[request["what"]]()

    def querier_rows(self):
        rows = self.igmp.querier_rows(self.vifs, self.ifaces)
        if self.mld.mroute is not None:
            rows += self.mld.querier_rows(self.v6.vifs, self.ifaces)
        return rows

    def member_rows(self):
        return self.igmp.member_rows() + self.mld.member_rows()

    def status(self):
        kinds = [flow.kind for each in self.planes.values() for flow in each.learned.values()]
        v6 = self.v6
        return {
            "version": VERSION, "protocol": control.PROTOCOL_VERSION, "pid": os.getpid(),
            "config": self.options.config, "uptime": round(time.time() - self.started, 1),
            "cache_timeout": self.options.cache_timeout,
            "vifs": len(self.vifs), "mifs": len(v6.vifs), "entries": self.entry_count(),
            "static_routes": sum(len(each.table.static) for each in self.planes.values()),
            "templates": sum(len(each.table.templates) for each in self.planes.values()),
            "learned": kinds.count("learned"), "stop_entries": kinds.count("stop"),
            "pending": len(self.show_pending()),
            "runtime_changes": self.runtime_changes,
            "groups": len(self.joins.joined), "vifs_left_out": self.v4.left_out, "mifs_left_out": v6.left_out,
            "upcall_buffer": self.mroute.receive_buffer,
            "counters": dict(self.counters, **dict(self.mrdisc.counters, **self.igmp.counters)),
            "mrdisc": self.mrdisc.status(), "igmp": self.igmp.status(),
            "mld": dict(self.mld.status(), counters=self.mld.counters, listening=self.mld.mroute is not None),
            "wrongvif_upcalls": self.mroute.wrongvif_mode,
            "ipv6": {"available": v6.available, "unavailable": v6.unavailable,
                     "entries": len(v6.installed), "wrongmif_upcalls": v6.sock.wrongvif_mode if v6.available else None,
                     "foreign_messages": v6.sock.foreign if v6.available else None},
            "ttl_too_low": [row for each in self.planes.values() for row in each.too_low_rows()],
            "nftables": self.overflow_status(),
            "last_reload": self.last_reload,
        }

    def overflow_status(self):
        """What nftables copies: per family, the flows and the outputs (routes beyond the kernel's VIFs)."""
        status = {"nft": self.overflow.nft, "table": self.overflow.table}
        for each in self.planes.values():
            copied = sum(len(outputs) for outputs in each.overflow.values())
            status["ipv%d" % each.family] = {"flows": len(each.overflow), "outputs": copied}
        return status

    def show_routes(self):
        return [row for each in self.available_planes() for row in each.route_rows(self._copied(each))]

    def _copied(self, each):
        """nftables' counters of a plane's copies, or None (logged) when they cannot be read."""
        if not each.overflow:
            return {}
        try:
            return self.overflow.counters(each.family)
        except (nftrun.NftError, ValueError) as exc:
            self._log_limited(logging.WARNING, "cannot read the counters of mcastd's nftables table: %s", exc)
            return None

    def show_interfaces(self):
        rows = []
        for name, iface in sorted(self.ifaces.items(), key=lambda item: item[1].index):
            vif = self.vifs.get(name)
            mif = self.v6.vifs.get(name)
            rows.append({"name": name, "ifindex": iface.index, "vif": vif.index if vif else None,
                         "mif": mif.index if mif else None,
                         "threshold": vif.threshold if vif else None, "up": iface.up,
                         "multicast": iface.multicast, "problems": iface.problems() if vif or mif else [],
                         "mrdisc": self.mrdisc.active(name)})
        return rows

    def show_pending(self):
        unavailable = dict((each.family, each.unavailable) for each in self.planes.values() if not each.available)
        return routes.pending(self.config, self.ifaces, dict((family, each.vifs) for family, each in self.planes.items()),
                              unavailable, overflow=self.overflow.available)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self):
        self.running = True
        notify.ready("running: %d entries" % self.entry_count())
        while self.running:
            now = time.monotonic()
            self.contained("timer", self.on_timer, now)
            timeout = max(0.0, min(self.next_expiry if self.options.cache_timeout > 0 else now + 60, self.next_rescan,
                                   self.mrdisc.next_due(), self.igmp.next_due(), self.mld.next_due()) - now)
            events = self.selector.select(timeout)
            # Upcalls first: the kernel holds only a few packets per unresolved flow.
            routing = [each.sock for each in self.available_planes()]
            events.sort(key=lambda event: event[0].fileobj not in routing)
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
