"""The systemd container image of the lab, built locally with debootstrap and cached by recipe.

No image registry is reachable from the build machines, and the lab containers have no network at
all, so the image is bootstrapped from the Debian mirror that the machine's own apt sources name
(read at run time: no mirror host name is written into the repository) and must already contain
everything the roles and modules need offline (python3-pyroute2, nftables, systemd, ...).

One image per Debian release the roles are tested on (``SUITES``: Debian 11, 12 and 13); the
machine's mirror serves all of them. Each is tagged ``SUITE-HASH``, the hash of its recipe (suite,
package list and the code of this module): ``ensure_image(suite=...)`` builds only when no image
with that tag exists yet.
"""
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.lab.errors import LabError

LAB_DIR = Path(__file__).resolve().parent
CONTAINERS_CONF = LAB_DIR / "containers.conf"
IMAGE_REPOSITORY = "localhost/mcast-lab"
# The releases the roles are tested on (molecule/debian11, default, debian13), oldest first.
SUITES = ("bullseye", "bookworm", "trixie")
DEFAULT_SUITE = "bookworm"
# Debian's own suite names: a machine's apt source that serves one of them is a Debian mirror (the
# same mirror serves the other releases); third-party sources (cloud-sdk-bookworm, nodistro) are not.
DEBIAN_SUITES = ("buster", *SUITES, "forky", "sid")
PACKAGES = (
    "python3",
    "python3-pyroute2",
    "python3-nftables",
    "iproute2",
    "nftables",
    "procps",
    "systemd",
    "systemd-sysv",
    "iputils-ping",
    "tcpdump",
    "sudo",
)
BUILD_LOCK = Path(tempfile.gettempdir()) / "mcast-lab-image.lock"
APT_SOURCES = Path("/etc/apt/sources.list")
APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")


def podman_env():
    """Environment for every podman call of the lab: our containers.conf, nothing else changed."""
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def podman(*args, check=True):
    """Run podman with the lab's containers.conf; return the completed process."""
    if shutil.which("podman") is None:
        raise LabError("podman is not installed: install it (apt-get install podman) to use the container lab.")
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env(), check=False)
    if check and proc.returncode != 0:
        raise LabError(f"podman {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def check_suite(suite):
    """Refuse a release the lab has no recipe for, naming those it has."""
    if suite not in SUITES:
        raise LabError(f"No lab image recipe for Debian suite {suite!r}: choose one of {', '.join(SUITES)}.")
    return suite


def recipe_hash(suite=DEFAULT_SUITE):
    """Hash of everything that decides the image's content: suite, packages and this module's code."""
    digest = hashlib.sha256()
    digest.update(check_suite(suite).encode())
    digest.update("\n".join(PACKAGES).encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:12]


def image_name(suite=DEFAULT_SUITE):
    """The image reference for the current recipe of ``suite``."""
    return f"{IMAGE_REPOSITORY}:{suite}-{recipe_hash(suite)}"


def _deb822_mirrors(text):
    """(URI, suite) of the deb822 stanzas, main suites only (not -security or -updates)."""
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, flags=re.MULTILINE))
        if "deb" in fields.get("Types", "").split():
            for suite in set(fields.get("Suites", "").split()) & set(DEBIAN_SUITES):
                yield from ((uri, suite) for uri in fields.get("URIs", "").split())


def _one_line_mirrors(text):
    """(URI, suite) of the one-line ``deb [options] URI SUITE ...`` entries, main suites only."""
    for line in text.splitlines():
        match = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
        if match and match.group(2) in DEBIAN_SUITES:
            yield match.group(1), match.group(2)


def apt_mirror(suite=DEFAULT_SUITE):
    """The Debian mirror of the machine's own apt sources, one that names ``suite`` itself if any does."""
    candidates = []
    for path in sorted(APT_SOURCES_DIR.glob("*.sources")):
        candidates.extend(_deb822_mirrors(path.read_text(encoding="utf-8")))
    for path in [APT_SOURCES, *sorted(APT_SOURCES_DIR.glob("*.list"))]:
        if path.is_file():
            candidates.extend(_one_line_mirrors(path.read_text(encoding="utf-8")))
    if not candidates:
        raise LabError(f"No apt source for a Debian release ({', '.join(DEBIAN_SUITES)}) found in {APT_SOURCES} or "
                       f"{APT_SOURCES_DIR}/: the lab image is bootstrapped from the machine's own mirror.")
    # A Debian 12 machine names bookworm only; its mirror serves bullseye and trixie as well.
    return sorted(candidates, key=lambda candidate: candidate[1] != suite)[0][0]


