"""At most PORTABILITY_MAX_ACTIVE_JOBS unfinished exports, and as many imports, per learner: another
request answers 429 ``throttled`` (with Retry-After) and stores nothing; a job whose task was lost stops
counting once the queue can no longer be running it."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ

from modules.common.errors import Throttled
from modules.identity.testing import auth_headers, make_user
from modules.portability.models import ExportJob, ImportJob, JobStatus
from modules.portability.services import request_export, request_import
from modules.portability.services.jobs import active_window
from tests.concurrency import run_together

EXPORTS = "/api/portability/exports/"
IMPORTS = "/api/portability/imports/"
CSV = b"front,back\nhola,hello\n"


def _export(user: Any) -> Any:
    return Client(headers=auth_headers(user)).post(
        EXPORTS, {"format": "json"}, content_type="application/json"
    )


def _import(user: Any, body: bytes = CSV) -> Any:
    file = io.BytesIO(body)
    file.name = "words.csv"
    return Client(headers=auth_headers(user)).post(IMPORTS, {"kind": "csv", "file": file})


def _stored_uploads(settings: Any) -> list[Path]:
    directory = Path(settings.PORTABILITY_UPLOAD_DIR)
    return sorted(directory.iterdir()) if directory.exists() else []


def _job(model: type[ExportJob] | type[ImportJob], user: Any, **fields: Any) -> Any:
    kind = {"format": "json"} if model is ExportJob else {"kind": "csv"}
    return model.objects.create(user=user, **kind, **fields)


# --- the API -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_third_unfinished_export_answers_429_throttled_with_retry_after() -> None:
    user = make_user()
    # In these tests the jobs stay queued: their tasks are queued when the test's transaction commits.
    first, second = _export(user), _export(user)

    third = _export(user)

    assert (first.status_code, second.status_code) == (202, 202)
    assert third.status_code == 429, third.content
    body = third.json()
    assert body["code"] == "throttled"
    assert "2 unfinished exports" in body["detail"] and "at most 2" in body["detail"]
    assert f"{first.json()['id']}, {second.json()['id']}" in body["detail"]
    window = active_window().total_seconds()
    assert window - 5 <= int(third["Retry-After"]) <= window  # when the oldest can no longer count
    assert ExportJob.objects.filter(user=user).count() == 2


@pytest.mark.django_db
def test_a_finished_or_failed_job_frees_its_place_at_once() -> None:
    user = make_user()
    first, second = _export(user).json()["id"], _export(user).json()["id"]
    ExportJob.objects.filter(pk=first).update(status=JobStatus.DONE)
    assert _export(user).status_code == 202
    assert _export(user).status_code == 429
    ExportJob.objects.filter(pk=second).update(status=JobStatus.FAILED)
    assert _export(user).status_code == 202


@pytest.mark.django_db
def test_exports_and_imports_are_limited_separately_and_per_learner(settings: Any) -> None:
    settings.PORTABILITY_MAX_ACTIVE_JOBS = 1
    user, other = make_user(), make_user()
    assert _export(user).status_code == 202
    assert _export(user).status_code == 429

    assert _import(user).status_code == 202  # an import still has its own place
    assert _import(user).status_code == 429
    assert _export(other).status_code == 202  # and another learner theirs
    assert _import(other).status_code == 202


@pytest.mark.django_db
def test_an_import_over_the_limit_is_refused_and_stores_no_file(settings: Any) -> None:
    user = make_user()
    _job(ImportJob, user)
    _job(ImportJob, user, status=JobStatus.RUNNING, started_at=timezone.now())

    refused = _import(user)

    assert refused.status_code == 429, refused.content
    assert refused.json()["code"] == "throttled" and "2 unfinished imports" in refused.json()["detail"]
    assert int(refused["Retry-After"]) >= 1
    assert _stored_uploads(settings) == []
    assert ImportJob.objects.filter(user=user).count() == 2


@pytest.mark.django_db
def test_the_import_limit_is_checked_before_the_file_is_checked() -> None:
    """The upload handler asks before the body is read: an empty file over the limit is throttled, not
    read and found empty."""
    user = make_user()
    _job(ImportJob, user)
    _job(ImportJob, user)
    assert _import(user, b"").status_code == 429
    ImportJob.objects.filter(user=user).update(status=JobStatus.DONE)
    assert _import(user, b"").json()["code"] == "unsupported_file"


# --- the service ----------------------------------------------------------------------------------


class _UploadThatFillsTheLimit(io.BytesIO):
    """An upload during whose copy two other requests of the learner create their imports."""

    def __init__(self, user: Any) -> None:
        super().__init__(CSV)
        self.user, self.done = user, False

    def read(self, size: int | None = -1) -> bytes:
        if not self.done:
            self.done = True
            _job(ImportJob, self.user)
            _job(ImportJob, self.user)
        return super().read(size)


@pytest.mark.django_db
def test_an_import_whose_place_was_taken_while_its_file_was_copied_is_refused_and_its_file_removed(
    settings: Any,
) -> None:
    user = make_user()
    with pytest.raises(Throttled):
        request_import(user=user, kind="csv", upload=_UploadThatFillsTheLimit(user), file_name="w.csv")
    assert _stored_uploads(settings) == []
    assert ImportJob.objects.filter(user=user).count() == 2


class _UnreadableUpload(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the upload was read")


@pytest.mark.django_db
def test_a_throttled_import_does_not_read_its_upload() -> None:
    user = make_user()
    _job(ImportJob, user)
    _job(ImportJob, user)
    with pytest.raises(Throttled):
        request_import(user=user, kind="csv", upload=_UnreadableUpload(), file_name="w.csv")


# --- jobs whose task was lost ------------------------------------------------------------------


def test_the_window_is_the_longest_a_task_can_live_in_the_queue(settings: Any) -> None:
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 120, "retry": 180, "max_attempts": 3}
    assert active_window() == timedelta(seconds=120 + 3 * 180)  # 11 minutes with the defaults
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 10, "retry": 20, "max_attempts": 0}
    assert active_window() == timedelta(seconds=10 + 20)  # unlimited attempts count as one


@pytest.mark.django_db
def test_a_job_unfinished_past_the_window_no_longer_counts() -> None:
    user = make_user()
    now = timezone.now()
    window = active_window()
    lost = now - window - timedelta(seconds=1)
    _job(ExportJob, user, status=JobStatus.RUNNING, created_at=lost, started_at=lost)  # worker gone
    _job(ExportJob, user, created_at=lost)  # its task never reached the queue
    assert _export(user).status_code == 202
    assert _export(user).status_code == 202
    assert _export(user).status_code == 429


@pytest.mark.django_db
def test_a_job_counts_from_its_last_start_and_retry_after_names_when_the_oldest_stops_counting() -> None:
    user = make_user()
    now = timezone.now()
    window = active_window()
    # Queued long ago, started a minute ago: running now, it counts.
    _job(
        ExportJob,
        user,
        status=JobStatus.RUNNING,
        created_at=now - window - timedelta(hours=1),
        started_at=now - timedelta(minutes=1),
    )
    _job(ExportJob, user, created_at=now - window + timedelta(seconds=30))  # counts 30 s more

    refused = _export(user)

    assert refused.status_code == 429
    assert 25 <= int(refused["Retry-After"]) <= 30


# --- parallel requests (real PostgreSQL, one connection per thread, real commits) -----------------


@pytest.mark.django_db(transaction=True)
def test_parallel_export_requests_never_pass_the_limit(slow_count: None) -> None:
    user = make_user()

    statuses = run_together(lambda _: _export(user).status_code, 8, timeout=60)

    assert sorted(statuses) == [202, 202] + [429] * 6
    assert ExportJob.objects.filter(user=user).count() == 2
    assert OrmQ.objects.count() == 2  # and exactly two tasks queued


@pytest.mark.django_db(transaction=True)
def test_parallel_imports_never_pass_the_limit_and_the_refused_store_nothing(
    slow_count: None, settings: Any
) -> None:
    user = make_user()

    statuses = run_together(lambda _: _import(user).status_code, 6, timeout=60)

    assert sorted(statuses) == [202, 202] + [429] * 4
    names = set(ImportJob.objects.filter(user=user).values_list("upload_name", flat=True))
    assert len(names) == 2
    assert {path.name for path in _stored_uploads(settings)} == names


@pytest.mark.django_db(transaction=True)
def test_parallel_service_calls_hold_the_limit(slow_count: None) -> None:
    user = make_user()

    def one(_: int) -> bool:
        try:
            request_export(user=user, format="csv")
        except Throttled:
            return False
        return True

    assert sorted(run_together(one, 6, timeout=60)) == [False] * 4 + [True] * 2
