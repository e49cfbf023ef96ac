"""mcast.linux.link against a real kernel in a namespace, through the netns connection."""
import os

import pytest

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces")]

IFF_ALLMULTI, IFF_MULTICAST = 0x200, 0x1000


@pytest.fixture(name="rules")
def fixture_rules(tmp_path):
    return tmp_path / "rules.d" / "60-mcast-linux-link.rules"


def test_allmulti_on_trunks_by_pattern(host, rules):
    before = host.link_flags()
    args = {"interfaces": ["trunk.+"], "flags": ["multicast", "allmulti"], "udev_rules_file": str(rules)}

    preview = host.module("link", args, check=True, diff=True)
    assert preview["changed"] is True
    assert host.link_flags() == before, "check mode changed the kernel"
    assert not rules.exists()
    assert preview["targets"] == ["trunk.10", "trunk.20"]
    assert preview["interfaces"]["trunk.10"] == {"before": {"multicast": True, "allmulti": False},
                                                 "after": {"multicast": True, "allmulti": True}}
    kernel_diff, file_diff = preview["diff"]
    assert "trunk.10: allmulti=off multicast=on" in kernel_diff["before"]
    assert "trunk.10: allmulti=on multicast=on" in kernel_diff["after"]
    assert 'KERNEL=="trunk.*"' in file_diff["after"]

    applied = host.module("link", args)
    assert applied["changed"] is True
    flags = host.link_flags()
    assert all(flags[name] & IFF_ALLMULTI for name in ("trunk.10", "trunk.20"))
    assert not flags["eth0"] & IFF_ALLMULTI, "an interface outside the pattern was changed"
    text = rules.read_text()
    assert 'KERNEL=="trunk.*", RUN+="' in text and 'link set dev $name allmulticast on"' in text
    assert 'link set dev $name multicast on"' in text

    again = host.module("link", args, diff=True)
    assert again["changed"] is False
    assert again["diff"] == []


def test_clear_multicast_on_one_interface_only_until_reboot(host, rules):
    result = host.module("link", {"interfaces": ["eth0"], "state": "absent", "persist": False,
                                  "udev_rules_file": str(rules)})
    assert result["changed"] is True
    assert result["interfaces"]["eth0"]["after"] == {"multicast": False, "allmulti": False}
    flags = host.link_flags()
    assert not flags["eth0"] & IFF_MULTICAST
    assert flags["trunk.10"] & IFF_MULTICAST
    assert not rules.exists()
    back = host.module("link", {"interfaces": ["eth0"], "persist": False})
    assert back["changed"] is True and host.link_flags()["eth0"] & IFF_MULTICAST


def test_multicast_on_loopback_which_has_none_by_default(host, rules):
    assert not host.link_flags()["lo"] & IFF_MULTICAST
    assert host.module("link", {"interfaces": ["lo"], "udev_rules_file": str(rules)})["changed"] is True
    assert host.link_flags()["lo"] & IFF_MULTICAST


def test_ignore_missing_reports_and_still_persists_the_pattern(host, rules):
    result = host.module("link", {"interfaces": ["trunk.10", "vlan+"], "flags": ["allmulti"],
                                  "ignore_missing": True, "udev_rules_file": str(rules)})
    assert result["changed"] is True
    assert result["missing"] == ["vlan+"]
    assert 'KERNEL=="vlan*"' in rules.read_text(), "udev matches the pattern's shell glob"
    assert host.link_flags()["trunk.10"] & IFF_ALLMULTI


def test_rules_file_change_alone_is_a_change(host, rules):
    args = {"interfaces": ["trunk.20"], "udev_rules_file": str(rules)}
    first = host.module("link", args)  # multicast is already on: only the rule is new
    assert first["changed"] is True and first["udev_rules_file"]["changed"] is True
    assert first["interfaces"]["trunk.20"]["before"] == first["interfaces"]["trunk.20"]["after"]
    assert host.module("link", args)["changed"] is False


BAD_INPUTS = [
    ({"interfaces": ["trunk.99"]},
     "interface 'trunk.99' does not exist on this host; existing interfaces: lo, eth0, trunk.10, trunk.20"),
    ({"interfaces": ["vlan+"]}, "no interface on this host matches 'vlan+'"),
    ({"interfaces": ["trunk.*"]}, "'trunk.*' uses the shell wildcard *: mcast.linux names interfaces as smcroute does, "
                                  "with a trailing '+' that matches every name beginning with what stands before it "
                                  "(write trunk.+)"),
    ({"interfaces": ["trunk.1[01]"]}, "(write trunk.1+)"),
    ({"interfaces": ["tr+unk"]}, "the wildcard '+' may only end an interface name"),
    ({"interfaces": ["trunk.10", "eth9"]}, "'eth9' does not exist"),
    ({"interfaces": ["Trunk.10"]}, "'Trunk.10' does not exist"),
    ({"interfaces": []}, "interfaces is empty"),
    ({}, "missing required arguments: interfaces"),
    ({"interfaces": ["trunk.10"], "flags": ["promisc"]}, "value of flags must be one or more of: multicast, allmulti"),
    ({"interfaces": ["trunk.10"], "flags": []}, "flags is empty"),
    ({"interfaces": ["trunk.10"], "state": "enabled"}, "value of state must be one of: present, absent"),
    ({"interfaces": ["192.0.2.1/24"]}, "cannot be an interface name"),
    ({"interfaces": ["trunk.10:1"]}, "cannot be an interface name"),
    ({"interfaces": ["a-very-long-interface"]}, "longer than 15 bytes"),
    ({"interfaces": ["trunk.10"], "allmulti": True}, "Unsupported parameters"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_input_fails_with_the_reason_and_changes_nothing(unchanging_host, rules, args, message, assert_refused):
    assert_refused(unchanging_host, "link", dict({"udev_rules_file": str(rules)}, **args), message,
                   unchanging_host.link_flags)
    assert not rules.exists()


def test_rules_of_an_earlier_release_are_read_as_the_same_patterns(host, rules):
    # Earlier releases took shell patterns and wrote them to udev as they were given.
    ip_path = host.module("link", {"interfaces": ["trunk.20"], "udev_rules_file": str(rules)})["udev_rules_file"]
    assert ip_path["changed"] is True
    written = rules.read_text()
    ip = written.split('RUN+="')[1].split(" ")[0]
    legacy = ''.join('ACTION=="add", SUBSYSTEM=="net", KERNEL=="%s", RUN+="%s link set dev $name %s on"\n' % line
                     for line in (("eth[01]", ip, "multicast"), ("trunk.*", ip, "allmulticast"),
                                  ("trunk.*", ip, "multicast")))
    rules.write_text(legacy)
    again = host.module("link", {"interfaces": ["trunk.+"], "flags": ["multicast", "allmulti"],
                                 "udev_rules_file": str(rules)})
    assert again["udev_rules_file"]["changed"] is False, "trunk.* is trunk.+ in the module's words"
    assert rules.read_text() == legacy
    more = host.module("link", {"interfaces": ["trunk.1+"], "udev_rules_file": str(rules)})
    assert more["udev_rules_file"]["changed"] is True
    text = rules.read_text()
    assert 'KERNEL=="trunk.1*"' in text and 'KERNEL=="eth[01]"' in text, "a new rule beside the old ones, kept"
    assert text.count('KERNEL=="trunk.*"') == 2, "no second rule for what trunk.* already says"
