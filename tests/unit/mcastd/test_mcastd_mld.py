"""MLD wire format (RFC 2710, RFC 9777): the Maximum Response Code, queries, reports, dones, checksums, hop-by-hop.

build_query leaves the ICMPv6 checksum 0 (the kernel fills it in), so its vectors below have 0000
there.  The checksum vectors were computed by hand as RFC 1071 says, over the pseudo-header (source,
destination, length, next header 58) and the message: the comment next to each shows the sum.  The
"kernel" vectors are reports Linux 6.18 sent in test_mcastd_mld_wire's namespaces, bytes as captured.
Group ff0e::1:2 is ff0e0000000000000000000000010002; sources are 2001:db8::1 and 2001:db8::2.
"""
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import igmp, mld, mldsock

GROUP = mld.aton("ff0e::1:2")
SSM_GROUP = mld.aton("ff3e::1234")
SOURCE_1 = mld.aton("2001:db8::1")
SOURCE_2 = mld.aton("2001:db8::2")
GROUP_HEX = "ff0e0000000000000000000000010002"
SSM_GROUP_HEX = "ff3e0000000000000000000000001234"
SOURCE_1_HEX = "20010db8000000000000000000000001"
SOURCE_2_HEX = "20010db8000000000000000000000002"
UNSPECIFIED_HEX = "00" * 16


def message(text):
    return bytes.fromhex(text.replace(" ", ""))


# -- the Maximum Response Code (RFC 9777, section 5.1.3) --------------------------------------------
@pytest.mark.parametrize("millis, code, on_the_wire", [
    (0, 0x0000, 0),
    (1, 0x0001, 1),
    (10000, 0x2710, 10000),  # the default query response interval, 10 s
    (32767, 0x7FFF, 32767),  # the last value that is its own code
    (32768, 0x8000, 32768),  # exp 0, mant 0: 0x1000 << 3
    (32775, 0x8000, 32768),  # exp 0 steps by 8: rounded down
    (32776, 0x8001, 32776),
    (65535, 0x8FFF, 65528),  # exp 0, mant 0xfff: 0x1fff << 3
    (65536, 0x9000, 65536),  # exp 1 (bit length 17), mant 0: 0x1000 << 4
    (mld.MRC_MAX - 1, 0xFFFE, 0x1FFE << 10),  # 8387583 >> 10 = 8190: mant 0xffe
    (mld.MRC_MAX, 0xFFFF, 8387584),  # exp 7, mant 0xfff: the largest value there is
])
def test_maximum_response_code_table(millis, code, on_the_wire):
    assert mld.encode_mrc(millis) == code
    assert mld.decode_mrc(code) == on_the_wire


def test_every_code_decodes_to_a_value_that_encodes_back_to_it_and_rounds_down_to_it():
    values = [mld.decode_mrc(code) for code in range(0x10000)]
    assert values == sorted(set(values))  # strictly increasing: no two codes mean the same
    assert [mld.encode_mrc(value) for value in values] == list(range(0x10000))
    # the value just below the next code's still encodes to this code: rounding down, never up
    assert all(mld.encode_mrc(values[code + 1] - 1) == code for code in range(0xFFFF))


@pytest.mark.parametrize("function, value, words", [
    (mld.encode_mrc, -1, "Maximum Response Delay in milliseconds must be a whole number from 0 to 8387584, not -1"),
    (mld.encode_mrc, 8387585, "from 0 to 8387584, not 8387585"),
    (mld.encode_mrc, 1.5, "not 1.5"),
    (mld.encode_mrc, True, "not True"),
    (mld.decode_mrc, 0x10000, "Maximum Response Code must be a whole number from 0 to 65535, not 65536"),
    (mld.decode_mrc, -1, "not -1"),
])
def test_maximum_response_code_refuses_what_it_cannot_carry(function, value, words):
    with pytest.raises(ValueError, match=words):
        function(value)


def test_qqic_is_igmps_8_bit_float_code_not_a_copy():
    assert mld.encode_float_code is igmp.encode_float_code and mld.decode_float_code is igmp.decode_float_code


