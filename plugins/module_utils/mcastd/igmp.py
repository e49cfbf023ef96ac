# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IGMP on the wire: the internet checksum, the Router Alert option, building and parsing messages.

Pure functions over bytes, no sockets: everything in mcastd that speaks IGMP builds and reads its
messages here: Multicast Router Discovery (RFC 4286: advertisement, solicitation, termination) and
the querier's messages (RFC 1112, RFC 2236 and RFC 9776, which replaces RFC 3376): queries are
built by ``build_query()``; queries, reports and leaves are decoded by ``parse()`` through
``_DECODERS``.

The IP header's addresses and the constants below are dotted-quad strings, as the socket module
takes them; the addresses inside IGMP messages (groups, sources) are integers, as in config.py's
``Prefix.addr``.  Whatever the network sends is untrusted: ``parse_packet()`` and ``parse()``
raise ``MalformedPacket`` with a sentence, never anything else, for bytes that are not a
well-formed IPv4 packet carrying an IGMP message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import math
import socket
import struct
from collections import namedtuple

IPPROTO_IGMP = 2

ALL_HOSTS = "224.0.0.1"
ALL_SYSTEMS = ALL_HOSTS  # the name RFC 9776 uses: general queries are sent here
ALL_ROUTERS = "224.0.0.2"  # MRD solicitations are sent here (RFC 4286, section 4.2)
ALL_SNOOPERS = "224.0.0.106"  # MRD advertisements and terminations (RFC 4286, section 3.2)
ALL_IGMPV3_ROUTERS = "224.0.0.22"  # IGMPv3 reports are sent here (RFC 9776, section 4.2.14)

# IGMP message types.  The first five belong to the querier.
MEMBERSHIP_QUERY = 0x11
V1_MEMBERSHIP_REPORT = 0x12
V2_MEMBERSHIP_REPORT = 0x16
V2_LEAVE_GROUP = 0x17
V3_MEMBERSHIP_REPORT = 0x22
MRD_ADVERTISEMENT = 0x30
MRD_SOLICITATION = 0x31
MRD_TERMINATION = 0x32

# IGMPv3 group record types (RFC 9776, section 4.2.12) and the short names its tables use.
MODE_IS_INCLUDE = 1
MODE_IS_EXCLUDE = 2
CHANGE_TO_INCLUDE_MODE = 3
CHANGE_TO_EXCLUDE_MODE = 4
ALLOW_NEW_SOURCES = 5
BLOCK_OLD_SOURCES = 6
RECORD_TYPE_NAMES = {
    MODE_IS_INCLUDE: "IS_IN",
    MODE_IS_EXCLUDE: "IS_EX",
    CHANGE_TO_INCLUDE_MODE: "TO_IN",
    CHANGE_TO_EXCLUDE_MODE: "TO_EX",
    ALLOW_NEW_SOURCES: "ALLOW",
    BLOCK_OLD_SOURCES: "BLOCK",
}

# The largest value the 8-bit floating-point code of Max Resp Code and QQIC can carry:
# exp 7, mant 15 -> (15 | 0x10) << (7 + 3) (RFC 9776, sections 4.1.1 and 4.1.7).
FLOAT_CODE_MAX = 31744
# RFC 1112 hosts answer an IGMPv1 query (Max Resp Code 0) within 10 s; RFC 2236, section 4,
# has routers read that 0 as 100 tenths.
V1_MAX_RESP_TENTHS = 100
# Robustness above 7 does not fit the 3-bit QRV field; RFC 9776, section 4.1.6, sends 0 then.
QRV_MAX = 7
MULTICAST_FIRST = 0xE0000000  # 224.0.0.0
MULTICAST_LAST = 0xEFFFFFFF  # 239.255.255.255
# A query's sources must fit one IPv4 packet: 65535 - 24 (header with Router Alert) - 12.
QUERY_SOURCES_MAX = (0xFFFF - 24 - 12) // 4

