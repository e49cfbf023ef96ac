"""IGMP querier wire format: the 8-bit float code, queries of every version, reports and leaves.

Every byte vector below was computed by hand, the checksum as RFC 1071 says: add the message as
16-bit big-endian words with the checksum field 0, fold the carries back in, take the complement.
The comment next to each vector shows the sum.  Group 239.1.2.3 is ef010203, 232.1.1.1 is
e8010101, sources 192.0.2.1 and 192.0.2.2 are c0000201 and c0000202.
"""
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import igmp

GROUP = 0xEF010203  # 239.1.2.3
SSM_GROUP = 0xE8010101  # 232.1.1.1
SOURCE_1 = 0xC0000201  # 192.0.2.1
SOURCE_2 = 0xC0000202  # 192.0.2.2


def with_checksum(message):
    """The message with its checksum field (bytes 2-3) filled in; igmp.checksum is tested on RFC vectors."""
    message = bytes(message[:2]) + b"\0\0" + bytes(message[4:])
    return message[:2] + struct.pack("!H", igmp.checksum(message)) + message[4:]


# -- the floating-point code (RFC 9776, sections 4.1.1 and 4.1.7) ----------------------------------
@pytest.mark.parametrize("value, code, on_the_wire", [
    (0, 0x00, 0),
    (1, 0x01, 1),
    (100, 0x64, 100),  # the default max response time, 10 s
    (125, 0x7D, 125),  # the default query interval
    (127, 0x7F, 127),  # the last value that is its own code
    (128, 0x80, 128),  # exp 0, mant 0: (0 | 0x10) << 3
    (135, 0x80, 128),  # exp 0 steps by 8: rounded down
    (136, 0x81, 136),
    (200, 0x89, 200),  # RFC 6636's example: 20 s is 0b10001001, (9 | 0x10) << 3
    (248, 0x8F, 248),  # exp 0, mant 15: 31 << 3
    (255, 0x8F, 248),
    (256, 0x90, 256),  # exp 1, mant 0: 16 << 4
    (1000, 0xAF, 992),  # exp 2 (bit length 10), 1000 >> 5 = 31: mant 15, 31 << 5 = 992
    (16384, 0xF0, 16384),  # exp 7, mant 0: 16 << 10
    (31743, 0xFE, 30720),  # 31743 >> 10 = 30: mant 14
    (31744, 0xFF, 31744),  # exp 7, mant 15: the largest value there is
])
def test_float_code_table(value, code, on_the_wire):
    assert igmp.encode_float_code(value) == code
    assert igmp.decode_float_code(code) == on_the_wire


def test_every_code_decodes_to_a_value_that_encodes_back_to_it():
    values = [igmp.decode_float_code(code) for code in range(256)]
    assert values == sorted(set(values))  # strictly increasing: no two codes mean the same
    assert [igmp.encode_float_code(value) for value in values] == list(range(256))


def test_every_value_encodes_to_the_largest_code_not_above_it():
    for value in range(igmp.FLOAT_CODE_MAX + 1):
        code = igmp.encode_float_code(value)
        assert igmp.decode_float_code(code) <= value
        assert code == 0xFF or igmp.decode_float_code(code + 1) > value


@pytest.mark.parametrize("function, value, words", [
    (igmp.encode_float_code, -1, "value must be a whole number from 0 to 31744, not -1"),
    (igmp.encode_float_code, 31745, "from 0 to 31744, not 31745"),
    (igmp.encode_float_code, 12.5, "not 12.5"),
    (igmp.encode_float_code, True, "not True"),
    (igmp.decode_float_code, 256, "Max Resp Code or QQIC must be a whole number from 0 to 255, not 256"),
    (igmp.decode_float_code, -1, "not -1"),
])
def test_float_code_refuses_what_it_cannot_carry(function, value, words):
    with pytest.raises(ValueError, match=words):
        function(value)


