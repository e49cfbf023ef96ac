"""Planning of mcast.linux.link and its udev rules (no kernel access)."""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _link as link
from tests.unit.plugins.fake_module import FakeModule, ModuleFailed

UP, ALLMULTI, MULTICAST = 0x1, 0x200, 0x1000


def test_plan_sets_only_missing_flags_and_leaves_others():
    assert link.plan_flags(UP, ["multicast", "allmulti"], "present") == (UP | MULTICAST | ALLMULTI, MULTICAST | ALLMULTI)
    assert link.plan_flags(UP | MULTICAST, ["multicast", "allmulti"], "present") == (UP | MULTICAST | ALLMULTI, ALLMULTI)


def test_plan_clears_flags_with_absent_and_is_idempotent():
    assert link.plan_flags(UP | MULTICAST | ALLMULTI, ["allmulti"], "absent") == (UP | MULTICAST, ALLMULTI)
    assert link.plan_flags(UP | MULTICAST, ["allmulti"], "absent") == (UP | MULTICAST, 0)
    assert link.plan_flags(UP | MULTICAST, ["multicast"], "present") == (UP | MULTICAST, 0)


def test_flag_state_names_the_bits():
    assert link.flag_state(MULTICAST | UP) == {"multicast": True, "allmulti": False}


def test_udev_rules_round_trip_and_stay_sorted():
    rules = {("trunk.+", "multicast"): "on", ("eth0", "allmulti"): "off", ("eth[01]", "multicast"): "on"}
    text = link.render_udev_rules(rules, "/usr/sbin/ip")
    assert 'KERNEL=="trunk.*"' in text, "udev matches shell globs: trunk.+ is written as trunk.*"
    assert 'KERNEL=="eth[01]"' in text, "a glob an earlier release wrote stays as it was"
    assert 'ACTION=="add", SUBSYSTEM=="net", KERNEL=="eth0", RUN+="/usr/sbin/ip link set dev $name allmulticast off"' in text
    assert text.index('KERNEL=="eth0"') < text.index('KERNEL=="trunk.*"')
    assert link.parse_udev_rules(text) == rules


def test_udev_parser_ignores_foreign_lines():
    assert link.parse_udev_rules('# x\nACTION=="add", RUN+="/bin/true"\n') == {}


def test_stuck_allmulti_message_names_the_routing_daemon():
    message = link.Link.stuck_flag_message("trunk.10", UP | MULTICAST | ALLMULTI, UP | MULTICAST)
    assert "multicast routing daemon" in message and "trunk.10" in message


@pytest.mark.parametrize("overrides, fragment", [
    ({"interfaces": []}, "interfaces is empty"),
    ({"flags": []}, "flags is empty"),
    ({"interfaces": ["eth0", "192.0.2.1/24"]}, "cannot be an interface name"),
    ({"interfaces": ['eth"0']}, "cannot be written into a udev rule"),
    ({"interfaces": ["trunk.*"]}, r"\(write trunk\.\+\)"),
])
def test_validate_explains_bad_input(overrides, fragment):
    values = dict(interfaces=["eth0"], flags=["multicast"], state="present")
    values.update(overrides)
    with pytest.raises(ModuleFailed, match=fragment):
        link.validate(FakeModule(values))