# -- building queries (checksum 0: the kernel fills it in) -------------------------------------------
@pytest.mark.parametrize("args, kwargs, expected", [
    # MLDv2 general query: type 130, code 0, checksum 0, MRC 10000 ms (2710), reserved, ::, QRV 2, QQIC 125
    ((2, 10), {}, "82000000 2710 0000" + UNSPECIFIED_HEX + "027d 0000"),
    # 32.767 s is still milliseconds; 32.768 s is the first float code; 32.769 s rounds down to it
    ((2, 32.767), {}, "82000000 7fff 0000" + UNSPECIFIED_HEX + "027d 0000"),
    ((2, 32.768), {}, "82000000 8000 0000" + UNSPECIFIED_HEX + "027d 0000"),
    ((2, 32.769), {}, "82000000 8000 0000" + UNSPECIFIED_HEX + "027d 0000"),
    ((2, 8387.584), {}, "82000000 ffff 0000" + UNSPECIFIED_HEX + "027d 0000"),  # the largest
    # robustness 3, query interval 60 s (3c)
    ((2, 10), {"qrv": 3, "qqi_s": 60}, "82000000 2710 0000" + UNSPECIFIED_HEX + "033c 0000"),
    # robustness 9 does not fit QRV: sent as 0; QQIC 200 s = 0x89 (IGMPv3's float code)
    ((2, 10), {"qrv": 9, "qqi_s": 200}, "82000000 2710 0000" + UNSPECIFIED_HEX + "0089 0000"),
    # multicast-address-specific, 1 s (03e8)
    ((2, 1, GROUP), {}, "82000000 03e8 0000" + GROUP_HEX + "027d 0000"),
    # multicast-address-and-source-specific, S flag and QRV 2 (0a), two sources
    ((2, 1, GROUP, True, 2, 125, (SOURCE_1, SOURCE_2)), {},
     "82000000 03e8 0000" + GROUP_HEX + "0a7d 0002" + SOURCE_1_HEX + SOURCE_2_HEX),
    # MLDv1 general query, 24 bytes: max response delay 10000 ms, no float
    ((1, 10), {}, "82000000 2710 0000" + UNSPECIFIED_HEX),
    ((1, 65.535), {}, "82000000 ffff 0000" + UNSPECIFIED_HEX),  # the most 16 bits of milliseconds hold
    # MLDv1 multicast-address-specific, 1 s; None is a general query as 0 is
    ((1, 1, GROUP), {}, "82000000 03e8 0000" + GROUP_HEX),
    ((1, 1, None), {}, "82000000 03e8 0000" + UNSPECIFIED_HEX),
])
def test_query_bytes(args, kwargs, expected):
    assert mld.build_query(*args, **kwargs) == message(expected)


def test_milliseconds_are_rounded_not_truncated():
    assert mld.build_query(1, 0.001)[4:6] == b"\x00\x01"
    assert mld.build_query(1, 0.0015)[4:6] == b"\x00\x02"  # 1.5 ms rounds to 2
    assert mld.build_query(2, 1.1)[4:6] == b"\x04\x4c"  # 1.1 * 1000 is 1100.0000000000002: 1100


@pytest.mark.parametrize("args, kwargs, words", [
    ((3, 10), {}, "MLD version must be 1 or 2, not 3"),
    ((True, 10), {}, "not True"),
    ((1, 0), {}, "maximum response delay must be from 0.001 to 65.535 seconds, not 0"),
    ((1, 65.536), {}, "from 0.001 to 65.535 seconds, not 65.536"),
    ((2, 0.0004), {}, "maximum response delay must be from 0.001 to 8387.584 seconds, not 0.0004"),
    ((2, 8387.585), {}, "from 0.001 to 8387.584 seconds"),
    ((2, float("nan")), {}, "maximum response delay must be a number of seconds, not nan"),
    ((2, float("inf")), {}, "from 0.001 to 8387.584 seconds, not inf"),
    ((2, "10"), {}, "must be a number of seconds, not '10'"),
    ((2, 10), {"qqi_s": 31745}, "query interval must be from 0 to 31744 seconds"),
    ((2, 10), {"qrv": 0}, "robustness variable must be a whole number from 1 to 255, not 0"),
    ((2, 10), {"s_flag": 1}, "the S flag must be True or False, not 1"),
    ((2, 10), {"group": "ff0e::1:2"}, "group must be an integer address"),
    ((2, 10), {"group": SOURCE_1}, r"group must be 0 or a multicast address \(ff00::/8\), not 2001:db8::1"),
    ((2, 10), {"group": -1}, "group must be 0 or a multicast address"),
    ((2, 10), {"group": 1 << 128}, "group must be 0 or a multicast address"),
    ((2, 10), {"sources": (SOURCE_1,)}, "a query with sources needs a group"),
    ((1, 10, GROUP), {"sources": (SOURCE_1,)}, "MLDv1 queries carry no sources"),
    ((2, 10, GROUP), {"sources": (-1,)}, "a source address must be a whole number from 0 to"),
    ((2, 10, GROUP), {"sources": range(mld.QUERY_SOURCES_MAX + 1)}, "4094 sources do not fit one query; at most 4093"),
])
def test_bad_query_arguments_are_refused_with_the_reason(args, kwargs, words):
    with pytest.raises(ValueError, match=words):
        mld.build_query(*args, **kwargs)


