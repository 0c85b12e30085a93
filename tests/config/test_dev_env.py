"""Hand-run manage.py in development reads the .env that make run writes; production never does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(tmp_path: Path, *, env_file: bool, debug: str | None) -> subprocess.CompletedProcess[str]:
    dotenv = tmp_path / ".env"
    if env_file:
        dotenv.write_text("DEBUG=1\nSECRET_KEY=dev-only-" + "k" * 50 + "\n")
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env.update({"RESEE_ENV_FILE": str(dotenv), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    if debug is not None:
        env["DEBUG"] = debug
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("env_file", "debug", "works"), [(True, None, True), (False, None, False), (True, "0", False)]
)
def test_manage_py_reads_the_development_env_file_unless_debug_is_off(
    tmp_path: Path, env_file: bool, debug: str | None, works: bool
) -> None:
    result = _check(tmp_path, env_file=env_file, debug=debug)
    assert (result.returncode == 0) is works, result.stderr[-500:]
    if not works:
        assert "SECRET_KEY must be set" in result.stderr


def test_the_image_never_carries_a_development_env_file() -> None:
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
