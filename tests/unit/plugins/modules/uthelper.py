"""Run a module's main() in-process from a table of cases, as community.general's UTHelper does.

A case is one item of a YAML list beside the test (test_x_main.py reads test_x_main.yaml):

``id``            the test's name
``input``         the task's arguments
``host``          the host before the run (fake_host.FakeHost says what it may hold: links, routes,
                  addresses, sysctl, /proc/net tables, nft, systemd, mcastd, missing commands, files)
``output``        result fields expected in both runs (``output_check``/``output_run``: in one only);
                  mappings are matched by the keys given, lists item by item, ``re:`` strings as
                  patterns, and ``msg`` of a failure as a substring
``warnings``      substrings of warnings expected (``warnings_check``/``warnings_run``: in one run)
``writes``        the kernel and service operations of the real run, in order (fake_host's lines)
``files_after``   the files the real run changes: text, ``{content, mode}``, ``{link}``, or null (removed)
``idempotent``    a second real run must report no change
``check_differs`` result fields the module documents as different in check mode (the daemon's reply)

``{tmp}`` in any string stands for the case's temporary directory. Every case runs twice, in check
mode and for real, each on its own copy of the host, with diff on:
- both runs must return the same result, field by field (check mode tells what a run changes);
- check mode writes nothing: no kernel or service operation, every file as it was;
- the real run writes what the case says, and nothing else.
"""
import contextlib
import json
import re
from pathlib import Path

import yaml

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19: the args are read from basic._ANSIBLE_ARGS
    patch_module_args = None

from tests.unit.plugins.modules.fake_host import FakeHost

MODES = ("check", "run")


class ModuleExit(Exception):
    """exit_json or fail_json was called; ``result`` is what the module returned."""

    def __init__(self, result):
        super().__init__(result.get("msg", "exit"))
        self.result = result


