"""mcast.linux.settings run through main() against a faked kernel and files, in check mode and for real.

The cases are in test_settings_main.yaml; tests/unit/plugins/modules/uthelper.py says what each one asserts.
"""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _facts, _link, _nftables, _route, _rp_filter
from ansible_collections.mcast.linux.plugins.modules import settings
from tests.unit.plugins.modules.uthelper import case_ids, run_case, table

CASES = table(__file__)


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_settings(case, tmp_path, monkeypatch):
    # check_mode tells which mode the module ran in (a role reads it), so it differs by design.
    run_case(settings.main, (_facts, _link, _route, _rp_filter, _nftables), case, tmp_path, monkeypatch,
             check_differs=("check_mode",))