# -- building queries ------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs, expected", [
    # IGMPv3 general query, 10 s (code 100 = 0x64), QRV 2, QQIC 125 (0x7d):
    # 1164 + 0000 + 0000 + 027d + 0000 = 13e1, ~13e1 = ec1e
    ((3, 10), {}, "1164ec1e00000000027d0000"),
    # max resp 20 s = 200 tenths = code 0x89: 1189 + 027d = 1406, ~ = ebf9
    ((3, 20), {}, "1189ebf900000000027d0000"),
    # robustness 3, query interval 60 s (0x3c): 1164 + 033c = 14a0, ~ = eb5f
    ((3, 10), {"qrv": 3, "qqi_s": 60}, "1164eb5f00000000033c0000"),
    # robustness 9 does not fit QRV: sent as 0; QQIC 200 s = 0x89: 1164 + 0089 = 11ed, ~ = ee12
    ((3, 10), {"qrv": 9, "qqi_s": 200}, "1164ee120000000000890000"),
    # group-and-source-specific, 1 s (0x0a), S flag, QRV 2 (flags 0a), two sources:
    # 110a + ef01 + 0203 + 0a7d + 0002 + c000 + 0201 + c000 + 0202 = 29090, 9090 + 2 = 9092, ~ = 6f6d
    ((3, 1, GROUP, True, 2, 125, (SOURCE_1, SOURCE_2)), {},
     "110a6f6def0102030a7d0002c0000201c0000202"),
    # IGMPv2 general query, 10 s: ~1164 = ee9b
    ((2, 10), {}, "1164ee9b00000000"),
    # IGMPv2 group-specific, 1 s: 110a + ef01 + 0203 = 1020e, 020e + 1 = 020f, ~ = fdf0
    ((2, 1, GROUP), {}, "110afdf0ef010203"),
    # IGMPv2 25.5 s, the most 8 bits of tenths hold: ~11ff = ee00
    ((2, 25.5), {}, "11ffee0000000000"),
    # IGMPv1: code 0 whatever the max response time; ~1100 = eeff
    ((1, 10), {}, "1100eeff00000000"),
])
def test_query_bytes(args, kwargs, expected):
    assert igmp.build_query(*args, **kwargs).hex() == expected


def test_tenths_are_rounded_not_truncated():
    # 0.3 * 10 is 3.0000000000000004 and 0.7 * 10 is 7.000000000000001 in binary floating point
    assert igmp.build_query(2, 0.3)[1] == 3
    assert igmp.build_query(2, 0.7)[1] == 7
    assert igmp.build_query(3, 12.8)[1] == 0x80  # 128 tenths: the first float code


@pytest.mark.parametrize("args, kwargs, words", [
    ((4, 10), {}, "IGMP version must be 1, 2 or 3, not 4"),
    ((True, 10), {}, "not True"),
    ((2, 0), {}, "max response time must be from 0.1 to 25.5 seconds, not 0"),
    ((2, 25.6), {}, "from 0.1 to 25.5 seconds, not 25.6"),
    ((3, 0.04), {}, "max response time must be from 0.1 to 3174.4 seconds, not 0.04"),
    ((3, 3174.5), {}, "from 0.1 to 3174.4 seconds"),
    ((3, float("nan")), {}, "max response time must be a number of seconds, not nan"),
    ((3, float("inf")), {}, "from 0.1 to 3174.4 seconds, not inf"),
    ((3, "10"), {}, "must be a number of seconds, not '10'"),
    ((3, 10), {"qqi_s": 31745}, "query interval must be from 0 to 31744 seconds"),
    ((3, 10), {"qrv": 0}, "robustness variable must be a whole number from 1 to 255, not 0"),
    ((3, 10), {"s_flag": 1}, "the S flag must be True or False, not 1"),
    ((3, 10), {"group": "239.1.2.3"}, "group must be an integer address"),
    ((3, 10), {"group": 0xC0000201}, "group must be 0 or a multicast address"),
    ((1, 10), {"group": GROUP}, "IGMPv1 has general queries only"),
    ((3, 10), {"sources": (SOURCE_1,)}, "a query with sources needs a group"),
    ((2, 10, GROUP), {"sources": (SOURCE_1,)}, "IGMPv2 queries carry no sources"),
    ((1, 10), {"sources": (SOURCE_1,)}, "IGMPv1 queries carry no sources"),
    ((3, 10, GROUP), {"sources": (-1,)}, "a source address must be a whole number from 0 to 4294967295"),
    ((3, 10, GROUP), {"sources": range(igmp.QUERY_SOURCES_MAX + 1)}, "16375 sources do not fit one query; at most 16374"),
])
def test_bad_query_arguments_are_refused_with_the_reason(args, kwargs, words):
    with pytest.raises(ValueError, match=words):
        igmp.build_query(*args, **kwargs)


