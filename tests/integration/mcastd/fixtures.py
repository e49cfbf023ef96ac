"""Fixtures for tests that run mcastd from the checkout inside a lab host (a pytest plugin).

``mcastd`` is a factory: ``daemon = mcastd(lab, CONFIG_TEXT, "-c", "2")`` writes the configuration,
starts ``tests/bin/mcastd -n`` in the lab's router namespace, waits until its control socket
answers, and stops it by PID at the end of the test, whatever happened.
"""
import shutil
import tempfile

import pytest

from tests.integration.mcastd.runner import Mcastd


@pytest.fixture(name="mcastd")
def fixture_mcastd():
    """Factory of running daemons; every one is stopped (by PID) and its files removed afterwards."""
    started = []
    workdirs = []

    def start(lab, config_text, *extra, host="router", env=None, wait=True, program=None):
        workdir = tempfile.mkdtemp(prefix="mcastd-it-")
        workdirs.append(workdir)
        daemon = Mcastd(lab, workdir, host)
        daemon.program = program or daemon.program
        daemon.write_config(config_text)
        started.append(daemon)
        return daemon.start(*extra, env=env, wait=wait)

    try:
        yield start
    finally:
        for daemon in started:
            daemon.stop()
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
