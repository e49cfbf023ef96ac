# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Route logic: what the kernel should hold, compared with what it holds.

Pure functions and small value types, no sockets: the daemon feeds them the
configuration, the interface table and the learned flows, and applies the
resulting plan through kernel.py.  The desired state is computed whole every
time (start, reload, interface change) and diffed against the installed state,
so a reload is a mark-and-sweep where an unchanged entry is never touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from collections import namedtuple

from . import overflow as ov
from .config import MAX_VIFS, Mroute, group_family, group_text, ntop
from .linux import MAX_U32, WILDCARD, name_matches

NO_OUTPUT = bytes(MAX_VIFS)


def nobody(_ifname, _source, _group):
    """The ``listening`` of a daemon without membership tracking: no listener anywhere."""
    return False


class Vif(namedtuple("Vif", "index ifname ifindex threshold")):
    """A kernel virtual interface: slot ``index`` bound to ``ifindex``."""

    __slots__ = ()


class KernelEntry(namedtuple("KernelEntry", "parent ttls")):
    """An MFC entry as the kernel stores it: input VIF and per-VIF TTL thresholds."""

    __slots__ = ()

    @property
    def is_stop(self):
        return self.ttls == NO_OUTPUT


class Learned:
    """An (S,G) entry installed on demand after an upcall (from a template, or a stop entry)."""

    __slots__ = ("iif", "route", "since", "packets", "active")

    def __init__(self, iif, route, now):
        self.iif = iif
        self.route = route  # the template it came from, or None for a stop entry
        self.since = now
        self.packets = 0
        self.active = now

    @property
    def kind(self):
        return "stop" if self.route is None else "learned"

    def following(self, route):
        """The same flow (age, counters) following ``route``: a new object, this one unchanged."""
        if route is self.route:
            return self
        flow = Learned(self.iif, route, self.since)
        flow.packets, flow.active = self.packets, self.active
        return flow


class RouteTable:
    """The configured routes of one family (4 or 6), indexed for the two questions the daemon asks.

    ``static`` maps (source, group) to the route that the kernel gets as a fixed entry: the
    (S,G) routes, and for IPv6 the (*,G) routes of one group from one input, which become
    kernel (*,G) entries keyed (0, group) (see ``is_kernel_star_g``).
    """

    def __init__(self, config, family=4):
        self.config = config
        self.family = family
        self.static = {}
        self.joined_static = {}  # group -> keys of if-joined (S,G) routes: what a membership change touches
        templates = []
        star_g = {}  # group -> the IPv6 (*,G) routes that a kernel (*,G) entry could serve
        for route in config.mroutes:  # one pass: Config.static_routes and .templates would make two
            if route.group.family != family:
                continue
            if not route.is_template:
                self._add_static((route.source.addr, route.group.addr), route)
            elif is_kernel_star_g(route):
                star_g.setdefault(route.group.addr, []).append(route)
            else:
                templates.append(route)
        for group, found in star_g.items():
            if len(found) == 1:
                self._add_static((0, group), found[0])
            else:
                templates.extend(found)  # one group from several inputs: learned per flow, on the input it uses
        self.templates = sorted(templates, key=Mroute.specificity)
        self._by_group = None  # the templates nftables copies by group alone: computed when first asked

    def _add_static(self, key, route):
        self.static[key] = route
        if route.if_joined:
            self.joined_static.setdefault(key[1], []).append(key)

    def copied_by_group(self, route):
        """True if nftables copies every flow of the template ``route`` by its input and group alone (the map
        ``g``): from the first datagram on, without waiting for the flow to be learned.

        Only when no other route could take a flow of that input and group: a static (S,G) route of the
        group, another template whose input and group cover it (a more specific one would own some
        sources), and not for if-joined templates (listeners may be per source).
        """
        if self._by_group is None:
            self._by_group = self._group_copied()
        return route in self._by_group

    def _group_copied(self):
        candidates = [route for route in self.templates if rendered_without_vif(route) and not route.if_joined]
        if not candidates:
            return frozenset()
        static_groups = set(key[1] for key in self.static)
        exact = {}  # (input, group) -> templates of exactly that input and one group
        broad = []  # templates that may cover other inputs or groups
        for route in self.templates:
            if route.iif.endswith(WILDCARD) or route.group.length != route.group.BITS:
                broad.append(route)
            else:
                exact[(route.iif, route.group.addr)] = exact.get((route.iif, route.group.addr), 0) + 1
        return frozenset(route for route in candidates
                         if route.group.addr not in static_groups and exact[(route.iif, route.group.addr)] == 1
                         and not any(name_matches(other.iif, route.iif) and other.group.contains(route.group.addr)
                                     for other in broad))

    def template_for(self, ifname, source, group):
        """The most specific template a new flow fits, or None (it gets a stop entry)."""
        for route in self.templates:
            if route.matches(ifname, source, group):
                return route
        return None

    def learn(self, ifname, source, group, now):
        """Decide what to do with a flow the kernel asked about.

        A flow of a static route arrives here only while that route is inactive (its
        input interface is missing) or on another interface: it gets a stop entry
        until the static route takes over.
        """
        if (source, group) in self.static:
            return Learned(ifname, None, now)
        return Learned(ifname, self.template_for(ifname, source, group), now)


