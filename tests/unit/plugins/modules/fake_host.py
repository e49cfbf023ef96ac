"""A host faked at the kernel and file boundary, for running modules' main() in unit tests.

The kernel is an object speaking the part of pyroute2's IPRoute the modules use (links with their
bridge data, routes, addresses; link, brport and route changes), a /proc/sys tree in the
temporary directory, a recorded nft ruleset, systemctl and mcastd's control socket. Files are real
files below the temporary directory. Every change to the kernel or a service is appended to
``writes`` as one line, so a test can say what a run did, in order, and that check mode did nothing.
"""
import ipaddress
import json
import os
import socket
import stat
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcast.linux.plugins.module_utils import _bridge, _netlink, _platform, _service_deploy, _sysctl
from ansible_collections.mcast.linux.plugins.module_utils._bridge_keeper import BRIDGE_OPTIONS, PORT_OPTIONS
from ansible_collections.mcast.linux.plugins.module_utils._netlink import NetlinkError
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import kernel
from ansible_collections.mcast.linux.plugins.module_utils.mcastd.config import aton

try:  # the one interface table (if_nameindex and SIOCGIFFLAGS) of the collection
    from ansible_collections.mcast.linux.plugins.module_utils.mcastd import linux
except ImportError:  # before it existed, the modules listed links over netlink only
    linux = None

NFT_DATA = Path(__file__).resolve().parents[1] / "module_utils" / "data" / "nft"
IFF = {"UP": 0x1, "BROADCAST": 0x2, "LOOPBACK": 0x8, "RUNNING": 0x40, "ALLMULTI": 0x200, "MULTICAST": 0x1000,
       "LOWER_UP": 0x10000}
# A new bridge's settings in kernel units (centiseconds), and a new port's.
BRIDGE_DEFAULTS = {"snooping": 1, "querier": 0, "igmp_version": 2, "mld_version": 1, "query_interval": 12500,
                   "query_response_interval": 1000, "membership_interval": 26000, "querier_interval": 25500,
                   "last_member_interval": 100, "startup_query_interval": 3125, "query_use_ifaddr": 0}
PORT_DEFAULTS = {"mcast_flood": 1, "mcast_router": 1}
COMMANDS = {"ip": "/usr/sbin/ip", "nft": "/usr/sbin/nft", "systemctl": "/usr/bin/systemctl",
            "systemd-detect-virt": "/usr/bin/systemd-detect-virt"}
RTPROT = {"kernel": 2, "boot": 3, "static": 4}


def flag_bits(names):
    return sum(IFF[name] for name in names)


def flag_names(bits):
    return [name for name, bit in sorted(IFF.items(), key=lambda item: item[1]) if bits & bit]


def file_mode(text):
    """A mode as the tables write it, quoted octal ('0644'), as the number os.chmod and os.stat use."""
    return int(text, 8) if isinstance(text, str) else text


class FakeMessage(dict):
    """A netlink message as pyroute2 decodes it: header fields by key, attributes by get_attr."""

    def __init__(self, fields=None, attrs=None):
        super().__init__(fields or {})
        self.attrs = attrs or {}

    def get_attr(self, name):
        return self.attrs.get(name)


def parse_route(text):
    """``DEST [via GW] dev DEV [table N] [metric N] [proto P]`` as the fake keeps a route."""
    words = text.split()
    route = {"dest": str(ipaddress.ip_network(words[0])), "gateway": None, "dev": None, "table": 254, "metric": 0,
             "proto": "boot"}
    for key, value in zip(words[1::2], words[2::2]):
        route[{"via": "gateway"}.get(key, key)] = int(value) if key in ("table", "metric") else value
    return route


def route_text(route):
    via = " via %s" % route["gateway"] if route["gateway"] else ""
    return "%s%s dev %s table %d metric %d" % (route["dest"], via, route["dev"], route["table"], route["metric"])


