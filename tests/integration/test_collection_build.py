"""The built tarball installs into an empty collections path and its content works from there."""
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(argv, **kw):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=True, **kw)


def test_tarball_installs_and_documents_its_plugins(tmp_path):
    run([BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp_path, REPO])
    tarball = next(tmp_path.glob("mcast-linux-*.tar.gz"))
    installed = tmp_path / "collections"
    run([BIN / "ansible-galaxy", "collection", "install", "--offline", "--force", "-p", installed, tarball])

    root = installed / "ansible_collections" / "mcast" / "linux"
    manifest = json.loads((root / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]
    # build_ignore keeps developer state out of the artifact
    for unwanted in (".venv", ".build", ".git", "Makefile"):
        assert not (root / unwanted).exists(), unwanted

    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="0")
    doc = run([BIN / "ansible-doc", "-t", "connection", "--json", "mcast.linux.netns"], env=env)
    netns = json.loads(doc.stdout)["mcast.linux.netns"]["doc"]
    assert netns["collection"] == "mcast.linux"
    assert Path(netns["filename"]).is_relative_to(installed)

    playbook = root / "playbooks" / "lab.yml"
    assert yaml.safe_load(playbook.read_text()), "the main job ships with the collection"
