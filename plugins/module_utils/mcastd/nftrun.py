# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mcastd's table in nftables, kept equal to the outputs the kernel cannot serve: the only code that runs nft.

overflow.py computes the commands; this file runs them with ``nft -j -f -``, one transaction per
change, and remembers per family what the kernel holds (the flows last rendered; None when that is
not known: at start, or after a failed transaction, when the table is then made anew). It touches
``table ip mcastd`` and ``table ip6 mcastd`` only, and a family's table only once mcastd made (or
had to clear) it: a start that fails because another mcastd runs leaves that one's table alone.
Whether a table is there at all is asked of the kernel over netlink (table_exists): a daemon with
nothing to copy and no stale table to remove never runs nft, nor loads what running it takes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import errno
import json
import os
import socket
import struct

from . import overflow as ov
from .linux import NLA_HEADER, NLMSG_ERROR, NLMSGHDR, netlink_messages

NFT_TIMEOUT = 10.0  # seconds: a transaction of a thousand flows takes well under one
ABSENT = "absent"  # the state of a family whose table mcastd knows not to exist
INSTALL_HINT = "install the nftables package (it provides nft)"
SEARCH_PATH = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")

# <linux/netfilter/nfnetlink.h>, <linux/netfilter/nf_tables.h>: enough to ask whether a table exists.
NETLINK_NETFILTER = 12
NFT_MSG_GETTABLE = (10 << 8) | 1  # NFNL_SUBSYS_NFTABLES, NFT_MSG_GETTABLE
NFT_MSG_NEWTABLE = 10 << 8  # the answer when it exists
NFTA_TABLE_NAME = 1
NLM_F_REQUEST = 1
NFGENMSG = struct.Struct("=BBH")  # family (NFPROTO_IPV4 = 2, NFPROTO_IPV6 = 10), version 0, resource 0
NFPROTO = {4: 2, 6: 10}


class NftError(Exception):
    """nft is missing or refused a transaction; the message says which, with nft's own words."""


def find_nft(path=None, search=SEARCH_PATH):
    """The nft program's path, or None: the directories it is installed in, then ``path`` (default PATH, which
    a systemd unit may keep short)."""
    directories = list(search) + (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep)
    for directory in directories:
        candidate = os.path.join(directory, "nft")
        if directory and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def run(nft, document, timeout=NFT_TIMEOUT):
    """``nft -j -f -`` with ``document``, or ``nft -j list ...`` when ``document`` is a list of words; the
    output. Raises NftError with nft's message."""
    if nft is None:
        raise NftError("nft is not installed: %s" % INSTALL_HINT)
    # Imported here, not at the top: subprocess (and the locale it loads) costs every daemon 0.45 MB of
    # RSS, and one whose routes all fit the kernel's VIFs never runs nft (see table_exists).
    import subprocess  # pylint: disable=import-outside-toplevel
    argv = [nft, "-j"] + (list(document) if isinstance(document, list) else ["-f", "-"])
    stdin = None if isinstance(document, list) else document
    try:
        result = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                                universal_newlines=True, check=False)
    except subprocess.TimeoutExpired:
        raise NftError("nft did not finish within %d s" % timeout)
    except OSError as exc:
        raise NftError("cannot run %s: %s" % (nft, exc.strerror or exc))
    if result.returncode != 0:
        said = " ".join(result.stderr.split()) or "exit status %d" % result.returncode
        raise NftError("nft refused the transaction: %s" % said)
    return result.stdout


def table_exists(family, table=ov.DEFAULT_TABLE):
    """Whether nftables holds the table ``table`` of ``family`` (4, 6): True, False, or None when the kernel
    does not say. One netlink question (NFT_MSG_GETTABLE), so a start finds that there is no stale table
    to remove without running nft."""
    name = table.encode("utf-8") + b"\0"
    attribute = NLA_HEADER.pack(NLA_HEADER.size + len(name), NFTA_TABLE_NAME) + name
    payload = NFGENMSG.pack(NFPROTO[family], 0, 0) + attribute + bytes(-len(attribute) % 4)
    request = NLMSGHDR.pack(NLMSGHDR.size + len(payload), NFT_MSG_GETTABLE, NLM_F_REQUEST, 1, 0) + payload
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_NETFILTER) as sock:
            sock.settimeout(1.0)
            sock.send(request)
            answer = sock.recv(65536)
    except OSError:
        return None  # no nfnetlink, no permission, no answer: not known
    return table_answer(answer)


