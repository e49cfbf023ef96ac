# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Several modules' code in one module run (private to this collection; used by mcast.linux.settings).

Each module run costs the target a Python start and the compile of Ansible's module code, about as
much as ``ansible -m ping``; on a fleet that is the largest part of a role's time. A module whose code
lives in ``module_utils/_NAME.py`` (``ARGUMENT_SPEC``, ``validate(module)``, ``apply(module, validated)``)
can run as a *part* of another module: a ``Part`` is what that code sees of AnsibleModule, with the
part's own options, checked against the module's own argument spec, and a ``fail_json`` that stops
the run with the part's name instead of exiting.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError


class PartFailed(Exception):
    """A part called fail_json: the message and the result fields it gave."""

    def __init__(self, msg, fields):
        super(PartFailed, self).__init__(msg)
        self.msg = msg
        self.fields = fields


class Part(object):
    """One module's code run inside another module: its own params, everything else from the host module."""

    def __init__(self, module, option, label, code, options):
        self._module = module
        self.option = option  # the host module's option that gave this part
        self.label = label  # how messages name the part, such as "routes[1] (mcast.linux.route)"
        self.code = code  # the module_utils file with ARGUMENT_SPEC, validate and apply
        self.params = self._checked(options)
        self.check_mode = module.check_mode
        self._diff = module._diff  # pylint: disable=protected-access

    def _checked(self, options):
        """The options with their defaults, checked as the module itself checks them; PartFailed otherwise."""
        result = ArgumentSpecValidator(self.code.ARGUMENT_SPEC).validate(dict(options or {}))
        if result.error_messages:
            # The validator words an unknown option as "NAME. Supported parameters include: ..." alone.
            raise PartFailed('; '.join(('unsupported option ' if isinstance(error, UnsupportedError) else '')
                                       + error.msg for error in result.errors.errors), {})
        return result.validated_parameters

    def fail_json(self, msg, **fields):
        raise PartFailed(msg, fields)

    def warn(self, warning):
        self._module.warn('%s: %s' % (self.label, warning))

    def __getattr__(self, name):
        # run_command, get_bin_path, atomic_move, tmpdir, ...: the host module's, as the code would use its own.
        return getattr(self._module, name)


def validate_parts(parts):
    """``(validated, failure)``: every part's checked options, or the first failure naming its part."""
    validated = []
    for part in parts:
        try:
            validated.append(part.code.validate(part))
        except PartFailed as error:
            return [], '%s: %s' % (part.label, error.msg)
    return validated, None


def apply_parts(parts, validated):
    """``(results, failure)``: apply in order; a failure stops the run, the parts before it stay applied."""
    results = []
    for part, checked in zip(parts, validated):
        try:
            results.append((part, part.code.apply(part, checked)))
        except PartFailed as error:
            return results, '%s: %s' % (part.label, error.msg)
    return results, None
