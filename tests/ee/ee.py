#!/usr/bin/env python
"""make ee: build the execution environment (EE) and run the compliance playbook inside it, as AWX would.

    .venv/bin/python tests/ee/ee.py [--keep-lab]

1. A base image, Debian 12 minbase bootstrapped from the machine's own mirror (no image registry is
   reachable), tagged with a hash of its recipe: python3 with pip and venv (what ansible-builder's
   scripts need), the collection's system dependencies (so the build needs no package download) and
   the podman client (only to reach the lab's containers; an AWX EE reaches hosts by SSH).
2. A wheelhouse: the pinned wheels of tests/ee/requirements.txt, downloaded on the host from PyPI.
3. The EE from execution-environment.yml, unchanged, with ansible-builder and podman: the base image,
   the package manager (apt-get) and the offline pip set on the command line, the build run without
   any network. Tagged with a hash of everything that goes into it, so an unchanged EE is not rebuilt.
4. A lab of its own (containers, prefix ``ee``), configured and checked from inside the EE with
   ansible-runner: mcast.linux.lab_configure, then mcast.linux.lab_compliance. The EE reaches the
   lab's containers with the containers.podman connection through the host's podman socket.
   The reports land in .build/ee/compliance; the exit status is the compliance result's.
"""
import argparse
import contextlib
import hashlib
import importlib.metadata
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

# pylint: disable=wrong-import-position
from tests.lab import image  # noqa: E402
from tests.lab.errors import LabError  # noqa: E402

PREFIX = "ee"
BUILD = REPO / ".build" / "ee"
DEFINITION = REPO / "execution-environment.yml"
WHEEL_REQUIREMENTS = REPO / "tests" / "ee" / "requirements.txt"
CONSTRAINTS = REPO / "tests" / "constraints.txt"
BASE_REPOSITORY = "localhost/mcast-ee-base"
EE_REPOSITORY = "localhost/mcast-ee"
BASE_SUITE = "bookworm"
BASE_PACKAGES = (
    "python3",
    "python3-pip",   # ansible-builder's stages run `python3 -m pip`
    "python3-venv",  # its assemble script makes a throw-away venv
    "iproute2",      # bindep.txt, installed here: the build cannot download packages
    "nftables",
    "podman",        # client only: the lab's hosts are containers reached through the host's podman socket
    "runc",
    "containernetworking-plugins",  # podman's dependency on the virtual container-network-stack
)
PACKAGE_MANAGER = "/usr/bin/apt-get"
# Inside the build: the wheelhouse and a pip.conf that points pip at it, mounted for RUN steps only.
BUILD_OFFLINE_DIR = "/var/cache/mcast-ee-offline"
# Inside the EE at run time: the host's podman socket and the lab's connection plugin.
EE_PODMAN_SOCKET = "/run/mcast-ee/podman.sock"
EE_REPORT_DIR = "/mcast-compliance"
LAB_COLLECTION = "containers/podman"
PLAYBOOK = "ee_lab.yml"
# The job's environment inside the EE (the host's is not passed in): plain text, and no skipped-task
# lines, as `make lab` prints it.
RUNNER_ENV = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "0"}
BUILD_LOCK = Path(tempfile.gettempdir()) / "mcast-ee-build.lock"


def log(message):
    print(f"==> {message}", flush=True)


def run(argv, **kwargs):
    """Run a command with the lab's containers.conf; fail with its output's tail when it fails."""
    proc = subprocess.run([str(arg) for arg in argv], env=image.podman_env(), check=False, **kwargs)
    if proc.returncode != 0:
        raise LabError(f"{' '.join(str(arg) for arg in argv[:3])} ... failed with exit code {proc.returncode}"
                       " (its output is above).")
    return proc


def digest(*parts):
    """Short hash of strings and bytes, in order."""
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part if isinstance(part, bytes) else str(part).encode())
        sha.update(b"\0")
    return sha.hexdigest()[:12]


def image_exists(name):
    return image.podman("image", "exists", name, check=False).returncode == 0


# --- 1. the base image ---------------------------------------------------------------------------

def base_image_name():
    """The base image of the current recipe: suite, packages and the code that makes the tree."""
    recipe = (BASE_SUITE, *BASE_PACKAGES, ENSUREPIP_MAIN, inspect.getsource(prepare_base_rootfs))
    return f"{BASE_REPOSITORY}:{digest(*recipe)}"