# -- the ICMPv6 checksum over the pseudo-header -------------------------------------------------------
# fe80::a -> ff02::1, MLDv1 general query, 10 s: fe80 + 000a + ff02 + 0001 + 0018 (length 24) + 003a
# (next header) + 8200 + 2710 = 2a6ef; a6ef + 2 = a6f1, ~ = 590e
V1_QUERY_SENT = "8200590e 2710 0000" + UNSPECIFIED_HEX
# fe80::a -> ff02::1, MLDv2 general query, 1 s: fe80 + 000a + ff02 + 0001 + 001c (length 28) + 003a +
# 8200 + 03e8 + 027d = 28648; 8648 + 2 = 864a, ~ = 79b5 (the kernel filled in the same on the wire)
V2_QUERY_SENT = "820079b5 03e8 0000" + UNSPECIFIED_HEX + "027d 0000"


@pytest.mark.parametrize("built, expected", [
    (mld.build_query(1, 10), V1_QUERY_SENT),
    (mld.build_query(2, 1), V2_QUERY_SENT),
])
def test_checksums_match_hand_computed_vectors(built, expected):
    assert mld.checksum(built, "fe80::a", "ff02::1") == struct.unpack("!H", message(expected)[2:4])[0]
    assert mld.with_checksum(built, "fe80::a", "ff02::1") == message(expected)
    assert mld.checksum_ok(message(expected), "fe80::a", "ff02::1")


def test_packet_addresses_may_be_text_with_a_scope_or_integers():
    sent = message(V1_QUERY_SENT)
    assert mld.checksum_ok(sent, "fe80::a%eth0", mld.ALL_NODES)
    assert mld.checksum_ok(sent, mld.aton("fe80::a"), mld.aton("ff02::1"))
    assert not mld.checksum_ok(sent, "fe80::b", "ff02::1")  # another source: another pseudo-header


def test_with_checksum_ignores_what_the_checksum_field_held():
    sent = message(V2_QUERY_SENT)
    assert mld.with_checksum(sent[:2] + b"\xde\xad" + sent[4:], "fe80::a", "ff02::1") == sent


@pytest.mark.parametrize("source, words", [
    ("fe80::zz", "'fe80::zz' is not an IPv6 address"),
    (None, "a packet address must be IPv6 text or a 128-bit integer, not None"),
    (-1, "not -1"),
    (True, "not True"),
])
def test_bad_packet_addresses_are_refused(source, words):
    with pytest.raises(ValueError, match=words):
        mld.checksum(message(V1_QUERY_SENT), source, "ff02::1")


# -- parsing queries (RFC 9777, section 8.1 tells the versions apart by length) ---------------------------
def test_each_version_parses_back():
    assert mld.parse(mld.build_query(1, 2.5)) == mld.Query(1, 2.5, 0, False, None, None, ())
    assert mld.parse(mld.build_query(1, 1, GROUP)) == mld.Query(1, 1.0, GROUP, False, None, None, ())
    assert mld.parse(mld.build_query(2, 10)) == mld.Query(2, 10.0, 0, False, 2, 125, ())
    built = mld.build_query(2, 0.5, GROUP, True, 3, 60, (SOURCE_1, SOURCE_2))
    assert mld.parse(built) == mld.Query(2, 0.5, GROUP, True, 3, 60, (SOURCE_1, SOURCE_2))