# -- parsing queries (RFC 9776, section 7.1 tells the versions apart) ------------------------------
def test_each_version_parses_back():
    assert igmp.parse(igmp.build_query(1, 5)) == igmp.Query(1, 10.0, 0, False, None, None, ())
    assert igmp.parse(igmp.build_query(2, 2.5, GROUP)) == igmp.Query(2, 2.5, GROUP, False, None, None, ())
    assert igmp.parse(igmp.build_query(3, 10)) == igmp.Query(3, 10.0, 0, False, 2, 125, ())
    built = igmp.build_query(3, 1, GROUP, True, 3, 60, (SOURCE_1, SOURCE_2))
    assert igmp.parse(built) == igmp.Query(3, 1.0, GROUP, True, 3, 60, (SOURCE_1, SOURCE_2))


def test_values_the_float_code_cannot_carry_parse_back_rounded_down():
    query = igmp.parse(igmp.build_query(3, 13.5, qrv=8, qqi_s=1000))
    assert (query.max_resp_time, query.qrv, query.qqi) == (12.8, 0, 992)


@pytest.mark.parametrize("data, version", [
    ("1100eeff00000000", 1),  # 8 bytes, code 0
    ("1101eefe00000000", 2),  # 8 bytes, code 1
    ("11ffee0000000000", 2),  # 8 bytes, code 255: no float format in IGMPv2
    ("1164ee9b0000000000000000", 3),  # 12 bytes: IGMPv3 even though a v2 query has the same first 8
])
def test_query_version_follows_length_and_code(data, version):
    assert igmp.parse(bytes.fromhex(data)).version == version


def test_additional_data_after_the_sources_is_ignored():
    # RFC 9776, section 4.1.10: covered by the checksum, otherwise ignored
    query = with_checksum(igmp.build_query(3, 1, GROUP, sources=(SOURCE_1,)) + b"\xde\xad\xbe\xef")
    assert igmp.parse(query).sources == (SOURCE_1,)


@pytest.mark.parametrize("data, words", [
    (with_checksum(bytes.fromhex("1164000000000000ab")), "IGMP query of 9 bytes: neither 8"),
    (with_checksum(bytes.fromhex("11640000000000000000")), "IGMP query of 10 bytes"),
    (with_checksum(bytes.fromhex("1164000000000000027d")), "neither 8 \\(IGMPv1/v2\\) nor 12 or more"),
    (with_checksum(bytes.fromhex("116400000000000000000001")),
     "IGMPv3 query announces 1 sources, 4 bytes, but only 0 bytes follow"),
    (with_checksum(bytes.fromhex("11640000ef010203027d0002c0000201")), "announces 2 sources, 8 bytes, but only 4"),
    (bytes.fromhex("1164ec1f00000000027d0000"), "IGMP type 0x11: checksum 0xec1f is wrong"),
    (bytes.fromhex("1164ee9b"), "IGMP type 0x11 needs 8 bytes, got 4"),
])
def test_malformed_queries_say_why(data, words):
    with pytest.raises(igmp.MalformedPacket, match=words):
        igmp.parse(data)


