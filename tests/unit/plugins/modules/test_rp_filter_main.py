"""mcast.linux.rp_filter run through main() against a faked kernel and files, in check mode and for real.

The cases are in test_rp_filter_main.yaml; tests/unit/plugins/modules/uthelper.py says what each one asserts.
"""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _rp_filter
from ansible_collections.mcast.linux.plugins.modules import rp_filter
from tests.unit.plugins.modules.uthelper import case_ids, run_case, table

CASES = table(__file__)


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_rp_filter(case, tmp_path, monkeypatch):
    run_case(rp_filter.main, _rp_filter, case, tmp_path, monkeypatch)