class FakeHost(object):
    """The host of one run; ``spec`` is the case's ``host`` mapping (paths already below ``root``):

    ``links``     ``{name, flags: [UP, MULTICAST, ...], kind: bridge, master, data, slave_data}`` in
                  ifindex order; a bridge's ``data`` and a port's ``slave_data`` in kernel units over
                  the kernel's defaults
    ``routes``    ``DEST [via GW] dev DEV [table N] [metric N] [proto kernel|boot|static]``
    ``addresses`` ``{link: [ADDRESS/LEN, ...]}``
    ``sysctl``    keys in either form; every link, all and default have rp_filter, mc_forwarding and
                  disable_ipv6 0 unless given
    ``proc``      ``{name: text}`` of /proc/net tables (igmp, igmp6, ip_mr_vif, ...)
    ``nft``       ``{ruleset: NAME}`` of tests/unit/plugins/module_utils/data/nft; without it nft is never run
    ``systemd``   ``{active: [units]}``: systemd is the init system and {tmp}/etc/systemd/system its unit directory
    ``mcastd``    ``{state, after_reload, mfc}``: what mcastctl status/show answer, before and after a reload
    ``container`` True: systemd-detect-virt --container says the host is a container
    ``platform``  ``{os_release: text, installed: {package: version}}``: the release's os-release and what
                  dpkg-query lists as installed; without it the platform facts are this machine's own
    ``missing_commands``  commands get_bin_path does not find (ip, nft, systemctl, systemd-detect-virt)
    ``files``     ``{path: text or {content, mode} or {link}}``
    """

    def __init__(self, root, spec):
        self.root = Path(root)
        self.writes = []
        self.links = [self.make_link(index, link) for index, link in enumerate(spec.get("links") or [], start=1)]
        self.routes = [parse_route(text) for text in spec.get("routes") or []]
        self.addresses = spec.get("addresses") or {}
        self.commands = dict((name, path) for name, path in COMMANDS.items()
                             if name not in (spec.get("missing_commands") or []))
        self.nft = spec.get("nft")
        self.systemd = spec.get("systemd")
        self.mcastd = spec.get("mcastd")
        self.container = bool(spec.get("container"))
        self.platform = spec.get("platform")
        if self.platform is not None:
            self.make_file(str(self.root / "etc" / "os-release"), self.platform.get("os_release", ""))
            self.commands.setdefault("dpkg-query", "/usr/bin/dpkg-query")
        self.proc_sys = self.root / "proc" / "sys"
        self.make_proc(spec.get("sysctl") or {}, spec.get("proc") or {})
        for path, state in (spec.get("files") or {}).items():
            self.make_file(path, state)

    # ----------------------------------------------------------------------- the state

    @staticmethod
    def make_link(index, spec):
        link = {"name": spec["name"], "index": spec.get("index", index), "flags": flag_bits(spec.get("flags", [])),
                "kind": spec.get("kind"), "master": spec.get("master"), "data": None, "slave_data": None}
        if link["kind"] == "bridge":
            link["data"] = dict(BRIDGE_DEFAULTS, **spec.get("data", {}))
        if link["master"]:
            link["slave_data"] = dict(PORT_DEFAULTS, **spec.get("slave_data", {}))
        return link

    def make_proc(self, sysctl, proc):
        """/proc/sys with the conf directories of every link (values 0 unless given), and /proc/net files."""
        values = {}
        for name in ["all", "default"] + [link["name"] for link in self.links]:
            values["net/ipv4/conf/%s/rp_filter" % name] = 0
            values["net/ipv4/conf/%s/mc_forwarding" % name] = 0
            values["net/ipv6/conf/%s/disable_ipv6" % name] = 0
        values.update((_sysctl.canonical_key(key), value) for key, value in sysctl.items())
        for key, value in values.items():
            path = self.proc_sys / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("%s\n" % value, encoding="ascii")
        for name, text in proc.items():
            path = self.root / "proc" / "net" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="ascii")

    def make_file(self, path, state):
        assert path.startswith(str(self.root)), "case files must lie below {tmp}: %s" % path
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(state, dict) and "link" in state:
            os.symlink(state["link"], path)
            return
        content = state["content"] if isinstance(state, dict) else state
        target.write_text(content, encoding="utf-8")
        if isinstance(state, dict) and "mode" in state:
            os.chmod(path, file_mode(state["mode"]))

    def files(self):
        """``{path: {'content', 'mode'} or {'link'}}`` of everything below root but the fake /proc."""
        found = {}
        for directory, dirs, names in os.walk(self.root):
            dirs[:] = [name for name in dirs if Path(directory, name) != self.root / "proc"]
            for name in names + [name for name in dirs if os.path.islink(os.path.join(directory, name))]:
                path = os.path.join(directory, name)
                if os.path.islink(path):
                    found[path] = {"link": os.readlink(path)}
                else:
                    found[path] = {"content": Path(path).read_text(encoding="utf-8"),
                                   "mode": stat.S_IMODE(os.stat(path).st_mode)}
        return found

    @staticmethod
    def file_states(spec):
        """The case's ``files_after`` as ``files()`` shows them: text alone is the content; None: absent."""
        return dict((path, {"content": state} if isinstance(state, str) else
                     dict(state, mode=file_mode(state["mode"])) if isinstance(state, dict) and "mode" in state else state)
                    for path, state in spec.items())

    def link_by(self, key, value):
        for link in self.links:
            if link[key] == value:
                return link
        raise NetlinkError(19, "No such device")

    def index_of(self, name):
        return self.link_by("name", name)["index"] if name else None

    # ----------------------------------------------------------------------- the patches

    def install(self, monkeypatch, module):
        """Point the kernel, service and command access of ``module`` (a module's code, or a tuple of them)
        at this host."""
        monkeypatch.setattr(AnsibleModule, "run_command", lambda _module, argv, **kwargs: self.run_command(argv, **kwargs))
        monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda _module, name, *args, **kwargs: self.commands.get(name))
        codes = module if isinstance(module, tuple) else (module,)
        fakes = {"open_iproute": lambda: FakeIPRoute(self), "read_value": self.read_value,
                 "write_value": self.write_value, "conf_interfaces": self.conf_interfaces, "proc_path": self.proc_path,
                 "snapshot": self.snapshot, "ask": self.ask, "routing_api": self.routing_api}
        for code in codes:
            for name, fake in fakes.items():
                if name in vars(code):
                    monkeypatch.setattr(code, name, fake)
            for name in ("PROC_IGMP", "PROC_IGMP6", "PROC_MCFILTER6", "PROC_MFC6", "PROC_MIFS"):
                if name in vars(code):
                    monkeypatch.setattr(code, name, self.proc_file(getattr(code, name)))
        original_vifs, original_mfc6 = kernel.read_vifs, kernel.read_mfc6
        monkeypatch.setattr(kernel, "read_vifs", lambda path=kernel.PROC_VIFS: original_vifs(self.proc_file(path)))
        monkeypatch.setattr(kernel, "read_mfc6", lambda path=kernel.PROC_MFC6: original_mfc6(self.proc_file(path)))
        monkeypatch.setattr(kernel, "read_mfc", self.read_mfc)
        if linux is not None:
            real = linux.interfaces
            for owner in (linux, _netlink) + codes:
                if getattr(owner, "interfaces", None) is real:
                    monkeypatch.setattr(owner, "interfaces", self.interfaces)
        if self.platform is not None:
            monkeypatch.setattr(_platform, "OS_RELEASE_FILES", (str(self.root / "etc" / "os-release"),))
            monkeypatch.setattr(_platform, "DEBIAN_VERSION_FILE", str(self.root / "etc" / "debian_version"))
        monkeypatch.setattr(_bridge, "read_querier_state", lambda index: {"ipv4": None, "ipv6": None})
        if self.systemd is not None:
            unit_dir = str(self.root / "etc" / "systemd" / "system")
            monkeypatch.setattr(_service_deploy, "SYSTEMD_UNIT_DIRS", (unit_dir,))
            monkeypatch.setattr(_service_deploy, "os", SystemdOs())

    def interfaces(self):
        """``{name: Iface}`` as mcastd/linux.py reads the interface table."""
        return dict((link["name"], linux.Iface(link["name"], link["index"], link["flags"])) for link in self.links)

    def proc_file(self, path):
        """Where this host keeps a /proc/net table."""
        return str(self.root / "proc" / "net" / os.path.basename(path))

    # ----------------------------------------------------------------------- sysctl

    def proc_path(self, key, root=None):
        return _sysctl.proc_path(key, str(self.proc_sys))

    def read_value(self, key, root=None):
        return _sysctl.read_value(key, str(self.proc_sys))

    def write_value(self, key, value, root=None):
        self.writes.append("sysctl %s=%s" % (_sysctl.canonical_key(key), value))
        _sysctl.write_value(key, value, str(self.proc_sys))

    def conf_interfaces(self, family="ipv4", root=None):
        return _sysctl.conf_interfaces(family, str(self.proc_sys))

    # ----------------------------------------------------------------------- commands

    def run_command(self, argv, data=None, **_kwargs):
        name = os.path.basename(argv[0])
        if name == "nft" and self.nft is not None:
            return self.run_nft(argv[1:], data)
        if name == "systemctl" and self.systemd is not None:
            return self.run_systemctl(argv[1:])
        if name == "dpkg-query" and self.platform is not None:
            installed = self.platform.get("installed") or {}
            return 1, "".join("%s installed %s\n" % (package, installed[package])
                              for package in argv[3:] if package in installed), ""
        if name == "systemd-detect-virt" and argv[1:] == ["--container"]:
            return (0, "podman\n", "") if self.container else (1, "none\n", "")
        if name.startswith("python3") and argv[1:3] == ["-m", "compileall"]:
            self.writes.append("compileall %s" % argv[-1])
            return 0, "", ""
        raise AssertionError("the module ran a command this host does not fake: %r" % (argv,))

    def run_nft(self, args, data):
        if args == ["-j", "list", "ruleset"]:
            return 0, (NFT_DATA / (self.nft["ruleset"] + ".json")).read_text(encoding="utf-8"), ""
        if args == ["-j", "-f", "-"]:
            commands = json.loads(data)["nftables"]
            self.writes.append("nft -j -f - (%s)" % ", ".join(sorted(set(next(iter(c)) for c in commands))))
            return 0, "", ""
        if args[:2] == ["-c", "-f"]:
            return 0, "", ""
        raise AssertionError("nft %r is not faked" % (args,))

    def run_systemctl(self, args):
        active = self.systemd.setdefault("active", [])
        if args[0] == "is-active":
            return (0 if args[-1] in active else 3), "", ""
        self.writes.append("systemctl %s" % " ".join(args))
        if args[0] in ("start", "restart", "reload-or-restart"):
            active.append(args[-1])
        elif args[0] == "stop" and args[-1] in active:
            active.remove(args[-1])
        return 0, "", ""

    # ----------------------------------------------------------------------- mcastd and multicast routing

    def snapshot(self, path, timeout=10.0):
        return json.loads(json.dumps(self.mcastd["state"])) if self.mcastd else None

    def ask(self, path, command, timeout=30.0, **fields):
        assert self.mcastd and command == "reload", (command, fields)
        self.writes.append("mcastd reload")
        self.mcastd["state"] = self.mcastd.get("after_reload", self.mcastd["state"])
        return {"added": 1, "updated": 0, "removed": 0, "seconds": 0.001, "warnings": []}

    @staticmethod
    def routing_api(proc="/proc", proc_sys="/proc/sys"):
        return {"held": False, "holders": []}

    def read_mfc(self, netns=None):
        rows = (self.mcastd or {}).get("mfc") or []
        return [kernel.MfcRow(aton(row["source"]), aton(row["group"]), self.index_of(row["iif"]),
                              [self.index_of(name) for name in row["oifs"]], 0, 0, 0) for row in rows]


