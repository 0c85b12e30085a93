"""The canary of the import contracts (pyproject.toml): lint-imports really catches a forbidden import.

``make test`` and ``make lint`` run lint-imports on the tree itself; this proves the contracts bite, on
a copy of the tree with two planted violations. It starts a subprocess and copies the tree, so it is
outside the default run (marker ``canary``): ``make lint`` runs it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.canary


def test_a_reach_into_another_modules_models_and_an_upward_import_are_both_caught(tmp_path: Path) -> None:
    copy = tmp_path / "tree"
    for folder in ("modules", "config"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    reach = copy / "modules" / "learning" / "services" / "__init__.py"
    reach.write_text(reach.read_text() + "\nfrom modules.identity.models import User  # noqa\n")
    upward = copy / "modules" / "identity" / "services" / "__init__.py"
    upward.write_text(upward.read_text() + "\nimport modules.learning.services  # noqa\n")

    result = subprocess.run(  # noqa: S603 (the venv's own lint-imports)
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "modules.learning.services -> modules.identity.models" in result.stdout
    assert (
        "Layers" in result.stdout
        and "modules.identity.services -> modules.learning.services" in result.stdout
    )
