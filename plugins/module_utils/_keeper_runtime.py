# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the keepers of mcast.linux.route and mcast.linux.bridge share: one runtime for both.

A keeper keeps what its JSON file describes in the kernel: it loads the file, brings the kernel in
line with ``ip``, then waits for rtnetlink events (a link created, brought up, changed) and does it
again; SIGHUP re-reads the file, SIGTERM stops it, and systemd (Type=notify) hears when it is ready.
This file is that loop; ``_route_keeper.py`` and ``_bridge_keeper.py`` say what is kept.

Only the standard library and ``mcastd/linux.py`` (what Linux and systemd define, shared with mcastd
and the modules). The module deploys a keeper as one script, linux.py's source, this file's, then
the keeper's (see ``_keeper_deploy.keeper_script``), so all three share one namespace there: a
keeper uses their names (``log`` too) and defines none of them again.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import time

# runtime import: left out of the deployed script, where linux.py's source stands above this file's.
try:
    from ansible_collections.mcast.linux.plugins.module_utils.mcastd.linux import (
        STOP_SIGNALS, drain, open_events, sd_notify, watch_signals)
except ImportError:  # run as a script from a checkout: mcastd/ is next to this file
    from mcastd.linux import STOP_SIGNALS, drain, open_events, sd_notify, watch_signals
# end of the runtime import

# A link that comes up or a bridge being set up sends a burst of messages; one look after the burst is enough.
DEBOUNCE_SECONDS = 0.15
# Exit statuses that a restart does not heal (the units name them in RestartPreventExitStatus).
EXIT_CONFIG = 2
EXIT_NO_IP = 3

log = logging.getLogger('mcast-linux-keeper')


class KeeperFileError(ValueError):
    """A keeper's file cannot be used; the message names the entry and what is wrong."""


def load_file(path, parse, absent):
    """``parse`` of the file's text at ``path``, ``absent`` when there is no file; errors name the file."""
    try:
        with open(path, encoding='utf-8') as stream:
            text = stream.read()
    except FileNotFoundError:
        return absent
    try:
        return parse(text)
    except KeeperFileError as error:
        raise type(error)('%s: %s' % (path, error))


def ip_json(ip, *args):
    """The parsed output of ``ip -j ARGS``; OSError with ip's message when it fails."""
    done = subprocess.run([ip, '-j'] + list(args), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError('ip -j %s: %s' % (' '.join(args), done.stderr.strip()))
    return json.loads(done.stdout or '[]')


def serve(keeper, events, signals, debounce=DEBOUNCE_SECONDS):
    """Reconcile ``debounce`` seconds after the first of a burst of events, until SIGTERM or SIGINT."""
    deadline = None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        readable = select.select([events, signals], [], [], timeout)[0]
        if signals in readable:
            received = drain(signals)
            if any(signum in received for signum in STOP_SIGNALS):
                log.info('stopping')
                return
            if signal.SIGHUP in received:
                keeper.reload()
                deadline = time.monotonic()
        if events in readable:
            drain(events)
            deadline = deadline or time.monotonic() + debounce
        if deadline is not None and time.monotonic() >= deadline:
            deadline = None
            keeper.reconcile()


def find_ip():
    # systemd's PATH has /usr/sbin, a login shell of a user may not.
    return shutil.which('ip', path=os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin', '/sbin']))


def command_line(argv, description, file_argument, default_file, file_help, once_help):
    """``(path of the keeper's file, once)`` from the command line, in the keeper's own words for --help."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(file_argument, nargs='?', default=default_file, help=file_help)
    parser.add_argument('--once', action='store_true', help=once_help)
    options = parser.parse_args(argv)
    return getattr(options, file_argument), options.once


def run_keeper(keeper_class, path, once, event_groups):
    """Start ``keeper_class(path, ip)``, reconcile, and (unless ``once``) serve; return the exit status.

    A keeper class raises KeeperFileError for an unusable file and has ``reconcile()``, ``reload()``
    and ``status()``, the short text systemd shows while it runs.
    """
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format='%(levelname)s: %(message)s')
    ip = find_ip()
    if ip is None:
        log.error("'ip' (iproute2) is not installed")
        return EXIT_NO_IP
    # Subscribe before the first look, so that no change between the two is missed.
    events = open_events(event_groups)
    try:
        keeper = keeper_class(path, ip)
    except KeeperFileError as error:
        log.error('%s', error)
        return EXIT_CONFIG
    keeper.reconcile()
    if once:
        return 0
    signals, _wakeup = watch_signals()  # both ends stay open while serving
    log.info('%s from %s', keeper.status(), path)
    if not sd_notify(READY=1, STATUS=keeper.status()) and os.environ.get('NOTIFY_SOCKET'):
        log.warning('could not tell systemd that the keeper is ready')
    serve(keeper, events, signals)
    return 0
