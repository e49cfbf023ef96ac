# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd readiness notification (sd_notify) over $NOTIFY_SOCKET, without libsystemd."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import socket
import time


def _address(path):
    # A leading '@' names a socket in the abstract namespace.
    return "\0" + path[1:] if path.startswith("@") else path


def sd_notify(**fields):
    """Send ``KEY=value`` lines to systemd; silently nothing when not run by systemd."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    message = "\n".join("%s=%s" % (key, value) for key, value in fields.items())
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(_address(path))
            sock.sendall(message.encode("utf-8"))
    except OSError:
        return False
    return True


def ready(status):
    return sd_notify(READY=1, STATUS=status, MAINPID=os.getpid())


def reloading():
    # MONOTONIC_USEC lets systemd >= 253 match the reload; older ones ignore it.
    return sd_notify(RELOADING=1, MONOTONIC_USEC=int(time.monotonic() * 1000000))


def stopping():
    return sd_notify(STOPPING=1)


def status(text):
    return sd_notify(STATUS=text)