# -- reports and leaves ---------------------------------------------------------------------------
@pytest.mark.parametrize("data, expected", [
    # 1200 + ef01 + 0203 = 10304, 0304 + 1 = 0305, ~ = fcfa
    ("1200fcfaef010203", igmp.ReportV1(GROUP)),
    # 1600 + ef01 + 0203 = 10704 -> 0705, ~ = f8fa
    ("1600f8faef010203", igmp.ReportV2(GROUP)),
    # 1700 + ef01 + 0203 = 10804 -> 0805, ~ = f7fa
    ("1700f7faef010203", igmp.Leave(GROUP)),
    # a v2 report longer than 8 bytes: the rest is ignored (RFC 2236, section 2.5); 1600 + ef01 +
    # 0203 + 0000 = 10704 -> f8fa as above
    ("1600f8faef0102030000", igmp.ReportV2(GROUP)),
])
def test_v1_v2_reports_and_leaves(data, expected):
    assert igmp.parse(bytes.fromhex(data)) == expected


# An IGMPv3 report with two records: TO_EX(239.1.2.3, {}) and IS_IN(232.1.1.1, {192.0.2.1}) with
# one word of auxiliary data deadbeef.  2200 + 0000 + 0000 + 0002 + 0400 + 0000 + ef01 + 0203 +
# 0101 + 0001 + e801 + 0101 + c000 + 0201 + dead + beef = 460a7, 60a7 + 4 = 60ab, ~ = 9f54
V3_REPORT = ("22009f5400000002"
             "04000000ef010203"
             "01010001e8010101c0000201deadbeef")


def test_v3_report_with_records_sources_and_aux_data():
    assert igmp.parse(bytes.fromhex(V3_REPORT)) == igmp.ReportV3((
        igmp.GroupRecord(igmp.CHANGE_TO_EXCLUDE_MODE, GROUP, ()),
        igmp.GroupRecord(igmp.MODE_IS_INCLUDE, SSM_GROUP, (SOURCE_1,)),
    ))


def test_v3_report_without_records():
    assert igmp.parse(bytes.fromhex("2200ddff00000000")) == igmp.ReportV3(())  # ~2200 = ddff


def test_v3_records_of_unknown_types_are_skipped():
    # RFC 9776, section 4.2.12: unrecognized record types are ignored, the others still count
    report = with_checksum(bytes.fromhex("2200000000000003"
                                         "07000001ef010203c0000201"  # type 7, one source
                                         "00000000ef010203"  # type 0
                                         "06000002e8010101c0000201c0000202"))  # BLOCK two sources
    assert igmp.parse(report) == igmp.ReportV3((
        igmp.GroupRecord(igmp.BLOCK_OLD_SOURCES, SSM_GROUP, (SOURCE_1, SOURCE_2)),))


def test_every_record_type_has_its_rfc_name():
    names = [igmp.RECORD_TYPE_NAMES[kind] for kind in range(1, 7)]
    assert names == ["IS_IN", "IS_EX", "TO_IN", "TO_EX", "ALLOW", "BLOCK"]


@pytest.mark.parametrize("data, words", [
    ("2200000000000001", "announces 1 group records, but record 1 starts past its 8 bytes"),
    ("220000000000000204000000ef010203", "announces 2 group records, but record 2 starts past its 16 bytes"),
    ("220000000000000101000002ef010203c0000201", "IGMPv3 group record 1 announces 2 sources, 8 bytes, but only 4"),
    ("220000000000000101020000ef010203deadbeef", "record 1 announces 2 words of auxiliary data past the report"),
    ("220000000000", "IGMP type 0x22 needs 8 bytes, got 6"),
])
def test_malformed_v3_reports_say_why(data, words):
    with pytest.raises(igmp.MalformedPacket, match=words):
        igmp.parse(with_checksum(bytes.fromhex(data)))


def test_bad_checksum_of_a_report():
    with pytest.raises(igmp.MalformedPacket, match="IGMP type 0x16: checksum 0xf8fb is wrong"):
        igmp.parse(bytes.fromhex("1600f8fbef010203"))


