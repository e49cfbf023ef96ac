"""A stand-in for AnsibleModule in unit tests of pure planning and validation code."""


class ModuleFailed(Exception):
    """fail_json was called; the message is the exception text."""


class FakeModule(object):
    """Holds params, records warnings and turns fail_json into ModuleFailed."""

    def __init__(self, params=None, check_mode=False):
        self.params = dict(params or {})
        self.check_mode = check_mode
        self.warnings = []

    def fail_json(self, **kwargs):
        raise ModuleFailed(kwargs["msg"])

    def warn(self, message):
        self.warnings.append(message)
