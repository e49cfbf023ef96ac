"""The mcast.linux lab: hosts in network namespaces or podman systemd containers, from one YAML.

A topology (``tests/lab/topology.yml`` by default, or a dict, or another file) names hosts and
segments. A segment is either an IGMP snooping switch (one Linux bridge per segment, all in the
switch namespace ``PREFIX-sw``, with one veth pair per end: the host keeps the end's interface, the
other end is a bridge port) or, with ``switch: false``, one veth pair between two hosts. An end
carries an IPv4 ``address``, an IPv6 ``address6`` or both; the hosts skip IPv6 duplicate address
detection, so every address (link-local ones too) is usable when ``up()`` returns.
``Lab`` brings it up and down::

    lab = Lab(prefix="mlab-x1")                  # mode="netns" (default) or "containers"
    lab.up()                                     # idempotent
    lab.run("sender", ["ping", "-c", "1", "198.51.100.20"])
    proc = lab.popen("recv20", ["mcastd", ...])  # stopped by down()
    lab.inventory()                              # Ansible inventory for this mode
    lab.down()                                   # removes everything, also after a failed up()

Every name the lab makes starts with its prefix (namespace ``PREFIX-HOST``, container
``PREFIX-HOST``, switch namespace ``PREFIX-sw`` in both modes), so several labs coexist. The lab
marks what it made (namespaces: the alias ``mcast-lab=PREFIX`` on their loopback; containers: the
label ``mcast-lab=PREFIX``) and ``down()`` removes exactly what carries its mark. The machine's
root namespace is never changed: veth pairs are created directly inside their target namespaces,
and sysctls are written only inside the host's (or the switch's) own namespace.
"""
import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.lab import image
from tests.lab.errors import LabError

DEFAULT_TOPOLOGY = Path(__file__).resolve().parent / "topology.yml"
MODES = ("netns", "containers")
MARK = "mcast-lab"
IFNAMSIZ = 15
# The switch is a plain network namespace in both modes (a container would add nothing but a boot):
# PREFIX-sw, so no host may be called "sw".
SWITCH_HOST = "sw"
# Switch settings of the topology (seconds, or a count) -> iproute2 keyword, the key `ip -d -j link`
# reads back, the kernel's default (what a bridge gets when the topology leaves a setting out) and the
# factor from topology units to kernel units (the bridge keeps intervals in centiseconds).
SWITCH_SETTINGS = {
    "membership_interval": ("mcast_membership_interval", "mcast_membership_intvl", 260, 100),
    "querier_interval": ("mcast_querier_interval", "mcast_querier_intvl", 255, 100),
    "query_response_interval": ("mcast_query_response_interval", "mcast_query_response_intvl", 10, 100),
    "query_interval": ("mcast_query_interval", "mcast_query_intvl", 125, 100),
    "startup_query_interval": ("mcast_startup_query_interval", "mcast_startup_query_intvl", 31.24, 100),
    "last_member_interval": ("mcast_last_member_interval", "mcast_last_member_intvl", 1, 100),
    "last_member_count": ("mcast_last_member_count", "mcast_last_member_cnt", 2, 1),
}
# Snooping on, and never a querier of its own: a lab's querier is what the tests are about.
SWITCH_FIXED = (("mcast_snooping", "mcast_snooping", 1), ("mcast_querier", "mcast_querier", 0))
_READBACK = {keyword: readback for keyword, readback, *_rest in [*SWITCH_SETTINGS.values(), *SWITCH_FIXED]}
SYSTEMD_TIMEOUT = 90
# The address keys of a segment end and the IP version each takes.
ADDRESS_KEYS = {"address": 4, "address6": 6}
ADDRESS_EXAMPLES = {4: "192.0.2.1/24", 6: "2001:db8:10::1/64"}
# Lab hosts skip IPv6 duplicate address detection: addresses (link-local ones too) are usable at
# once rather than tentative for a second or two, and the topology's check for duplicates stands in
# for DAD. The kernel runs DAD when conf/all or conf/IFACE asks for it; new links copy conf/default.
NO_DAD_SYSCTLS = ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
# Containers get a writable /proc/sys/net and nothing else of /proc/sys (see open_net_sysctls).
# Rejected: --privileged and --security-opt unmask=/proc/sys make kernel.*, vm.* and fs.* writable
# too, and those are machine-wide: systemd at boot would raise the host's kernel.pid_max and
# fs.nr_open. --sysctl sets values only at create time, while the modules write them at run time.
# A -v /proc/sys/net bind is refused by runc (no mounts inside /proc), and a user namespace (which
# would keep the machine-wide keys read-only) leaves systemd without a cgroup on this cgroup
# v1/v2 hybrid. So the lab re-mounts just /proc/sys/net read-write inside the container.