def test_values_the_codes_cannot_carry_parse_back_rounded_down():
    query = mld.parse(mld.build_query(2, 32.775, qrv=8, qqi_s=1000))
    assert (query.max_resp_time, query.qrv, query.qqi) == (32.768, 0, 992)


def test_a_query_with_its_checksum_parses_when_given_its_addresses():
    assert mld.parse(message(V2_QUERY_SENT), "fe80::a", "ff02::1") == mld.Query(2, 1.0, 0, False, 2, 125, ())


@pytest.mark.parametrize("data, version", [
    ("82000000 0000 0000" + UNSPECIFIED_HEX, 1),  # 24 bytes, delay 0: still MLDv1 (no "v0" as in IGMP)
    ("82000000 ffff 0000" + UNSPECIFIED_HEX, 1),  # 24 bytes: 0xffff is 65.535 s, no float in MLDv1
    ("82000000 ffff 0000" + UNSPECIFIED_HEX + "0000 0000", 2),  # 28 bytes: the same first 24, MLDv2
])
def test_query_version_follows_length(data, version):
    query = mld.parse(message(data))
    assert query.version == version
    assert query.max_resp_time == {1: 65.535 if "ffff" in data else 0.0, 2: 8387.584}[version]


def test_additional_data_after_the_sources_is_ignored():
    # RFC 9777, section 5.1.12: covered by the checksum, otherwise ignored
    query = mld.build_query(2, 1, GROUP, sources=(SOURCE_1,)) + b"\xde\xad\xbe\xef"
    assert mld.parse(query).sources == (SOURCE_1,)


@pytest.mark.parametrize("data, words", [
    ("", "ICMPv6 message of 0 bytes, shorter than 4"),
    ("820000", "shorter than 4"),
    ("82000000 2710 0000" + "00" * 12, "ICMPv6 type 130 needs 24 bytes, got 20"),
    ("82000000 2710 0000" + UNSPECIFIED_HEX + "02", "MLD query of 25 bytes: neither 24"),
    ("82000000 2710 0000" + UNSPECIFIED_HEX + "027d00", r"27 bytes: neither 24 \(MLDv1\) nor 28 or more \(MLDv2\)"),
    ("82000000 2710 0000" + GROUP_HEX + "027d 0001", "MLDv2 query announces 1 sources, 16 bytes, but only 0"),
    ("82000000 2710 0000" + GROUP_HEX + "027d 0002" + SOURCE_1_HEX, "announces 2 sources, 32 bytes, but only 16"),
])
def test_malformed_queries_say_why(data, words):
    with pytest.raises(mld.MalformedPacket, match=words):
        mld.parse(message(data))


def test_a_wrong_checksum_is_malformed_when_the_addresses_are_given():
    wrong = message(V1_QUERY_SENT.replace("590e", "590f"))
    assert mld.parse(wrong).version == 1  # without addresses: the kernel checked it
    with pytest.raises(mld.MalformedPacket, match="ICMPv6 type 130 from fe80::a to ff02::1: checksum 0x590f is wrong"):
        mld.parse(wrong, "fe80::a", "ff02::1")
    with pytest.raises(mld.MalformedPacket, match="cannot check the checksum: 'nonsense' is not an IPv6 address"):
        mld.parse(wrong, "nonsense", "ff02::1")


def test_other_icmpv6_types_come_back_whole():
    echo = message("8000 0000 0001 0001")  # an echo request: not MLD
    assert mld.parse(echo) == mld.Other(128, echo)


# -- reports and dones ---------------------------------------------------------------------------------
@pytest.mark.parametrize("data, expected", [
    ("83000000 0000 0000" + GROUP_HEX, mld.ReportV1(GROUP)),
    ("84000000 0000 0000" + GROUP_HEX, mld.Done(GROUP)),
    # longer than 24 bytes: the rest is ignored (RFC 2710, section 3.7)
    ("83000000 0000 0000" + GROUP_HEX + "deadbeef", mld.ReportV1(GROUP)),
])
def test_v1_reports_and_dones(data, expected):
    assert mld.parse(message(data)) == expected