def is_kernel_star_g(route):
    """An IPv6 (*,G) route of one group from one named input: served by a kernel (*,G) entry
    (unless another such route names the same group from another input: see RouteTable).

    The kernel forwards every source of the group from that entry (MRT6_ADD_MFC_PROXY) with no
    upcall, so not one datagram is lost at the start of a flow.  It never sends a copy back out
    of the input, so a route that lists its input as an output stays a template (an (S,G) entry
    per flow does send that copy), as do IPv4 routes: an IPv4 kernel (*,G) entry needs its input
    among the outputs and would then forward arrivals on any output.
    """
    group = route.group
    return (group.family == 6 and route.source is None and group.length == group.BITS
            and not route.iif.endswith(WILDCARD) and route.iif not in route.oifs)


# Who gets a VIF first when more interfaces want one than the kernel has (see vif_demand).
INPUT, OUTPUT, PHYINT = 0, 1, 2
TIERS = ("input", "output", "phyint")


class Demand:
    """What one interface wants a VIF for: how many routes (of the family) name it as their input, as an
    output, as an output of an if-joined route, and where the configuration first names it."""

    __slots__ = ("mention", "ifindex", "inputs", "outputs", "joined", "signals")

    def __init__(self, mention, ifindex):
        self.mention = mention
        self.ifindex = ifindex
        self.inputs = self.outputs = self.joined = 0
        self.signals = False  # a phyint line makes it an mrdisc or querier interface

    @property
    def tier(self):
        return INPUT if self.inputs else OUTPUT if self.outputs else PHYINT

    def rank(self):
        """Sort key: the tier, then what the kernel gains within it, then first mention and ifindex."""
        tier = self.tier
        if tier == INPUT:
            gain = (-self.inputs,)
        elif tier == OUTPUT:
            gain = (not self.joined, -self.outputs)
        else:
            gain = (not self.signals,)
        return (tier,) + gain + (self.mention, self.ifindex)


def _uses(config, family):
    """{name or pattern: [routes with it as input, as output, as output of an if-joined route]}."""
    uses = {}
    for route in config.mroutes:
        if route.group.family != family:
            continue
        uses.setdefault(route.iif, [0, 0, 0])[0] += 1
        for oif in route.oifs:
            count = uses.setdefault(oif, [0, 0, 0])
            count[1] += 1
            count[2] += route.if_joined
    return uses


def _signals(config, name):
    """True if an enabled phyint line that matches ``name`` says mrdisc or querier: its VIF does something there."""
    return any(phyint.enable and (phyint.mrdisc or phyint.querier) and name_matches(phyint.ifname, name)
               for phyint in config.phyints.values())


