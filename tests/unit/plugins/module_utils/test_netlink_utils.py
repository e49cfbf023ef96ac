"""Pure logic of plugins/module_utils/_netlink.py: name checks, pattern matching, messages."""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _netlink
from tests.unit.plugins.fake_module import FakeModule, ModuleFailed

NAMES = ["lo", "eth0", "trunk.10", "trunk.20", "trunk.100"]


def test_exact_names_and_patterns_expand_in_interface_order_without_duplicates():
    matched, unmatched = _netlink.match_interfaces(["trunk.2+", "eth0", "trunk.+"], NAMES)
    assert matched == ["eth0", "trunk.10", "trunk.20", "trunk.100"]
    assert unmatched == []


def test_pattern_matching_is_case_sensitive_and_reports_what_matched_nothing():
    matched, unmatched = _netlink.match_interfaces(["TRUNK.+", "eth9", "eth0"], NAMES)
    assert matched == ["eth0"]
    assert unmatched == ["TRUNK.+", "eth9"]


def test_dot_in_a_name_is_literal_not_a_wildcard():
    matched, unmatched = _netlink.match_interfaces(["trunk.1"], ["trunkx1", "trunk.10"])
    assert (matched, unmatched) == ([], ["trunk.1"])


def test_not_found_message_names_the_interface_and_the_existing_ones():
    message = _netlink.interface_not_found_message(["trunk.99"], NAMES)
    assert message.startswith("interface 'trunk.99' does not exist on this host; existing interfaces: lo, eth0,")


def test_not_found_message_for_patterns():
    message = _netlink.interface_not_found_message(["vlan+"], [])
    assert message.startswith("no interface on this host matches 'vlan+'; existing interfaces: none.")


def test_resolve_interfaces_fails_or_skips_missing():
    with pytest.raises(ModuleFailed, match="trunk.99"):
        _netlink.resolve_interfaces(FakeModule(), ["trunk.10", "trunk.99"], NAMES)
    assert _netlink.resolve_interfaces(FakeModule(), ["trunk.10", "trunk.99"], NAMES, allow_missing=True) == (
        ["trunk.10"], ["trunk.99"])


@pytest.mark.parametrize("name, fragment", [
    ("", "empty"),
    ("  ", "no whitespace"),
    ("eth0/1", "cannot be an interface name"),
    ("eth0:1", "cannot be an interface name"),
    ("eth 0", "cannot be an interface name"),
    ("trunk.*", "(write trunk.+)"),
    ("tr+unk", "may only end"),
    ("averyveryverylongname", "longer than 15 bytes"),
])
def test_invalid_names_are_explained(name, fragment):
    assert fragment in _netlink.invalid_name_message(name)
    with pytest.raises(ModuleFailed):
        _netlink.check_interface_names(FakeModule(), [name])


def test_long_patterns_and_dotted_names_are_fine():
    assert _netlink.invalid_name_message("trunk.10") is None
    assert _netlink.invalid_name_message("averyveryveryl+") is None
    assert _netlink.invalid_name_message("+") is None


def test_missing_pyroute2_gives_install_guidance(monkeypatch):
    monkeypatch.setattr(_netlink, "HAS_PYROUTE2", False)
    with pytest.raises(ModuleFailed, match="pyroute2.*python3-pyroute2"):
        _netlink.require_pyroute2(FakeModule())