@pytest.mark.parametrize("data, words", [
    ("83000000 0000 0000" + GROUP_HEX[:-2], "ICMPv6 type 131 needs 24 bytes, got 23"),
    ("8400", "ICMPv6 message of 2 bytes"),
    ("8f00000000000001", "MLDv2 report announces 1 multicast address records, but record 1 starts past its 8 bytes"),
])
def test_malformed_reports_say_why(data, words):
    with pytest.raises(mld.MalformedPacket, match=words):
        mld.parse(message(data))


# An MLDv2 report with two records: TO_EX(ff0e::1:2, {}) and IS_IN(ff3e::1234, {2001:db8::1}) with
# one word of auxiliary data deadbeef (type 143, reserved, checksum 0, reserved, 2 records).
V2_REPORT = ("8f000000 0000 0002"
             "04 00 0000" + GROUP_HEX +
             "01 01 0001" + SSM_GROUP_HEX + SOURCE_1_HEX + "deadbeef")


def test_v2_report_with_records_sources_and_aux_data():
    assert mld.parse(message(V2_REPORT)) == mld.ReportV2((
        mld.GroupRecord(mld.CHANGE_TO_EXCLUDE_MODE, GROUP, ()),
        mld.GroupRecord(mld.MODE_IS_INCLUDE, SSM_GROUP, (SOURCE_1,)),
    ))


def test_v2_report_without_records():
    assert mld.parse(message("8f000000 0000 0000")) == mld.ReportV2(())


def test_v2_records_of_unknown_types_are_skipped():
    # RFC 9777, section 5.2.12: unrecognized record types are ignored, the others still count
    report = message("8f000000 0000 0003"
                     "07 00 0001" + GROUP_HEX + SOURCE_1_HEX +  # type 7, one source
                     "00 00 0000" + GROUP_HEX +  # type 0
                     "06 00 0002" + SSM_GROUP_HEX + SOURCE_1_HEX + SOURCE_2_HEX)  # BLOCK two sources
    assert mld.parse(report) == mld.ReportV2((
        mld.GroupRecord(mld.BLOCK_OLD_SOURCES, SSM_GROUP, (SOURCE_1, SOURCE_2)),))


@pytest.mark.parametrize("data, words", [
    ("8f000000 0000 0002 04000000" + GROUP_HEX, "announces 2 multicast address records, but record 2 starts past"),
    ("8f000000 0000 0001 01000002" + GROUP_HEX + SOURCE_1_HEX,
     "MLDv2 address record 1 announces 2 sources, 32 bytes, but only 16"),
    ("8f000000 0000 0001 01020000" + GROUP_HEX + "deadbeef",
     "address record 1 announces 2 words of auxiliary data past the report's end"),
    ("8f000000 0000", "ICMPv6 type 143 needs 8 bytes, got 6"),
])
def test_malformed_v2_reports_say_why(data, words):
    with pytest.raises(mld.MalformedPacket, match=words):
        mld.parse(message(data))


# Reports as Linux sent them (test_mcastd_mld_wire): (source, bytes, expected records)
KERNEL_REPORTS = [
    # fe80::b joins ff0e::1:2: the state-change report, TO_EX({})
    ("fe80::b", "8f006ff1 0000 0001 04 00 0000 ff0e0000000000000000000000010002",
     ((mld.CHANGE_TO_EXCLUDE_MODE, "ff0e::1:2"),)),
    # fe80::b answers a general query: IS_EX({}) for the group and its solicited-node address
    ("fe80::b", "8f0071cc 0000 0002 02 00 0000 ff0e0000000000000000000000010002"
                "02 00 0000 ff0200000000000000000001ff00000b",
     ((mld.MODE_IS_EXCLUDE, "ff0e::1:2"), (mld.MODE_IS_EXCLUDE, "ff02::1:ff00:b"))),
    # a bridge without an address joins All-Snoopers ff02::6a: sent from ::
    ("::", "8f006e22 0000 0001 04 00 0000 ff02000000000000000000000000006a",
     ((mld.CHANGE_TO_EXCLUDE_MODE, "ff02::6a"),)),
]


@pytest.mark.parametrize("source, data, expected", KERNEL_REPORTS)
def test_reports_the_kernel_sent_parse_with_their_checksum(source, data, expected):
    report = mld.parse(message(data), source, mld.ALL_MLDV2_ROUTERS)
    assert report == mld.ReportV2(tuple(mld.GroupRecord(kind, mld.aton(group), ()) for kind, group in expected))


