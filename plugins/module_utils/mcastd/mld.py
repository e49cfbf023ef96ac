# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MLD on the wire: the IPv6 twin of igmp.py, building and parsing Multicast Listener Discovery messages.

Pure functions over bytes, no sockets.  MLDv1 (RFC 2710) and MLDv2 (RFC 9777, which replaces
RFC 3810) are ICMPv6 messages: queries are built by ``build_query()``; queries, reports and
dones are decoded by ``parse()``.  MLDv1 is the twin of IGMPv2 and MLDv2 that of IGMPv3
(``IGMP_TWIN_VERSION``), and the parsed messages carry the field names of igmp.py's, so one
querier can handle both:

    igmp.Query(version, max_resp_time, group, s_flag, qrv, qqi, sources)  <->  mld.Query (same fields)
    igmp.ReportV2(group)                                                 <->  mld.ReportV1(group)
    igmp.Leave(group)                                                    <->  mld.Done(group), alias mld.Leave
    igmp.ReportV3(records), GroupRecord(type, group, sources)             <->  mld.ReportV2(records), the same
                                                                                GroupRecord; the record types
                                                                                1-6 mean the same (RFC 9777 5.2.12)

``version`` is the MLD version (1 or 2); ``max_resp_time`` and ``qqi`` are seconds, as in igmp.py.
As there, the addresses inside messages (groups, sources) are integers, here 128-bit ones
(``aton``/``ntoa`` convert; ``ipaddress.IPv6Address(n)`` too), and 0 (``::``) is the group of a
general query.  The constants and the addresses of a packet (its source and destination, for the
checksum) are strings, as the socket module takes and returns them (a ``%scope`` suffix is allowed);
integers are accepted there too.

The checksum: ICMPv6 covers the message and a pseudo-header (source, destination, length, next
header 58; RFC 8200, section 8.1), so the message alone cannot be checked.  The kernel does it:
on a raw ICMPv6 socket it always fills in the checksum when sending (RFC 3542, section 3.1; Linux
refuses IPV6_CHECKSUM at the IPPROTO_IPV6 level on such a socket), so ``build_query()`` leaves it 0;
and it verifies it when receiving: a packet with a wrong checksum never reaches a raw ICMPv6
socket (observed on Linux 6.18: not even a blocking ``recvmsg`` wakes up; the namespace's
Icmp6InCsumErrors counts it, and a snooping bridge on the way drops it already).  ``parse()``
therefore checks the checksum only when given the packet's addresses; ``with_checksum()`` fills it
in for tests and for sockets whose checksum computation is off (SOL_RAW IPV6_CHECKSUM -1).

