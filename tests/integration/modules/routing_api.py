"""A process that holds the multicast routing API in a lab host, as another routing daemon would."""
import contextlib
import os
import subprocess
import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[3] / ".build" / "collections"
# mcastd's own kernel code takes the API (MRT_INIT) and keeps it until stdin closes.
HOLD_ROUTING_API = (
    "import sys\n"
    "from ansible_collections.mcast.linux.plugins.module_utils.mcastd.kernel import MrouteSocket\n"
    "sock = MrouteSocket()\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


@contextlib.contextmanager
def holding_routing_api(lab, host="router"):
    """Yield the holder process (its ``pid`` and ``args``) while it holds the API; it exits afterwards."""
    holder = lab.popen(host, [sys.executable, "-c", HOLD_ROUTING_API], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       text=True, env=dict(os.environ, PYTHONPATH=str(COLLECTIONS)))
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.stdin.close()
        holder.wait(timeout=5)