def _command(argv, check=True, **kwargs):
    """Run argv (never a shell string) capturing text output; raise LabError on failure if check."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def load_topology(topology=None):
    """Return the validated topology from None (the default file), a path, or a dict.

    The result has ``hosts`` (each route with its ``family``, 4 or 6), ``segments`` (each with
    ``ends`` and ``switch``: True or False) and ``switch``: the kernel values (iproute2 keyword ->
    integer) every switch bridge gets.
    """
    if topology is None:
        topology = DEFAULT_TOPOLOGY
    if isinstance(topology, (str, Path)):
        with open(topology, encoding="utf-8") as stream:
            topology = yaml.safe_load(stream)
    if not isinstance(topology, dict) or not isinstance(topology.get("hosts"), dict):
        raise LabError("A lab topology is a mapping with 'hosts' (and 'segments'); see tests/lab/topology.yml.")
    if SWITCH_HOST in topology["hosts"]:
        raise LabError(f"Host name {SWITCH_HOST!r} is reserved for the lab's switch namespace (PREFIX-{SWITCH_HOST}): "
                       "rename that host.")
    switched_by_default, settings = _checked_switch(topology.get("switch"))
    hosts = {name: _checked_host(name, spec) for name, spec in topology["hosts"].items()}
    segments = {name: _checked_segment(name, spec, hosts, switched_by_default)
                for name, spec in (topology.get("segments") or {}).items()}
    _check_unique_interfaces(segments)
    return {"hosts": hosts, "segments": segments, "switch": settings}


def _checked_switch(spec):
    """(segments switched unless they say otherwise?, kernel values) from the topology's ``switch``.

    Absent or false: segments are veth pairs unless one says ``switch: true`` (topologies written
    before the switches existed keep their meaning). A mapping or true: every segment is a switch
    unless it says ``switch: false``; settings left out keep the kernel's defaults.
    """
    if spec is None or spec is False:
        return False, _switch_values({})
    if spec is True:
        return True, _switch_values({})
    if not isinstance(spec, dict):
        raise LabError(f"The topology's 'switch' must be a mapping of settings, true or false, not {spec!r}.")
    unknown = sorted(set(spec) - set(SWITCH_SETTINGS))
    if unknown:
        raise LabError(f"Unknown switch setting(s) {', '.join(map(str, unknown))}: "
                       f"use {', '.join(SWITCH_SETTINGS)}.")
    return True, _switch_values(spec)


def _switch_values(spec):
    values = {keyword: value for keyword, _readback, value in SWITCH_FIXED}
    for key, (keyword, _readback, default, factor) in SWITCH_SETTINGS.items():
        values[keyword] = _kernel_units(key, spec.get(key, default), factor)
    return values


def _kernel_units(key, value, factor):
    """Seconds (or a count) from the topology as the integer the kernel keeps; nonsense refused."""
    unit = "seconds" if factor != 1 else "a count"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise LabError(f"Switch setting {key} must be a positive number ({unit}), not {value!r}.")
    scaled = round(value * factor)
    if abs(value * factor - scaled) > 1e-6:
        step = "0.01 s" if factor == 100 else "1"
        raise LabError(f"Switch setting {key} = {value}: the bridge keeps it in steps of {step}; round it.")
    return scaled


def _checked_host(name, spec):
    spec = dict(spec or {})
    spec.setdefault("groups", [])
    spec.setdefault("sysctls", {})
    spec.setdefault("routes", [])
    spec.setdefault("vars", {})
    spec["routes"] = [_checked_route(name, route) for route in spec["routes"]]
    return spec


def _checked_route(host, route):
    """A route ``{dst, via}`` with its family (4 or 6) added: the gateway's, which dst must share."""
    if not isinstance(route, dict) or not route.get("dst") or not route.get("via"):
        raise LabError(f"Host {host}: a route is {{dst: default or PREFIX, via: GATEWAY}}, not {route!r}.")
    try:
        via = ipaddress.ip_address(str(route["via"]))
    except ValueError:
        raise LabError(f"Host {host}: route via {route['via']!r}: the gateway must be one IPv4 or IPv6 "
                       "address.") from None
    if route["dst"] != "default":
        try:
            dst = ipaddress.ip_network(str(route["dst"]))
        except ValueError as error:
            raise LabError(f"Host {host}: route to {route['dst']!r}: {error} (write 'default' or a prefix "
                           "such as 2001:db8:20::/64).") from None
        if dst.version != via.version:
            raise LabError(f"Host {host}: route to {dst} via {via} mixes IPv{dst.version} and IPv{via.version}: "
                           "give it a gateway of the destination's family.")
    return dict(route, family=via.version)


def _checked_segment(name, spec, hosts, switched_by_default):
    spec = spec or {}
    switched = spec.get("switch", switched_by_default)
    if not isinstance(switched, bool):
        raise LabError(f"Segment {name}: 'switch' is true or false (the settings live in the topology's "
                       f"top-level 'switch' mapping), not {switched!r}.")
    ends = spec.get("ends") or []
    if switched and len(ends) < 2:
        raise LabError(f"Segment {name} needs at least two ends on its switch, not {len(ends)}.")
    if not switched and len(ends) != 2:
        raise LabError(f"Segment {name} without a switch needs exactly two ends (one veth pair), not {len(ends)}: "
                       "give it a switch for more.")
    if switched:
        _check_bridge_names(name, len(ends))
    for end in ends:
        if end.get("host") not in hosts:
            raise LabError(f"Segment {name} names host {end.get('host')!r}, which is not under 'hosts'.")
        if not end.get("iface") or len(end["iface"]) > IFNAMSIZ:
            raise LabError(f"Segment {name}: interface name {end.get('iface')!r} must have 1 to {IFNAMSIZ} characters.")
        for key in ADDRESS_KEYS:
            _check_address(name, end, key)
    _check_unique_addresses(name, ends)
    return {"ends": [dict(end) for end in ends], "switch": switched}


