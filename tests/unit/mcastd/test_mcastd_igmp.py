"""IGMP wire format: checksums against hand-computed vectors, MRD messages, IP header and options."""
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import igmp


def ip_packet(payload, ttl=1, destination="224.0.0.2", source="198.51.100.20", options=igmp.ROUTER_ALERT,
              protocol=2, tos=0xC0, total=None, version=4):
    """An IPv4 packet as a raw socket returns it (tests build it independently of igmp.py)."""
    ihl = 5 + len(options) // 4
    length = total if total is not None else ihl * 4 + len(payload)
    header = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, tos, length, 0, 0, ttl, protocol, 0,
                         socket.inet_aton(source), socket.inet_aton(destination))
    return header + options + payload


# -- the internet checksum, computed by hand -----------------------------------------------------
@pytest.mark.parametrize("data, expected", [
    # RFC 1071, section 3: 0001 + f203 + f4f5 + f6f7 = 2ddf0; folded ddf0 + 2 = ddf2; complement 220d
    (bytes.fromhex("0001f203f4f5f6f7"), 0x220D),
    (b"", 0xFFFF),  # nothing to add: the complement of 0
    (b"\x01", 0xFEFF),  # an odd byte is the high half of a last word: 0100, complement feff
    (bytes.fromhex("ffff"), 0x0000),  # ffff is the one's complement zero
    (bytes.fromhex("3014000000000000"), 0xCFEB),  # advertisement, interval 20: complement of 3014
])
def test_checksum_matches_hand_computed_vectors(data, expected):
    assert igmp.checksum(data) == expected


def test_a_message_with_its_checksum_filled_in_sums_to_zero():
    assert igmp.checksum_ok(bytes.fromhex("3014cfeb00000000"))
    assert not igmp.checksum_ok(bytes.fromhex("3014cfea00000000"))


# -- building MRD messages -------------------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    ((20,), "3014cfeb00000000"),  # ~3014
    ((4,), "3004cffb00000000"),  # ~3004
    ((20, 125, 2), "3014cf6c007d0002"),  # 3014 + 007d + 0002 = 3093, ~3093 = cf6c
    ((255, 0xFFFF, 0xFFFF), "30ffcf00ffffffff"),  # 30ff + ffff + ffff = 230fd -> 30fd + 2 = 30ff, ~ = cf00
])
def test_advertisement_bytes(args, expected):
    assert igmp.build_advertisement(*args).hex() == expected


def test_solicitation_and_termination_are_four_bytes():
    assert igmp.build_solicitation().hex() == "3100ceff"  # ~3100
    assert igmp.build_termination().hex() == "3200cdff"  # ~3200


@pytest.mark.parametrize("args, words", [
    ((0,), "advertisement interval must be a whole number from 1 to 255, not 0"),
    ((256,), "from 1 to 255, not 256"),
    ((True,), "not True"),
    ((20.0,), "not 20.0"),
    ((20, -1), "query interval must be a whole number from 0 to 65535"),
    ((20, 0, 65536), "robustness variable must be a whole number from 0 to 65535"),
])
def test_out_of_range_fields_are_refused_with_the_range(args, words):
    with pytest.raises(ValueError, match=words):
        igmp.build_advertisement(*args)


# -- parsing IGMP ----------------------------------------------------------------------------------
def test_messages_parse_back():
    assert igmp.parse(igmp.build_advertisement(20, 125, 2)) == igmp.Advertisement(20, 125, 2)
    assert igmp.parse(igmp.build_solicitation()) == igmp.Solicitation()
    assert igmp.parse(igmp.build_termination()) == igmp.Termination()


def test_eight_byte_short_messages_are_accepted():
    # smcroute sends its Termination as a whole struct igmp (8 bytes, checksum over all 8)
    assert igmp.parse(bytes.fromhex("3200cdff00000000")) == igmp.Termination()


def test_types_nothing_decodes_yet_come_back_whole():
    dvmrp = bytes.fromhex("1300ecff00000000")  # type 0x13 (DVMRP), nothing decodes it: ~(1300) = ecff
    assert igmp.parse(dvmrp) == igmp.Other(0x13, dvmrp)