def vif_demand(config, ifaces, family=4):
    """(wanted, tiers) of the present interfaces that routes or enabled phyint lines name.

    ``wanted`` is {ifname: (ifindex, threshold)} in the order VIFs are given out; ``tiers`` is
    {ifname: INPUT, OUTPUT or PHYINT}.  ``ifaces`` maps name to an object with ``index``.  A MIF
    (family 6) has no threshold that the kernel reads: 1.  The order, when more than 32 are wanted:

    1. INPUT: the inputs of routes of the family, most routes first.  Without a VIF on its input a
       route has no MFC entry and no upcall: a template of a group prefix, a source prefix or a
       wildcard input learns nothing and forwards nothing; nftables copies the rest in software.
    2. OUTPUT: outputs of if-joined routes first (on IPv4 a host's IGMPv1/v2 report to a routable group
       reaches mcastd only through the forwarding path of a VIF interface; an IGMPv3 report, sent to
       224.0.0.22, on any querier interface), then by how many routes use them: each such route's
       copies are then made by the kernel.
    3. PHYINT: interfaces that only an enabled phyint line names, as smcroute gives them VIFs (a route
       added at run time can use them, mrdisc advertises only where there is one), those with mrdisc or
       a querier first.

    Ties go to the interface named first (vif_names order: phyint lines, then routes), then the lower
    ifindex (a wildcard's matches).  A phyint line that disables an interface keeps a wildcard from
    pulling it in.  plan_vifs keeps the VIFs that exist, so this order decides only who gets a free
    slot, and who loses one to an interface of a better tier.
    """
    uses = _uses(config, family)
    demand = {}
    present = sorted(ifaces.values(), key=lambda iface: iface.index)
    for mention, pattern in enumerate(config.vif_names(family)):
        count = uses.get(pattern, (0, 0, 0))
        for iface in present:
            if not name_matches(pattern, iface.name):
                continue
            phyint = config.phyints.get(iface.name)
            if phyint is not None and not phyint.enable:
                continue  # a wildcard never pulls in an interface a phyint line disabled
            found = demand.get(iface.name)
            if found is None:
                found = demand[iface.name] = Demand(mention, iface.index)
            found.inputs += count[0]
            found.outputs += count[1]
            found.joined += count[2]
    for name, found in demand.items():
        if found.tier == PHYINT:
            found.signals = _signals(config, name)
    order = sorted(demand, key=lambda name: demand[name].rank())
    wanted = dict((name, (demand[name].ifindex, config.threshold(name) if family == 4 else 1)) for name in order)
    return wanted, dict((name, demand[name].tier) for name in order)


def left_out_text(left_out, tiers):
    """The interfaces left without a VIF by tier, for the log: ``inputs a0; outputs o33, o34``."""
    parts = []
    for tier, label in ((INPUT, "inputs"), (OUTPUT, "outputs"), (PHYINT, "phyint only")):
        names = [name for name in left_out if tiers.get(name, PHYINT) == tier]
        if names:
            parts.append("%s %s" % (label, ", ".join(names)))
    return "; ".join(parts)


def wanted_vifs(config, ifaces, family=4):
    """{ifname: (ifindex, threshold)}: the ``wanted`` of vif_demand."""
    return vif_demand(config, ifaces, family)[0]


def plan_vifs(current, wanted, tiers=None):
    """Compare the VIF table with the wanted one (in the order of vif_demand).

    Returns (table, removals, additions, left_out).  A VIF whose interface and threshold did not
    change keeps its slot, whatever the order says: moving a VIF loses the traffic of the entries
    that use it for a moment.  A changed one (the interface re-created, another threshold) is
    re-added in its slot, so entries that use it keep their numbering.  Free slots go in the order
    of ``wanted``.  When none is free, an interface of a better tier (``tiers``: INPUT before OUTPUT
    before PHYINT) takes the slot of the worst-ranked holder of a worse tier: an input never waits
    while an output holds a VIF.  Within a tier nothing moves, so the table never churns: after a
    reload or a link event it may differ from the table a fresh start would make only in which
    interfaces of one tier hold VIFs.
    """
    holders = dict((name, vif) for name, vif in current.items() if name in wanted)
    evicted = _evicted(holders, wanted, tiers or {})
    removals = [vif for name, vif in current.items() if name not in holders] + evicted
    table = {}
    additions = []
    for name, vif in holders.items():
        if vif in evicted:
            continue
        if wanted[name] != (vif.ifindex, vif.threshold):
            removals.append(vif)
            vif = Vif(vif.index, name, wanted[name][0], wanted[name][1])
            additions.append(vif)
        table[name] = vif
    left_out = _fill(table, additions, wanted, removals, set(vif.ifname for vif in evicted))
    return table, removals, additions, left_out