def _check_address(segment, end, key):
    """An end's ``address`` is one IPv4 interface address, its ``address6`` one IPv6 global (or ULA) one."""
    value = end.get(key)
    if not value:
        return
    version = ADDRESS_KEYS[key]
    where = f"Segment {segment}: {end['host']}:{end['iface']} {key} {value!r}"
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        raise LabError(f"{where} is not an IPv{version} address with a prefix length, such as "
                       f"{ADDRESS_EXAMPLES[version]}.") from None
    if interface.version != version:
        other = next(other for other, other_version in ADDRESS_KEYS.items() if other_version == interface.version)
        raise LabError(f"{where} is an IPv{interface.version} address: put it in '{other}' ('{key}' takes "
                       f"IPv{version}).")
    if version == 6:
        _check_address6(where, value, interface)


def _check_address6(where, value, interface):
    if "/" not in str(value):
        raise LabError(f"{where} has no prefix length: write it as ADDRESS/64 (alone it would be a /128 with "
                       "no neighbour on link).")
    address = interface.ip
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        raise LabError(f"{where} is not a unicast address an interface can own.")
    if address.is_link_local:
        raise LabError(f"{where} is link-local: every interface makes its own fe80::/64 address; give "
                       "'address6' a global or unique-local one (e.g. from 2001:db8::/32).")
    if interface.network.prefixlen < 127 and address == interface.network.network_address:
        raise LabError(f"{where} is the subnet-router anycast address of {interface.network} (all zeros after "
                       "the prefix): give the host another interface identifier, e.g. ::1.")


def _check_unique_addresses(segment, ends):
    """No address twice on one segment: the lab turns DAD off (see wire()), so the kernel would not notice.
    (The same address on two segments is allowed: a source seen on two upstream links is a test case.)"""
    seen = {}
    for end in ends:
        for key in ADDRESS_KEYS:
            if end.get(key):
                address = ipaddress.ip_interface(end[key]).ip
                if address in seen:
                    raise LabError(f"Segment {segment}: {address} is on both {seen[address]} and "
                                   f"{end['host']}:{end['iface']}: give each end its own address.")
                seen[address] = f"{end['host']}:{end['iface']}"


def switch_port(segment, index):
    """Name of the bridge port (in the switch namespace) that serves end ``index`` (0-based) of a segment."""
    return f"{segment}-{index + 1}"


def _check_bridge_names(segment, end_count):
    """The segment names its bridge and prefixes its ports: both must be valid interface names."""
    if not isinstance(segment, str):
        raise LabError(f"Segment {segment!r} names its switch bridge: quote the name so it is a string.")
    longest = switch_port(segment, end_count - 1)
    if len(longest) > IFNAMSIZ or not segment.replace("-", "").replace("_", "").isalnum() or segment == "lo":
        raise LabError(f"Segment {segment!r} names its switch bridge and ports ({switch_port(segment, 0)} ...): use "
                       f"letters, digits, '-' or '_' and at most {IFNAMSIZ - len(longest) + len(segment)} characters, "
                       "or set 'switch: false' on it.")


def _check_unique_interfaces(segments):
    seen = {}
    for name, segment in segments.items():
        for end in segment["ends"]:
            key = (end["host"], end["iface"])
            if key in seen:
                raise LabError(f"Interface {end['iface']} of {end['host']} is in both {seen[key]} and {name}.")
            seen[key] = name
    switch_names = {}
    for name, segment in segments.items():
        if segment["switch"]:
            for link in [name, *(switch_port(name, index) for index in range(len(segment["ends"])))]:
                if link in switch_names:
                    raise LabError(f"Segments {switch_names[link]} and {name} both need {link} in the switch "
                                   "namespace: rename one of them.")
                switch_names[link] = name


def require_root():
    """Namespaces and links need root: say so in a sentence rather than fail half-way."""
    if os.geteuid() != 0:
        raise LabError("The lab needs root (network namespaces and veth links): run it as root.")