# IP option Router Alert (RFC 2113): type 148 (copied flag + option 20), length 4, value 0
# ("routers shall examine this packet").  IGMP and MRD messages carry it so that a router or a
# snooping switch looks at them even when it is not a member of the destination group.
IPOPT_ROUTER_ALERT = 0x94
ROUTER_ALERT = struct.pack("!BBH", IPOPT_ROUTER_ALERT, 4, 0)
IPOPT_END = 0
IPOPT_NOOP = 1
# Type of service that IGMP messages use (internetwork control), as the kernel's own IGMP does.
TOS_INTERNETWORK_CONTROL = 0xC0

IP_HEADER = struct.Struct("!BBHHHBBH4s4s")  # without options
ADVERTISEMENT = struct.Struct("!BBHHH")  # type, advertisement interval, checksum, query interval, robustness
SHORT_MESSAGE = struct.Struct("!BBH")  # type, reserved, checksum: MRD solicitation and termination
GROUP_MESSAGE = struct.Struct("!BBHI")  # type, max resp code, checksum, group: IGMPv1/v2 messages
V3_QUERY = struct.Struct("!BBHIBBH")  # ... group, resv|S|QRV, QQIC, number of sources
V3_REPORT = struct.Struct("!BBHHH")  # type, reserved, checksum, reserved, number of group records
GROUP_RECORD = struct.Struct("!BBHI")  # record type, aux data len (words), number of sources, group


class MalformedPacket(ValueError):
    """Bytes that are not a well-formed IPv4 packet with an IGMP message; the text says why."""


# What parse() returns.  ``Other`` is a well-formed IGMP message of a type nothing decodes yet.
Advertisement = namedtuple("Advertisement", "interval query_interval robustness")
Solicitation = namedtuple("Solicitation", "")
Termination = namedtuple("Termination", "")
Other = namedtuple("Other", "type data")
# A Membership Query of any version.  ``max_resp_time`` and ``qqi`` are seconds, decoded from their
# codes; ``qrv`` and ``qqi`` are None in IGMPv1/v2 queries, which do not carry them, and ``qrv`` 0
# means the querier's robustness is above 7.  ``group`` is 0 in a general query.
Query = namedtuple("Query", "version max_resp_time group s_flag qrv qqi sources")
ReportV1 = namedtuple("ReportV1", "group")
ReportV2 = namedtuple("ReportV2", "group")
Leave = namedtuple("Leave", "group")
ReportV3 = namedtuple("ReportV3", "records")  # a tuple of GroupRecord, record types 1-6 only
GroupRecord = namedtuple("GroupRecord", "type group sources")

IpHeader = namedtuple("IpHeader", "tos ttl protocol source destination options")
Received = namedtuple("Received", "ip message")


def checksum(data):
    """The internet checksum (RFC 1071) of ``data``: the one's complement of the one's complement sum.

    A message whose checksum field holds the right value sums to 0 (see ``checksum_ok``).
    """
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def checksum_ok(data):
    return checksum(data) == 0


def _with_checksum(message):
    """Fill bytes 2-3 (the checksum field of every IGMP message) of a message built with 0 there."""
    return message[:2] + struct.pack("!H", checksum(message)) + message[4:]


# -- building ------------------------------------------------------------------------------------
def build_advertisement(interval, query_interval=0, robustness=0):
    """An MRD Advertisement (RFC 4286, section 3.2), 8 bytes.

    ``interval`` is the advertisement interval in seconds (1-255).  ``query_interval`` and
    ``robustness`` are the IGMP querier's values on the interface; both MUST be 0 while the
    router is not running IGMP there.
    """
    _check_range("advertisement interval", interval, 1, 0xFF)
    _check_range("query interval", query_interval, 0, 0xFFFF)
    _check_range("robustness variable", robustness, 0, 0xFFFF)
    return _with_checksum(ADVERTISEMENT.pack(MRD_ADVERTISEMENT, interval, 0, query_interval, robustness))


def build_solicitation():
    """An MRD Solicitation (RFC 4286, section 4.1), 4 bytes; sent by snooping switches to All-Routers."""
    return _with_checksum(SHORT_MESSAGE.pack(MRD_SOLICITATION, 0, 0))


def build_termination():
    """An MRD Termination (RFC 4286, section 5.1), 4 bytes; sent when a router stops on an interface."""
    return _with_checksum(SHORT_MESSAGE.pack(MRD_TERMINATION, 0, 0))