Whatever the network sends is untrusted: ``parse()`` and ``hop_by_hop_options()`` raise
``MalformedPacket`` (igmp.py's) with a sentence, never anything else, for bytes that are not a
well-formed message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import math
import socket
import struct
from collections import namedtuple

from . import igmp
# Shared with IGMP, the same on the wire: the 8-bit float code of QQIC (RFC 9777, 5.1.9, as
# RFC 9776, 4.1.7), the record types and their short names, the internet checksum, the error.
from .igmp import (  # noqa: F401  pylint: disable=unused-import
    ALLOW_NEW_SOURCES, BLOCK_OLD_SOURCES, CHANGE_TO_EXCLUDE_MODE, CHANGE_TO_INCLUDE_MODE, FLOAT_CODE_MAX,
    MODE_IS_EXCLUDE, MODE_IS_INCLUDE, QRV_MAX, RECORD_TYPE_NAMES, GroupRecord, MalformedPacket, Other,
    decode_float_code, encode_float_code)

IPPROTO_ICMPV6 = 58

ALL_NODES = "ff02::1"  # general queries are sent here (RFC 9777, section 5.1.15)
ALL_ROUTERS = "ff02::2"  # MLDv1 Dones are sent here (RFC 2710, section 3)
ALL_MLDV2_ROUTERS = "ff02::16"  # MLDv2 reports are sent here (RFC 9777, section 5.2.14)

# ICMPv6 message types of MLD
MULTICAST_LISTENER_QUERY = 130
V1_MULTICAST_LISTENER_REPORT = 131
V1_MULTICAST_LISTENER_DONE = 132
V2_MULTICAST_LISTENER_REPORT = 143

# MLDv1 is IGMPv2's twin, MLDv2 IGMPv3's: what querier.py's version numbers (IGMP's) are for each.
IGMP_TWIN_VERSION = {1: 2, 2: 3}

# The Maximum Response Code of MLDv2 (RFC 9777, section 5.1.3) is milliseconds below 32768 and a
# 16-bit float above: 1 exp(3 bits) mant(12 bits) for (mant | 0x1000) << (exp + 3).  The largest
# value is exp 7, mant 0xfff: 0x1fff << 10 = 8387584 ms, about 2 h 20 min.
MRC_FLOAT_FIRST = 0x8000
MRC_MAX = 0x1FFF << 10
V1_MAX_RESP_DELAY_MAX = 0xFFFF  # MLDv1's Maximum Response Delay: 16 bits of milliseconds, no float
MULTICAST_FIRST = 0xFF << 120  # ff00::/8
MULTICAST_LAST = (1 << 128) - 1
LINK_LOCAL = (0xFE80 << 112, 10)  # fe80::/10: MLD messages come from here (RFC 9777, section 5)
# A query's sources must fit one IPv6 packet: payload length 65535 - 8 (hop-by-hop header) - 28.
QUERY_SOURCES_MAX = (0xFFFF - 8 - 28) // 16

# The Hop-by-Hop Options header that every MLD message is sent behind (RFC 9777, section 5;
# RFC 2711): next header (the kernel fills it in), length 0 (8 bytes), Router Alert (type 5,
# length 2, value 0: "the datagram contains an MLD message"), PadN of 0 bytes to 8.  This is what
# IPV6_HOPOPTS takes and IPV6_RECVHOPOPTS returns (with the real next header, 58).
HOPOPT_PAD1 = 0
HOPOPT_PADN = 1
HOPOPT_ROUTER_ALERT = 5
ROUTER_ALERT_MLD = 0
ROUTER_ALERT_HOPOPTS = struct.pack("!BBBBHBB", 0, 0, HOPOPT_ROUTER_ALERT, 2, ROUTER_ALERT_MLD, HOPOPT_PADN, 0)

SHORT_MESSAGE = struct.Struct("!BBH")  # type, code, checksum: the ICMPv6 header
V1_MESSAGE = struct.Struct("!BBHHH16s")  # ... max response delay, reserved, multicast address
V2_QUERY = struct.Struct("!BBHHH16sBBH")  # ... V1_MESSAGE, resv|S|QRV, QQIC, number of sources
V2_REPORT = struct.Struct("!BBHHH")  # type, reserved, checksum, reserved, number of address records
ADDRESS_RECORD = struct.Struct("!BBH16s")  # record type, aux data len (words), number of sources, address
PSEUDO_HEADER = struct.Struct("!16s16sI3xB")  # source, destination, upper-layer length, zeros, next header

# What parse() returns (``Other`` and ``GroupRecord`` are igmp.py's).  ``max_resp_time`` and ``qqi``
# are seconds; ``qrv`` and ``qqi`` are None in MLDv1 queries, which do not carry them, and ``qrv`` 0
# means the querier's robustness is above 7.  ``group`` is 0 in a general query.
Query = namedtuple("Query", "version max_resp_time group s_flag qrv qqi sources")
ReportV1 = namedtuple("ReportV1", "group")
Done = namedtuple("Done", "group")
Leave = Done  # the name of its IGMPv2 twin
ReportV2 = namedtuple("ReportV2", "records")  # a tuple of GroupRecord, record types 1-6 only


# -- addresses -----------------------------------------------------------------------------------
def aton(text):
    """``"ff02::1"`` (a ``%scope`` suffix is ignored) -> the address as an integer; ValueError if it is not one."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text.split("%", 1)[0]), "big")
    except (OSError, AttributeError, TypeError, ValueError):
        raise ValueError("%r is not an IPv6 address" % (text,)) from None


def ntoa(addr):
    """An integer address -> its shortest text, ``ff02::1``."""
    return socket.inet_ntop(socket.AF_INET6, addr.to_bytes(16, "big"))


def is_link_local(addr):
    """True for an fe80::/10 address (integer or text): the only sources MLD messages may come from."""
    value = aton(addr) if isinstance(addr, str) else addr
    prefix, length = LINK_LOCAL
    return value >> (128 - length) == prefix >> (128 - length)


def _address_bytes(addr):
    if isinstance(addr, int) and not isinstance(addr, bool) and 0 <= addr <= MULTICAST_LAST:
        return addr.to_bytes(16, "big")
    if isinstance(addr, str):
        return aton(addr).to_bytes(16, "big")
    raise ValueError("a packet address must be IPv6 text or a 128-bit integer, not %r" % (addr,))


# -- the ICMPv6 checksum -------------------------------------------------------------------------
def checksum(message, source, destination):
    """The ICMPv6 checksum (RFC 8200, section 8.1) of ``message`` sent from ``source`` to ``destination``.

    Computed over the pseudo-header and the message as it is: a message whose checksum field holds
    the right value gives 0 (see ``checksum_ok``).
    """
    pseudo = PSEUDO_HEADER.pack(_address_bytes(source), _address_bytes(destination), len(message), IPPROTO_ICMPV6)
    return igmp.checksum(pseudo + bytes(message))


def checksum_ok(message, source, destination):
    return checksum(message, source, destination) == 0


def with_checksum(message, source, destination):
    """``message`` with its checksum field (bytes 2-3) filled in for that source and destination."""
    message = bytes(message[:2]) + b"\0\0" + bytes(message[4:])
    return message[:2] + struct.pack("!H", checksum(message, source, destination)) + message[4:]


# -- the Maximum Response Code ---------------------------------------------------------------------
def encode_mrc(millis):
    """MLDv2's Maximum Response Code for ``millis`` milliseconds (RFC 9777, section 5.1.3).

    Below 32768 the code is the value itself; from 32768 on it is ``1 exp(3 bits) mant(12 bits)``
    for ``(mant | 0x1000) << (exp + 3)``, 13 significant bits.  A value between two representable
    ones is rounded down, as igmp.encode_float_code does, so listeners never take longer to answer
    than the querier waits; ``decode_mrc(encode_mrc(v))`` is what actually goes on the wire.
    """
    _check_range("a Maximum Response Delay in milliseconds", millis, 0, MRC_MAX)
    if millis < MRC_FLOAT_FIRST:
        return millis
    exp = millis.bit_length() - 16  # puts the leading 1 of millis >> (exp + 3) at bit 12 (0x1000)
    mant = (millis >> (exp + 3)) & 0x0FFF
    return 0x8000 | (exp << 12) | mant


def decode_mrc(code):
    """The milliseconds a Maximum Response Code stands for."""
    _check_range("a Maximum Response Code", code, 0, 0xFFFF)
    if code < MRC_FLOAT_FIRST:
        return code
    exp = (code >> 12) & 0x07
    mant = code & 0x0FFF
    return (mant | 0x1000) << (exp + 3)


def _check_range(what, value, low, high):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError("%s must be a whole number from %d to %d, not %r" % (what, low, high, value))


# -- building queries ------------------------------------------------------------------------------
def build_query(version, max_resp_delay_s, group=0, s_flag=False, qrv=2, qqi_s=125, sources=()):
    """A Multicast Listener Query, checksum 0 (the kernel fills it in): MLDv2 (28 bytes + 16 per source) or MLDv1 (24).

    ``max_resp_delay_s`` is in seconds, rounded to milliseconds (MLDv1: at most 65.535 s; MLDv2:
    the Maximum Response Code, rounded down to what it can carry).  ``group`` (an integer address)
    is 0 (or None) for a general query, a multicast address for a multicast-address-specific query
    or, with ``sources``, a multicast-address-and-source-specific one (MLDv2).  ``s_flag``, ``qrv``
    (robustness; above 7 it is sent as 0) and ``qqi_s`` (query interval in seconds, whole seconds
    on the wire) exist in MLDv2 only.  Send it to ALL_NODES (general) or to the group, from a
    link-local address, with hop limit 1 and ROUTER_ALERT_HOPOPTS (mldsock.bound does all that).
    """
    if version not in (1, 2) or isinstance(version, bool):
        raise ValueError("MLD version must be 1 or 2, not %r" % (version,))
    group = 0 if group is None else group
    _check_group(group)
    sources = tuple(sources)
    if sources and version == 1:
        raise ValueError("MLDv1 queries carry no sources; use MLDv2 for a multicast-address-and-source-specific query")
    if version == 1:
        delay = _millis("maximum response delay", max_resp_delay_s, V1_MAX_RESP_DELAY_MAX)
        return V1_MESSAGE.pack(MULTICAST_LISTENER_QUERY, 0, 0, delay, 0, group.to_bytes(16, "big"))
    code = encode_mrc(_millis("maximum response delay", max_resp_delay_s, MRC_MAX))
    return _v2_query(code, group, s_flag, qrv, qqi_s, sources)


def _v2_query(code, group, s_flag, qrv, qqi_s, sources):
    if not isinstance(s_flag, bool):
        raise ValueError("the S flag must be True or False, not %r" % (s_flag,))
    _check_range("robustness variable", qrv, 1, 0xFF)
    qqic = encode_float_code(_millis("query interval", qqi_s, FLOAT_CODE_MAX * 1000, low=0) // 1000)
    if sources and not group:
        raise ValueError("a query with sources needs a group: general queries carry no sources")
    if len(sources) > QUERY_SOURCES_MAX:
        raise ValueError("%d sources do not fit one query; at most %d do" % (len(sources), QUERY_SOURCES_MAX))
    for source in sources:
        _check_range("a source address", source, 0, MULTICAST_LAST)
    flags = (0x08 if s_flag else 0) | (qrv if qrv <= QRV_MAX else 0)
    header = V2_QUERY.pack(MULTICAST_LISTENER_QUERY, 0, 0, code, 0, group.to_bytes(16, "big"), flags, qqic,
                           len(sources))
    return header + b"".join(source.to_bytes(16, "big") for source in sources)


def _check_group(group):
    if not isinstance(group, int) or isinstance(group, bool):
        raise ValueError("the query's group must be an integer address (0 for a general query), not %r" % (group,))
    if group and not MULTICAST_FIRST <= group <= MULTICAST_LAST:
        raise ValueError("the query's group must be 0 or a multicast address (ff00::/8), not %s"
                         % (ntoa(group) if 0 < group < MULTICAST_FIRST else group))


def _millis(what, seconds, high, low=1):
    """Seconds (int or float) -> whole milliseconds, refused outside low..high milliseconds."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or math.isnan(seconds):
        raise ValueError("%s must be a number of seconds, not %r" % (what, seconds))
    millis = int(round(seconds * 1000)) if abs(seconds) < 1e12 else high + 1  # infinity has no int()
    if not low <= millis <= high:
        raise ValueError("%s must be from %s to %s seconds, not %r" % (what, _seconds(low), _seconds(high), seconds))
    return millis


def _seconds(millis):
    return ("%d.%03d" % (millis // 1000, millis % 1000)).rstrip("0").rstrip(".")


# -- parsing ---------------------------------------------------------------------------------------
def parse(data, source=None, destination=None):
    """An ICMPv6 message (what a raw ICMPv6 socket returns) -> one of the namedtuples above, Other otherwise.

    Checks the length its type needs; checks the checksum too when given the packet's ``source``
    and ``destination`` (the kernel has checked it already for what a raw socket receives).
    """
    if len(data) < SHORT_MESSAGE.size:
        raise MalformedPacket("ICMPv6 message of %d bytes, shorter than 4" % len(data))
    kind = data[0]
    size, decode = _DECODERS.get(kind, (SHORT_MESSAGE.size, None))
    if len(data) < size:
        raise MalformedPacket("ICMPv6 type %d needs %d bytes, got %d" % (kind, size, len(data)))
    if source is not None and destination is not None:
        try:
            right = checksum_ok(data, source, destination)
        except ValueError as exc:
            raise MalformedPacket("cannot check the checksum: %s" % exc) from None
        if not right:
            raise MalformedPacket("ICMPv6 type %d from %s to %s: checksum 0x%04x is wrong"
                                  % (kind, source, destination, struct.unpack_from("!H", data, 2)[0]))
    return decode(data) if decode else Other(kind, bytes(data))


def _query(data):
    """RFC 9777, section 8.1: 24 bytes is MLDv1, 28 or more MLDv2; other lengths are ignored."""
    if len(data) == V1_MESSAGE.size:
        _type, _code, _csum, delay, _resv, group = V1_MESSAGE.unpack_from(data)
        return Query(1, delay / 1000, int.from_bytes(group, "big"), False, None, None, ())
    if len(data) < V2_QUERY.size:
        raise MalformedPacket("MLD query of %d bytes: neither 24 (MLDv1) nor 28 or more (MLDv2)" % len(data))
    _type, _code, _csum, code, _resv, group, flags, qqic, count = V2_QUERY.unpack_from(data)
    sources = _addresses(data, V2_QUERY.size, count, "MLDv2 query")
    # Bytes after the sources are "additional data" (RFC 9777, 5.1.12): covered by the checksum, ignored.
    return Query(2, decode_mrc(code) / 1000, int.from_bytes(group, "big"), bool(flags & 0x08), flags & 0x07,
                 decode_float_code(qqic), sources)


def _addresses(data, offset, count, what):
    """``count`` 16-byte addresses at ``offset`` as a tuple of integers; MalformedPacket if they overrun."""
    end = offset + 16 * count
    if end > len(data):
        raise MalformedPacket("%s announces %d sources, %d bytes, but only %d bytes follow"
                              % (what, count, 16 * count, len(data) - offset))
    return tuple(int.from_bytes(data[start:start + 16], "big") for start in range(offset, end, 16))


def _report_v2(data):
    """An MLDv2 report; records of unknown types are skipped, as RFC 9777, section 5.2.12, says."""
    count = V2_REPORT.unpack_from(data)[4]
    offset = V2_REPORT.size
    records = []
    for index in range(count):
        if offset + ADDRESS_RECORD.size > len(data):
            raise MalformedPacket("MLDv2 report announces %d multicast address records, but record %d starts "
                                  "past its %d bytes" % (count, index + 1, len(data)))
        kind, aux_words, sources, group = ADDRESS_RECORD.unpack_from(data, offset)
        addresses = _addresses(data, offset + ADDRESS_RECORD.size, sources, "MLDv2 address record %d" % (index + 1))
        offset += ADDRESS_RECORD.size + 16 * sources + 4 * aux_words
        if offset > len(data):
            raise MalformedPacket("MLDv2 address record %d announces %d words of auxiliary data past the "
                                  "report's end" % (index + 1, aux_words))
        if kind in RECORD_TYPE_NAMES:
            records.append(GroupRecord(kind, int.from_bytes(group, "big"), addresses))
    return ReportV2(tuple(records))


def _group_of(data):
    return int.from_bytes(V1_MESSAGE.unpack_from(data)[5], "big")


_DECODERS = {
    MULTICAST_LISTENER_QUERY: (V1_MESSAGE.size, _query),
    # MLDv1 reports and dones longer than 24 bytes are accepted, the rest ignored (RFC 2710, section 3.7).
    V1_MULTICAST_LISTENER_REPORT: (V1_MESSAGE.size, lambda data: ReportV1(_group_of(data))),
    V1_MULTICAST_LISTENER_DONE: (V1_MESSAGE.size, lambda data: Done(_group_of(data))),
    V2_MULTICAST_LISTENER_REPORT: (V2_REPORT.size, _report_v2),
}


# -- the Hop-by-Hop Options header ---------------------------------------------------------------
def hop_by_hop_options(header):
    """The options of a Hop-by-Hop Options header (as IPV6_RECVHOPOPTS returns it) as [(type, value bytes)].

    Pad1 and PadN are left out; MalformedPacket if the header or an option's length does not fit.
    """
    if len(header) < 8:
        raise MalformedPacket("a hop-by-hop options header of %d bytes, shorter than 8" % len(header))
    length = (header[1] + 1) * 8
    if length > len(header):
        raise MalformedPacket("the hop-by-hop options header announces %d bytes, only %d are there"
                              % (length, len(header)))
    found = []
    offset = 2
    while offset < length:
        kind = header[offset]
        if kind == HOPOPT_PAD1:
            offset += 1
            continue
        if offset + 2 > length or offset + 2 + header[offset + 1] > length:
            raise MalformedPacket("hop-by-hop option %d at offset %d runs past the header's %d bytes"
                                  % (kind, offset, length))
        end = offset + 2 + header[offset + 1]
        if kind != HOPOPT_PADN:
            found.append((kind, bytes(header[offset + 2:end])))
        offset = end
    return found


def has_router_alert(header):
    """True if the Hop-by-Hop Options header carries Router Alert with the MLD value 0 (RFC 2711)."""
    alert = struct.pack("!H", ROUTER_ALERT_MLD)
    return any(kind == HOPOPT_ROUTER_ALERT and value == alert for kind, value in hop_by_hop_options(header))
