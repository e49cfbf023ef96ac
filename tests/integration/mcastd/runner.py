"""Running mcastd from the checkout inside a lab host, for the integration tests and the benchmark."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
MCASTD = str(REPO / "tests" / "bin" / "mcastd")
MCASTCTL = str(REPO / "tests" / "bin" / "mcastctl")
START_TIMEOUT = 10.0


class Mcastd:
    """One mcastd process in a lab host, with its own configuration, socket and log."""

    def __init__(self, lab, workdir, host="router"):
        self.lab = lab
        self.host = host
        self.workdir = Path(workdir)
        self.config = self.workdir / "mcastd.conf"
        self.socket = str(self.workdir / "ctl.sock")
        self.pidfile = str(self.workdir / "mcastd.pid")
        self.logfile = self.workdir / "mcastd.log"
        self.proc = None
        self.program = MCASTD  # or a launcher of the tests' own (e.g. with injected faults)

    def command(self, *extra):
        return [sys.executable, self.program, "-n", "-f", str(self.config), "-u", self.socket, "-p", self.pidfile,
                "-l", "debug", *extra]

    def start(self, *extra, env=None, wait=True):
        with open(self.logfile, "ab") as log:
            self.proc = self.lab.popen(self.host, self.command(*extra), stdout=log, stderr=subprocess.STDOUT,
                                       env=env or dict(os.environ))
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("mcastd exited with %s:\n%s" % (self.proc.returncode, self.log()))
            if self.ctl("status", check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise AssertionError("mcastd did not answer within %.0f s:\n%s" % (START_TIMEOUT, self.log()))

    def log(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def write_config(self, text):
        self.config.write_text(text)

    def ctl(self, *args, check=True):
        return self.lab.run(self.host, [sys.executable, MCASTCTL, "-u", self.socket, *args], check=check)

    def query(self, *args):
        """The ``result`` of ``mcastctl --json ARGS``."""
        reply = json.loads(self.ctl("--json", *args).stdout)
        assert reply["ok"], reply
        return reply["result"]

    def mfc(self):
        """The kernel's MFC in the host: {(source, group): (iif, sorted oifs)}, read with iproute2."""
        rows = json.loads(self.lab.run(self.host, ["ip", "-j", "mroute", "show"]).stdout or "[]")
        return {(row["src"], row["dst"]): (row.get("iif"), sorted(hop["oif"] for hop in row.get("multipath", [])))
                for row in rows}

    def signal(self, signum):
        os.kill(self.proc.pid, signum)

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s; only this process, by its PID."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def wait_for(predicate, timeout=3.0, interval=0.05):
    """Poll until predicate() is truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
