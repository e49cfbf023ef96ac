# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mcastd: the IPv4 and IPv6 static multicast routing daemon bundled with mcast.linux.

A self-contained package (stdlib + pyroute2, relative imports only): Ansible
modules import ``config`` from it as module_utils, and targets run a copy of
this directory as ``python3 -m mcastd`` (see docs/mcastd.md).
"""