def _fill(table, additions, wanted, removals, losers):
    """Give free slots to the wanted interfaces without one, in order; returns the names left out."""
    used = set(vif.index for vif in table.values())
    removed = set(vif.index for vif in removals)
    left_out = []
    for name, (ifindex, threshold) in wanted.items():
        if name in table:
            continue
        index = None if name in losers else _free_slot(used, removed)
        if index is None:
            left_out.append(name)
            continue
        used.add(index)
        table[name] = Vif(index, name, ifindex, threshold)
        additions.append(table[name])
    return left_out


def _evicted(holders, wanted, tiers):
    """The VIFs of ``holders`` that interfaces of a better tier take because no slot is free: the holders of the
    worst tier, the last in ``wanted`` order first."""
    waiting = [name for name in wanted if name not in holders]
    claimants = waiting[max(MAX_VIFS - len(holders), 0):]  # in order: the others get the free slots
    if not claimants or not tiers:
        return []
    position = dict((name, number) for number, name in enumerate(wanted))
    ranked = sorted(holders, key=lambda name: (tiers.get(name, PHYINT), position[name]), reverse=True)
    evicted = []
    for name, holder in zip(claimants, ranked):
        if tiers.get(holder, PHYINT) <= tiers.get(name, PHYINT):
            break  # claimants come best first and holders worst first: no later pair is better
        evicted.append(holders[holder])
    return evicted


def _free_slot(used, removed):
    """A free slot for a new VIF: one that no VIF removed now had if there is one (an entry that still names the
    old slot would reach the new interface until it is updated), else any."""
    index = next((slot for slot in range(MAX_VIFS) if slot not in used and slot not in removed), None)
    if index is None:
        index = next((slot for slot in range(MAX_VIFS) if slot not in used), None)
    return index


class TtlCache:
    """TTL vectors per (output list, input): thousands of routes share a handful.

    An output named explicitly is used even when it is the input: the kernel then sends a
    copy back out of it, as smcroute configures it.  A wildcard output (``eth+``) never
    includes the input, so ``from eth0 ... to eth+`` means "every other eth".
    """

    def __init__(self, vifs):
        self.vifs = vifs
        self.cache = {}

    def ttls(self, oifs, iif):
        key = (oifs, iif)
        ttls = self.cache.get(key)
        if ttls is None:
            vector = bytearray(MAX_VIFS)
            for pattern in oifs:
                wildcard = pattern.endswith(WILDCARD)
                for name, vif in self.vifs.items():
                    if name_matches(pattern, name) and not (wildcard and name == iif):
                        vector[vif.index] = vif.threshold
            ttls = self.cache[key] = bytes(vector)
        return ttls


def joined_only(ttls, vifs, key, listening):
    """``ttls`` without the outputs that have no listener for ``key`` (source, group): an if-joined route."""
    vector = None
    for name, vif in vifs.items():
        if ttls[vif.index] and not listening(name, key[0], key[1]):
            vector = vector or bytearray(ttls)
            vector[vif.index] = 0
    return ttls if vector is None else bytes(vector)


def route_ttls(route, iif, key, vifs, cache, listening):
    """The TTL vector of ``route`` for the flow ``key`` arriving on ``iif``.

    A kernel (*,G) entry (source 0, IPv6) also holds its input: the kernel finds the entry for
    an arrival only through the input's place in the set, and never sends a copy back out of it.
    """
    ttls = cache.ttls(route.oifs, iif)
    if route.if_joined:
        ttls = joined_only(ttls, vifs, key, listening)
    if key is not None and key[0] == 0 and key[1] > MAX_U32:
        vector = bytearray(ttls)
        vector[vifs[iif].index] = 1
        ttls = bytes(vector)
    return ttls


