"""IFLA_BR_MCAST_QUERIER_STATE decoded from netlink bytes built as the kernel builds them."""
import socket
import struct

from ansible_collections.mcast.linux.plugins.module_utils import _bridge
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import linux

NLA_F_NESTED = 0x8000


def nla(kind, payload):
    """One netlink attribute, padded to 4 bytes like nla_put."""
    header = struct.pack("=HH", 4 + len(payload), kind)
    return header + payload + b"\0" * (-len(payload) % 4)


def other_querier_state():
    """What br_multicast_dump_querier_state puts for another IPv4 querier heard on ifindex 7, 250.3 s left."""
    return (nla(_bridge.BRIDGE_QUERIER_IP_ADDRESS, socket.inet_aton("10.9.9.9"))
            + nla(4, b"")  # BRIDGE_QUERIER_PAD, before the 64-bit timer
            + nla(_bridge.BRIDGE_QUERIER_IP_OTHER_TIMER, struct.pack("=Q", 25030))
            + nla(_bridge.BRIDGE_QUERIER_IP_PORT, struct.pack("=I", 7)))


def newlink(querier_state):
    """An RTM_NEWLINK message of a bridge whose info data holds the querier state (nested flag set)."""
    state = nla(_bridge.IFLA_BR_MCAST_QUERIER_STATE | NLA_F_NESTED, querier_state)
    info_data = nla(1, struct.pack("=I", 1500)) + state
    linkinfo = nla(1, b"bridge\0") + nla(_bridge.IFLA_INFO_DATA | NLA_F_NESTED, info_data)
    header = _bridge.IFINFOMSG.pack(0, 1, 4, 0x1043, 0)
    body = header + nla(3, b"br0\0") + nla(_bridge.IFLA_LINKINFO | NLA_F_NESTED, linkinfo)
    return linux.NLMSGHDR.pack(linux.NLMSGHDR.size + len(body), _bridge.RTM_NEWLINK, 0, 1, 0) + body


def test_another_querier_with_its_port_and_timer():
    state = _bridge.decode_querier_state(_bridge.querier_state_bytes(newlink(other_querier_state())))
    assert state == {"ipv4": {"address": "10.9.9.9", "port_index": 7, "other_querier_expires_in": 250.3},
                     "ipv6": None}


def test_the_bridges_own_querier_has_no_timer_or_port():
    own = nla(_bridge.BRIDGE_QUERIER_IP_ADDRESS, socket.inet_aton("0.0.0.0")) + nla(
        _bridge.BRIDGE_QUERIER_IPV6_ADDRESS, socket.inet_pton(socket.AF_INET6, "fe80::1"))
    state = _bridge.decode_querier_state(own)
    assert state["ipv4"] == {"address": "0.0.0.0", "port_index": None, "other_querier_expires_in": None}
    assert state["ipv6"]["address"] == "fe80::1"


def test_no_querier_known_is_an_empty_nest_or_none_at_all():
    assert _bridge.decode_querier_state(b"") == {"ipv4": None, "ipv6": None}
    assert _bridge.decode_querier_state(_bridge.querier_state_bytes(newlink(b""))) == {"ipv4": None, "ipv6": None}
    message = newlink(b"")
    assert _bridge.querier_state_bytes(message[:linux.NLMSGHDR.size + _bridge.IFINFOMSG.size]) is None


def test_a_truncated_attribute_run_keeps_what_was_read():
    data = other_querier_state()
    assert set(linux.netlink_attributes(data[:-3])) == {1, 4, 3}
