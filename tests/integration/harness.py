"""Run this collection's modules against a network-namespace host through the real ``ansible`` CLI.

Integration tests call :func:`run_module` to execute ``mcast.linux.*`` (or any) module inside a
namespace via the ``mcast.linux.netns`` connection plugin and get the module's result back as a
dict, exactly as a playbook would see it (check mode and diff included).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".build" / "collections"
ANSIBLE = Path(sys.executable).parent / "ansible"


class AnsibleRunError(AssertionError):
    """The ansible CLI itself failed (not the module): bad invocation, unreachable host, crash."""


def ansible_env(**extra):
    """Environment for ansible CLI runs: this checkout as the collection, JSON output, no colour."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_HOST_KEY_CHECKING="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    env.update(extra)
    return env


def run_module(namespace, module, args=None, check=False, diff=False, timeout=120):
    """Run ``module`` with ``args`` (a dict) inside ``namespace``; return the module result dict.

    The result carries ``failed``/``msg`` when the module failed; the caller asserts on them.
    Raises :class:`AnsibleRunError` when the CLI produced no result for the host.
    """
    argv = [str(ANSIBLE), "all", "-i", namespace + ",", "-c", "mcast.linux.netns", "-m", module]
    if args:
        argv += ["-a", json.dumps(args)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), timeout=timeout, check=False)
    try:
        report = json.loads(proc.stdout)
        return report["plays"][0]["tasks"][0]["hosts"][namespace]
    except (ValueError, KeyError, IndexError) as exc:
        raise AnsibleRunError(
            "ansible produced no result for %s (rc=%d, %s)\nstdout:\n%s\nstderr:\n%s"
            % (namespace, proc.returncode, exc, proc.stdout[-4000:], proc.stderr[-4000:])
        ) from exc