def learned_entry(flow, vifs, cache, key=None, listening=nobody):
    """The kernel entry for a learned flow: its template's outputs (with listeners, if-joined), or none."""
    ttls = NO_OUTPUT if flow.route is None else route_ttls(flow.route, flow.iif, key, vifs, cache, listening)
    return KernelEntry(vifs[flow.iif].index, ttls)


def desired_entries(table, vifs, learned, listening=nobody):
    """{(source, group): KernelEntry} the kernel should hold.

    Static routes whose input interface has no VIF are left out (they are pending);
    outputs without a VIF are skipped until their interface appears, and the outputs of an
    if-joined route without a listener (``listening(ifname, source, group)``).  Static
    routes override learned entries for the same flow.
    """
    cache = TtlCache(vifs)
    entries = {key: learned_entry(flow, vifs, cache, key, listening)
               for key, flow in learned.items() if flow.iif in vifs}
    shared = {}  # one KernelEntry per distinct (input, outputs): 10,000 routes use a handful
    for key, route in table.static.items():
        vif = vifs.get(route.iif)
        if vif is not None:
            entry = KernelEntry(vif.index, route_ttls(route, route.iif, key, vifs, cache, listening))
            entries[key] = shared.setdefault(entry, entry)
    return entries


def joined_entries(table, vifs, learned, groups, listening):
    """{(source, group): KernelEntry} of the if-joined routes and flows of ``groups``: what a membership change
    may change (the rest of the table is not even looked at)."""
    cache = TtlCache(vifs)
    entries = {}
    for group in groups:
        for key in table.joined_static.get(group, ()):
            route = table.static[key]
            if route.iif in vifs:
                entries[key] = KernelEntry(vifs[route.iif].index, route_ttls(route, route.iif, key, vifs, cache,
                                                                             listening))
    for key, flow in learned.items():
        if key[1] in groups and flow.route is not None and flow.route.if_joined and flow.iif in vifs \
                and key not in entries:
            entries[key] = learned_entry(flow, vifs, cache, key, listening)
    return entries


def diff(installed, desired):
    """(changes, removals): entries to add or update, and entries to delete."""
    changes = [(key, entry) for key, entry in desired.items() if installed.get(key) != entry]
    removals = [(key, entry) for key, entry in installed.items() if key not in desired]
    return changes, removals


# -- outputs beyond the kernel's VIFs: copied by nftables (overflow.py renders them) -------------------------
class OverflowCache:
    """The outputs of (output list, input) that the kernel cannot serve, as overflow.Output: thousands of routes
    share a handful.

    The kernel forwards only between VIFs: an output without a VIF (the table of 32 is full) is copied
    by nftables instead, and when the input has no VIF there is no MFC entry at all, so nftables
    copies to every output.  Outputs match as in TtlCache (a wildcard never includes the input, nor
    an interface that a phyint line disables); they come in the order of the list, then of ifindex.
    """

    def __init__(self, vifs, ifaces, config):
        self.vifs = vifs
        self.present = sorted(ifaces.values(), key=lambda iface: iface.index)
        self.disabled = set(name for name, phyint in config.phyints.items() if not phyint.enable)
        self.cache = {}

    def outputs(self, oifs, iif):
        key = (oifs, iif)
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = tuple(self._outputs(oifs, iif, iif not in self.vifs))
        return found

    def _outputs(self, oifs, iif, every):
        seen = set()
        for pattern in oifs:
            wildcard = pattern.endswith(WILDCARD)
            for iface in self.present:
                name = iface.name
                if name in seen or not name_matches(pattern, name) or (wildcard and name in self.disabled):
                    continue
                if wildcard and name == iif:
                    continue
                if every or name not in self.vifs:
                    seen.add(name)
                    yield ov.Output(name, iface.index)


