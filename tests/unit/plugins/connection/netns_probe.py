"""Drive the mcast.linux.netns connection as ansible loads it, in a fresh interpreter; JSON in, JSON out.

ansible's plugin loader can only load a collection plugin when its collection finder was installed before
anything imported ``ansible_collections`` (ansible's CLIs and ``ansible-test units`` do that first). A pytest
session imports test modules in any order, so tests run this script as a subprocess instead::

    python netns_probe.py < cases.json

Each case is ``{"vars": {...}, "env": {...}, "call": [method, *args], "in_data": text}`` (all but ``vars``
optional; ``in_data`` is passed encoded, as ansible passes a pipelined module).
The result per case is ``{"options": {...}, "error": [class name, message] or null, "returned": ...}``.
"""
import json
import os
import subprocess
import sys

from ansible.errors import AnsibleError
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader, init_plugin_loader

OPTIONS = ("remote_addr", "netns_name", "ip_executable", "executable", "pipelining")


def run_case(case):
    """Load the plugin, apply the host variables under the case's environment, then make the call."""
    saved_env = dict(os.environ)
    os.environ.update(case.get("env", {}))
    try:
        conn = connection_loader.get("mcast.linux.netns", PlayContext(), None)
        conn.set_options(var_options=case["vars"])
        outcome = {"options": {name: conn.get_option(name) for name in OPTIONS}, "error": None, "returned": None}
        if case.get("call"):
            method, *args = case["call"]
            try:
                in_data = {"in_data": case["in_data"].encode()} if "in_data" in case else {}
                returned = getattr(conn, method)(*args, **in_data)
                outcome["returned"] = json.loads(json.dumps(returned, default=lambda raw: raw.decode(errors="replace")))
            except AnsibleError as exc:
                outcome["error"] = [type(exc).__name__, exc.message]
            finally:
                conn.close()
        return outcome
    finally:
        os.environ.clear()
        os.environ.update(saved_env)


def run_probe(cases, timeout=60):
    """Run this script on ``cases`` with the interpreter running the tests; return one outcome per case."""
    proc = subprocess.run([sys.executable, __file__], input=json.dumps(cases), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"netns_probe failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def main():
    init_plugin_loader()
    json.dump([run_case(case) for case in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
