"""lint-imports keeps the module boundaries, and really catches a forbidden import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(  # noqa: S603
        [str(executable), "--no-cache"], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_the_tree_keeps_every_contract() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_module_reaching_into_another_modules_models_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "modules", copy / "modules", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "config", copy / "config", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    offender = copy / "modules" / "learning" / "services" / "__init__.py"
    offender.write_text(offender.read_text() + "\nfrom modules.identity.models import User  # noqa\n")
    result = _lint_imports(copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "modules.learning.services -> modules.identity.models" in result.stdout


def test_a_lower_layer_importing_a_higher_one_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "modules", copy / "modules", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "config", copy / "config", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    offender = copy / "modules" / "identity" / "services" / "__init__.py"
    offender.write_text(offender.read_text() + "\nimport modules.learning.services  # noqa\n")
    result = _lint_imports(copy)
    assert result.returncode != 0
    assert "Layers" in result.stdout and "BROKEN" in result.stdout
