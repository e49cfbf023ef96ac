"""mcast.linux.facts run through main() against a faked kernel and files, in check mode and for real.

The cases are in test_facts_main.yaml; tests/unit/plugins/modules/uthelper.py says what each one asserts.
"""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _facts
from ansible_collections.mcast.linux.plugins.modules import facts
from tests.unit.plugins.modules.uthelper import case_ids, run_case, table

CASES = table(__file__)


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_facts(case, tmp_path, monkeypatch):
    run_case(facts.main, _facts, case, tmp_path, monkeypatch)
