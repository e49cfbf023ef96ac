"""Record ``nft -j list ruleset`` for every ``*.nft`` here, loaded into a scratch namespace.

Run as root from the repository root: ``python3 tests/unit/plugins/module_utils/data/nft/record.py``.
The namespace gets a unique name and is always removed; the machine's own ruleset is not touched.
``managed.nft`` carries rules tagged by mcast.linux.nftables, with the tags written out literally,
so a change of the tag format shows up as a failing unit test.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    namespace = "mnft-rec%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        for source in sorted(HERE.glob("*.nft")):
            ruleset = "flush ruleset\n" + source.read_text(encoding="utf-8")
            subprocess.run(["ip", "netns", "exec", namespace, "nft", "-f", "-"], input=ruleset, text=True, check=True)
            listing = subprocess.run(["ip", "netns", "exec", namespace, "nft", "-j", "list", "ruleset"],
                                     capture_output=True, text=True, check=True).stdout
            target = source.with_suffix(".json")
            target.write_text(json.dumps(json.loads(listing), indent=1) + "\n", encoding="utf-8")
            print("recorded", target.name)
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
