"""The typed TypeScript client (clients/typescript) as a frontend team uses it: generated from the live
schema without a diff, type-checked in strict mode, and a learner's journey through it against the
deployed topology with every answer checked against its declared response at runtime."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.system.stack import ROOT, running

pytestmark = pytest.mark.system

CLIENT = ROOT / "clients" / "typescript"
COMMITTED_SCHEMA = CLIENT / "src" / "schema.d.ts"
# Low enough that the journey's last step meets the auth throttle after a few logins (it makes about
# ten /api/auth/ calls before), high enough that its earlier steps never do.
AUTH_THROTTLE_RATE = "15/m"


def _run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        list(args),
        cwd=CLIENT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def node_bin() -> Path:
    """The client's packages from the npm registry, pinned by package-lock.json (npm ci once; nothing is
    fetched while node_modules matches the lock file)."""
    installed = subprocess.run(  # noqa: S603
        ["/bin/bash", str(CLIENT / "scripts" / "install.sh")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return CLIENT / "node_modules" / ".bin"


def test_client_type_checks_in_strict_mode_and_its_checker_catches_each_kind_of_mismatch(
    node_bin: Path,
) -> None:
    checked = _run(str(node_bin / "tsc"), "--noEmit")
    assert checked.returncode == 0, (
        f"tsc --noEmit (clients/typescript/tsconfig.json):\n{checked.stdout}{checked.stderr}"
    )
    # The runtime checker the journey relies on (journey/conformance.test.ts), on a small document.
    tested = _run(str(node_bin / "tsx"), "--test", "journey/conformance.test.ts")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_generated_client_matches_the_live_schema_and_every_journey_answer_its_declaration(
    stack_factory, node_bin: Path, tmp_path: Path, record_property
) -> None:
    stack = stack_factory(AUTH_THROTTLE_RATE=AUTH_THROTTLE_RATE)
    report_path = tmp_path / "journey.json"
    with running(stack):
        schema = stack.get("/api/openapi.json")
        assert schema.status_code == 200, schema.text
        (tmp_path / "openapi.json").write_bytes(schema.content)
        generated = _run(
            "node",
            "scripts/generate.mjs",
            str(tmp_path / "openapi.json"),
            "--out",
            str(tmp_path / "schema.d.ts"),
        )
        assert generated.returncode == 0, generated.stdout + generated.stderr
        journey = _run(
            str(node_bin / "tsx"),
            "journey/journey.ts",
            env={
                "RESEE_BASE_URL": stack.url,
                "RESEE_MAIL_DIR": str(stack.mail_dir),
                "RESEE_JOURNEY_REPORT": str(report_path),
            },
        )

    drift = list(
        difflib.unified_diff(
            COMMITTED_SCHEMA.read_text().splitlines(),
            (tmp_path / "schema.d.ts").read_text().splitlines(),
            "clients/typescript/src/schema.d.ts (committed)",
            "generated from the live /api/openapi.json",
            lineterm="",
        )
    )
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    record_property("journey calls", report.get("calls"))
    record_property("journey mismatches (known gaps)", len(report.get("knownGaps", [])))
    record_property("journey mismatches (unexpected)", len(report.get("unexpected", [])))

    assert not drift, (
        "The committed client types differ from what the live schema generates: run `make client` and commit "
        "clients/typescript/src/schema.d.ts.\n" + "\n".join(drift[:80])
    )
    assert journey.returncode == 0, f"the journey failed:\n{journey.stdout}{journey.stderr}"