def overflow_flow(key, iif, family):
    """The overflow.Flow of an entry: (input, source text, group text); a kernel (*,G) entry (source 0 of
    IPv6) is a flow of any source."""
    source = None if key[0] == 0 and family == 6 else ntop(key[0], family)
    return ov.Flow(iif, source, ntop(key[1], family))


def overflow_outputs(route, iif, key, cache, listening=nobody):
    """The outputs of ``route`` for the flow ``key`` on ``iif`` that nftables copies (if-joined: with listeners)."""
    outputs = cache.outputs(route.oifs, iif)
    if route.if_joined and outputs:
        outputs = tuple(output for output in outputs if listening(output.name, key[0], key[1]))
    return outputs


def rendered_without_vif(route):
    """True if nftables alone can serve a template whose input has no VIF (no upcall, so nothing is learned):
    one named input, any source, one group (the map ``g``); other templates wait for a VIF."""
    return route.source is None and route.group.length == route.group.BITS and not route.iif.endswith(WILDCARD)


def copied_per_flow(table, flow):
    """True if nftables copies a learned flow by its own key (map ``sg``), not by its template's group."""
    return flow.route is not None and not table.copied_by_group(flow.route)


def desired_overflow(table, vifs, learned, ifaces, listening=nobody):
    """{overflow.Flow: (overflow.Output, ...)}: what nftables copies beside the entries of desired_entries.

    Static routes (the input present) and learned flows (see copied_per_flow): the outputs without a
    VIF, or every output when the input has none. Templates copied by group (RouteTable.copied_by_group),
    and rendered_without_vif templates whose input has no VIF: likewise, as a flow of any source.
    """
    cache = OverflowCache(vifs, ifaces, table.config)
    family = table.family
    flows = {}
    for key, flow in learned.items():
        if flow.iif in vifs and copied_per_flow(table, flow):
            _add_copies(flows, key, flow.iif, overflow_outputs(flow.route, flow.iif, key, cache, listening), family)
    for key, route in table.static.items():
        if route.iif in ifaces:  # 10,000 routes whose outputs all have VIFs cost a lookup each, nothing more
            _add_copies(flows, key, route.iif, overflow_outputs(route, route.iif, key, cache, listening), family)
    for route in table.templates:
        if route.iif in ifaces and rendered_without_vif(route) and (
                route.iif not in vifs or table.copied_by_group(route)):
            key = (0, route.group.addr)
            outputs = overflow_outputs(route, route.iif, key, cache, listening)
            if outputs:
                flows.setdefault(ov.Flow(route.iif, None, ntop(route.group.addr, family)), outputs)
    return flows


def _add_copies(flows, key, iif, outputs, family):
    if outputs:
        flows[overflow_flow(key, iif, family)] = outputs


def prune(table, learned, vifs):
    """Learned flows still worth keeping: input VIF present and no active static route for it."""
    kept = {}
    for key, flow in learned.items():
        if flow.iif not in vifs:
            continue  # a new packet will ask again once the interface is back
        static = table.static.get(key)
        if static is not None and static.iif in vifs:
            continue  # the static route owns this flow now
        kept[key] = flow
    return kept


def relearn(table, learned, vifs):
    """Re-decide learned flows against a new configuration; returns the kept ones.

    Each follows its new template, or becomes a stop entry when none fits any more.
    """
    kept = prune(table, learned, vifs)
    for key, flow in kept.items():
        if key not in table.static:
            # A copy: the flows in force stay untouched until the daemon swaps the new state in.
            kept[key] = flow.following(table.template_for(flow.iif, key[0], key[1]))
    return kept


UNKNOWN = object()  # a kernel counter that could not be read


def expired(learned, read_packets, now, timeout):
    """Keys of learned entries whose packet counter has not moved for ``timeout`` seconds.

    ``read_packets(key)`` returns the kernel counter, None when the entry is gone, or UNKNOWN
    when it cannot be read: such an entry counts as active (kept: nothing is lost on an error).
    """
    stale = []
    for key, flow in learned.items():
        packets = read_packets(key)
        if packets is None:
            stale.append(key)
        elif packets is UNKNOWN:
            flow.active = now
        elif packets != flow.packets:
            flow.packets = packets
            flow.active = now
        elif now - flow.active >= timeout:
            stale.append(key)
    return stale