def test_a_query_in_an_ip_packet():
    query = igmp.build_query(3, 10)
    header = struct.pack("!BBHHHBBH4s4s", 0x46, 0xC0, 24 + len(query), 0, 0, 1, 2, 0,
                         socket.inet_aton("192.0.2.1"), socket.inet_aton(igmp.ALL_SYSTEMS))
    received = igmp.parse_packet(header + igmp.ROUTER_ALERT + query)
    assert received.ip.destination == "224.0.0.1"
    assert received.message == igmp.Query(3, 10.0, 0, False, 2, 125, ())


# -- properties ----------------------------------------------------------------------------------
MULTICAST = st.integers(igmp.MULTICAST_FIRST, igmp.MULTICAST_LAST)
ADDRESS = st.integers(0, 0xFFFFFFFF)


@settings(max_examples=300, deadline=None)
@given(tenths=st.integers(1, igmp.FLOAT_CODE_MAX), group=st.one_of(st.just(0), MULTICAST),
       s_flag=st.booleans(), qrv=st.integers(1, 255), qqi=st.integers(0, igmp.FLOAT_CODE_MAX),
       sources=st.lists(ADDRESS, max_size=20))
def test_built_v3_queries_parse_back(tenths, group, s_flag, qrv, qqi, sources):
    sources = tuple(sources) if group else ()
    query = igmp.parse(igmp.build_query(3, tenths / 10, group, s_flag, qrv, qqi, sources))
    wire_tenths = igmp.decode_float_code(igmp.encode_float_code(tenths))
    assert query == igmp.Query(3, wire_tenths / 10, group, s_flag, qrv if qrv <= 7 else 0,
                               igmp.decode_float_code(igmp.encode_float_code(qqi)), sources)


@settings(max_examples=100, deadline=None)
@given(tenths=st.integers(1, 255), group=st.one_of(st.just(0), MULTICAST))
def test_built_v2_queries_parse_back(tenths, group):
    expected = igmp.Query(2, tenths / 10, group, False, None, None, ())
    assert igmp.parse(igmp.build_query(2, tenths / 10, group)) == expected


KINDS = (igmp.Advertisement, igmp.Solicitation, igmp.Termination, igmp.Other, igmp.Query, igmp.ReportV1,
         igmp.ReportV2, igmp.Leave, igmp.ReportV3)
TYPES = st.sampled_from([igmp.MEMBERSHIP_QUERY, igmp.V1_MEMBERSHIP_REPORT, igmp.V2_MEMBERSHIP_REPORT,
                         igmp.V2_LEAVE_GROUP, igmp.V3_MEMBERSHIP_REPORT, igmp.MRD_ADVERTISEMENT, 0x13])


def parses_or_says_why(data):
    """parse() either decodes ``data`` or raises MalformedPacket with a sentence; nothing else."""
    try:
        message = igmp.parse(data)
    except igmp.MalformedPacket as exc:
        assert str(exc)
        return None
    assert isinstance(message, KINDS)
    return message


@settings(max_examples=400, deadline=None)
@given(kind=TYPES, body=st.binary(min_size=0, max_size=60))
def test_any_body_with_a_right_checksum_decodes_or_is_malformed(kind, body):
    # Random bytes almost never carry a right checksum; fixing it up lets the decoders see them.
    parses_or_says_why(with_checksum(bytes([kind]) + body) if len(body) >= 3 else bytes([kind]) + body)


@settings(max_examples=300, deadline=None)
@given(counts=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 3), st.integers(0, 3)), max_size=4),
       announced=st.integers(0, 6), cut=st.integers(0, 40))
def test_v3_reports_with_lying_counts_are_malformed_not_crashes(counts, announced, cut):
    records = b"".join(struct.pack("!BBHI", kind, aux, sources, GROUP) + b"\xc0\0\2\1" * sources + b"\0" * 4 * aux
                       for kind, aux, sources in counts)
    report = struct.pack("!BBHHH", 0x22, 0, 0, 0, announced) + records
    report = report[:max(8, len(report) - cut)]
    message = parses_or_says_why(with_checksum(report))
    if announced == len(counts) and cut == 0:
        assert len(message.records) == sum(1 for kind, _aux, _sources in counts if 1 <= kind <= 6)
