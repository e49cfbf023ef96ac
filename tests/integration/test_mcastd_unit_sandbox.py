"""mcastd runs nft under its unit's full sandbox: a route to 40 outputs, the last 9 copied by nftables (issue 12).

The molecule scenario proves the fan-out with the unit the router role installs in an unprivileged container:
there the unit gets the container drop-in (no mount namespace, so no DynamicUser, ProtectSystem, ...). This
test deploys the unit as a real host gets it (``sandbox: full``: a dynamic user with only CAP_NET_ADMIN and
CAP_NET_RAW as ambient capabilities, NoNewPrivileges, ProtectSystem=strict, PrivateDevices, the seccomp
filter, RestrictAddressFamilies) with mcast.linux.mcastd into a podman container booting systemd. The
container gets CAP_SYS_ADMIN so that systemd can build that sandbox's mount namespace; /proc/sys stays
read-only (podman), and its network is its own (``--network none``): nothing reaches the machine's sysctls
or ruleset. Inside, a namespace ``src`` sends through in0 and a namespace ``sink`` holds the far ends of
o1..o40, where one AF_PACKET capture counts every datagram (tests/integration/mcastd/traffic.py).
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.harness import ansible_env
from tests.lab import image
from tests.lab.fixtures import unique_prefix

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: podman containers"),
              pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
              pytest.mark.skipif(bool(os.environ.get("MCAST_LAB_SKIP_CONTAINERS")),
                                 reason="MCAST_LAB_SKIP_CONTAINERS is set")]

TRAFFIC = Path(__file__).resolve().parent / "mcastd" / "traffic.py"
ANSIBLE = Path(sys.executable).parent / "ansible"
OUTPUTS = ["o%d" % number for number in range(1, 41)]
SOURCE, GROUP, COUNT = "10.9.0.10", "239.9.9.9", 50
CONFIG = "phyint in0 enable\nmroute from in0 source %s group %s to %s\n" % (SOURCE, GROUP, " ".join(OUTPUTS))
# The input and the outputs: in0 (router) to in0p in namespace src, oN (router) to kN in namespace sink.
WIRING = """set -e
ip netns add src
ip netns add sink
ip link add in0 type veth peer name in0p netns src
ip link set in0 up
ip addr add 10.9.0.1/24 dev in0
ip -n src link set lo up
ip -n src link set in0p up
ip -n src addr add %s/24 dev in0p
for n in $(seq 1 40); do
    ip link add o$n type veth peer name k$n netns sink
    ip link set o$n up
    ip -n sink link set k$n up
done
""" % SOURCE


def podman(*args, check=True, **kwargs):
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=image.podman_env(), check=check,
                          timeout=120, **kwargs)


@pytest.fixture(name="box")
def fixture_box():
    """A container booting systemd, wired as above; removed (by its name) whatever happens."""
    name = unique_prefix("mcsbx")
    podman("run", "-d", "--name", name, "--network", "none", "--cap-add", "NET_ADMIN,NET_RAW,SYS_ADMIN",
           "--systemd=always", "--label", "mcast-lab=" + name, image.ensure_image(), "/sbin/init")
    try:
        for _attempt in range(60):  # podman exec may refuse until the container runs (a loaded machine)
            booted = podman("exec", name, "systemctl", "is-system-running", "--wait", check=False)
            if booted.stdout.strip() in ("running", "degraded"):
                break
            time.sleep(1)
        assert booted.stdout.strip() in ("running", "degraded"), (booted.stdout, booted.stderr)
        podman("exec", "-i", name, "sh", "-s", input=WIRING)
        podman("cp", str(TRAFFIC), name + ":/usr/local/bin/traffic.py")
        yield name
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


def run(name, *argv):
    return podman("exec", name, *argv).stdout


def deploy(name):
    """mcast.linux.mcastd with sandbox full, through the podman connection; the module's result."""
    argv = [str(ANSIBLE), "all", "-i", name + ",", "-c", "containers.podman.podman", "-m", "mcast.linux.mcastd",
            "-a", json.dumps({"config_content": CONFIG, "sandbox": "full"})]
    env = ansible_env(ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3", CONTAINERS_CONF=image.podman_env().get(
        "CONTAINERS_CONF", ""))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
    report = json.loads(proc.stdout)
    return report["plays"][0]["tasks"][0]["hosts"][name]


