"""The mcast.linux lab: hosts in network namespaces or podman systemd containers, from one YAML.

A topology (``tests/lab/topology.yml`` by default, or a dict, or another file) names hosts and
segments; each segment is one veth pair between two hosts. ``Lab`` brings it up and down::

    lab = Lab(prefix="mlab-x1")                  # mode="netns" (default) or "containers"
    lab.up()                                     # idempotent
    lab.run("sender", ["ping", "-c", "1", "198.51.100.20"])
    proc = lab.popen("recv20", ["mcastd", ...])  # stopped by down()
    lab.inventory()                              # Ansible inventory for this mode
    lab.down()                                   # removes everything, also after a failed up()

Every name the lab makes starts with its prefix (namespace ``PREFIX-HOST``, container
``PREFIX-HOST``), so several labs coexist. The lab marks what it made (netns: the alias
``mcast-lab=PREFIX`` on the namespace's loopback; containers: the label ``mcast-lab=PREFIX``) and
``down()`` removes exactly what carries its mark. The machine's root namespace is never changed:
veth pairs are created directly inside their target namespaces, and sysctls are written only
inside the host's own namespace.
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
SYSTEMD_TIMEOUT = 90
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
    """Return the validated topology from None (the default file), a path, or a dict."""
    if topology is None:
        topology = DEFAULT_TOPOLOGY
    if isinstance(topology, (str, Path)):
        with open(topology, encoding="utf-8") as stream:
            topology = yaml.safe_load(stream)
    if not isinstance(topology, dict) or not isinstance(topology.get("hosts"), dict):
        raise LabError("A lab topology is a mapping with 'hosts' (and 'segments'); see tests/lab/topology.yml.")
    hosts = {name: _host_defaults(spec) for name, spec in topology["hosts"].items()}
    segments = {name: _checked_segment(name, spec, hosts) for name, spec in (topology.get("segments") or {}).items()}
    _check_unique_interfaces(segments)
    return {"hosts": hosts, "segments": segments}


def _host_defaults(spec):
    spec = dict(spec or {})
    spec.setdefault("groups", [])
    spec.setdefault("sysctls", {})
    spec.setdefault("routes", [])
    spec.setdefault("vars", {})
    return spec


def _checked_segment(name, spec, hosts):
    ends = (spec or {}).get("ends") or []
    if len(ends) != 2:
        raise LabError(f"Segment {name} needs exactly two ends (one veth pair), not {len(ends)}.")
    for end in ends:
        if end.get("host") not in hosts:
            raise LabError(f"Segment {name} names host {end.get('host')!r}, which is not under 'hosts'.")
        if not end.get("iface") or len(end["iface"]) > IFNAMSIZ:
            raise LabError(f"Segment {name}: interface name {end.get('iface')!r} must have 1 to {IFNAMSIZ} characters.")
        if end.get("address"):
            try:
                ipaddress.ip_interface(end["address"])
            except ValueError as error:
                raise LabError(f"Segment {name}: {error}.") from None
    return {"ends": [dict(end) for end in ends]}


def _check_unique_interfaces(segments):
    seen = {}
    for name, segment in segments.items():
        for end in segment["ends"]:
            key = (end["host"], end["iface"])
            if key in seen:
                raise LabError(f"Interface {end['iface']} of {end['host']} is in both {seen[key]} and {name}.")
            seen[key] = name


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
            pids = _command(["ip", "netns", "pids", namespace], check=False).stdout.split()
            _stop_pids([int(pid) for pid in pids])
            _command(["ip", "netns", "delete", namespace], check=False)
        return ours


class _ContainerBackend(_Backend):
    """Hosts are podman containers ``PREFIX-HOST`` booting systemd, without any podman network."""

    mode = "containers"

    def exec_prefix(self, host):
        return ["podman", "exec", self.name(host)]

    def pid(self, host):
        """PID 1 of the container as the machine sees it; refuses anything but a running container."""
        proc = image.podman("inspect", "--type", "container", "--format", "{{.State.Pid}}", self.name(host), check=False)
        pid = int(proc.stdout.strip() or 0) if proc.returncode == 0 else 0
        if pid <= 0:
            raise LabError(f"Container {self.name(host)} is not running: start it (labctl up) before wiring.")
        if os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino:
            raise LabError(f"Container {self.name(host)} shares the machine's network namespace: the lab refuses to wire it.")
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


class Lab:
    """A lab from one topology: see the module docstring for the API and its guarantees."""

    def __init__(self, topology=None, prefix="mlab", mode="netns"):
        if mode not in MODES:
            raise LabError(f"Unknown lab mode {mode!r}: use one of {', '.join(MODES)}.")
        self.topology = load_topology(topology)
        self.prefix = prefix
        self.mode = mode
        self.backend = _NetnsBackend(prefix) if mode == "netns" else _ContainerBackend(prefix)
        self._processes = []

    @property
    def hosts(self):
        """Host names in topology order."""
        return list(self.topology["hosts"])

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
            for host in self.hosts:
                self.backend.create(host, self.topology)
            for host in self.hosts:
                self.backend.start(host)
            self.wire()
        except FileNotFoundError as error:
            raise LabError(f"A tool the lab needs is missing: {error.filename} (install iproute2/util-linux).") from None
        return self

    def wire(self):
        """(Re-)create links, addresses, routes and sysctls between the existing hosts; idempotent."""
        require_root()
        absent = [self.backend.name(host) for host in self.hosts if not self.backend.present(host)]
        if absent:
            raise LabError(f"Cannot wire the lab: {', '.join(absent)} do(es) not exist; bring the lab up first.")
        for host in self.hosts:
            self.backend.prepare(host)
            self._ip(host, "link", "set", "dev", "lo", "up")
        for segment in self.topology["segments"].values():
            self._wire_segment(*segment["ends"])
        for host, spec in self.topology["hosts"].items():
            for key, value in spec["sysctls"].items():
                _command([*self.backend.wire_prefix(host), "sysctl", "-q", "-w", f"{key}={value}"])
            for route in spec["routes"]:
                self._ip(host, "route", "replace", str(route["dst"]), "via", str(route["via"]))
        return self

    def _ip(self, host, *args, check=True):
        return _command([*self.backend.wire_prefix(host), "ip", *args], check=check)

    def _links(self, host):
        return {link["ifname"]: link for link in json.loads(self._ip(host, "-j", "link", "show").stdout or "[]")}

    def _wire_segment(self, end_a, end_b):
        have_a = end_a["iface"] in self._links(end_a["host"])
        have_b = end_b["iface"] in self._links(end_b["host"])
        if not (have_a and have_b):
            for end, have in ((end_a, have_a), (end_b, have_b)):
                if have:  # half of a pair left from a partial run or a restarted peer
                    self._ip(end["host"], "link", "delete", "dev", end["iface"])
            _command(["ip", "link", "add", end_a["iface"], "netns", self.backend.link_target(end_a["host"]),
                      "type", "veth", "peer", "name", end_b["iface"],
                      "netns", self.backend.link_target(end_b["host"])])
        for end in (end_a, end_b):
            self._ip(end["host"], "link", "set", "dev", end["iface"], "up")
            if end.get("address"):
                self._ip(end["host"], "addr", "replace", end["address"], "dev", end["iface"])

    def down(self):
        """Stop processes started by popen() and remove every namespace/container of this prefix."""
        require_root()
        _stop_pids([proc.pid for proc in self._processes if proc.poll() is None])
        for proc in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)  # reap, so no zombie outlives the lab
        self._processes.clear()
        return self.backend.destroy_all()

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
        return {"all": {"hosts": hosts, "children": children}}

    def _interfaces_of(self, host):
        return {end["iface"]: {"segment": name, "address": end.get("address")}
                for name, segment in self.topology["segments"].items()
                for end in segment["ends"] if end["host"] == host}

    def status(self):
        """What exists now compared with the topology: hosts, segments, interfaces, addresses."""
        report = {"prefix": self.prefix, "mode": self.mode, "hosts": {}, "segments": {}, "present": [], "missing": []}
        for host in self.hosts:
            report["hosts"][host] = self._host_status(host)
            report["present" if report["hosts"][host]["present"] else "missing"].append(host)
        for name, segment in self.topology["segments"].items():
            ends = [report["hosts"][end["host"]]["interfaces"][end["iface"]] for end in segment["ends"]]
            complete = all(end["present"] and end["address_ok"] for end in ends)
            report["segments"][name] = {"ends": [f"{end['host']}:{end['iface']}" for end in segment["ends"]],
                                        "present": complete}
            if not complete:
                report["missing"].append(f"segment {name}")
        report["interfaces"] = [iface for info in report["hosts"].values() for iface in info["interfaces"].values()]
        report["complete"] = not report["missing"]
        return report

    def _host_status(self, host):
        present = self.backend.present(host)
        actual = self._actual_interfaces(host) if present else {}
        interfaces = {}
        for iface, wanted in self._interfaces_of(host).items():
            link = actual.get(iface, {})
            addresses = [f"{info['local']}/{info['prefixlen']}" for info in link.get("addr_info", [])
                         if info.get("family") in ("inet", "inet6") and info.get("scope") != "link"]
            interfaces[iface] = {"host": host, "segment": wanted["segment"], "address": wanted["address"],
                                 "addresses": addresses, "present": bool(link),
                                 "state": link.get("operstate", "missing"),
                                 "address_ok": not wanted["address"] or wanted["address"] in addresses}
        return {"name": self.backend.name(host), "present": present, "interfaces": interfaces}

    def _actual_interfaces(self, host):
        try:
            proc = self._ip(host, "-j", "addr", "show", check=False)
        except LabError:  # a container that exists but is stopped has no namespace to look into
            return {}
        return {link["ifname"]: link for link in json.loads(proc.stdout or "[]")} if proc.returncode == 0 else {}