def table_answer(data):
    """table_exists' reading of the kernel's answer: the table, ENOENT, or anything else (None)."""
    for kind, _sequence, message in netlink_messages(data):
        if kind == NFT_MSG_NEWTABLE:
            return True
        if kind == NLMSG_ERROR and len(message) >= NLMSGHDR.size + 4:
            return False if struct.unpack_from("=i", message, NLMSGHDR.size)[0] == -errno.ENOENT else None
    return None


class OverflowTable:
    """The nftables part of mcastd's routes, per family (4, 6)."""

    def __init__(self, nft=None, table=ov.DEFAULT_TABLE, runner=run, probe=None):
        self.nft = nft
        self.table = table
        self.runner = runner
        # probe(family, table): True, False or None, as table_exists. Without one, a table whose state is not
        # known is removed with nft whether or not it exists.
        self.probe = probe
        self.rendered = {4: None, 6: None}  # Flow -> outputs in the kernel, ABSENT, or None: not known
        self.touched = set()  # families mcastd ran a transaction for: the ones it removes when it stops

    @property
    def available(self):
        return self.nft is not None

    def sync(self, family, wanted):
        """Make the family's table copy ``wanted`` ({Flow: outputs}); True if a transaction ran.

        Raises NftError (the state is then unknown, and the next sync makes the table anew).
        """
        state = self.rendered[family]
        if not wanted:
            if state is ABSENT or (state is None and not self._may_exist(family)):
                self.rendered[family] = ABSENT  # nothing was copied, nothing to remove
                return False
            commands = ov.teardown(family, self.table)
        else:
            commands = ov.plan(wanted, None if state in (None, ABSENT) else state, family, self.table)
            if not commands:
                return False
        self._apply(family, commands)
        self.rendered[family] = dict(wanted) if wanted else ABSENT
        return True

    def _may_exist(self, family):
        """Whether the family's table may be in nftables while its state is not known (at start, a table that a
        killed mcastd left): only nft could have made it, and the probe may know it is not there."""
        return self.available and (self.probe is None or self.probe(family, self.table) is not False)

    def _apply(self, family, commands):
        if not self.available:
            raise NftError("nft is not installed: %s" % INSTALL_HINT)
        self.rendered[family] = None  # until nft says it is done
        self.touched.add(family)
        self.runner(self.nft, ov.document(commands))

    def close(self):
        """Remove the tables this daemon made; a list of the failures' sentences."""
        failures = []
        for family in sorted(self.touched):
            if self.rendered[family] is ABSENT:
                continue
            try:
                self._apply(family, ov.teardown(family, self.table))
                self.rendered[family] = ABSENT
            except NftError as exc:
                failures.append(str(exc))
        return failures

    def counters(self, family):
        """{chain name: {output name: (packets, bytes)}} of the family's table, read from nft; {} when there is
        none. Raises NftError."""
        if not isinstance(self.rendered[family], dict):
            return {}
        listing = json.loads(self.runner(self.nft, ["list", "table", ov.FAMILIES[family].name, self.table]))
        return rule_counters(listing)


def rule_counters(listing):
    """{chain: {output: (packets, bytes)}} from ``nft -j list table`` output: each output counted by its rule's
    counter (every rule of a flow's chain sees each of the flow's datagrams and copies it to its outputs)."""
    found = {}
    for item in listing.get("nftables", []):
        rule = item.get("rule")
        if not rule or not rule.get("chain", "").startswith("flow-"):
            continue
        counted, outputs = (None, None), []
        for expr in rule.get("expr", []):
            if "counter" in expr and isinstance(expr["counter"], dict):
                counted = (expr["counter"].get("packets"), expr["counter"].get("bytes"))
            elif "dup" in expr:
                outputs.append(expr["dup"].get("dev"))
        chain = found.setdefault(rule["chain"], {})
        for name in outputs:
            chain[name] = counted
    return found
