"""The execution environment definition installs the tarball `make build` writes, with the deps it declares."""
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def load(path):
    return yaml.safe_load((REPO / path).read_text())


def test_ee_installs_the_tarball_of_the_current_version():
    version = load("galaxy.yml")["version"]
    ee = load("execution-environment.yml")
    tarball = "mcast-linux-%s.tar.gz" % version
    assert [c["name"] for c in ee["dependencies"]["galaxy"]["collections"]] == ["mcast-collection/" + tarball]
    assert [f["src"] for f in ee["additional_build_files"]] == [".build/dist/" + tarball]


def test_collection_declares_python_and_system_deps_for_ansible_builder():
    deps = load("meta/execution-environment.yml")["dependencies"]
    assert (REPO / deps["python"]).is_file() and (REPO / deps["system"]).is_file()
    python = [line.split()[0] for line in (REPO / deps["python"]).read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert python == ["pyroute2>=0.7.2"], "targets run Debian 12's python3-pyroute2 0.7.2; keep the floor there"
    system = (REPO / deps["system"]).read_text()
    for package in ("iproute2 [platform:dpkg]", "nftables"):
        assert package in system
