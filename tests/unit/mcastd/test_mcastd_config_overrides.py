"""config.load with overrides: a drop-in validated within the whole configuration before it is written."""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config

ROUTE = "mroute from eth0 source 192.0.2.10 group 239.1.1.1 to eth1\n"


@pytest.fixture(name="main_conf")
def fixture_main_conf(tmp_path):
    (tmp_path / "conf.d").mkdir()
    path = tmp_path / "mcastd.conf"
    path.write_text("include conf.d/*.conf\n")
    return path


def test_a_drop_in_that_does_not_exist_yet_is_read_through_the_include(main_conf):
    drop_in = main_conf.parent / "conf.d" / "video.conf"
    loaded = config.load(str(main_conf), {str(drop_in): ROUTE})
    assert [route.to_line() for route in loaded.mroutes] == [ROUTE.strip()]
    assert str(drop_in) in loaded.files
    assert not drop_in.exists()


def test_the_override_replaces_the_text_on_disk_and_none_removes_the_file(main_conf):
    drop_in = main_conf.parent / "conf.d" / "video.conf"
    drop_in.write_text(ROUTE)
    replaced = config.load(str(main_conf), {str(drop_in): ROUTE.replace("eth1", "eth2")})
    assert replaced.mroutes[0].oifs == ("eth2",)
    assert config.load(str(main_conf), {str(drop_in): None}).mroutes == []


def test_a_conflict_with_another_drop_in_is_found_before_writing(main_conf):
    (main_conf.parent / "conf.d" / "audio.conf").write_text(ROUTE)
    drop_in = main_conf.parent / "conf.d" / "video.conf"
    with pytest.raises(config.ConfigError) as caught:
        config.load(str(main_conf), {str(drop_in): ROUTE.replace("from eth0", "from eth2")})
    assert "conflicts with" in caught.value.errors[0]
    assert "video.conf:1" in caught.value.errors[0]


def test_the_same_route_in_another_drop_in_is_merged_before_writing(main_conf):
    (main_conf.parent / "conf.d" / "audio.conf").write_text(ROUTE)
    drop_in = main_conf.parent / "conf.d" / "video.conf"
    loaded = config.load(str(main_conf), {str(drop_in): ROUTE.replace("eth1", "eth2")})
    assert [route.to_line() for route in loaded.mroutes] == [ROUTE.strip() + " eth2"]
    assert loaded.warnings[0].startswith("%s:1: same route as the mroute at %s:1, outputs merged" % (
        drop_in, main_conf.parent / "conf.d" / "audio.conf"))


def test_an_override_outside_every_include_is_not_read(main_conf, tmp_path):
    elsewhere = tmp_path / "other.conf"
    loaded = config.load(str(main_conf), {str(elsewhere): ROUTE})
    assert loaded.mroutes == [] and str(elsewhere) not in loaded.files


def test_removing_a_plainly_included_file_is_an_error(tmp_path):
    drop_in = tmp_path / "routes.conf"
    drop_in.write_text(ROUTE)
    main_conf = tmp_path / "mcastd.conf"
    main_conf.write_text("include %s\n" % drop_in)
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(str(main_conf), {str(drop_in): None})