class _Backend:
    """What both modes share: every name is ``PREFIX-HOST`` and everything made is marked."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.mark = f"{MARK}={prefix}"

    def name(self, host):
        """The namespace or container name of a host."""
        return f"{self.prefix}-{host}"

    @contextlib.contextmanager
    def wiring(self):
        """The span of one wire(): what a backend may look up once for it (the containers' PIDs)."""
        yield


class _NetnsBackend(_Backend):
    """Hosts are named network namespaces ``PREFIX-HOST``."""

    mode = "netns"

    def exec_prefix(self, host):
        """argv prefix that runs a command inside the host (for tests and the wiring alike)."""
        return ["ip", "netns", "exec", self.name(host)]

    wire_prefix = exec_prefix

    def link_target(self, host):
        """What ``ip link add ... netns X`` takes to create a link straight inside the host."""
        return self.name(host)

    @staticmethod
    def _namespaces():
        listing = _command(["ip", "-j", "netns", "list"]).stdout.strip()
        return {entry["name"] for entry in json.loads(listing or "[]")}

    def _owner_mark(self, namespace):
        proc = _command(["ip", "-n", namespace, "-j", "link", "show", "dev", "lo"], check=False)
        if proc.returncode != 0:
            return None
        return (json.loads(proc.stdout or "[{}]")[0]).get("ifalias")

    def present(self, host):
        return self.name(host) in self._namespaces()

    def check_not_foreign(self, host):
        """Refuse a namespace of the same name that another lab or person made."""
        namespace = self.name(host)
        if namespace in self._namespaces() and self._owner_mark(namespace) != self.mark:
            raise LabError(f"Network namespace {namespace} exists but was not made by the lab with prefix "
                           f"{self.prefix!r}: choose another prefix or remove it (ip netns delete {namespace}).")

    def create(self, host, _topology):
        namespace = self.name(host)
        if namespace in self._namespaces():
            return
        _command(["ip", "netns", "add", namespace])
        try:
            _command(["ip", "-n", namespace, "link", "set", "dev", "lo", "alias", self.mark])
        except LabError:
            _command(["ip", "netns", "delete", namespace], check=False)  # unmarked, down() would not find it
            raise

    def start(self, host):
        """Namespaces need no start (the containers' counterpart waits for systemd)."""

    def prepare(self, host):
        """Namespaces need no preparation: ip netns exec already gives a writable /proc/sys/net."""

    def inventory_vars(self, host):
        return {"ansible_connection": "mcast.linux.netns", "ansible_host": self.name(host),
                "ansible_python_interpreter": sys.executable}

    def destroy_all(self):
        """Stop every process in, and delete, each namespace that carries this lab's mark."""
        ours = [ns for ns in sorted(self._namespaces())
                if ns.startswith(f"{self.prefix}-") and self._owner_mark(ns) == self.mark]
        for namespace in ours:
            self._delete(namespace)
        return ours

    def destroy(self, host):
        """Delete the host's namespace if this lab made it; return the names removed."""
        namespace = self.name(host)
        if namespace not in self._namespaces() or self._owner_mark(namespace) != self.mark:
            return []
        self._delete(namespace)
        return [namespace]

    @staticmethod
    def _delete(namespace):
        pids = _command(["ip", "netns", "pids", namespace], check=False).stdout.split()
        _stop_pids([int(pid) for pid in pids])
        _command(["ip", "netns", "delete", namespace], check=False)


class _ContainerBackend(_Backend):
    """Hosts are podman containers ``PREFIX-HOST`` booting systemd, without any podman network."""

    mode = "containers"

    def __init__(self, prefix):
        super().__init__(prefix)
        self._pids = None  # host -> PID 1, kept only while wire() runs: a container changes it only by restarting

    def exec_prefix(self, host):
        return ["podman", "exec", self.name(host)]

    @contextlib.contextmanager
    def wiring(self):
        """Look each container's PID up once per wire(), not once per command (podman inspect costs ~40 ms)."""
        self._pids = {}
        try:
            yield
        finally:
            self._pids = None

    def pid(self, host):
        """PID 1 of the container as the machine sees it; refuses anything but a running container."""
        if host in (self._pids or {}):
            return self._pids[host]
        proc = image.podman("inspect", "--type", "container", "--format", "{{.State.Pid}}", self.name(host), check=False)
        pid = int(proc.stdout.strip() or 0) if proc.returncode == 0 else 0
        if pid <= 0:
            raise LabError(f"Container {self.name(host)} is not running: start it (labctl up) before wiring.")
        if os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino:
            raise LabError(f"Container {self.name(host)} shares the machine's network namespace: the lab refuses to wire it.")
        if self._pids is not None:
            self._pids[host] = pid
        return pid

    def wire_prefix(self, host):
        """Run a host tool (ip, sysctl) in the container's network namespace only: fast, no exec."""
        return ["nsenter", f"--target={self.pid(host)}", "--net"]

    def link_target(self, host):
        return str(self.pid(host))

    def prepare(self, host):
        """Make /proc/sys/net writable inside the container, then apply its persisted sysctl.d.

        Values under /proc/sys/net belong to the network namespace of whoever opens them, so the
        container writes its own rp_filter and never the host's, while kernel.*, vm.* and fs.*
        (machine-wide) stay read-only. systemd skipped systemd-sysctl at boot because /proc/sys/net
        was read-only then; re-running it now applies what the roles persisted, as a boot would.
        """
        enter_mounts = ["nsenter", f"--target={self.pid(host)}", "--mount"]
        options = _command([*enter_mounts, "findmnt", "--noheadings", "--output", "OPTIONS", "/proc/sys/net"],
                           check=False).stdout
        if options.startswith("rw"):
            return
        _command([*enter_mounts, "mount", "--bind", "/proc/sys/net", "/proc/sys/net"])
        _command([*enter_mounts, "mount", "-o", "remount,bind,rw", "/proc/sys/net"])
        image.podman("exec", self.name(host), "systemctl", "restart", "systemd-sysctl.service")

    def present(self, host):
        return image.podman("container", "exists", self.name(host), check=False).returncode == 0

    def _running(self, host):
        proc = image.podman("inspect", "--type", "container", "--format", "{{.State.Running}}", self.name(host), check=False)
        return proc.stdout.strip() == "true"

    def check_not_foreign(self, host):
        """Refuse a container of the same name that another lab or person made."""
        name = self.name(host)
        if self.present(host):
            labels = image.podman("inspect", "--type", "container", "--format", "{{json .Config.Labels}}", name).stdout
            if (json.loads(labels or "{}") or {}).get(MARK) != self.prefix:
                raise LabError(f"Container {name} exists but was not made by the lab with prefix {self.prefix!r}: "
                               f"choose another prefix or remove it (podman rm -f {name}).")

    def create(self, host, topology):
        name = self.name(host)
        if self.present(host):
            if not self._running(host):
                image.podman("start", name)
            return
        spec = topology["hosts"][host]
        image.podman("run", "-d", "--systemd=always", "--cap-add", "NET_ADMIN,NET_RAW", "--network", "none",
                     "--hostname", host, "--name", name, "--label", f"{MARK}={self.prefix}",
                     "--label", f"{MARK}.host={host}",
                     *[arg for group in spec["groups"] for arg in ("--label", f"{MARK}.group.{group}=1")],
                     image.ensure_image(), "/sbin/init")

    def start(self, host):
        """Wait until systemd in the container has booted (running, or degraded by some unit)."""
        deadline = time.monotonic() + SYSTEMD_TIMEOUT
        state = ""
        while time.monotonic() < deadline:
            proc = image.podman("exec", self.name(host), "systemctl", "is-system-running", "--wait", check=False)
            state = proc.stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.5)
        raise LabError(f"systemd in {self.name(host)} did not come up within {SYSTEMD_TIMEOUT} s (state {state!r}).")

    def inventory_vars(self, host):
        return {"ansible_connection": "containers.podman.podman", "ansible_host": self.name(host),
                "ansible_python_interpreter": "/usr/bin/python3"}

    def destroy_all(self):
        """Remove every container that carries this lab's label (their veth ends go with them)."""
        names = image.podman("ps", "-a", "--filter", f"label={MARK}={self.prefix}", "--format", "{{.Names}}").stdout.split()
        if names:
            image.podman("rm", "--force", "--time", "0", *names)
        return names


