# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mcastd's table in nftables, kept equal to the outputs the kernel cannot serve: the only code that runs nft.

overflow.py computes the commands; this file runs them with ``nft -j -f -``, one transaction per
change, and remembers per family what the kernel holds (the flows last rendered; None when that is
not known: at start, or after a failed transaction, when the table is then made anew). It touches
``table ip mcastd`` and ``table ip6 mcastd`` only, and a family's table only once mcastd made (or
had to clear) it: a start that fails because another mcastd runs leaves that one's table alone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import json
import os
import subprocess

from . import overflow as ov

NFT_TIMEOUT = 10.0  # seconds: a transaction of a thousand flows takes well under one
ABSENT = "absent"  # the state of a family whose table mcastd knows not to exist
INSTALL_HINT = "install the nftables package (it provides nft)"
SEARCH_PATH = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


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


class OverflowTable:
    """The nftables part of mcastd's routes, per family (4, 6)."""

    def __init__(self, nft=None, table=ov.DEFAULT_TABLE, runner=run):
        self.nft = nft
        self.table = table
        self.runner = runner
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
            if state is ABSENT or (state is None and not self.available):
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
