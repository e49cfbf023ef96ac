"""The deployed keeper scripts: the shared runtime and one keeper, as one standalone file that runs."""
import subprocess
import sys

import pytest

from ansible_collections.mcast.linux.plugins.module_utils import _route as route
from ansible_collections.mcast.linux.plugins.modules import bridge


@pytest.mark.parametrize("module", [route, bridge], ids=["route", "bridge"])
def test_the_deployed_keeper_is_one_standalone_script(module, tmp_path):
    source = module.keeper_source()
    assert source.startswith(module.KEEPER_HEADER)
    assert "ansible_collections" not in source, "the deployed script must not import the collection"
    assert source.count("from __future__") <= 1
    compile(source, "keeper", "exec")
    script = tmp_path / "keeper.py"
    script.write_text(source)
    # the script alone, outside the collection: its help must come up (nothing else may be imported)
    result = subprocess.run([sys.executable, "-I", str(script), "--help"], capture_output=True, text=True,
                            cwd=str(tmp_path), check=False)
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout.lower()
