"""docs/reference/ is committed generated output: it must be what the sources generate today."""
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_reference_matches_the_sources():
    result = subprocess.run([str(REPO / "docs" / "build.sh"), "--check"], capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]


def test_reference_documents_every_module_and_role():
    pages = {page.name for page in (REPO / "docs" / "reference").glob("*.rst")}
    modules = {path.stem + "_module.rst" for path in (REPO / "plugins" / "modules").glob("*.py")
               if path.stem != "__init__"}
    roles = {path.parent.parent.name + "_role.rst" for path in (REPO / "roles").glob("*/meta/argument_specs.yml")}
    assert modules | roles <= pages, "missing pages: %s" % sorted((modules | roles) - pages)