# -- WRONGVIF: a known (S,G) arriving on another input -------------------------------------------------
MOVED = "moved"
TO_STAR_G = "to-star-g"
# Why a WRONGVIF upcall changes nothing, as the log says it.  The first three leave the flow
# blocked on that input and are worth a (rate-limited) line; the last two are races.
WRONGVIF_REASONS = {
    "unknown-vif": "it arrived on a VIF mcastd does not have",
    "static": "a static route names its input",
    "no-route": "no route allows that input",
    "same-input": "the entry has that input already",
    "unknown-flow": "mcastd has no entry for it (expired or flushed meanwhile)",
}
BENIGN_WRONGVIF = ("same-input", "unknown-flow")


class WrongVif(namedtuple("WrongVif", "outcome flow")):
    """What a WRONGVIF upcall changes: MOVED with the new flow, TO_STAR_G, or a WRONGVIF_REASONS key."""

    __slots__ = ()


def on_wrongvif(table, learned, key, ifname, now):
    """Decide about a known (S,G) ``key`` whose packets arrive on ``ifname`` (None: no VIF of ours).

    As smcroute 2.6 does: a learned flow, or a stop entry, moves to the new input when a
    template allows that input, with that template's outputs; a static (S,G) route names its
    input and is never moved.  Nothing here touches ``learned``: the caller installs the
    entry for the returned flow and only then records it.
    """
    if ifname is None:
        return WrongVif("unknown-vif", None)
    if key in table.static:
        return WrongVif("static", None)
    flow = learned.get(key)
    if flow is None:
        return WrongVif("unknown-flow", None)
    if flow.iif == ifname:
        return WrongVif("same-input", None)
    star_g = table.static.get((0, key[1]))
    if star_g is not None and star_g.iif == ifname:
        return WrongVif(TO_STAR_G, None)  # the entry goes, and the kernel (*,G) entry takes the flow
    route = table.template_for(ifname, key[0], key[1])
    if route is None:
        return WrongVif("no-route", None)
    return WrongVif(MOVED, Learned(ifname, route, now))


class TtlWatch:
    """Routed flows whose datagrams arrive but never leave: their TTL (hop limit) is too low to be routed.

    The HOWTO's first pitfall, invisible to the kernel's users: a sender with TTL 1 (the default
    of most sockets) reaches the router, the entry's packet counter grows, and no output sends
    anything.  The kernel counts packets per entry and per VIF, not per entry and output, so a
    flow is named when, between two looks, at least ``minimum`` of its datagrams arrived and one
    of its outputs sent fewer than half as many: a forwarded flow puts each of its datagrams on
    each of its outputs, whatever else goes there (half leaves room for the moments between
    reading the VIF table and the entry).  An output that other flows keep as busy hides it; the
    outputs that only this flow uses name it.  Each look reads the VIF table, and the counters of at most
    ``limit`` entries whose input received something (in turns, so every entry comes round).
    """

    def __init__(self, limit=2000, minimum=10):
        self.limit = limit
        self.minimum = minimum
        self.vifs = None  # {vif index: (packets in, packets out)} at the last look
        self.sent = {}  # vif index -> packets out between the last two looks
        self.packets = {}  # key -> entry packets at the last look, for the keys read then
        self.turn = 0

    def candidates(self, installed, vif_rows):
        """Keys of entries with outputs whose input VIF received since the last look (the counters to read)."""
        now = {row.index: (row.packets_in, row.packets_out) for row in vif_rows}
        before, self.vifs = self.vifs, now
        if before is None:
            return []
        self.sent = {index: counts[1] - before[index][1] for index, counts in now.items() if index in before}
        busy = {index for index, counts in now.items() if index in before and counts[0] != before[index][0]}
        keys = [key for key, entry in installed.items() if entry.parent in busy and any(entry.ttls)]
        if len(keys) > self.limit:
            self.turn = (self.turn + self.limit) % len(keys)
            keys = (keys[self.turn:] + keys[:self.turn])[:self.limit]
        return keys

    def too_low(self, installed, counts):
        """{key: datagrams arrived} of the flows that arrived and did not leave, from {key: entry packets now}."""
        before, self.packets = self.packets, counts
        found = {}
        for key, packets in counts.items():
            arrived = packets - before.get(key, packets)
            entry = installed.get(key)
            if arrived < self.minimum or entry is None:
                continue
            outputs = [index for index, ttl in enumerate(entry.ttls) if ttl and index != entry.parent]
            if any(self.sent.get(index, 0) * 2 < arrived for index in outputs):
                found[key] = arrived
        return found


