"""mcast.linux.mcastd run through main() against faked files and systemd, in check mode and for real.

The cases are built here rather than in YAML because a deployment is some thirty files whose texts
come from the module itself (the package's sources, the unit, the commands);
tests/unit/plugins/modules/uthelper.py says what each case asserts.
"""
import pytest

from ansible_collections.mcast.linux.plugins.modules import mcastd
from tests.unit.plugins.modules.uthelper import case_ids, run_case

PATHS = {"libdir": "{tmp}/usr/lib/mcastd", "bindir": "{tmp}/usr/local/sbin",
         "unit_file": "{tmp}/etc/systemd/system/mcastd.service", "config": "{tmp}/etc/mcastd/mcastd.conf",
         "socket": "/run/mcastd/mcastd.sock"}
UNIT = PATHS["unit_file"]
LINK = "{tmp}/etc/systemd/system/multi-user.target.wants/mcastd.service"
DROPIN = UNIT + ".d/mcast-linux-container.conf"
PACKAGE = PATHS["libdir"] + "/mcastd"
CONFIG = "phyint eth1 enable querier igmpv3\nphyint eth2 enable\ninclude {tmp}/etc/mcastd/conf.d/*.conf\n"
NEW_CONFIG = "phyint eth1 enable\ninclude {tmp}/etc/mcastd/conf.d/*.conf\n"
SERVICE = "mcastd.service"
MARK = "/case-root"


def package_files():
    return dict(("%s/%s" % (PACKAGE, name), {"content": text, "mode": "0644"})
                for name, text in sorted(mcastd.package_sources().items()))


def command_files():
    # Rendered with a root without braces, which shlex.quote would quote, then written with {tmp}.
    marked = dict((key, value.replace("{tmp}", MARK)) for key, value in PATHS.items())
    return dict(("%s/%s" % (PATHS["bindir"], command[0]),
                 {"content": mcastd.render_command(marked, *command).replace(MARK, "{tmp}"), "mode": "0755"})
                for command in mcastd.COMMANDS)


def installed(config=CONFIG, container=False):
    """The files of a deployment made by the module with PATHS."""
    files = dict(package_files(), **command_files())
    files[UNIT] = {"content": mcastd.render_unit(PATHS), "mode": "0644"}
    files[PATHS["config"]] = {"content": config, "mode": "0644"}
    files[LINK] = {"link": UNIT}
    if container:
        files[DROPIN] = {"content": mcastd.CONTAINER_DROPIN, "mode": "0644"}
    return files


def deployed_paths(config=True):
    paths = sorted(package_files()) + sorted(command_files()) + [UNIT]
    return paths + ([PATHS["config"]] if config else []) + [LINK]


OLD_UNIT = """# mcastd: the IPv4 and IPv6 static multicast routing daemon of mcast.linux (deployed by the router role).
[Service]
Type=notify
ExecStart=/usr/bin/python3 -m mcastd -n -f /etc/mcastd/mcastd.conf -u /run/mcastd/mcastd.sock
"""


def made_by_the_role_before():
    """An installation the router role made with copy and template before this module: same paths, other texts."""
    files = installed()
    for path, entry in command_files().items():
        files[path] = {"content": entry["content"].replace("Installed by mcast.linux.mcastd.", "Installed by "
                                                           "mcast.linux.router.\n# Ansible managed"), "mode": "0755"}
    files[UNIT] = OLD_UNIT
    return files