def _bootstrap(rootfs, mirror, suite):
    """Install the minimal Debian ``suite`` with the recipe's packages into ``rootfs``."""
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed: install it (apt-get install debootstrap) to build the lab image.")
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", suite, str(rootfs), mirror]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-15:])
        raise LabError(f"debootstrap failed ({proc.returncode}); last lines:\n{tail}\n{proc.stderr.strip()}")


def _prepare_rootfs(rootfs):
    """Make the tree a quiet systemd container that never changes the machine's global settings."""
    # Containers may write /proc/sys/net (their own namespace) but no other sysctl; mask the
    # packaged non-network sysctl.d files anyway (kernel.pid_max, fs.protected_*): they are
    # machine-wide and systemd-sysctl inside a container must never try to set them.
    for packaged in sorted((rootfs / "usr/lib/sysctl.d").glob("*.conf")):
        mask = rootfs / "etc/sysctl.d" / packaged.name
        mask.parent.mkdir(parents=True, exist_ok=True)
        if not mask.exists() and not mask.is_symlink():
            mask.symlink_to("/dev/null")
    # No console in a detached container: a getty would only restart forever.
    for unit in ("console-getty.service", "getty@tty1.service", "systemd-firstboot.service"):
        (rootfs / "etc/systemd/system" / unit).unlink(missing_ok=True)
        (rootfs / "etc/systemd/system" / unit).symlink_to("/dev/null")
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    for lists in (rootfs / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()
    (rootfs / "etc/machine-id").write_text("", encoding="utf-8")


def build_image(log=print, suite=DEFAULT_SUITE):
    """Bootstrap, prepare and import the image for the current recipe of ``suite``; return its name and seconds."""
    started = time.monotonic()
    name = image_name(suite)
    mirror = apt_mirror(suite)
    log(f"building {name} from {mirror} (debootstrap {suite}, about a minute)")
    with tempfile.TemporaryDirectory(prefix="mcast-lab-image-", dir="/var/tmp") as workdir:
        rootfs = Path(workdir) / "rootfs"
        _bootstrap(rootfs, mirror, suite)
        _prepare_rootfs(rootfs)
        tarball = Path(workdir) / "rootfs.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        podman("import", "--change", "CMD=/sbin/init", "--message", f"mcast.linux lab recipe {suite} {recipe_hash(suite)}",
               str(tarball), name)
    return name, time.monotonic() - started


@contextlib.contextmanager
def build_lock(path=BUILD_LOCK):
    """Serialise builds: parallel runs must not bootstrap (or tag) the same image twice at once."""
    with open(path, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _is_stale(reference, keep, suite):
    """An older recipe of the same suite, or an image tagged before the tags named their suite."""
    tag = reference.rpartition(":")[2]
    return reference != keep and (tag.startswith(f"{suite}-") or "-" not in tag)


def _remove_stale_images(keep, suite):
    """Drop the images of older recipes of ``suite`` (the other suites' images stay); podman refuses
    (harmlessly) those a container still uses."""
    listing = podman("images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPOSITORY, check=False).stdout
    for reference in set(listing.split()):
        if _is_stale(reference, keep, suite):
            podman("rmi", reference, check=False)


def ensure_image(log=print, suite=DEFAULT_SUITE):
    """Return the image for the current recipe of ``suite``, building it only when it does not exist yet."""
    name = image_name(suite)
    if podman("image", "exists", name, check=False).returncode == 0:
        return name
    with build_lock():
        if podman("image", "exists", name, check=False).returncode != 0:
            seconds = build_image(log, suite)[1]
            log(f"built {name} in {seconds:.0f} s")
            _remove_stale_images(keep=name, suite=suite)
    return name