ENSUREPIP_MAIN = """\
# mcast.linux EE base: pip comes from Debian's python3-pip. ansible-builder runs
# `python3 -m ensurepip --root /` to make sure pip exists, which Debian refuses for the system Python.
import importlib.util
import sys

import ensurepip

if sys.prefix == sys.base_prefix and importlib.util.find_spec("pip"):
    print("pip is installed (Debian python3-pip): nothing to do")
    sys.exit(0)
sys.exit(ensurepip._main())  # pylint: disable=protected-access
"""


def prepare_base_rootfs(rootfs):
    """ensurepip succeeds where pip is installed; no package caches or lists (the EE never runs apt
    against a mirror); a fresh machine id."""
    for main in rootfs.glob("usr/lib/python3.*/ensurepip/__main__.py"):
        main.write_text(ENSUREPIP_MAIN, encoding="utf-8")
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    for lists in (rootfs / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()
    (rootfs / "etc/machine-id").write_text("", encoding="utf-8")


def build_base_image(name):
    mirror = image.apt_mirror()
    log(f"building {name}: debootstrap {BASE_SUITE} minbase from the machine's own mirror (about a minute)")
    with tempfile.TemporaryDirectory(prefix="mcast-ee-base-", dir="/var/tmp") as workdir:
        rootfs = Path(workdir) / "rootfs"
        proc = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                               BASE_SUITE, str(rootfs), mirror], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-15:])
            raise LabError(f"debootstrap failed ({proc.returncode}); last lines:\n{tail}\n{proc.stderr.strip()}")
        prepare_base_rootfs(rootfs)
        tarball = Path(workdir) / "rootfs.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        image.podman("import", "--message", f"mcast.linux EE base {name}", str(tarball), name)


def ensure_base_image():
    name = base_image_name()
    if not image_exists(name):
        build_base_image(name)
        remove_stale(BASE_REPOSITORY, keep=name)
    return name


# --- 2. the wheelhouse ---------------------------------------------------------------------------

def wheelhouse_dir():
    pins = WHEEL_REQUIREMENTS.read_bytes() + CONSTRAINTS.read_bytes()
    return BUILD / "wheelhouse" / digest(pins, sys.version_info[:2])


