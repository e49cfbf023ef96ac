"""Planning and validation of mcast.linux.rp_filter (no kernel access)."""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _rp_filter as rp_filter
from tests.unit.plugins.fake_module import FakeModule, ModuleFailed

OFF, STRICT, LOOSE = 0, 1, 2


def effective(all_value, own):
    return dict((name, max(all_value, value)) for name, value in own.items())


def test_off_on_one_interface_under_strict_all_lowers_all_and_raises_the_others():
    own = {"lo": 0, "trunk.10": 0, "trunk.20": 0, "default": 0}
    new_all, new_own = rp_filter.plan_rp_filter(STRICT, own, {"trunk.10": OFF})
    assert new_all == OFF
    assert effective(new_all, new_own) == {"lo": STRICT, "trunk.10": OFF, "trunk.20": STRICT, "default": STRICT}


def test_loose_under_strict_all_needs_no_change_of_all_because_loose_is_the_larger_number():
    own = {"eth0": 0, "trunk.10": 0, "default": 0}
    new_all, new_own = rp_filter.plan_rp_filter(STRICT, own, {"trunk.10": LOOSE})
    assert new_all == STRICT
    assert new_own == {"eth0": 0, "trunk.10": LOOSE, "default": 0}


def test_strict_under_loose_all_lowers_all_to_strict_and_keeps_the_others_loose():
    own = {"eth0": 0, "trunk.10": 2, "default": 1}
    new_all, new_own = rp_filter.plan_rp_filter(LOOSE, own, {"eth0": STRICT})
    assert new_all == STRICT
    assert effective(new_all, new_own) == {"eth0": STRICT, "trunk.10": LOOSE, "default": LOOSE}


def test_interfaces_whose_own_value_already_decides_are_left_alone():
    own = {"eth0": 2, "eth1": 1, "default": 2}
    new_all, new_own = rp_filter.plan_rp_filter(STRICT, own, {"eth1": OFF})
    assert new_all == OFF
    assert new_own == {"eth0": 2, "eth1": 0, "default": 2}


def test_target_gets_its_own_value_even_when_effective_is_already_right():
    # all=1 already makes eth0 strict; its own value is set so it stays strict if all is lowered later.
    new_all, new_own = rp_filter.plan_rp_filter(STRICT, {"eth0": 0, "default": 0}, {"eth0": STRICT})
    assert (new_all, new_own) == (STRICT, {"eth0": STRICT, "default": 0})


def test_default_is_planned_like_an_interface():
    new_all, new_own = rp_filter.plan_rp_filter(STRICT, {"eth0": 0, "default": 1}, {"default": OFF})
    assert new_all == OFF
    assert effective(new_all, new_own) == {"eth0": STRICT, "default": OFF}


def test_already_in_place_plans_no_change():
    own = {"eth0": 1, "trunk.10": 0, "default": 1}
    assert rp_filter.plan_rp_filter(OFF, own, {"trunk.10": OFF}) == (OFF, own)
    assert rp_filter.ordered_changes(OFF, own, OFF, own) == []


def test_changes_raise_first_and_lower_all_last():
    own = {"a": 0, "b": 1, "default": 0}
    new_all, new_own = rp_filter.plan_rp_filter(STRICT, own, {"b": OFF})
    keys = [change["key"] for change in rp_filter.ordered_changes(STRICT, own, new_all, new_own)]
    assert keys == ["net/ipv4/conf/a/rp_filter", "net/ipv4/conf/default/rp_filter",
                    "net/ipv4/conf/b/rp_filter", "net/ipv4/conf/all/rp_filter"]


def test_persistent_values_hold_all_targets_and_changes():
    own = {"a": 0, "b": 0, "c": 2, "default": 0}
    new_all, new_own = rp_filter.plan_rp_filter(STRICT, own, {"b": OFF})
    changes = rp_filter.ordered_changes(STRICT, own, new_all, new_own)
    assert rp_filter.persistent_values(new_all, new_own, {"b": OFF}, changes) == {
        "net/ipv4/conf/all/rp_filter": 0, "net/ipv4/conf/a/rp_filter": 1,
        "net/ipv4/conf/default/rp_filter": 1, "net/ipv4/conf/b/rp_filter": 0}


def params(**overrides):
    values = dict(interfaces=[], mode=None, default=None, ignore_missing=False, persist=True,
                  sysctl_file="/tmp/x.conf")
    values.update(overrides)
    return values


@pytest.mark.parametrize("overrides, fragment", [
    ({}, "Nothing to do"),
    ({"interfaces": ["eth0"]}, "interfaces needs mode"),
    ({"mode": "off"}, "mode needs interfaces"),
    ({"interfaces": [""], "mode": "off"}, "empty"),
    ({"interfaces": ["eth0.rp_filter/x"], "mode": "off"}, "cannot be an interface name"),
    ({"interfaces": ["net.ipv4.conf.eth0"], "mode": "off"}, "longer than 15 bytes"),
])
def test_validate_explains_bad_input(overrides, fragment):
    with pytest.raises(ModuleFailed, match=fragment):
        rp_filter.validate(FakeModule(params(**overrides)))


def test_all_and_default_are_not_interfaces():
    module = FakeModule(params(interfaces=["all"], mode="off"))
    with pytest.raises(ModuleFailed, match="'all' is not an interface name"):
        rp_filter.RpFilter(module).targets(["eth0"])
