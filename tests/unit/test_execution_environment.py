"""The execution environment definition installs the tarball `make build` writes, with the deps it declares;
`make ee` (tests/ee/ee.py) builds it offline on a local base and runs the lab's compliance inside it."""
import io
import tarfile
from pathlib import Path

import pytest
import yaml
from ansible_builder.ee_schema import validate_schema
from packaging.requirements import Requirement

from tests.ee import ee as make_ee

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
    assert python == ["pyroute2>=0.7.2"], "the EE image's own pyroute2: the floor the modules are tested with in the EE"
    system = (REPO / deps["system"]).read_text()
    for package in ("iproute2 [platform:dpkg]", "nftables"):
        assert package in system


# --- make ee (tests/ee/ee.py): the pure parts of the build and of the run inside the EE ---

def pins(path):
    """{name: version} of the `name==version` lines of a requirements file."""
    lines = [line.split("#")[0].strip() for line in (REPO / path).read_text().splitlines()]
    return {Requirement(line).name.lower(): str(Requirement(line).specifier)[2:] for line in lines if "==" in line}


def test_wheelhouse_has_every_package_the_build_installs():
    """The definition's, the collection's and ansible-builder's own (its defaults filled in): the
    build has no index, a package missing from the wheelhouse fails it."""
    wheels = pins("tests/ee/requirements.txt")
    definition = load("execution-environment.yml")
    validate_schema(definition)
    deps = definition["dependencies"]
    for package in (deps["ansible_core"]["package_pip"], deps["ansible_runner"]["package_pip"],
                    definition["options"]["container_init"]["package_pip"], "bindep", "PyYAML", "packaging",
                    *(REPO / "requirements.txt").read_text().split("\n")):
        if package.strip() and not package.startswith("#"):
            requirement = Requirement(package)
            assert requirement.specifier.contains(wheels[requirement.name.lower()]), package


def test_ee_runs_the_ansible_core_and_runner_of_the_controller():
    wheels, controller = pins("tests/ee/requirements.txt"), pins("tests/requirements.txt")
    for package in ("ansible-core", "ansible-runner"):
        assert wheels[package] == controller[package]


def test_base_image_has_every_dpkg_package_of_bindep():
    """The build runs without network: apt-get there can install nothing, so the base has it all."""
    for line in (REPO / "bindep.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, profiles = line.partition("[")[::2]
            if not profiles or "platform:dpkg" in profiles:
                assert name.strip() in make_ee.BASE_PACKAGES


def test_builder_builds_the_users_definition_offline_on_the_local_base(tmp_path):
    argv = make_ee.builder_argv("localhost/mcast-ee:x", "localhost/mcast-ee-base:y", tmp_path, tmp_path / "context",
                                builder="ansible-builder")
    argv = [str(arg) for arg in argv]
    assert argv[:4] == ["ansible-builder", "build", "-f", str(REPO / "execution-environment.yml")]
    assert "EE_BASE_IMAGE=localhost/mcast-ee-base:y" in argv and "PKGMGR=/usr/bin/apt-get" in argv
    extra = argv[argv.index("--extra-build-cli-args") + 1].split()
    assert "--network=none" in extra
    assert f"--volume={tmp_path}:{make_ee.BUILD_OFFLINE_DIR}:ro" in extra
    assert f"--volume={tmp_path / 'pip.conf'}:/etc/pip.conf:ro" in extra


def test_pip_in_the_build_reads_the_wheelhouse_only():
    conf = make_ee.pip_conf()
    assert "no-index = true" in conf
    assert f"find-links = {make_ee.BUILD_OFFLINE_DIR}/wheels" in conf


def tarball(path, files, mtime):
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), mtime, 0o644
            tar.addfile(info, io.BytesIO(content))
    return path


@pytest.mark.parametrize("other, same", [
    ({"a/x.py": b"one", "MANIFEST.json": b"{}"}, True),  # rebuilt later: other timestamps only
    ({"a/x.py": b"two", "MANIFEST.json": b"{}"}, False),  # one file changed
    ({"a/x.py": b"one"}, False),  # one file gone
])
def test_ee_image_tag_follows_the_collection_content_not_its_timestamps(tmp_path, other, same):
    first = tarball(tmp_path / "1.tar.gz", {"a/x.py": b"one", "MANIFEST.json": b"{}"}, mtime=1)
    second = tarball(tmp_path / "2.tar.gz", other, mtime=2)
    assert (make_ee.tarball_digest(first) == make_ee.tarball_digest(second)) is same


def test_runner_inventory_points_the_ees_podman_at_the_hosts_socket():
    lab = {"all": {"hosts": {"router": {"ansible_connection": "containers.podman.podman"}}, "vars": {"x": 1}}}
    inventory = make_ee.runner_inventory(lab)
    assert inventory["all"]["vars"] == {"x": 1, "ansible_podman_extra_args":
                                        f"--remote --url unix://{make_ee.EE_PODMAN_SOCKET}"}
    assert inventory["all"]["hosts"] == lab["all"]["hosts"]
    assert "ansible_podman_extra_args" not in lab["all"]["vars"], "the lab's own inventory stays as it was"


def test_runner_runs_the_playbook_in_the_ee_with_podman(tmp_path):
    argv = make_ee.runner_argv(tmp_path / "pdd", "localhost/mcast-ee:x", tmp_path / "sock", tmp_path / "reports",
                               tmp_path / "podman", runner="ansible-runner")
    argv = [str(arg) for arg in argv]
    assert argv[:3] == ["ansible-runner", "run", str(tmp_path / "pdd")]
    assert argv[argv.index("--process-isolation-executable") + 1] == "podman"
    assert argv[argv.index("--container-image") + 1] == "localhost/mcast-ee:x"
    mounts = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--container-volume-mount"]
    assert f"{tmp_path / 'sock'}:{make_ee.EE_PODMAN_SOCKET}" in mounts
    assert f"{tmp_path / 'reports'}:{make_ee.EE_REPORT_DIR}" in mounts


def test_compliance_summary_names_each_host_and_the_verdict():
    report = {"compliant": False, "hosts": {
        "router": {"role": "router", "compliant": True, "drifts": [], "findings": []},
        "recv20": {"role": "host", "compliant": False, "drifts": [{"name": "rp_filter"}], "findings": []}}}
    lines, compliant = make_ee.compliance_summary(report)
    assert not compliant
    assert [line.split()[:3] for line in lines] == [["recv20", "host", "NOT"], ["router", "router", "compliant"]]
