# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What mcastd tells systemd (Type=notify): ready, reloading, stopping, its status line (linux.sd_notify)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import time

from .linux import sd_notify


def ready(status):
    return sd_notify(READY=1, STATUS=status, MAINPID=os.getpid())


def reloading():
    # MONOTONIC_USEC lets systemd >= 253 match the reload; older ones ignore it.
    return sd_notify(RELOADING=1, MONOTONIC_USEC=int(time.monotonic() * 1000000))


def stopping():
    return sd_notify(STOPPING=1)


def status(text):
    return sd_notify(STATUS=text)