class LogLimit:
    """At most one log line per key every ``interval`` seconds, remembering at most ``size`` keys.

    When ``size`` keys are all within their interval, new keys stay quiet: a flood of
    distinct flows cannot grow memory or the log without bound.
    """

    def __init__(self, interval=60.0, size=4096):
        self.interval = interval
        self.size = size
        self.last = {}

    def allow(self, key, now):
        last = self.last.get(key)
        if last is not None and now - last < self.interval:
            return False
        if last is None and len(self.last) >= self.size:
            self.last = {old: when for old, when in self.last.items() if now - when < self.interval}
            if len(self.last) >= self.size:
                return False
        self.last[key] = now
        return True


def pending(config, ifaces, vifs_of, unavailable=None, overflow=False):
    """Routes and joins that wait for an interface: a list of dicts for ``show pending``.

    ``vifs_of`` maps a family to its VIF (MIF) table; ``unavailable`` maps a family whose
    routing API mcastd could not take to the reason: all its routes wait for that.  With
    ``overflow`` (nftables copies what the kernel cannot), a present interface without a VIF
    waits for nothing, except the input of a template that only learning can serve.
    """
    rows = []
    unavailable = unavailable or {}
    for route in config.mroutes:
        family = route.group.family
        if family in unavailable:
            rows.append({"kind": "mroute", "line": route.to_line(), "origin": str(route.origin),
                         "missing": [], "state": "inactive", "reason": unavailable[family]})
            continue
        vifs = vifs_of[family]
        missing = [name for name in (route.iif,) + route.oifs if not _has_vif(name, vifs)]
        if overflow and missing:
            missing = [name for name in missing if not _served_without_vif(route, name, ifaces)]
        if missing:
            state = "inactive" if route.iif in missing else "partial"
            rows.append({"kind": "mroute", "line": route.to_line(), "origin": str(route.origin),
                         "missing": missing, "state": state})
    for mgroup in config.mgroups:
        if mgroup.ifname not in ifaces:
            rows.append({"kind": "mgroup", "line": mgroup.to_line(), "origin": str(mgroup.origin),
                         "missing": [mgroup.ifname], "state": "inactive"})
    return rows


def _served_without_vif(route, name, ifaces):
    """True if nftables serves ``name`` of ``route`` (see desired_overflow): it is present, and if it is the input,
    the route needs no upcall."""
    if not _has_vif(name, ifaces):
        return False
    return name != route.iif or not route.is_template or rendered_without_vif(route)


def _has_vif(pattern, vifs):
    if not pattern.endswith(WILDCARD):
        return pattern in vifs
    return any(name_matches(pattern, name) for name in vifs)


def describe_entry(key, entry, vif_names):
    """A kernel entry as names, for logs and ``show routes``; a kernel (*,G) entry's input is not an output."""
    family = group_family(key[1])
    slot = "vif%d" if family == 4 else "mif%d"
    star = key[0] == 0 and family == 6
    outputs = [vif_names.get(index, slot % index) for index, ttl in enumerate(entry.ttls)
               if ttl and not (star and index == entry.parent)]
    return {"source": "*" if star else ntop(key[0], family), "group": group_text(key[1]),
            "iif": vif_names.get(entry.parent, slot % entry.parent), "oifs": outputs}
