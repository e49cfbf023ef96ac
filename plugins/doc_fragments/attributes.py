# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Attributes shared by every mcast.linux module.

    Use C(extends_documentation_fragment: [mcast.linux.attributes]) for a module that changes state
    (check mode and diff mode fully supported, Linux only), and add C(mcast.linux.attributes.facts)
    for a read-only module that returns C(ansible_facts).
    """

    # Modules that change state: full check mode, full diff mode, Linux targets.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return a changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) when run with C(--diff).
    support: full
  platform:
    description: Target operating systems this module can act on.
    support: full
    platforms: linux
'''

    # Read-only modules (facts): nothing to change, so check mode is trivially full and diff is N/A.
    # Use together with the standard fragment; the keys here override it.
    FACTS = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This module only reads state; it behaves the same in check mode.
  diff_mode:
    support: N/A
    details:
      - This module only reads state.
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
'''
