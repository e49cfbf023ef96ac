"""mcast.linux.nftables run through main() against a faked nft and files, in check mode and for real.

The cases are in test_nftables_main.yaml; tests/unit/plugins/modules/uthelper.py says what each one asserts.
nft serves rulesets recorded from real namespaces (tests/unit/plugins/module_utils/data/nft).
"""
import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _nftables
from ansible_collections.mcast.linux.plugins.modules import nftables
from tests.unit.plugins.modules.uthelper import case_ids, run_case, table

CASES = table(__file__)


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_nftables(case, tmp_path, monkeypatch):
    run_case(nftables.main, _nftables, case, tmp_path, monkeypatch)