@contextlib.contextmanager
def module_args(args, check_mode=False, diff=False):
    """AnsibleModule instances created inside see ``args`` (plus the check and diff flags)."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    saved = basic._ANSIBLE_ARGS
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = saved


def run_main(main, args, monkeypatch, check_mode=False, diff=True):
    """The result of ``main()`` for ``args``; a failure has ``failed: True`` and ``msg``."""
    warnings = []

    def exit_json(self, **result):
        raise ModuleExit(dict(result, warnings=list(warnings)))

    def fail_json(self, msg, **result):
        raise ModuleExit(dict(result, failed=True, msg=msg, warnings=list(warnings)))

    monkeypatch.setattr(AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, warning: warnings.append(warning))
    monkeypatch.setattr(AnsibleModule, "_log_invocation", lambda self: None)  # no journal lines from tests
    with module_args(args, check_mode=check_mode, diff=diff):
        try:
            main()
        except ModuleExit as done:
            return done.result
    raise AssertionError("main() returned without exit_json or fail_json")


# --------------------------------------------------------------------------- the table

def load_cases(path):
    """The cases of a YAML file next to the test (a list of mappings, each with an ``id``)."""
    with open(path, encoding="utf-8") as stream:
        cases = yaml.safe_load(stream)
    ids = [case["id"] for case in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique: %s" % ids
    return cases


def case_ids(cases):
    return [case["id"] for case in cases]


def substitute(value, root):
    """``value`` with ``{tmp}`` replaced by ``root`` in every string, keys included."""
    if isinstance(value, str):
        return value.replace("{tmp}", str(root))
    if isinstance(value, list):
        return [substitute(item, root) for item in value]
    if isinstance(value, dict):
        return dict((substitute(key, root), substitute(item, root)) for key, item in value.items())
    return value


def normalize(value, root):
    """The inverse of substitute: ``root`` written as ``{tmp}``, so results of two hosts compare."""
    if isinstance(value, str):
        return value.replace(str(root), "{tmp}")
    if isinstance(value, (list, tuple)):
        return [normalize(item, root) for item in value]
    if isinstance(value, dict):
        return dict((normalize(key, root), normalize(item, root)) for key, item in value.items())
    return value


def matches(actual, expected, where="result"):
    """Assert ``actual`` matches ``expected``: mappings by the keys expected, lists item by item.

    A string expected as ``re:PATTERN`` is searched for; ``msg`` of a failure is a substring.
    """
    if isinstance(expected, dict):
        assert isinstance(actual, dict), "%s: expected a mapping, got %r" % (where, actual)
        for key, value in expected.items():
            assert key in actual, "%s: no %r in %r" % (where, key, sorted(actual))
            matches(actual[key], value, "%s.%s" % (where, key))
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), \
            "%s: expected %d items, got %r" % (where, len(expected), actual)
        for index, (item, value) in enumerate(zip(actual, expected)):
            matches(item, value, "%s[%d]" % (where, index))
    elif isinstance(expected, str) and expected.startswith("re:"):
        assert isinstance(actual, str) and re.search(expected[3:], actual), \
            "%s: %r does not match /%s/" % (where, actual, expected[3:])
    elif where.endswith(".msg"):
        assert expected in actual, "%s: %r not in %r" % (where, expected, actual)
    else:
        assert actual == expected, "%s: expected %r, got %r" % (where, expected, actual)


# --------------------------------------------------------------------------- one case, both modes

def run_case(main, module, case, tmp_path, monkeypatch, check_differs=()):
    """Run ``case`` in check mode and for real and assert what the module docstring promises."""
    results = {}
    for mode in MODES:
        root = tmp_path / mode
        root.mkdir()
        host = FakeHost(root, substitute(case.get("host") or {}, root))
        host.install(monkeypatch, module)
        before = host.files()
        args = substitute(case["input"], root)
        result = normalize(run_main(main, args, monkeypatch, check_mode=mode == "check", diff=case.get("diff", True)),
                           root)
        results[mode] = result
        matches(result, case.get("output", {}))
        matches(result, case.get("output_" + mode, {}))
        for text in case.get("warnings", []) + case.get("warnings_" + mode, []):
            assert any(text in warning for warning in result["warnings"]), (text, result["warnings"])
        if mode == "check":
            assert host.writes == [], "check mode wrote to the kernel or a service: %s" % host.writes
            assert host.files() == before, "check mode changed files: %s" % changed_paths(before, host.files())
        else:
            assert_written(host, case, root, before)
            if case.get("idempotent"):
                again = run_main(main, args, monkeypatch)
                assert again.get("changed") is False, "a second run changed: %s" % normalize(again, root)
        monkeypatch.undo()
    ignored = set(("warnings",) + tuple(check_differs) + tuple(case.get("check_differs", ())))
    check, real = [dict((key, value) for key, value in results[mode].items() if key not in ignored) for mode in MODES]
    assert check == real, "check mode and the real run returned different results:\n%s" % differences(check, real)
    return results


def assert_written(host, case, root, before):
    """The real run made exactly the case's kernel and service operations and file changes."""
    assert normalize(host.writes, root) == case.get("writes", []), "writes: %s" % normalize(host.writes, root)
    after = host.files()
    expected = dict(before)
    expected.update(host.file_states(substitute(case.get("files_after", {}), root)))
    for path in sorted(set(expected) | set(after)):
        matches(after.get(path), expected.get(path), "file %s" % normalize(path, root))


def changed_paths(before, after):
    return [path for path in set(before) | set(after) if before.get(path) != after.get(path)]


def differences(check, real, where="result"):
    """Readable lines naming where two results differ."""
    if isinstance(check, dict) and isinstance(real, dict):
        lines = []
        for key in sorted(set(check) | set(real), key=str):
            if check.get(key) != real.get(key):
                lines.extend(differences(check.get(key), real.get(key), "%s.%s" % (where, key)))
        return "\n".join(lines) if where == "result" else lines
    return ["%s: check mode %r, real run %r" % (where, check, real)]


def table(test_file):
    """The YAML table beside a test file: test_x_main.py -> test_x_main.yaml."""
    return load_cases(Path(test_file).with_suffix(".yaml"))