def ensure_wheelhouse():
    """Download the pinned wheels once per pin set, binary only (nothing is compiled in the build)."""
    wheels = wheelhouse_dir()
    done = wheels / ".complete"
    if not done.exists():
        log(f"downloading the EE's wheels into {wheels.relative_to(REPO)}")
        shutil.rmtree(wheels, ignore_errors=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                               "--only-binary=:all:", "-d", str(wheels / "wheels"), "-r", str(WHEEL_REQUIREMENTS),
                               "-c", str(CONSTRAINTS)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise LabError(f"pip download of {WHEEL_REQUIREMENTS.relative_to(REPO)} failed: {proc.stderr.strip()}")
        (wheels / "pip.conf").write_text(pip_conf(), encoding="utf-8")
        done.touch()
        for stale in set(wheels.parent.iterdir()) - {wheels}:
            shutil.rmtree(stale)
    return wheels


def pip_conf():
    """pip inside the build: the wheelhouse only, never an index."""
    return f"[global]\nno-index = true\nfind-links = {BUILD_OFFLINE_DIR}/wheels\n"


# --- 3. the execution environment ----------------------------------------------------------------

def collection_tarball():
    version = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    tarball = REPO / ".build" / "dist" / f"mcast-linux-{version}.tar.gz"
    if not tarball.is_file():
        raise LabError(f"{tarball.relative_to(REPO)} does not exist: run `make build` first (make ee does).")
    return tarball


def tarball_digest(path):
    """Hash of the collection's file names and contents: a rebuilt tarball of the same files matches
    (ansible-galaxy writes fresh timestamps each time)."""
    parts = []
    with tarfile.open(path) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            content = tar.extractfile(member).read() if member.isfile() else b""
            parts.extend([member.name, member.mode, content])
    return digest(*parts)


def ee_inputs():
    """The files ansible-builder reads besides the tarball, by path relative to the repo."""
    return ["execution-environment.yml", "meta/execution-environment.yml", "requirements.txt", "bindep.txt"]


def ee_image_name(base, wheels, tarball):
    builder_version = importlib.metadata.version("ansible-builder")
    files = [(REPO / path).read_bytes() for path in ee_inputs()]
    return f"{EE_REPOSITORY}:{digest(base, wheels.name, tarball_digest(tarball), builder_version, *files)}"


def builder_argv(tag, base, wheels, context, builder=None):
    """ansible-builder's command line: the definition as AWX users build it, with what differs here
    (base image, apt-get, offline pip, no network) given as options, not written into the file."""
    extra = ["--network=none", f"--volume={wheels}:{BUILD_OFFLINE_DIR}:ro",
             f"--volume={wheels / 'pip.conf'}:/etc/pip.conf:ro"]
    return [builder or Path(sys.executable).parent / "ansible-builder", "build", "-f", DEFINITION,
            "--context", context, "--container-runtime", "podman", "--tag", tag,
            "--build-arg", f"EE_BASE_IMAGE={base}", "--build-arg", f"PKGMGR={PACKAGE_MANAGER}",
            "--extra-build-cli-args", " ".join(extra), "-v", "2"]


def ensure_ee(base, wheels):
    tag = ee_image_name(base, wheels, collection_tarball())
    if image_exists(tag):
        log(f"execution environment {tag} is up to date")
        return tag
    log(f"building the execution environment {tag} with ansible-builder")
    started = time.monotonic()
    run(builder_argv(tag, base, wheels, BUILD / "context"), cwd=REPO)
    log(f"built {tag} in {time.monotonic() - started:.0f} s")
    remove_stale(EE_REPOSITORY, keep=tag)
    return tag


def remove_stale(repository, keep):
    """Older EE images go; podman refuses (harmlessly) those still in use."""
    listing = image.podman("images", "--format", "{{.Repository}}:{{.Tag}}", repository, check=False).stdout
    for reference in set(listing.split()) - {keep}:
        image.podman("rmi", reference, check=False)


# --- 4. the lab and the run inside the EE --------------------------------------------------------

def labctl(*args):
    run([sys.executable, REPO / "tests/lab/labctl", *args, "--mode", "containers", "--prefix", PREFIX])


@contextlib.contextmanager
def podman_service(socket):
    """The host's podman API on a socket of our own, for the EE's podman client; stopped by PID."""
    socket.parent.mkdir(parents=True, exist_ok=True)
    socket.unlink(missing_ok=True)
    argv = ["podman", "system", "service", "--time=0", f"unix://{socket}"]
    service = subprocess.Popen(argv, env=image.podman_env())  # pylint: disable=consider-using-with
    try:
        deadline = time.monotonic() + 20
        while not socket.exists():
            if service.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"podman system service did not open {socket}.")
            time.sleep(0.1)
        yield socket
    finally:
        service.terminate()
        service.wait(timeout=20)
        socket.unlink(missing_ok=True)


def runner_inventory(lab_inventory):
    """The lab's inventory as the EE sees it: the podman client there talks to the host's service."""
    inventory = json.loads(json.dumps(lab_inventory))
    group = inventory.setdefault("all", {})
    group["vars"] = {**(group.get("vars") or {}),
                     "ansible_podman_extra_args": f"--remote --url unix://{EE_PODMAN_SOCKET}"}
    return inventory


def playbook():
    """Configure the lab with the roles, then check compliance: both from the installed collection."""
    return [{"name": "Configure the lab", "ansible.builtin.import_playbook": "mcast.linux.lab_configure"},
            {"name": "Check compliance", "ansible.builtin.import_playbook": "mcast.linux.lab_compliance"}]


def prepare_private_data_dir(pdd, lab_inventory_file):
    """ansible-runner's input directory: project (playbook), inventory, extra vars."""
    shutil.rmtree(pdd, ignore_errors=True)
    for sub in ("project", "inventory", "env"):
        (pdd / sub).mkdir(parents=True)
    lab_inventory = yaml.safe_load(lab_inventory_file.read_text(encoding="utf-8"))
    (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump(runner_inventory(lab_inventory)), encoding="utf-8")
    (pdd / "project" / PLAYBOOK).write_text(yaml.safe_dump(playbook(), sort_keys=False), encoding="utf-8")
    (pdd / "env" / "extravars").write_text(yaml.safe_dump({"mcast_compliance_report_dir": EE_REPORT_DIR}),
                                           encoding="utf-8")
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(RUNNER_ENV), encoding="utf-8")