def test_the_full_sandbox_lets_mcastd_run_nft_and_every_output_gets_every_datagram(box):
    result = deploy(box)
    assert not result.get("failed"), result.get("msg")
    assert result["sandbox"] == "full" and result["changed"] is True
    assert run(box, "ls", "/etc/systemd/system/").count("mcastd.service.d") == 0, "a drop-in relaxes the sandbox"

    unit = dict(line.split("=", 1) for line in run(box, "systemctl", "show", "mcastd", "--property=ActiveState,MainPID,"
                                                   "DynamicUser,ProtectSystem,NoNewPrivileges").splitlines())
    assert (unit["ActiveState"], unit["DynamicUser"], unit["ProtectSystem"], unit["NoNewPrivileges"]) == \
        ("active", "yes", "strict", "yes"), unit
    process = dict((key, value.split()) for key, value in (
        line.split(":", 1) for line in run(box, "cat", "/proc/%s/status" % unit["MainPID"]).splitlines()))
    assert process["Uid"][0] != "0", process["Uid"]
    assert (process["CapEff"], process["NoNewPrivs"], process["Seccomp"]) == (["0000000000003000"], ["1"], ["2"])

    # The daemon answering is the unit's process, and it made its table with nft without an error.
    for _attempt in range(50):
        status = json.loads(run(box, "mcastctl", "-j", "status"))["result"]
        if status["counters"]["nft_transactions"]:
            break
        time.sleep(0.1)
    assert str(status["pid"]) == unit["MainPID"]
    assert status["counters"]["nft_errors"] == 0 and status["counters"]["nft_transactions"] >= 1, status["counters"]
    assert status["nftables"]["ipv4"] == {"flows": 1, "outputs": 9}, status["nftables"]
    listing = json.loads(run(box, "nft", "-j", "list", "table", "ip", "mcastd"))
    dups = [expr["dup"]["dev"] for item in listing["nftables"] if "rule" in item
            for expr in item["rule"]["expr"] if "dup" in expr]
    assert sorted(dups) == sorted(OUTPUTS[31:])
    [row] = json.loads(run(box, "mcastctl", "-j", "show", "routes"))["result"]
    served = dict((output["name"], output["served"]) for output in row["outputs"])
    assert served == dict((name, "kernel" if index < 31 else "nftables") for index, name in enumerate(OUTPUTS))

    # Datagrams from src (TTL 8) reach every output's far end once, routed (TTL 7).
    capture = subprocess.Popen(["podman", "exec", box, "ip", "netns", "exec", "sink", "python3",
                                "/usr/local/bin/traffic.py", "capture", "--group", GROUP, "--port", "5000",
                                "--duration", "4"], stdout=subprocess.PIPE, text=True, env=image.podman_env())
    try:
        assert capture.stdout.readline().strip() == "ready"
        run(box, "ip", "netns", "exec", "src", "python3", "/usr/local/bin/traffic.py", "send", "--iface", "in0p",
            "--group", GROUP, "--port", "5000", "--count", str(COUNT), "--interval", "0.005", "--ttl", "8")
        counted = json.loads(capture.communicate(timeout=30)[0].strip().splitlines()[-1])
    finally:
        if capture.poll() is None:
            capture.kill()
    wrong = dict((name, counted.get("k" + name[1:])) for name in OUTPUTS
                 if (counted.get("k" + name[1:]) or {}).get("unique") != COUNT
                 or counted["k" + name[1:]]["ttls"] != {"7": COUNT})
    assert not wrong, "outputs that did not get the %d datagrams with TTL 7: %s" % (COUNT, wrong)
    packets = [expr["counter"]["packets"] for item in json.loads(run(box, "nft", "-j", "list", "table", "ip",
                                                                     "mcastd"))["nftables"]
               if "rule" in item and item["rule"]["chain"].startswith("flow-")
               for expr in item["rule"]["expr"] if "counter" in expr]
    assert packets == [COUNT], packets
