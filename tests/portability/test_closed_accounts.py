"""Export and import jobs of a learner who closes the account end cleanly: failed with
``account_closed``, no file left, nothing imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django_q.conf import Conf

from modules.identity import services as identity
from modules.identity.testing import auth_headers, make_user
from modules.learning import services as learning
from modules.learning.testing import make_due_content
from modules.portability import services
from modules.portability.formats import bundle
from modules.portability.models import ExportJob, ImportJob
from modules.portability.services import exports
from modules.portability.services.files import storage_dir
from tests.concurrency import needs_row_locks, run_together

pytestmark = pytest.mark.django_db


def queue_export(user: Any) -> int:
    """Accepted without running (no on-commit here): the test runs it."""
    answer = Client(headers=auth_headers(user)).post(
        "/api/portability/exports/", {"format": "json"}, content_type="application/json"
    )
    assert answer.status_code == 202, answer.content
    return int(answer.json()["id"])


def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "cards.csv"
    path.write_text("front,back\nWhat is 2+2?,4\nCapital of France?,Paris\n", encoding="utf-8")
    return path


def test_an_export_queued_before_the_closure_is_failed_and_writes_nothing() -> None:
    user = make_user()
    make_due_content(user=user)
    job_id = queue_export(user)
    identity.close_account(user=user)

    assert services.run_export(job_id=job_id) is None

    job = ExportJob.objects.get(pk=job_id)
    assert (job.status, job.error_code, job.file_name) == ("failed", "account_closed", "")
    assert list(storage_dir("PORTABILITY_EXPORT_DIR").iterdir()) == []


def test_an_export_whose_account_closes_while_it_writes_stops_and_leaves_no_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = make_user()
    for _ in range(3):
        make_due_content(user=user)
    job_id = queue_export(user)
    monkeypatch.setattr(exports, "_PROGRESS_EVERY", 1)
    real_row = bundle.content_row

    def closing_row(row: Any) -> Any:
        identity.close_account(user=user)  # the second and later calls find it closed already
        return real_row(row)

    monkeypatch.setattr(bundle, "content_row", closing_row)

    assert services.run_export(job_id=job_id) == "failed"

    job = ExportJob.objects.get(pk=job_id)
    assert (job.status, job.error_code, job.file_name) == ("failed", "account_closed", "")
    assert list(storage_dir("PORTABILITY_EXPORT_DIR").iterdir()) == []  # the partial file is gone


def test_an_import_queued_before_the_closure_is_failed(tmp_path: Path) -> None:
    user = make_user()
    with csv_file(tmp_path).open("rb") as file:
        answer = Client(headers=auth_headers(user)).post(
            "/api/portability/imports/", {"kind": "csv", "file": file}
        )
    assert answer.status_code == 202, answer.content
    identity.close_account(user=user)

    assert services.run_import(job_id=answer.json()["id"]) is None

    job = ImportJob.objects.get()
    assert (job.status, job.error_code) == ("failed", "account_closed")
    assert not list(learning.export_contents(user=user))


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_an_import_whose_account_closes_while_it_runs_stops_and_keeps_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The import holds its job's row for its whole transaction, so the account's erasure waits for it:
    the import notices the closure (committed by another connection) before it commits, and rolls
    back."""
    monkeypatch.setattr(Conf, "SYNC", False)  # the erasure stays queued; the import is run below
    user = make_user()
    with csv_file(tmp_path).open("rb") as file:
        answer = Client(headers=auth_headers(user)).post(
            "/api/portability/imports/", {"kind": "csv", "file": file}
        )
    assert answer.status_code == 202, answer.content
    real_import = learning.import_learning_data

    def closed_meanwhile(**kwargs: Any) -> Any:
        run_together(lambda _: identity.close_account(user=user), 1)  # another connection, committed
        return real_import(**kwargs)

    monkeypatch.setattr(learning, "import_learning_data", closed_meanwhile)

    assert services.run_import(job_id=answer.json()["id"]) == "failed"

    job = ImportJob.objects.get()
    assert (job.status, job.error_code) == ("failed", "account_closed")
    assert not list(learning.export_contents(user=user))  # one transaction: nothing was kept
    assert list(storage_dir("PORTABILITY_UPLOAD_DIR").glob("*")) == []