# -- the twin of igmp.py ----------------------------------------------------------------------------------
def test_parsed_messages_carry_the_field_names_of_their_igmp_twins():
    assert mld.Query._fields == igmp.Query._fields
    assert mld.ReportV1._fields == igmp.ReportV2._fields == ("group",)
    assert mld.Done._fields == igmp.Leave._fields and mld.Leave is mld.Done
    assert mld.ReportV2._fields == igmp.ReportV3._fields
    assert mld.GroupRecord is igmp.GroupRecord and mld.MalformedPacket is igmp.MalformedPacket
    assert [getattr(mld, name) for name in ("MODE_IS_INCLUDE", "MODE_IS_EXCLUDE", "CHANGE_TO_INCLUDE_MODE",
                                            "CHANGE_TO_EXCLUDE_MODE", "ALLOW_NEW_SOURCES", "BLOCK_OLD_SOURCES")] \
        == list(range(1, 7))
    assert mld.IGMP_TWIN_VERSION == {1: 2, 2: 3}


def test_addresses_as_integers_and_text():
    assert mld.aton("ff02::16") == 0xFF02 << 112 | 0x16
    assert mld.aton("fe80::1%eth0") == mld.aton("fe80::1")
    assert mld.ntoa(GROUP) == "ff0e::1:2"
    assert mld.ntoa(0) == "::"
    assert mld.is_link_local("fe80::1") and mld.is_link_local(mld.aton("febf::1"))
    assert not mld.is_link_local("fec0::1") and not mld.is_link_local(0) and not mld.is_link_local("ff02::1")
    with pytest.raises(ValueError, match="'224.0.0.1' is not an IPv6 address"):
        mld.aton("224.0.0.1")


# -- the Hop-by-Hop Options header ------------------------------------------------------------------------
def test_router_alert_hopopts_bytes():
    # next header (the kernel's), length 0 (8 bytes), Router Alert type 5 length 2 value 0, PadN 0
    assert mld.ROUTER_ALERT_HOPOPTS == message("00 00 05 02 0000 01 00")


@pytest.mark.parametrize("header, options, alert", [
    ("3a 00 05 02 0000 01 00", [(5, b"\0\0")], True),  # as received: next header 58
    ("3a 00 00 00 05 02 0000", [(5, b"\0\0")], True),  # two Pad1 first
    ("3a 00 05 02 0001 01 00", [(5, b"\0\1")], False),  # Router Alert for RSVP (1), not MLD
    ("3a 00 01 04 00000000", [], False),  # PadN only
    ("3a 01 01 04 00000000 c2 04 00010000 01 00", [(0xC2, b"\0\1\0\0")], False),  # 16 bytes, jumbo payload
    ("3a 01 c2 04 00010000 05 02 0000 01 02 0000", [(0xC2, b"\0\1\0\0"), (5, b"\0\0")], True),
])
def test_hop_by_hop_options(header, options, alert):
    assert mld.hop_by_hop_options(message(header)) == options
    assert mld.has_router_alert(message(header)) is alert


@pytest.mark.parametrize("header, words", [
    ("3a 00 05 02 00", "a hop-by-hop options header of 5 bytes, shorter than 8"),
    ("3a 01 05 02 0000 01 00", "announces 16 bytes, only 8 are there"),
    ("3a 00 05 08 0000 01 00", "hop-by-hop option 5 at offset 2 runs past the header's 8 bytes"),
    ("3a 00 00 00 00 00 00 05", "option 5 at offset 7 runs past"),
])
def test_broken_hop_by_hop_headers_are_malformed(header, words):
    with pytest.raises(mld.MalformedPacket, match=words):
        mld.has_router_alert(message(header))


# -- mldsock's ICMPv6 filter ----------------------------------------------------------------------------
def test_icmp6_filter_blocks_every_type_but_those_passed():
    assert mldsock.icmp6_filter() == b"\xff" * 32  # a set bit blocks: the sending socket hears nothing
    words = struct.unpack("=8I", mldsock.icmp6_filter([mld.MULTICAST_LISTENER_QUERY, mld.V2_MULTICAST_LISTENER_REPORT]))
    # type 130 is bit 2 of word 4 (130 = 4 * 32 + 2); type 143 bit 15 of word 4
    assert words == (0xFFFFFFFF,) * 4 + (0xFFFFFFFF & ~(1 << 2) & ~(1 << 15),) + (0xFFFFFFFF,) * 3