def test_queries_are_decoded_now():
    query = bytes.fromhex("1164ee9b00000000")  # IGMPv2 general query, max resp 10 s: ~(1164) = ee9b
    assert igmp.parse(query) == igmp.Query(2, 10.0, 0, False, None, None, ())


@pytest.mark.parametrize("data, words", [
    (b"", "IGMP message of 0 bytes, shorter than 4"),
    (b"\x31\x00\xce", "shorter than 4"),
    (bytes.fromhex("3100cefe"), "IGMP type 0x31: checksum 0xcefe is wrong"),
    (bytes.fromhex("3014cfeb"), "IGMP type 0x30 needs 8 bytes, got 4"),
])
def test_malformed_messages_say_why(data, words):
    with pytest.raises(igmp.MalformedPacket, match=words):
        igmp.parse(data)


# -- IPv4 header and options ------------------------------------------------------------------------
def test_a_received_solicitation_decodes_with_its_ip_header():
    received = igmp.parse_packet(ip_packet(igmp.build_solicitation()))
    assert received.message == igmp.Solicitation()
    assert received.ip == igmp.IpHeader(0xC0, 1, 2, "198.51.100.20", "224.0.0.2", igmp.ROUTER_ALERT)
    assert igmp.has_router_alert(received.ip.options)


def test_link_padding_after_the_total_length_is_cut_off():
    packet = ip_packet(igmp.build_solicitation(), total=28) + b"\0" * 18  # ethernet minimum frame padding
    assert igmp.parse_packet(packet).message == igmp.Solicitation()


@pytest.mark.parametrize("packet, words", [
    (b"\x45" * 19, "19 bytes, shorter than an IPv4 header"),
    (ip_packet(igmp.build_solicitation(), version=6), "IP version 6, not 4"),
    (ip_packet(igmp.build_solicitation())[:22], "IP header length 24 does not fit a 22-byte packet"),
    (ip_packet(igmp.build_solicitation(), total=40), "IP total length 40 does not fit a 28-byte packet"),
    (ip_packet(igmp.build_solicitation(), protocol=17), "IP protocol 17, not IGMP"),
    (ip_packet(b"\x31\x00"), "shorter than 4"),
])
def test_malformed_packets_say_why(packet, words):
    with pytest.raises(igmp.MalformedPacket, match=words):
        igmp.parse_packet(packet)


@pytest.mark.parametrize("options, expected", [
    (b"", False),
    (igmp.ROUTER_ALERT, True),
    (b"\x01\x01\x01\x01", False),  # four NOPs
    (b"\x01" + igmp.ROUTER_ALERT + b"\x00\x00\x00", True),  # NOP, Router Alert, END and padding
    (b"\x00" + igmp.ROUTER_ALERT[1:], False),  # END first: nothing after it counts
    (b"\x07\x03\x04" + igmp.ROUTER_ALERT + b"\x00", True),  # a 3-byte record route first, END last
    (b"\x07\x03\x04\x00" + igmp.ROUTER_ALERT, False),  # the same with END before Router Alert
])
def test_router_alert_is_found_among_other_options(options, expected):
    assert igmp.has_router_alert(options) is expected


@pytest.mark.parametrize("options", [b"\x94", b"\x94\x01\x00\x00", b"\x94\x08\x00\x00", b"\x07\x00\x00\x00"])
def test_options_with_broken_lengths_are_malformed(options):
    with pytest.raises(igmp.MalformedPacket, match="invalid length"):
        igmp.has_router_alert(options)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_no_bytes_make_the_parser_raise_anything_but_malformed_packet(data):
    kinds = (igmp.Advertisement, igmp.Solicitation, igmp.Termination, igmp.Other, igmp.Query, igmp.ReportV1,
             igmp.ReportV2, igmp.Leave, igmp.ReportV3)
    for candidate in (data, ip_packet(data), ip_packet(data[8:], options=data[:8].ljust(8, b"\0"))):
        try:
            received = igmp.parse_packet(candidate)
            assert isinstance(received.message, kinds)
            assert igmp.has_router_alert(received.ip.options) in (True, False)
        except igmp.MalformedPacket as exc:
            assert str(exc)