def _check_range(what, value, low, high):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError("%s must be a whole number from %d to %d, not %r" % (what, low, high, value))


# -- the 8-bit floating-point code of Max Resp Code and QQIC ------------------------------------
def encode_float_code(value):
    """Max Resp Code (in tenths of a second) or QQIC (in seconds) for ``value`` (RFC 9776, 4.1.1, 4.1.7).

    Below 128 the code is the value itself; from 128 on it is ``1 exp(3 bits) mant(4 bits)`` for
    ``(mant | 0x10) << (exp + 3)``, which carries 5 significant bits.  A value between two
    representable ones is rounded down, so hosts never take longer to answer than the querier
    waits; ``decode_float_code(encode_float_code(v))`` is what actually goes on the wire.
    """
    _check_range("a Max Resp Code or QQIC value", value, 0, FLOAT_CODE_MAX)
    if value < 0x80:
        return value
    exp = value.bit_length() - 8  # puts the leading 1 of value >> (exp + 3) at bit 4 (0x10)
    mant = (value >> (exp + 3)) & 0x0F
    return 0x80 | (exp << 4) | mant


def decode_float_code(code):
    """The value (tenths of a second or seconds) a Max Resp Code or QQIC stands for."""
    _check_range("a Max Resp Code or QQIC", code, 0, 0xFF)
    if code < 0x80:
        return code
    exp = (code >> 4) & 0x07
    mant = code & 0x0F
    return (mant | 0x10) << (exp + 3)


# -- building queries ----------------------------------------------------------------------------
def build_query(version, max_resp_time_s, group=0, s_flag=False, qrv=2, qqi_s=125, sources=()):
    """A Membership Query: IGMPv3 (12 bytes + 4 per source), IGMPv2 or IGMPv1 (8 bytes).

    ``max_resp_time_s`` is in seconds, rounded to tenths (IGMPv1 has no such field: hosts answer
    within 10 s).  ``group`` (an integer address) is 0 for a general query, a multicast group for a
    group-specific query (IGMPv2, IGMPv3) or, with ``sources``, a group-and-source-specific one
    (IGMPv3).  ``s_flag``, ``qrv`` (robustness; above 7 it is sent as 0) and ``qqi_s`` (query
    interval in seconds, whole seconds on the wire) exist in IGMPv3 only.
    """
    if version not in (1, 2, 3) or isinstance(version, bool):
        raise ValueError("IGMP version must be 1, 2 or 3, not %r" % (version,))
    _check_group(group, version)
    sources = tuple(sources)
    if sources and version < 3:
        raise ValueError("IGMPv%d queries carry no sources; use IGMPv3 for a group-and-source-specific query"
                         % version)
    if version == 1:
        return _with_checksum(GROUP_MESSAGE.pack(MEMBERSHIP_QUERY, 0, 0, 0))
    tenths = _tenths("max response time", max_resp_time_s, 255 if version == 2 else FLOAT_CODE_MAX)
    if version == 2:
        return _with_checksum(GROUP_MESSAGE.pack(MEMBERSHIP_QUERY, tenths, 0, group))
    return _v3_query(encode_float_code(tenths), group, s_flag, qrv, qqi_s, sources)


