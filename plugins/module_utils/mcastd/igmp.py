# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IGMP on the wire: the internet checksum, the Router Alert option, building and parsing messages.

Pure functions over bytes, no sockets: everything in mcastd that speaks IGMP builds and reads its
messages here.  Today that is Multicast Router Discovery (RFC 4286: advertisement, solicitation,
termination); the querier adds queries, reports and leaves (RFC 2236, RFC 9776) the same way: a
``build_*`` function per message and an entry in ``_DECODERS`` for ``parse()``.

Addresses are dotted-quad strings, as the socket module takes them.  Whatever the network sends
is untrusted: ``parse_packet()`` and ``parse()`` raise ``MalformedPacket`` with a sentence, never
anything else, for bytes that are not a well-formed IPv4 packet carrying an IGMP message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import socket
import struct
from collections import namedtuple

IPPROTO_IGMP = 2

ALL_HOSTS = "224.0.0.1"
ALL_ROUTERS = "224.0.0.2"  # MRD solicitations are sent here (RFC 4286, section 4.2)
ALL_SNOOPERS = "224.0.0.106"  # MRD advertisements and terminations (RFC 4286, section 3.2)
ALL_IGMPV3_ROUTERS = "224.0.0.22"

# IGMP message types.  The first five belong to the querier (a later part of mcastd).
MEMBERSHIP_QUERY = 0x11
V1_MEMBERSHIP_REPORT = 0x12
V2_MEMBERSHIP_REPORT = 0x16
V2_LEAVE_GROUP = 0x17
V3_MEMBERSHIP_REPORT = 0x22
MRD_ADVERTISEMENT = 0x30
MRD_SOLICITATION = 0x31
MRD_TERMINATION = 0x32

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


class MalformedPacket(ValueError):
    """Bytes that are not a well-formed IPv4 packet with an IGMP message; the text says why."""


# What parse() returns.  ``Other`` is a well-formed IGMP message of a type nothing decodes yet.
Advertisement = namedtuple("Advertisement", "interval query_interval robustness")
Solicitation = namedtuple("Solicitation", "")
Termination = namedtuple("Termination", "")
Other = namedtuple("Other", "type data")

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
    router is not running IGMP there (mcastd is not an IGMP querier yet).
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
    """An IGMP message (the IP payload) -> Advertisement, Solicitation, Termination or Other.

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


_DECODERS = {
    MRD_ADVERTISEMENT: (ADVERTISEMENT.size, _advertisement),
    MRD_SOLICITATION: (SHORT_MESSAGE.size, lambda data: Solicitation()),
    MRD_TERMINATION: (SHORT_MESSAGE.size, lambda data: Termination()),
}