def _stop_pids(pids, grace=3.0):
    """Terminate the given processes (ours: they run in our namespaces), then kill what remains."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid):
    """True while the process exists and is not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _peers(link_a, link_b):
    """True when two veth ends (``ip -j link`` entries, different namespaces) point at each other."""
    return bool(link_a and link_b) and (link_a.get("link_index"), link_b.get("link_index")) == (
        link_b["ifindex"], link_a["ifindex"])


def _setting_differences(wanted, actual):
    """Sentences for each switch setting the kernel holds otherwise than wanted (both in kernel units)."""
    units = {keyword: (key, factor) for key, (keyword, _readback, _default, factor) in SWITCH_SETTINGS.items()}
    differences = []
    for keyword, value in wanted.items():
        have = (actual or {}).get(keyword)
        if have == value:
            continue
        if keyword in units:
            key, factor = units[keyword]
            differences.append(f"{key} is {_in_topology_units(have, factor)}, "
                               f"not the {_in_topology_units(value, factor)} asked for")
        else:
            differences.append(f"{keyword} is {have}, not {value}")
    return differences


def _in_topology_units(value, factor):
    if value is None:
        return "missing"
    return f"{value / factor:g} s" if factor != 1 else str(value)


class Lab:
    """A lab from one topology: see the module docstring for the API and its guarantees."""

    def __init__(self, topology=None, prefix="mlab", mode="netns"):
        if mode not in MODES:
            raise LabError(f"Unknown lab mode {mode!r}: use one of {', '.join(MODES)}.")
        self.topology = load_topology(topology)
        self.prefix = prefix
        self.mode = mode
        self.backend = _NetnsBackend(prefix) if mode == "netns" else _ContainerBackend(prefix)
        self.switch = _NetnsBackend(prefix)  # the switch namespace PREFIX-sw, a plain namespace in both modes
        self._processes = []

    @property
    def hosts(self):
        """Host names in topology order."""
        return list(self.topology["hosts"])

    @property
    def switch_ns(self):
        """The switch namespace ``PREFIX-sw``, or None when no segment of the topology has a switch."""
        return self.switch.name(SWITCH_HOST) if self._switched_segments() else None

    def _switched_segments(self):
        return {name: segment for name, segment in self.topology["segments"].items() if segment["switch"]}

    def ns(self, host):  # pylint: disable=invalid-name
        """The namespace (netns mode) or container (containers mode) name of a host."""
        self._check_host(host)
        return self.backend.name(host)

    def _check_host(self, host):
        if host not in self.topology["hosts"]:
            raise LabError(f"Host {host!r} is not in the lab's topology (hosts: {', '.join(self.hosts)}).")

    def up(self):
        """Create what is missing and wire it; running it again is harmless."""
        require_root()
        try:
            for host in self.hosts:  # all names checked before anything is made
                self.backend.check_not_foreign(host)
            if self.switch_ns:
                self.switch.check_not_foreign(SWITCH_HOST)
            for host in self.hosts:
                self.backend.create(host, self.topology)
            for host in self.hosts:
                self.backend.start(host)
            self.wire()
        except FileNotFoundError as error:
            raise LabError(f"A tool the lab needs is missing: {error.filename} (install iproute2/util-linux).") from None
        return self

    def wire(self):
        """(Re-)create switches, links, addresses, routes and sysctls between the existing hosts; idempotent."""
        require_root()
        absent = [self.backend.name(host) for host in self.hosts if not self.backend.present(host)]
        if absent:
            raise LabError(f"Cannot wire the lab: {', '.join(absent)} do(es) not exist; bring the lab up first.")
        with self.backend.wiring():
            self._wire_hosts()
        return self

    def _wire_hosts(self):
        for host in self.hosts:
            self.backend.prepare(host)
            self._ip(host, "link", "set", "dev", "lo", "up")
            _command([*self.backend.wire_prefix(host), "sysctl", "-q", "-w", *NO_DAD_SYSCTLS])  # before any link
        self._wire_switch_namespace()
        for name, segment in self.topology["segments"].items():
            if segment["switch"]:
                self._wire_switched_segment(name, segment["ends"])
            else:
                self._wire_pair(*segment["ends"])
        for host, spec in self.topology["hosts"].items():
            for key, value in spec["sysctls"].items():
                _command([*self.backend.wire_prefix(host), "sysctl", "-q", "-w", f"{key}={value}"])
            for route in spec["routes"]:
                family = ["-6"] if route["family"] == 6 else []
                self._ip(host, *family, "route", "replace", str(route["dst"]), "via", str(route["via"]))

    def _ip(self, host, *args, check=True):
        return _command([*self.backend.wire_prefix(host), "ip", *args], check=check)

    def _switch_ip(self, *args, check=True):
        return _command(["ip", "-n", self.switch.name(SWITCH_HOST), *args], check=check)

    def _links(self, host):
        return {link["ifname"]: link for link in json.loads(self._ip(host, "-j", "link", "show").stdout or "[]")}

    def _switch_links(self):
        """The links of the switch namespace by name, with details (kind, bridge settings, master)."""
        return {link["ifname"]: link for link in json.loads(self._switch_ip("-d", "-j", "link", "show").stdout or "[]")}

    def _wire_pair(self, end_a, end_b):
        """A segment without a switch: one veth pair straight between the two hosts."""
        link_a = self._links(end_a["host"]).get(end_a["iface"])
        link_b = self._links(end_b["host"]).get(end_b["iface"])
        if not _peers(link_a, link_b):
            for end, link in ((end_a, link_a), (end_b, link_b)):
                if link:  # half of a pair left from a partial run, a restarted peer, or a former switch port
                    self._delete_host_link(end)
            _command(["ip", "link", "add", end_a["iface"], "netns", self.backend.link_target(end_a["host"]),
                      "type", "veth", "peer", "name", end_b["iface"],
                      "netns", self.backend.link_target(end_b["host"])])
        for end in (end_a, end_b):
            self._host_end_up(end)

    def _delete_host_link(self, end):
        """Delete a host's end of a stale pair (and with it the peer, wherever that is)."""
        self._delete_stale(end["iface"], lambda *args: self._ip(end["host"], *args, check=False),
                           lambda: self._links(end["host"]), end["host"])

    def _delete_switch_port(self, port):
        """Delete a link of the switch namespace: a port (and with it its host end) or a bridge."""
        self._delete_stale(port, lambda *args: self._switch_ip(*args, check=False), self._switch_links,
                           self.switch.name(SWITCH_HOST))

    @staticmethod
    def _delete_stale(name, ip, links, where):
        """Delete one end of a stale pair. It may vanish by itself meanwhile: the kernel removes the
        links of a deleted namespace (a restarted container, a switch no longer wanted) and their
        peers in the background, shortly after."""
        proc = ip("link", "delete", "dev", name)
        if proc.returncode != 0 and name in links():
            raise LabError(f"Cannot delete {name} in {where}: {proc.stderr.strip()}")

    def _host_end_up(self, end):
        self._ip(end["host"], "link", "set", "dev", end["iface"], "up")
        if end.get("address"):
            self._ip(end["host"], "addr", "replace", end["address"], "dev", end["iface"])
        if end.get("address6"):  # nodad: usable at once even if the host's own sysctls turn DAD back on
            self._ip(end["host"], "addr", "replace", end["address6"], "dev", end["iface"], "nodad")

    def _wire_switch_namespace(self):
        """Make the switch namespace exist with exactly the bridges and ports the topology names.

        Whatever else it holds goes (a segment renamed, given fewer ends or no switch any more):
        deleting a port deletes its host end too, and the segment's wiring then makes it anew.
        """
        switched = self._switched_segments()
        if not switched:
            self.switch.destroy(SWITCH_HOST)  # only if this lab made it
            return
        self.switch.check_not_foreign(SWITCH_HOST)
        self.switch.create(SWITCH_HOST, self.topology)
        # No IPv6 on the switch's own links: bridges and ports would send MLD reports and router
        # solicitations of their own, which a querier on the segment would count as listeners.
        _command([*self.switch.exec_prefix(SWITCH_HOST), "sysctl", "-q", "-w",
                  "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
        wanted = {name: "bridge" for name in switched}
        wanted.update({switch_port(name, index): "veth"
                       for name, segment in switched.items() for index in range(len(segment["ends"]))})
        for name, link in self._switch_links().items():
            kind = link.get("linkinfo", {}).get("info_kind")
            if name != "lo" and wanted.get(name) != kind:
                self._delete_switch_port(name)

    def _wire_switched_segment(self, segment, ends):
        """A segment with a switch: its bridge, then one veth pair per end (host interface, bridge port)."""
        self._wire_bridge(segment)
        for index, end in enumerate(ends):
            port = switch_port(segment, index)
            host_link = self._links(end["host"]).get(end["iface"])
            port_link = self._switch_links().get(port)
            if not _peers(host_link, port_link):
                if host_link:
                    self._delete_host_link(end)
                if port_link:
                    self._delete_switch_port(port)  # gone already if it was host_link's peer
                _command(["ip", "link", "add", end["iface"], "netns", self.backend.link_target(end["host"]),
                          "type", "veth", "peer", "name", port, "netns", self.switch.name(SWITCH_HOST)])
            self._switch_ip("link", "set", "dev", port, "master", segment, "alias", f"{end['host']}:{end['iface']}",
                            "up")
            self._host_end_up(end)

    def _wire_bridge(self, segment):
        """The segment's bridge with the topology's switch settings, read back (the kernel clamps silently)."""
        if segment not in self._switch_links():
            self._switch_ip("link", "add", "name", segment, "type", "bridge")
        settings = [str(item) for pair in self.topology["switch"].items() for item in pair]
        self._switch_ip("link", "set", "dev", segment, "type", "bridge", *settings)
        self._switch_ip("link", "set", "dev", segment, "up")
        differences = _setting_differences(self.topology["switch"], self.switch_settings(segment))
        if differences:
            raise LabError(f"Switch {segment} in {self.switch.name(SWITCH_HOST)} did not take the topology's settings "
                           f"(the kernel changes some silently): {'; '.join(differences)}. "
                           "Change them in the topology's 'switch' mapping.")

    def switch_settings(self, segment):
        """What the kernel holds for a segment's bridge (iproute2 keyword -> integer), None if there is none."""
        if not self.switch_ns:
            return None
        link = self._switch_links().get(segment) if self.switch.present(SWITCH_HOST) else None
        if not link or link.get("linkinfo", {}).get("info_kind") != "bridge":
            return None
        data = link["linkinfo"].get("info_data", {})
        return {keyword: data.get(readback) for keyword, readback in _READBACK.items()}

    def down(self):
        """Stop processes started by popen() and remove every namespace/container of this prefix."""
        require_root()
        _stop_pids([proc.pid for proc in self._processes if proc.poll() is None])
        for proc in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)  # reap, so no zombie outlives the lab
        self._processes.clear()
        removed = self.backend.destroy_all()  # netns mode: the switch namespace too (it carries the mark)
        return removed + self.switch.destroy(SWITCH_HOST)

    def run(self, host, argv, check=True, **kwargs):
        """Run argv inside the host; like subprocess.run with text output captured by default."""
        self._check_host(host)
        kwargs.setdefault("text", True)
        if "stdout" not in kwargs and "stderr" not in kwargs:
            kwargs.setdefault("capture_output", True)
        kwargs.setdefault("env", self._exec_env())
        return subprocess.run([*self.backend.exec_prefix(host), *argv], check=check, **kwargs)

    def popen(self, host, argv, **kwargs):
        """Start argv inside the host in the background; down() stops it if it still runs."""
        self._check_host(host)
        kwargs.setdefault("env", self._exec_env())
        proc = subprocess.Popen([*self.backend.exec_prefix(host), *argv], **kwargs)  # pylint: disable=consider-using-with
        self._processes.append(proc)
        return proc

    def _exec_env(self):
        return image.podman_env() if self.mode == "containers" else dict(os.environ)

    def inventory(self):
        """Ansible inventory (YAML-ready dict) with groups from the topology and this mode's connection."""
        hosts = {}
        children = {}
        for host, spec in self.topology["hosts"].items():
            hostvars = dict(self.backend.inventory_vars(host))
            hostvars["lab_interfaces"] = self._interfaces_of(host)
            hostvars.update(spec["vars"])
            hosts[host] = hostvars
            for group in spec["groups"]:
                children.setdefault(group, {"hosts": {}})["hosts"][host] = None
        for group in ("routers", "senders", "receivers"):
            children.setdefault(group, {"hosts": {}})
        inventory = {"all": {"hosts": hosts, "children": children}}
        if self.switch_ns:  # the switch is no Ansible host: its settings are variables for the plays
            inventory["all"]["vars"] = {f"lab_switch_{key}": value
                                        for key, value in self._switch_settings_in_topology_units().items()}
        return inventory

    def _switch_settings_in_topology_units(self):
        values = self.topology["switch"]
        return {key: values[keyword] // factor if values[keyword] % factor == 0 else values[keyword] / factor
                for key, (keyword, _readback, _default, factor) in SWITCH_SETTINGS.items()}

    def _interfaces_of(self, host):
        return {end["iface"]: {"segment": name, "address": end.get("address"), "address6": end.get("address6"),
                               "switched": segment["switch"]}
                for name, segment in self.topology["segments"].items()
                for end in segment["ends"] if end["host"] == host}

    def status(self):
        """What exists now compared with the topology: hosts, segments, interfaces, addresses."""
        report = {"prefix": self.prefix, "mode": self.mode, "hosts": {}, "segments": {}, "present": [], "missing": []}
        for host in self.hosts:
            report["hosts"][host] = self._host_status(host)
            report["present" if report["hosts"][host]["present"] else "missing"].append(host)
        report["switch"] = self._switch_status()
        if report["switch"] and not report["switch"]["present"]:
            report["missing"].append(f"switch namespace {report['switch']['name']}")
        for name, segment in self.topology["segments"].items():
            ends = [report["hosts"][end["host"]]["interfaces"][end["iface"]] for end in segment["ends"]]
            complete = all(end["present"] and end["address_ok"] for end in ends)
            if segment["switch"]:
                complete = complete and report["switch"]["bridges"][name]["ok"]
            report["segments"][name] = {"ends": [f"{end['host']}:{end['iface']}" for end in segment["ends"]],
                                        "switch": name if segment["switch"] else None, "present": complete}
            if not complete:
                report["missing"].append(f"segment {name}")
        report["interfaces"] = [iface for info in report["hosts"].values() for iface in info["interfaces"].values()]
        report["complete"] = not report["missing"]
        return report

    def _switch_status(self):
        """The switch namespace, and per switched segment its bridge (settings read back) and ports."""
        switched = self._switched_segments()
        if not switched:
            return None
        present = self.switch.present(SWITCH_HOST)
        links = self._switch_links() if present else {}
        bridges = {}
        for name, segment in switched.items():
            ports = {}
            for index, end in enumerate(segment["ends"]):
                port = links.get(switch_port(name, index), {})
                ports[switch_port(name, index)] = {"end": f"{end['host']}:{end['iface']}", "present": bool(port),
                                                   "attached": port.get("master") == name,
                                                   "state": port.get("operstate", "missing")}
            settings = self.switch_settings(name) if name in links else None
            settings_ok = settings is not None and not _setting_differences(self.topology["switch"], settings)
            bridges[name] = {"present": settings is not None, "state": links.get(name, {}).get("operstate", "missing"),
                             "settings": settings, "settings_ok": settings_ok, "ports": ports,
                             "ok": settings_ok and all(port["attached"] for port in ports.values())}
        return {"name": self.switch.name(SWITCH_HOST), "present": present, "bridges": bridges,
                "settings": self._switch_settings_in_topology_units()}

    def _host_status(self, host):
        present = self.backend.present(host)
        actual = self._actual_interfaces(host) if present else {}
        interfaces = {}
        for iface, wanted in self._interfaces_of(host).items():
            link = actual.get(iface, {})
            infos = [info for info in link.get("addr_info", [])
                     if info.get("family") in ("inet", "inet6") and info.get("scope") != "link"]
            addresses = [f"{info['local']}/{info['prefixlen']}" for info in infos]
            # an address still tentative (or failed DAD) is there, but nobody can use it yet
            usable = {ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}") for info in infos
                      if not info.get("tentative") and not info.get("dadfailed")}
            unusable = [wanted[key] for key in ADDRESS_KEYS
                        if wanted[key] and ipaddress.ip_interface(wanted[key]) not in usable]
            interfaces[iface] = {"host": host, "segment": wanted["segment"], "address": wanted["address"],
                                 "address6": wanted["address6"], "addresses": addresses, "present": bool(link),
                                 "state": link.get("operstate", "missing"), "unusable": unusable,
                                 "address_ok": not unusable}
        return {"name": self.backend.name(host), "present": present, "interfaces": interfaces}

    def _actual_interfaces(self, host):
        try:
            proc = self._ip(host, "-j", "addr", "show", check=False)
        except LabError:  # a container that exists but is stopped has no namespace to look into
            return {}
        return {link["ifname"]: link for link in json.loads(proc.stdout or "[]")} if proc.returncode == 0 else {}