# -- properties ----------------------------------------------------------------------------------------
MULTICAST = st.integers(mld.MULTICAST_FIRST, mld.MULTICAST_LAST)
ADDRESS = st.integers(0, mld.MULTICAST_LAST)
KINDS = (mld.Query, mld.ReportV1, mld.Done, mld.ReportV2, mld.Other)
TYPES = st.sampled_from([mld.MULTICAST_LISTENER_QUERY, mld.V1_MULTICAST_LISTENER_REPORT,
                         mld.V1_MULTICAST_LISTENER_DONE, mld.V2_MULTICAST_LISTENER_REPORT, 128, 135])


@settings(max_examples=300, deadline=None)
@given(millis=st.integers(1, mld.MRC_MAX), group=st.one_of(st.just(0), MULTICAST), s_flag=st.booleans(),
       qrv=st.integers(1, 255), qqi=st.integers(0, mld.FLOAT_CODE_MAX), sources=st.lists(ADDRESS, max_size=8))
def test_built_v2_queries_parse_back(millis, group, s_flag, qrv, qqi, sources):
    sources = tuple(sources) if group else ()
    query = mld.parse(mld.build_query(2, millis / 1000, group, s_flag, qrv, qqi, sources))
    assert query == mld.Query(2, mld.decode_mrc(mld.encode_mrc(millis)) / 1000, group, s_flag,
                              qrv if qrv <= 7 else 0, mld.decode_float_code(mld.encode_float_code(qqi)), sources)


@settings(max_examples=100, deadline=None)
@given(millis=st.integers(1, 0xFFFF), group=st.one_of(st.just(0), MULTICAST))
def test_built_v1_queries_parse_back(millis, group):
    expected = mld.Query(1, millis / 1000, group, False, None, None, ())
    assert mld.parse(mld.build_query(1, millis / 1000, group)) == expected


def parses_or_says_why(data, *addresses):
    """parse() either decodes ``data`` or raises MalformedPacket with a sentence; nothing else."""
    try:
        parsed = mld.parse(data, *addresses)
    except mld.MalformedPacket as exc:
        assert str(exc)
        return None
    assert isinstance(parsed, KINDS)
    return parsed


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=120), source=st.one_of(st.none(), ADDRESS, st.text(max_size=8)))
def test_no_bytes_make_the_parser_raise_anything_but_malformed_packet(data, source):
    parses_or_says_why(data)
    parses_or_says_why(data, source, mld.ALL_NODES)


@settings(max_examples=400, deadline=None)
@given(kind=TYPES, body=st.binary(min_size=0, max_size=120))
def test_any_body_with_a_right_checksum_decodes_or_is_malformed(kind, body):
    data = bytes([kind]) + body
    if len(data) >= 4:
        data = mld.with_checksum(data, "fe80::1", mld.ALL_MLDV2_ROUTERS)
        assert parses_or_says_why(data, "fe80::1", mld.ALL_MLDV2_ROUTERS) == parses_or_says_why(data)
    else:
        parses_or_says_why(data)


@settings(max_examples=300, deadline=None)
@given(counts=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 3), st.integers(0, 3)), max_size=4),
       announced=st.integers(0, 6), cut=st.integers(0, 60))
def test_v2_reports_with_lying_counts_are_malformed_not_crashes(counts, announced, cut):
    records = b"".join(struct.pack("!BBH", kind, aux, sources) + GROUP.to_bytes(16, "big")
                       + SOURCE_1.to_bytes(16, "big") * sources + b"\0" * 4 * aux for kind, aux, sources in counts)
    report = struct.pack("!BBHHH", 143, 0, 0, 0, announced) + records
    parsed = parses_or_says_why(report[:max(8, len(report) - cut)])
    if announced == len(counts) and cut == 0:
        assert len(parsed.records) == sum(1 for kind, _aux, _sources in counts if 1 <= kind <= 6)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_no_hop_by_hop_bytes_raise_anything_but_malformed_packet(data):
    try:
        assert mld.has_router_alert(data) in (True, False)
    except mld.MalformedPacket as exc:
        assert str(exc)