def lab_collection_dir():
    """containers.podman from the `ansible` package of the venv: the lab's connection plugin."""
    import ansible_collections  # pylint: disable=import-outside-toplevel
    for root in ansible_collections.__path__:
        candidate = Path(root) / LAB_COLLECTION
        if candidate.is_dir():
            return candidate
    raise LabError(f"The collection {LAB_COLLECTION.replace('/', '.')} is not installed in {sys.prefix}: "
                   "run `make setup` (it comes with the pinned `ansible` package).")


def runner_argv(pdd, ee, socket, reports, plugin_dir, runner=None):
    """ansible-runner as AWX runs a job: the playbook in a container of the EE, started by podman."""
    mounts = [f"{socket}:{EE_PODMAN_SOCKET}", f"{reports}:{EE_REPORT_DIR}",
              f"{plugin_dir}:/runner/project/collections/ansible_collections/{LAB_COLLECTION}:ro"]
    argv = [runner or Path(sys.executable).parent / "ansible-runner", "run", pdd, "-p", PLAYBOOK,
            "--ident", f"{PREFIX}-compliance", "--process-isolation", "--process-isolation-executable", "podman",
            "--container-image", ee, "--container-option=--user=root"]
    for mount in mounts:
        argv.extend(["--container-volume-mount", mount])
    return argv


def compliance_summary(report):
    """One line per host from compliance.json, and whether all are compliant."""
    lines = []
    for host, result in sorted(report.get("hosts", {}).items()):
        state = "compliant" if result.get("compliant") else "NOT compliant"
        detail = f"{len(result.get('drifts', []))} drifts, {len(result.get('findings', []))} findings"
        lines.append(f"{host:10} {result.get('role', '-'):7} {state:14} {detail}")
    return lines, bool(report.get("compliant"))


def run_in_ee(ee):
    lab_inventory_file = BUILD / "inventory.yml"
    pdd, reports = BUILD / "runner", BUILD / "compliance"
    shutil.rmtree(reports, ignore_errors=True)
    reports.mkdir(parents=True)
    log(f"lab {PREFIX} (containers) up")
    started = time.monotonic()
    labctl("up", "--inventory-out", lab_inventory_file)
    log(f"lab {PREFIX} up after {time.monotonic() - started:.0f} s")
    prepare_private_data_dir(pdd, lab_inventory_file)
    with podman_service(BUILD / "podman.sock") as socket:
        log(f"ansible-runner: {PLAYBOOK} (lab_configure, lab_compliance) inside {ee}")
        started = time.monotonic()
        proc = subprocess.run([str(arg) for arg in runner_argv(pdd, ee, socket, reports, lab_collection_dir())],
                              env=image.podman_env(), check=False)
        log(f"ansible-runner exited {proc.returncode} after {time.monotonic() - started:.0f} s")
    report_file = reports / "compliance.json"
    if not report_file.is_file():
        raise LabError(f"No {report_file.relative_to(REPO)}: the run stopped before the report "
                       f"(see the output above and {pdd.relative_to(REPO)}/artifacts).")
    lines, compliant = compliance_summary(json.loads(report_file.read_text(encoding="utf-8")))
    log(f"compliance inside the EE ({report_file.relative_to(REPO)}, compliance.xml):")
    for line in lines:
        print("    " + line)
    return proc.returncode == 0 and compliant


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="ee.py", description=__doc__.splitlines()[0])
    parser.add_argument("--keep-lab", action="store_true", help=f"leave the lab {PREFIX} up afterwards")
    parser.add_argument("--build-only", action="store_true", help="build the images, run nothing")
    return parser.parse_args(argv)


def stop_on_sigterm(signum, _frame):
    """SIGTERM (a CI timeout, kill PID) ends like Ctrl-C: the lab goes down, the podman service stops."""
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    if os.geteuid() != 0:
        print("ee.py: run as root: it builds images and runs the container lab.", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        with image.build_lock(BUILD_LOCK):  # one `make ee` builds at a time
            base = ensure_base_image()
            log(f"base image {base}")
            ee = ensure_ee(base, ensure_wheelhouse())
        if args.build_only:
            return 0
        try:
            ok = run_in_ee(ee)
        finally:
            if not args.keep_lab:
                labctl("down")
    except LabError as error:
        print(f"ee.py: {error}", file=sys.stderr)
        return 2
    log(f"make ee: {'compliant' if ok else 'NOT COMPLIANT'} ({time.monotonic() - started:.0f} s in all)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
