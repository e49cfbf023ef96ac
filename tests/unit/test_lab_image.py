"""The lab image recipe: one image per tested Debian release, from the mirror the machine's apt sources name."""
import pytest

from tests.lab import image
from tests.lab.errors import LabError

DEB822 = """Types: deb
URIs: http://192.0.2.10/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://192.0.2.11/debian-security
Suites: bookworm-security
Components: main
"""
THIRD_PARTY = "deb [signed-by=/k.gpg] http://192.0.2.13/apt cloud-sdk-bookworm main\n"


@pytest.fixture(name="sources")
def fixture_sources(tmp_path, monkeypatch):
    """Point image.py at apt sources of our own; return the sources.list.d directory."""
    directory = tmp_path / "sources.list.d"
    directory.mkdir()
    monkeypatch.setattr(image, "APT_SOURCES", tmp_path / "sources.list")
    monkeypatch.setattr(image, "APT_SOURCES_DIR", directory)
    return directory


@pytest.mark.parametrize("suite", image.SUITES)
def test_every_release_is_bootstrapped_from_the_machines_debian_mirror(sources, suite):
    (sources / "debian.sources").write_text(DEB822)
    (sources / "vendor.list").write_text(THIRD_PARTY)
    assert image.apt_mirror(suite) == "http://192.0.2.10/debian"


def test_a_source_that_names_the_suite_itself_comes_first(sources):
    (sources / "debian.sources").write_text(DEB822)
    (sources / "trixie.list").write_text("deb http://192.0.2.12/debian trixie main\n")
    assert image.apt_mirror("trixie") == "http://192.0.2.12/debian"
    assert image.apt_mirror("bookworm") == "http://192.0.2.10/debian"


def test_no_debian_source_is_refused_with_the_places_looked_at(sources):
    (sources / "vendor.list").write_text(THIRD_PARTY)
    with pytest.raises(LabError, match="No apt source for a Debian release"):
        image.apt_mirror("bookworm")


def test_each_release_has_its_own_image_name():
    names = [image.image_name(suite) for suite in image.SUITES]
    assert len(set(names)) == len(names)
    for name, suite in zip(names, image.SUITES):
        assert name.startswith(f"{image.IMAGE_REPOSITORY}:{suite}-")


def test_an_unknown_release_is_refused_naming_the_known_ones():
    with pytest.raises(LabError, match="bullseye, bookworm, trixie"):
        image.image_name("buster")


def test_a_new_build_removes_only_older_images_of_its_own_release():
    keep = "localhost/mcast-lab:trixie-aaaa"
    assert image._is_stale("localhost/mcast-lab:trixie-bbbb", keep, "trixie")  # pylint: disable=protected-access
    assert image._is_stale("localhost/mcast-lab:0123456789ab", keep, "trixie")  # pylint: disable=protected-access
    assert not image._is_stale(keep, keep, "trixie")  # pylint: disable=protected-access
    assert not image._is_stale("localhost/mcast-lab:bullseye-cccc", keep, "trixie")  # pylint: disable=protected-access