class SystemdOs(object):
    """``os`` for _service_deploy on a host whose init system is systemd (/run/systemd/system exists)."""

    def __init__(self):
        self.path = SystemdPath()

    def __getattr__(self, name):
        return getattr(os, name)


class SystemdPath(object):
    """``os.path`` where /run/systemd/system is a directory."""

    @staticmethod
    def isdir(name):
        return name == "/run/systemd/system" or os.path.isdir(name)

    def __getattr__(self, name):
        return getattr(os.path, name)


class FakeIPRoute(object):
    """The calls of pyroute2's IPRoute that the modules make, on the host's links and routes."""

    def __init__(self, host):
        self.host = host

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self):
        pass

    # ----------------------------------------------------------------------- links

    def get_links(self, *indexes):
        return [self.link_message(link) for link in self.host.links if not indexes or link["index"] in indexes]

    def link_message(self, link):
        info = None
        if link["kind"] or link["master"]:
            info = FakeMessage(attrs={
                "IFLA_INFO_KIND": link["kind"],
                "IFLA_INFO_DATA": self.options_message(BRIDGE_OPTIONS, link["data"]),
                "IFLA_INFO_SLAVE_DATA": self.options_message(PORT_OPTIONS, link["slave_data"])})
        return FakeMessage({"index": link["index"], "flags": link["flags"]},
                           {"IFLA_IFNAME": link["name"], "IFLA_MASTER": self.host.index_of(link["master"]),
                            "IFLA_LINKINFO": info})

    @staticmethod
    def options_message(table, values):
        if values is None:
            return None
        return FakeMessage(attrs=dict((attribute, values[option]) for option, attribute, _keyword, _kind in table))

    def link(self, command, index, flags=None, change=None, kind=None, **settings):
        assert command == "set", command
        link = self.host.link_by("index", index)
        if change is not None:
            link["flags"] = (link["flags"] & ~change) | (flags & change)
            self.host.writes.append("link set %s %s" % (link["name"], " ".join(
                ("+" if flags & bit else "-") + name for name, bit in sorted(IFF.items()) if change & bit)))
        if settings:
            assert kind == "bridge", kind
            self.set_options(link, "data", BRIDGE_OPTIONS, "IFLA_", settings)

    def brport(self, command, index, **settings):
        assert command == "set", command
        self.set_options(self.host.link_by("index", index), "slave_data", PORT_OPTIONS, "IFLA_BRPORT_", settings)

    def set_options(self, link, field, table, prefix, settings):
        options = dict((attribute, option) for option, attribute, _keyword, _kind in table)
        for keyword, value in sorted(settings.items()):
            option = options[prefix + keyword.upper()]
            link[field][option] = value
            self.host.writes.append("%s %s %s=%s" % ("bridge" if field == "data" else "port", link["name"], option, value))

    # ----------------------------------------------------------------------- routes and addresses

    def get_routes(self, family, table=None):
        return [self.route_message(route) for route in self.host.routes
                if self.family(route) == family and (table is None or route["table"] == table)]

    @staticmethod
    def family(route):
        return socket.AF_INET6 if ":" in route["dest"] else socket.AF_INET

    def route_message(self, route):
        network = ipaddress.ip_network(route["dest"])
        return FakeMessage({"dst_len": network.prefixlen, "table": min(route["table"], 255), "type": 1, "scope": 0,
                            "proto": RTPROT[route["proto"]]},
                           {"RTA_DST": str(network.network_address) if network.prefixlen else None,
                            "RTA_OIF": self.host.index_of(route["dev"]), "RTA_GATEWAY": route["gateway"],
                            "RTA_TABLE": route["table"], "RTA_PRIORITY": route["metric"]})

    def route(self, command, dst=None, dst_len=None, family=None, table=254, priority=0, oif=None, **_match):
        if command == "get":
            return self.lookup(dst)
        dest = str(ipaddress.ip_network("%s/%d" % (dst, dst_len)))
        same = [route for route in self.host.routes if route["dest"] == dest and self.family(route) == family
                and route["table"] == table and route["metric"] == priority]
        name = self.host.link_by("index", oif)["name"] if oif else None
        if command == "replace":
            for route in same:
                self.host.routes.remove(route)
            new = {"dest": dest, "gateway": None, "dev": name, "table": table, "metric": priority, "proto": "boot"}
            self.host.routes.append(new)
            self.host.writes.append("route replace %s" % route_text(new))
            return []
        assert command == "del", command
        victims = [route for route in same if name is None or route["dev"] == name]
        if not victims:
            raise NetlinkError(3, "No such process")
        self.host.routes.remove(victims[0])
        self.host.writes.append("route del %s" % route_text(victims[0]))
        return []

    def lookup(self, address):
        """``ip route get``: the longest matching prefix of table local, then main."""
        target = ipaddress.ip_address(address)
        candidates = [route for route in self.host.routes if route["table"] in (255, 254)
                      and target.version == ipaddress.ip_network(route["dest"]).version
                      and target in ipaddress.ip_network(route["dest"])]
        if not candidates:
            raise NetlinkError(101, "Network is unreachable")
        best = max(candidates, key=lambda route: (route["table"], ipaddress.ip_network(route["dest"]).prefixlen))
        return [FakeMessage(attrs={"RTA_OIF": self.host.index_of(best["dev"])})]

    def get_addr(self):
        messages = []
        for name, addresses in sorted(self.host.addresses.items()):
            for address in addresses:
                interface = ipaddress.ip_interface(address)
                messages.append(FakeMessage(
                    {"index": self.host.index_of(name), "prefixlen": interface.network.prefixlen,
                     "family": socket.AF_INET6 if interface.version == 6 else socket.AF_INET},
                    {"IFA_ADDRESS": str(interface.ip)}))
        return messages
