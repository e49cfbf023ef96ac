# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``mgroup`` joins: IGMP memberships held by the daemon on an interface.

A socket holds at most net.ipv4.igmp_max_memberships groups (20 by default), so
joins spill over into as many sockets as needed: a join that fails with ENOBUFS
is retried on a fresh socket.  Source-specific joins use MCAST_JOIN_SOURCE_GROUP,
which names the interface by index (IP_ADD_SOURCE_MEMBERSHIP needs an address).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import errno
import socket
import struct

from .config import ntoa

IP_ADD_MEMBERSHIP = 35
IP_DROP_MEMBERSHIP = 36
MCAST_JOIN_SOURCE_GROUP = 46
MCAST_LEAVE_SOURCE_GROUP = 47
IP_MREQN = struct.Struct("=4s4si")  # struct ip_mreqn: group, local address, ifindex
SOCKADDR_STORAGE = 128
# struct group_source_req: u32 interface, then two sockaddr_storage aligned like a long
_GSR_OFFSET = struct.calcsize("@I0L")
GROUP_SOURCE_REQ_SIZE = _GSR_OFFSET + 2 * SOCKADDR_STORAGE


def _sockaddr_in(addr):
    raw = struct.pack("=H2x4s", socket.AF_INET, addr.to_bytes(4, "big"))
    return raw + bytes(SOCKADDR_STORAGE - len(raw))


def _request(group, source, ifindex):
    """(join option, leave option, argument) for one membership."""
    if source is None:
        return IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, IP_MREQN.pack(group.to_bytes(4, "big"), bytes(4), ifindex)
    data = struct.pack("@I", ifindex) + bytes(_GSR_OFFSET - 4) + _sockaddr_in(group) + _sockaddr_in(source)
    return MCAST_JOIN_SOURCE_GROUP, MCAST_LEAVE_SOURCE_GROUP, data


def describe(key):
    ifname, group, source = key
    return {"interface": ifname, "group": ntoa(group), "source": None if source is None else ntoa(source)}


class GroupJoins:
    """Keeps the joined memberships equal to the configured ones on present interfaces."""

    def __init__(self):
        self.sockets = []
        self.joined = {}  # (ifname, group, source) -> (socket, ifindex)
        self.failed = {}  # key -> error sentence, for show groups and the log

    def sync(self, wanted, ifaces):
        """Join what is wanted and possible, leave the rest; returns log sentences."""
        messages = []
        for key, (sock, ifindex) in list(self.joined.items()):
            iface = ifaces.get(key[0])
            if key not in wanted or iface is None or iface.index != ifindex:
                self._leave(key, sock, ifindex)
                messages.append("left %s" % self._text(key))
        self.failed = {}
        for key in wanted:
            iface = ifaces.get(key[0])
            if key in self.joined or iface is None:
                continue
            error = self._join(key, iface.index)
            if error:
                self.failed[key] = error
                messages.append("cannot join %s: %s" % (self._text(key), error))
            else:
                messages.append("joined %s" % self._text(key))
        return messages

    @staticmethod
    def _text(key):
        ifname, group, source = key
        return "%s on %s" % (ntoa(group) if source is None else "(%s, %s)" % (ntoa(source), ntoa(group)), ifname)

    def _join(self, key, ifindex):
        option, _leave, data = _request(key[1], key[2], ifindex)
        for sock in self.sockets[-1:] + [None]:
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.sockets.append(sock)
            try:
                sock.setsockopt(socket.IPPROTO_IP, option, data)
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    continue  # this socket is full (igmp_max_memberships / igmp_max_msf)
                if exc.errno != errno.EADDRINUSE:  # EADDRINUSE: this socket already has it
                    return exc.strerror
            self.joined[key] = (sock, ifindex)
            return None
        return "no socket accepts another membership (see net.ipv4.igmp_max_memberships)"

    def _leave(self, key, sock, ifindex):
        _join, option, data = _request(key[1], key[2], ifindex)
        try:
            sock.setsockopt(socket.IPPROTO_IP, option, data)
        except OSError:
            pass  # the interface is gone and took the membership with it
        del self.joined[key]

    def rows(self):
        rows = [dict(describe(key), state="joined") for key in sorted(self.joined, key=_sort_key)]
        rows += [dict(describe(key), state="failed: %s" % error) for key, error in sorted(self.failed.items(), key=lambda item: _sort_key(item[0]))]
        return rows

    def close(self):
        for sock in self.sockets:
            sock.close()
        self.sockets = []
        self.joined = {}


def _sort_key(key):
    return (key[0], key[1], -1 if key[2] is None else key[2])