def _v3_query(max_resp_code, group, s_flag, qrv, qqi_s, sources):
    if not isinstance(s_flag, bool):
        raise ValueError("the S flag must be True or False, not %r" % (s_flag,))
    _check_range("robustness variable", qrv, 1, 0xFF)
    qqic = encode_float_code(_tenths("query interval", qqi_s, FLOAT_CODE_MAX * 10, low=0) // 10)
    if sources and not group:
        raise ValueError("a query with sources needs a group: general queries carry no sources")
    if len(sources) > QUERY_SOURCES_MAX:
        raise ValueError("%d sources do not fit one query; at most %d do" % (len(sources), QUERY_SOURCES_MAX))
    for source in sources:
        _check_range("a source address", source, 0, 0xFFFFFFFF)
    flags = (0x08 if s_flag else 0) | (qrv if qrv <= QRV_MAX else 0)
    header = V3_QUERY.pack(MEMBERSHIP_QUERY, max_resp_code, 0, group, flags, qqic, len(sources))
    return _with_checksum(header + struct.pack("!%dI" % len(sources), *sources))


def _check_group(group, version):
    if not isinstance(group, int) or isinstance(group, bool):
        raise ValueError("the query's group must be an integer address (0 for a general query), not %r" % (group,))
    if group and version == 1:
        raise ValueError("IGMPv1 has general queries only: the group must be 0, not %d" % group)
    if group and not MULTICAST_FIRST <= group <= MULTICAST_LAST:
        raise ValueError("the query's group must be 0 or a multicast address (224.0.0.0/4), not %d" % group)


def _tenths(what, seconds, high, low=1):
    """Seconds (int or float) -> whole tenths, refused outside low..high tenths."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or math.isnan(seconds):
        raise ValueError("%s must be a number of seconds, not %r" % (what, seconds))
    tenths = int(round(seconds * 10)) if abs(seconds) < 1e9 else high + 1  # infinity has no int()
    if not low <= tenths <= high:
        raise ValueError("%s must be from %s to %s seconds, not %r" % (what, _seconds(low), _seconds(high), seconds))
    return tenths


def _seconds(tenths):
    return "%d" % (tenths // 10) if tenths % 10 == 0 else "%d.%d" % (tenths // 10, tenths % 10)


# -- parsing -------------------------------------------------------------------------------------
def parse_packet(packet):
    """An IPv4 packet as a raw IGMP socket returns it (header included) -> Received(ip, message)."""
    ip, payload = parse_ip(packet)
    if ip.protocol != IPPROTO_IGMP:
        raise MalformedPacket("IP protocol %d, not IGMP (2)" % ip.protocol)
    return Received(ip, parse(payload))


def parse_ip(packet):
    """Split an IPv4 packet into (IpHeader, payload); the payload is cut to the header's total length."""
    if len(packet) < IP_HEADER.size:
        raise MalformedPacket("%d bytes, shorter than an IPv4 header (20)" % len(packet))
    version_ihl, tos, total, _ident, _frag, ttl, protocol, _csum, source, destination = IP_HEADER.unpack_from(packet)
    header_length = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4:
        raise MalformedPacket("IP version %d, not 4" % (version_ihl >> 4))
    if header_length < IP_HEADER.size or header_length > len(packet):
        raise MalformedPacket("IP header length %d does not fit a %d-byte packet" % (header_length, len(packet)))
    # Accept more bytes than announced (link padding), never fewer.
    if total < header_length or total > len(packet):
        raise MalformedPacket("IP total length %d does not fit a %d-byte packet" % (total, len(packet)))
    options = bytes(packet[IP_HEADER.size:header_length])
    header = IpHeader(tos, ttl, protocol, socket.inet_ntoa(source), socket.inet_ntoa(destination), options)
    return header, bytes(packet[header_length:total])


def ip_options(options):
    """The IP options as a list of (type, value bytes); raises MalformedPacket if they do not parse."""
    found = []
    offset = 0
    while offset < len(options):
        kind = options[offset]
        if kind == IPOPT_END:
            break
        if kind == IPOPT_NOOP:
            offset += 1
            continue
        if offset + 1 >= len(options) or options[offset + 1] < 2 or offset + options[offset + 1] > len(options):
            raise MalformedPacket("IP option %d at offset %d has an invalid length" % (kind, offset))
        length = options[offset + 1]
        found.append((kind, bytes(options[offset + 2:offset + length])))
        offset += length
    return found


def has_router_alert(options):
    """True if the IP options (bytes after the 20-byte header) include Router Alert."""
    return any(kind == IPOPT_ROUTER_ALERT and len(value) == 2 for kind, value in ip_options(options))


def parse(data):
    """An IGMP message (the IP payload) -> one of the namedtuples above, Other for unknown types.

    Checks the length its type needs and the checksum over the whole message (RFC 4286 and
    the IGMP RFCs compute it over the entire IGMP message).
    """
    if len(data) < SHORT_MESSAGE.size:
        raise MalformedPacket("IGMP message of %d bytes, shorter than 4" % len(data))
    kind = data[0]
    size, decode = _DECODERS.get(kind, (SHORT_MESSAGE.size, None))
    if len(data) < size:
        raise MalformedPacket("IGMP type 0x%02x needs %d bytes, got %d" % (kind, size, len(data)))
    if not checksum_ok(data):
        raise MalformedPacket("IGMP type 0x%02x: checksum 0x%04x is wrong" % (kind, struct.unpack_from("!H", data, 2)[0]))
    return decode(data) if decode else Other(kind, bytes(data))


def _advertisement(data):
    _type, interval, _csum, query_interval, robustness = ADVERTISEMENT.unpack_from(data)
    return Advertisement(interval, query_interval, robustness)


def _query(data):
    """RFC 9776, section 7.1: 8 bytes with code 0 is IGMPv1, 8 bytes otherwise IGMPv2, 12 or more IGMPv3."""
    if len(data) == GROUP_MESSAGE.size:
        _type, code, _csum, group = GROUP_MESSAGE.unpack_from(data)
        if code == 0:
            return Query(1, V1_MAX_RESP_TENTHS / 10, group, False, None, None, ())
        return Query(2, code / 10, group, False, None, None, ())
    if len(data) < V3_QUERY.size:
        raise MalformedPacket("IGMP query of %d bytes: neither 8 (IGMPv1/v2) nor 12 or more (IGMPv3)" % len(data))
    _type, code, _csum, group, flags, qqic, count = V3_QUERY.unpack_from(data)
    sources = _addresses(data, V3_QUERY.size, count, "IGMPv3 query")
    # Bytes after the sources are "additional data" (section 4.1.10): covered by the checksum, ignored.
    return Query(3, decode_float_code(code) / 10, group, bool(flags & 0x08), flags & 0x07,
                 decode_float_code(qqic), sources)


def _addresses(data, offset, count, what):
    """``count`` 4-byte addresses at ``offset`` as a tuple of integers; MalformedPacket if they overrun."""
    end = offset + 4 * count
    if end > len(data):
        raise MalformedPacket("%s announces %d sources, %d bytes, but only %d bytes follow"
                              % (what, count, 4 * count, len(data) - offset))
    return struct.unpack_from("!%dI" % count, data, offset)


def _report_v3(data):
    """An IGMPv3 report; records of unknown types are skipped, as RFC 9776, section 4.2.12, says."""
    count = V3_REPORT.unpack_from(data)[4]
    offset = V3_REPORT.size
    records = []
    for index in range(count):
        if offset + GROUP_RECORD.size > len(data):
            raise MalformedPacket("IGMPv3 report announces %d group records, but record %d starts past its "
                                  "%d bytes" % (count, index + 1, len(data)))
        kind, aux_words, sources, group = GROUP_RECORD.unpack_from(data, offset)
        addresses = _addresses(data, offset + GROUP_RECORD.size, sources, "IGMPv3 group record %d" % (index + 1))
        offset += GROUP_RECORD.size + 4 * sources + 4 * aux_words
        if offset > len(data):
            raise MalformedPacket("IGMPv3 group record %d announces %d words of auxiliary data past the "
                                  "report's end" % (index + 1, aux_words))
        if kind in RECORD_TYPE_NAMES:
            records.append(GroupRecord(kind, group, addresses))
    return ReportV3(tuple(records))


def _group_of(data):
    return GROUP_MESSAGE.unpack_from(data)[3]


_DECODERS = {
    MEMBERSHIP_QUERY: (GROUP_MESSAGE.size, _query),
    # IGMPv1/v2 reports and leaves longer than 8 bytes are accepted, the rest ignored (RFC 2236, 2.5).
    V1_MEMBERSHIP_REPORT: (GROUP_MESSAGE.size, lambda data: ReportV1(_group_of(data))),
    V2_MEMBERSHIP_REPORT: (GROUP_MESSAGE.size, lambda data: ReportV2(_group_of(data))),
    V2_LEAVE_GROUP: (GROUP_MESSAGE.size, lambda data: Leave(_group_of(data))),
    V3_MEMBERSHIP_REPORT: (V3_REPORT.size, _report_v3),
    MRD_ADVERTISEMENT: (ADVERTISEMENT.size, _advertisement),
    MRD_SOLICITATION: (SHORT_MESSAGE.size, lambda data: Solicitation()),
    MRD_TERMINATION: (SHORT_MESSAGE.size, lambda data: Termination()),
}
