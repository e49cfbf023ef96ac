"""mcastd as a drop-in for smcroute: one configuration file and one smcroutectl batch, run against
smcrouted (Debian's package) and against mcastd/mcastctl in turn, leave the same kernel state.

The kernel's multicast routing table (``ip mroute``) and the group joins (``ip maddr``) are read
after each run and compared, and datagrams are counted through both. smcroute 2.5.6 (Debian 12)
allocates VIFs up front unless told ``-N``, and then only for ``phyint ... enable`` lines, so the
configuration starts with those, as it would for that version.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.integration.mcastd.runner import MCASTCTL, MCASTD, wait_for
from tests.integration.mcastd.traffic import Receiver, send_datagrams

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the multicast routing socket"),
              pytest.mark.skipif(not shutil.which("smcrouted"), reason="smcroute is not installed (make setup installs it)")]

SENDER = "192.0.2.10"
CONFIG = f"""\
phyint trunk.10 enable
phyint trunk.20 enable
phyint trunk.30 enable ttl-threshold 1
mroute from trunk.10 source {SENDER} group 225.1.1.1 to trunk.20
mroute from trunk.10 source {SENDER} group 225.1.1.1 to trunk.30
mroute from trunk.10 group 225.1.1.1 source {SENDER} to trunk.20
mroute from trunk.10 source {SENDER} group 225.2.2.2 to trunk.20 trunk.30 # a comment
mroute from trunk.10 source {SENDER} group 225.6.6.6
mgroup from trunk.10 group 225.9.9.9
ssmgroup from trunk.10 source {SENDER} group 232.1.1.1
"""
BATCH = f"""\
join trunk.10 225.1.2.3
add trunk.10 {SENDER} 225.1.2.3 trunk.20
add trunk.10 {SENDER} 225.1.2.3 trunk.30
add trunk.10 {SENDER} 225.3.4.5 trunk.20 trunk.30
remove trunk.10 {SENDER} 225.3.4.5 trunk.20
add trunk.10 {SENDER} 225.4.4.4 trunk.20
del trunk.10 {SENDER} 225.4.4.4
leave trunk.10 225.9.9.9
"""
GROUPS = ("225.1.1.1", "225.2.2.2", "225.1.2.3", "225.3.4.5", "225.6.6.6")


def kernel_state(lab):
    """(routes, joins) as the kernel has them: {(source, group): (iif, oifs)}, {joined groups on trunk.10}."""
    rows = json.loads(lab.run("router", ["ip", "-j", "mroute", "show"]).stdout or "[]")
    routes = {(row["src"], row["dst"]): (row.get("iif"), tuple(sorted(hop["oif"] for hop in row.get("multipath", []))))
              for row in rows}
    maddr = lab.run("router", ["ip", "maddr", "show", "dev", "trunk.10"]).stdout
    joins = {word for line in maddr.splitlines() for word in line.split() if word.startswith(("225.", "232."))}
    return routes, joins


def counts(lab):
    """{group: (datagrams at recv20, at recv30)} for 30 datagrams sent to each group."""
    result = {}
    for group in GROUPS:
        listening = [Receiver(lab, host, "eth0", group) for host in ("recv20", "recv30")]
        send_datagrams(lab, "sender", "eth0", group, count=30, interval=0.002)
        time.sleep(0.15)
        result[group] = tuple(receiver.stop()["unique"] for receiver in listening)
    return result


def run(lab, tmp_path, daemon_argv, ctl_argv):
    """Start a daemon, wait for its control socket, run the batch; the kernel state and counts."""
    with open(tmp_path / "daemon.log", "ab") as log:
        proc = lab.popen("router", daemon_argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: lab.run("router", ctl_argv + ["show"], check=False).returncode == 0, timeout=10), \
            (tmp_path / "daemon.log").read_text()
        batch = lab.run("router", ctl_argv + ["-b"], input=BATCH, check=False)
        assert batch.returncode == 0, batch.stderr
        time.sleep(0.3)  # joins and routes are applied; let IGMP settle
        return kernel_state(lab), counts(lab)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_same_file_and_batch_leave_the_same_kernel_state_under_both(netns_lab, tmp_path):
    config = tmp_path / "smcroute.conf"
    config.write_text(CONFIG)
    smc_sock, mc_sock = str(tmp_path / "smc.sock"), str(tmp_path / "mcastd.sock")
    smcroute = run(netns_lab, tmp_path,
                   ["smcrouted", "-n", "-N", "-i", "dropin", "-f", str(config), "-P", str(tmp_path / "smc.pid"),
                    "-u", smc_sock], ["smcroutectl", "-u", smc_sock])
    assert wait_for(lambda: kernel_state(netns_lab)[0] == {}, timeout=5)
    mcastd = run(netns_lab, tmp_path,
                 [sys.executable, MCASTD, "-n", "-f", str(config), "-u", mc_sock, "-P", str(tmp_path / "mc.pid")],
                 [sys.executable, MCASTCTL, "-u", mc_sock])
    assert mcastd == smcroute
    (routes, joins), datagrams = mcastd
    # and the state is the one both documents promise
    assert routes == {
        (SENDER, "225.1.1.1"): ("trunk.10", ("trunk.20", "trunk.30")),  # duplicate lines merged
        (SENDER, "225.2.2.2"): ("trunk.10", ("trunk.20", "trunk.30")),
        (SENDER, "225.6.6.6"): ("trunk.10", ()),  # no 'to': a stop filter
        (SENDER, "225.1.2.3"): ("trunk.10", ("trunk.20", "trunk.30")),  # add adds outputs
        (SENDER, "225.3.4.5"): ("trunk.10", ("trunk.30",)),  # remove with an output removes just it
    }
    assert joins == {"225.1.2.3", "232.1.1.1"}
    assert datagrams == {"225.1.1.1": (30, 30), "225.2.2.2": (30, 30), "225.1.2.3": (30, 30),
                         "225.3.4.5": (0, 30), "225.6.6.6": (0, 0)}