CASES = [
    {"id": "a-first-deployment-writes-everything-compiles-and-starts",
     "input": dict(PATHS, config_content=CONFIG, sandbox="auto"),
     "host": {"systemd": {"active": []}},
     "output": {"changed": True, "files": deployed_paths(), "sandbox": "full",
                "service": ["daemon-reload", "restart " + SERVICE], "warnings_of_config": []},
     "writes": ["compileall " + PACKAGE, "systemctl daemon-reload", "systemctl restart " + SERVICE],
     "files_after": installed(),
     "idempotent": True},
    {"id": "in-a-container-the-sandbox-drop-in-comes-too",
     "input": dict(PATHS, config_content=CONFIG),
     "host": {"systemd": {"active": []}, "container": True},
     "output": {"changed": True, "sandbox": "container",
                "files": deployed_paths()[:-2] + [DROPIN, PATHS["config"], LINK]},
     "writes": ["compileall " + PACKAGE, "systemctl daemon-reload", "systemctl restart " + SERVICE],
     "files_after": installed(container=True),
     "idempotent": True},
    {"id": "nothing-differs-and-it-runs-nothing-to-do",
     "input": dict(PATHS, config_content=CONFIG, sandbox="full"),
     "host": {"systemd": {"active": [SERVICE]}, "files": installed()},
     "output": {"changed": False, "files": [], "service": []}},
    {"id": "nothing-differs-but-it-is-stopped-it-is-started",
     "input": dict(PATHS, config_content=CONFIG, sandbox="full"),
     "host": {"systemd": {"active": []}, "files": installed()},
     "output": {"changed": True, "files": [], "service": ["start " + SERVICE]},
     "writes": ["systemctl start " + SERVICE],
     "idempotent": True},
    {"id": "a-configuration-change-reloads-and-restarts-nothing",
     "input": dict(PATHS, config_content=NEW_CONFIG, sandbox="full"),
     "host": {"systemd": {"active": [SERVICE]}, "files": installed()},
     "output": {"changed": True, "files": [PATHS["config"]], "service": ["reload-or-restart " + SERVICE],
                "diff": [{"before": CONFIG, "after": NEW_CONFIG}]},
     "writes": ["systemctl reload-or-restart " + SERVICE],
     "files_after": {PATHS["config"]: {"content": NEW_CONFIG, "mode": "0644"}},
     "idempotent": True},
    {"id": "a-changed-module-and-a-stale-one-restart-after-compiling",
     "input": dict(PATHS, config_content=CONFIG, sandbox="full"),
     "host": {"systemd": {"active": [SERVICE]},
              "files": dict(installed(), **{PACKAGE + "/routes.py": "# an older routes.py\n",
                                            PACKAGE + "/oldmodule.py": "# gone from the package\n"})},
     "output": {"changed": True, "files": [PACKAGE + "/routes.py", PACKAGE + "/oldmodule.py"],
                "service": ["restart " + SERVICE],
                "diff": [{"after": "re:^mcastd \\(routes\\.py\\), sha1 [0-9a-f]{40}\n$"},
                         {"before": "re:^mcastd \\(oldmodule\\.py\\), sha1", "after": "",
                          "after_header": PACKAGE + "/oldmodule.py (absent)"}]},
     "writes": ["compileall " + PACKAGE, "systemctl restart " + SERVICE],
     "files_after": {PACKAGE + "/routes.py": package_files()[PACKAGE + "/routes.py"], PACKAGE + "/oldmodule.py": None},
     "idempotent": True},
    {"id": "a-command-that-lost-its-mode-is-fixed-without-touching-the-service",
     "input": dict(PATHS, config_content=CONFIG, sandbox="full"),
     "host": {"systemd": {"active": [SERVICE]},
              "files": dict(installed(), **{PATHS["bindir"] + "/mcastctl": {
                  "content": command_files()[PATHS["bindir"] + "/mcastctl"]["content"], "mode": "0644"}})},
     "output": {"changed": True, "files": [PATHS["bindir"] + "/mcastctl"], "service": []},
     "files_after": {PATHS["bindir"] + "/mcastctl": command_files()[PATHS["bindir"] + "/mcastctl"]},
     "idempotent": True},
    {"id": "leaving-a-container-removes-the-drop-in-and-restarts",
     "input": dict(PATHS, config_content=CONFIG, sandbox="full"),
     "host": {"systemd": {"active": [SERVICE]}, "files": installed(container=True)},
     "output": {"changed": True, "files": [DROPIN], "service": ["daemon-reload", "restart " + SERVICE]},
     "writes": ["systemctl daemon-reload", "systemctl restart " + SERVICE],
     "files_after": {DROPIN: None},
     "idempotent": True},
    {"id": "a-configuration-mcastd-refuses-changes-nothing",
     "input": dict(PATHS, config_content="phyint eth* enable\n", sandbox="full"),
     "host": {"systemd": {"active": []}},
     "output": {"failed": True, "msg": "config_content is refused by mcastd, nothing was changed: "
                                       "{tmp}/etc/mcastd/mcastd.conf:1: 'eth*' uses the shell wildcard *",
                "errors": ["re:write eth\\+"]}},
    {"id": "without-config-content-the-configuration-is-left-alone",
     "input": dict(PATHS, sandbox="full"),
     "host": {"systemd": {"active": [SERVICE]}, "files": dict(installed(), **{PATHS["config"]: "# the user's\n"})},
     "output": {"changed": False, "files": [], "service": []}},
    {"id": "service-control-never-writes-the-files-only",
     "input": dict(PATHS, config_content=CONFIG, sandbox="full", service_control="never"),
     "host": {"systemd": {"active": []}},
     "output": {"changed": True, "files": deployed_paths(), "service": []},
     "writes": ["compileall " + PACKAGE],
     "files_after": installed(),
     "idempotent": True},
    {"id": "an-installation-of-the-router-role-is-taken-over-in-place",
     "input": dict(PATHS, config_content=CONFIG, sandbox="full"),
     "host": {"systemd": {"active": [SERVICE]}, "files": made_by_the_role_before()},
     "output": {"changed": True, "files": sorted(command_files()) + [UNIT],
                "service": ["daemon-reload", "restart " + SERVICE]},
     "writes": ["systemctl daemon-reload", "systemctl restart " + SERVICE],
     "files_after": dict(command_files(), **{UNIT: {"content": mcastd.render_unit(PATHS), "mode": "0644"}}),
     "idempotent": True},
    {"id": "absent-stops-disables-and-removes-all-but-the-configuration",
     "input": dict(PATHS, state="absent"),
     "host": {"systemd": {"active": [SERVICE]}, "files": installed(container=True)},
     "output": {"changed": True, "service": ["stop " + SERVICE, "daemon-reload"],
                "files": sorted(package_files()) + sorted(command_files()) + [UNIT, DROPIN, LINK]},
     "writes": ["systemctl stop " + SERVICE, "systemctl daemon-reload"],
     "files_after": dict((path, None) for path in list(installed(container=True)) if path != PATHS["config"]),
     "idempotent": True},
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_mcastd(case, tmp_path, monkeypatch):
    run_case(mcastd.main, mcastd, case, tmp_path, monkeypatch)


def test_the_module_ships_every_file_of_the_package():
    """A module added to the package but not imported by the module would be missing on the target."""
    from pathlib import Path
    directory = Path(mcastd.package.__file__).parent
    assert sorted(mcastd.package_sources()) == sorted(path.name for path in directory.glob("*.py"))
    for name, text in mcastd.package_sources().items():
        assert text == (directory / name).read_text(encoding="utf-8"), name


class _Module:
    """What Mcastd.validate_config uses of AnsibleModule."""

    def __init__(self, params):
        self.params = params
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, msg, **_result):
        raise AssertionError("fail_json: " + msg)


@pytest.mark.parametrize("nft", ["/usr/sbin/nft", None])
def test_routes_through_more_than_32_interfaces_are_valid_where_nft_is_installed(tmp_path, monkeypatch, nft):
    """Issue 12: as mcastd --check, the module accepts a configuration (its drop-ins included) that routes 41
    interfaces where nft is installed (mcastd copies to the outputs beyond the kernel's VIFs), and refuses it
    without nft, naming the interfaces left out."""
    monkeypatch.setattr(mcastd.nftrun, "find_nft", lambda *args, **kwargs: nft)
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "router.conf").write_text(
        "mroute from in0 source 192.0.2.10 group 239.5.5.5 to %s\n" % " ".join("ovf%d" % n for n in range(1, 41)))
    params = dict(PATHS, config=str(tmp_path / "mcastd.conf"), config_content="phyint in0 enable\ninclude %s/*.conf\n"
                  % (tmp_path / "conf.d"), sandbox="full", service_control="never", state="present")
    deployment = mcastd.Mcastd(_Module(params))
    if nft:
        deployment.validate_config()
    else:
        with pytest.raises(AssertionError, match="routes 41 interfaces .IPv4., and nft, with which mcastd copies"):
            deployment.validate_config()
