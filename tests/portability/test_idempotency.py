"""Exports and imports with an Idempotency-Key are queued once: a retry answers the first request's job
(as it is now, even when the learner's job limit is reached meanwhile) and keeps nothing of its own
upload; another request with the key answers 409; a refused request frees its key; racing retries
queue one job."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ

from modules.identity.testing import auth_headers, make_user
from modules.portability.models import ExportJob, ImportJob, JobStatus, PortabilityRequestKey
from modules.portability.services import prune_files
from tests.concurrency import run_together

EXPORTS = "/api/portability/exports/"
IMPORTS = "/api/portability/imports/"
CSV = b"front,back\nhola,hello\n"


def _export(user: Any, key: str | None, format: str = "json") -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return Client(headers=auth_headers(user)).post(
        EXPORTS, {"format": format}, content_type="application/json", headers=headers
    )


def _import(user: Any, key: str | None, body: bytes = CSV, name: str = "words.csv", **fields: Any) -> Any:
    file = io.BytesIO(body)
    file.name = name
    headers = {"Idempotency-Key": key} if key is not None else {}
    return Client(headers=auth_headers(user)).post(
        IMPORTS, {"kind": "csv", "file": file, **fields}, headers=headers
    )


def _uploads(settings: Any) -> set[str]:
    directory = Path(settings.PORTABILITY_UPLOAD_DIR)
    return {path.name for path in directory.iterdir()} if directory.exists() else set()


# --- exports -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_retried_export_queues_one_job_and_one_task(slow_count: None) -> None:
    user = make_user()

    first, second = _export(user, "exp-1"), _export(user, "exp-1")

    assert first.status_code == second.status_code == 202, second.content
    assert second.json()["id"] == first.json()["id"]
    assert ExportJob.objects.filter(user=user).count() == 1
    assert OrmQ.objects.count() == 1
    other = _export(user, "exp-2")
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    assert OrmQ.objects.count() == 2


@pytest.mark.django_db
def test_an_export_retry_answers_the_job_as_it_is_now_even_at_the_limit() -> None:
    user = make_user()
    first = _export(user, "exp-1").json()
    assert _export(user, "exp-2").status_code == 202  # the learner's two places are taken
    assert _export(user, "exp-3").status_code == 429
    ExportJob.objects.filter(pk=first["id"]).update(status=JobStatus.RUNNING, progress=40)

    retry = _export(user, "exp-1")

    assert retry.status_code == 202, retry.content
    body = retry.json()
    assert (body["id"], body["status"], body["progress"]) == (first["id"], "running", 40)
    assert ExportJob.objects.filter(user=user).count() == 2


@pytest.mark.django_db
def test_an_export_key_with_another_format_answers_409_and_queues_nothing() -> None:
    user = make_user()
    assert _export(user, "exp-1", "json").status_code == 202

    other = _export(user, "exp-1", "csv")

    assert other.status_code == 409, other.content
    assert other.json()["code"] == "conflict"
    assert ExportJob.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_a_refused_export_frees_its_key() -> None:
    user = make_user()
    first, _ = _export(user, None), _export(user, None)

    refused = _export(user, "exp-1")
    assert refused.status_code == 429
    assert not PortabilityRequestKey.objects.filter(user=user).exists()
    ExportJob.objects.filter(pk=first.json()["id"]).update(status=JobStatus.DONE)
    retry = _export(user, "exp-1")

    assert retry.status_code == 202, retry.content
    assert ExportJob.objects.filter(user=user).count() == 3


@pytest.mark.django_db
def test_export_keys_are_per_user() -> None:
    one, two = make_user(), make_user()

    a, b = _export(one, "same"), _export(two, "same")

    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]
    assert ExportJob.objects.filter(user=two).count() == 1


@pytest.mark.django_db
def test_a_retry_of_a_deleted_export_answers_404() -> None:
    user = make_user()
    first = _export(user, "exp-1").json()
    ExportJob.objects.filter(pk=first["id"]).delete()

    assert _export(user, "exp-1").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_racing_retries_of_an_export_queue_one_job(slow_count: None) -> None:
    user = make_user()

    answers = run_together(lambda _: _export(user, "race"), 6, timeout=60)

    assert [answer.status_code for answer in answers] == [202] * 6
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert ExportJob.objects.filter(user=user).count() == 1
    assert OrmQ.objects.count() == 1


# --- imports -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_retried_import_queues_one_job_and_keeps_one_upload(slow_count: None, settings: Any) -> None:
    user = make_user()

    first, second = _import(user, "imp-1"), _import(user, "imp-1")

    assert first.status_code == second.status_code == 202, second.content
    assert second.json()["id"] == first.json()["id"]
    job = ImportJob.objects.get(user=user)
    assert _uploads(settings) == {job.upload_name}
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db
def test_an_import_retry_at_the_limit_answers_the_first_job(settings: Any) -> None:
    user = make_user()
    first = _import(user, "imp-1").json()
    assert _import(user, "imp-2").status_code == 202
    assert _import(user, "imp-3").status_code == 429  # refused before the upload is read

    retry = _import(user, "imp-1")

    assert retry.status_code == 202, retry.content
    assert retry.json()["id"] == first["id"]
    assert len(_uploads(settings)) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"body": CSV + b"adios,goodbye\n"},
        {"name": "other.csv"},
        {"restore_profile": "true"},
    ],
    ids=["another file", "another name", "another option"],
)
@pytest.mark.django_db
def test_an_import_key_with_another_request_answers_409_and_stores_nothing(
    settings: Any, change: dict[str, Any]
) -> None:
    user = make_user()
    first = _import(user, "imp-1")
    assert first.status_code == 202

    other = _import(user, "imp-1", **change)

    assert other.status_code == 409, other.content
    assert other.json()["code"] == "conflict"
    job = ImportJob.objects.get(user=user)
    assert _uploads(settings) == {job.upload_name}


@pytest.mark.django_db
def test_a_rejected_import_frees_its_key(settings: Any) -> None:
    user = make_user()

    rejected = _import(user, "imp-1", body=b"")
    retry = _import(user, "imp-1")

    assert rejected.status_code == 422
    assert retry.status_code == 202, retry.content
    assert ImportJob.objects.filter(user=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_retries_of_an_import_queue_one_job_and_keep_one_upload(
    slow_count: None, settings: Any
) -> None:
    user = make_user()

    answers = run_together(lambda _: _import(user, "race"), 5, timeout=60)

    assert [answer.status_code for answer in answers] == [202] * 5
    assert len({answer.json()["id"] for answer in answers}) == 1
    job = ImportJob.objects.get(user=user)
    assert _uploads(settings) == {job.upload_name}
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db
def test_the_daily_prune_forgets_keys_older_than_a_day() -> None:
    user = make_user()
    _export(user, "old")
    _export(user, "new")
    PortabilityRequestKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))

    done = prune_files()

    assert done["request_keys_deleted"] == 1
    assert list(PortabilityRequestKey.objects.values_list("key", flat=True)) == ["new"]
