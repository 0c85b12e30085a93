"""Exports: a job streams the learner's data, section by section, into one file (JSON, or a zip of
CSV files) that a signed link serves for ``PORTABILITY_LINK_SECONDS`` at a time."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.db import DatabaseError, OperationalError, transaction
from django.utils import timezone

from modules.ai import services as ai
from modules.common import idempotency
from modules.common.errors import NotFound
from modules.common.task_timeout import Deadline, TaskTimeout
from modules.identity import services as identity
from modules.identity.services import User
from modules.learning import services as learning
from modules.portability import selectors
from modules.portability.errors import LinkExpired
from modules.portability.formats import bundle
from modules.portability.models import ExportFormat, ExportJob, JobStatus, PortabilityRequestKey
from modules.portability.services.files import storage_dir
from modules.portability.services.jobs import (
    ACCOUNT_CLOSED,
    ACCOUNT_CLOSED_CODE,
    AccountClosed,
    claim_job,
    enqueue_job,
    ensure_account_open,
    fail_after_timeout,
    fail_job,
    hold_room,
    instance_id,
)

logger = logging.getLogger(__name__)

_LINK_SALT = "portability.export-download"
_PROGRESS_EVERY = 1000  # rows between two progress writes of an export


@dataclass(frozen=True)
class ExportJobView:
    id: int
    format: str
    status: str
    progress: int
    counts: dict[str, int]
    error_code: str | None
    error: str
    size_bytes: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    download_token: str | None = None
    download_expires_at: datetime | None = None


@dataclass(frozen=True)
class DownloadFile:
    path: Path
    filename: str
    content_type: str


def request_export(*, user: User, format: str, idempotency_key: str | None = None) -> ExportJobView:
    """Queues an export of everything the learner has, as ``json`` or ``csv`` (a zip); Throttled while
    ``PORTABILITY_MAX_ACTIVE_JOBS`` of their exports are unfinished.

    With an ``idempotency_key`` the job is queued once: the same key and format later answer that job
    as it is now (with its download link once done), even when the limit is reached meanwhile; the key
    with another format is a Conflict."""
    export_format = ExportFormat(format)

    def queue_export() -> ExportJobView:
        with transaction.atomic():
            hold_room(ExportJob, user_id=user.pk, what="export")
            job = ExportJob.objects.create(user=user, format=export_format)
            enqueue_job("modules.portability.tasks.run_export", job.pk)  # at commit
        return _export_view(job)

    return idempotency.once(
        model=PortabilityRequestKey,
        user_id=user.pk,
        operation="export",
        key=idempotency_key,
        request={"format": export_format.value},
        run=queue_export,
        stored=lambda view: {"job_id": view.id},
        replay=lambda stored: export_status(user=user, job_id=stored["job_id"]),
    )


def export_status(*, user: User, job_id: int) -> ExportJobView:
    """The job; once done (and until the file is pruned) with a download token valid 10 minutes."""
    job = selectors.export_of(user_id=user.pk, job_id=job_id)
    if job is None:
        raise NotFound("Export not found.")
    return _export_view(job, with_link=True)


def _export_view(job: ExportJob, *, with_link: bool = False) -> ExportJobView:
    token = expires = None
    now = timezone.now()
    if with_link and job.status == JobStatus.DONE and job.file_name and (job.expires_at or now) > now:
        token = signing.dumps({"job": job.pk, "file": job.file_name}, salt=_LINK_SALT)
        expires = now + timedelta(seconds=settings.PORTABILITY_LINK_SECONDS)
    return ExportJobView(
        id=job.pk,
        format=job.format,
        status=job.status,
        progress=job.progress,
        counts=dict(job.counts),
        error_code=job.error_code or None,
        error=job.error,
        size_bytes=job.size_bytes,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
        download_token=token,
        download_expires_at=expires,
    )


def export_download(*, job_id: int, token: str) -> DownloadFile:
    """The export file a signed link names; LinkExpired for a link that is forged, old or not this job's."""
    try:
        payload = signing.loads(token, salt=_LINK_SALT, max_age=settings.PORTABILITY_LINK_SECONDS)
    except signing.BadSignature as exc:  # SignatureExpired included
        raise LinkExpired() from exc
    if not isinstance(payload, dict) or payload.get("job") != job_id:
        raise LinkExpired()
    job = selectors.finished_export(job_id=job_id, file_name=str(payload.get("file", "")))
    path = storage_dir("PORTABILITY_EXPORT_DIR") / job.file_name if job else None
    if (
        job is None
        or path is None
        or not path.is_file()
        or (job.expires_at and job.expires_at <= timezone.now())
    ):
        raise NotFound("This export is no longer available; ask for a new one.")
    extension = ".json" if job.format == ExportFormat.JSON else ".zip"
    return DownloadFile(
        path=path,
        filename=f"resee-export-{job.created_at:%Y-%m-%d}{extension}",
        content_type="application/json" if job.format == ExportFormat.JSON else "application/zip",
    )


class _Ticker:
    """Counts exported rows and writes the job's progress every ``_PROGRESS_EVERY`` of them; checks the
    task's own deadline at each row, in case the worker's alarm was lost (modules/common/task_timeout.py),
    and with each progress write that the learner's account is still open (``AccountClosed``)."""

    def __init__(self, job_id: int, user_id: int, total: int, deadline: Deadline) -> None:
        self.job_id, self.user_id, self.total, self.done = job_id, user_id, max(total, 1), 0
        self.deadline = deadline

    def __call__(self) -> None:
        self.deadline.check()
        self.done += 1
        if self.done % _PROGRESS_EVERY == 0:
            percent = min(99, self.done * 100 // self.total)
            if not ExportJob.objects.filter(pk=self.job_id).update(progress=percent):
                raise AccountClosed()  # the job is gone: its account was erased
            ensure_account_open(user_id=self.user_id)


def run_export(*, job_id: int) -> str | None:
    """Writes the export file; returns the final status (None when there was nothing to do)."""
    deadline = Deadline()
    try:
        job = claim_job(ExportJob, job_id)
    except TaskTimeout:  # waited all its time for the lock of another delivery of the task
        fail_after_timeout(ExportJob, job_id, what="export")
        return JobStatus.FAILED
    if job is None:
        return None
    user = job.user
    directory = storage_dir("PORTABILITY_EXPORT_DIR")
    extension = ".json" if job.format == ExportFormat.JSON else ".zip"
    name = f"{secrets.token_urlsafe(24)}{extension}"
    partial = directory / f".{name}.part"
    counts = learning.learning_data_counts(user=user)
    questions = ai.question_list(user=user).count()
    ticker = _Ticker(
        job.pk, user.pk, counts.categories + counts.contents + counts.reviews + questions, deadline
    )
    profile = identity.profile(user)
    header = {
        "exported_at": timezone.now(),
        "origin": {"instance": instance_id(), "user_id": user.pk},
        "profile": {
            key: getattr(profile, key)
            for key in (
                "email",
                "first_name",
                "last_name",
                "timezone",
                "daily_reminder_hour",
                "notifications_enabled",
                "scheduler",
                "desired_retention",
                "subscription_tier",
                "date_joined",
            )
        },
    }
    sections: bundle.Sections = {
        "categories": (bundle.category_row(r) for r in learning.export_categories(user=user)),
        "contents": (bundle.content_row(r) for r in learning.export_contents(user=user)),
        "reviews": (bundle.review_row(r) for r in learning.export_reviews(user=user)),
        "ai_questions": (bundle.question_row(r) for r in ai.export_questions(user=user)),
    }
    try:
        if job.format == ExportFormat.JSON:
            with partial.open("w", encoding="utf-8") as text:
                bundle.write_json(text, header, sections, ticker)
        else:
            with partial.open("wb") as binary:
                bundle.write_csv_zip(binary, header, sections, ticker)
        os.replace(partial, directory / name)
    except AccountClosed:
        partial.unlink(missing_ok=True)
        logger.info("export stopped: the account was closed", extra={"job_id": job.pk})
        fail_job(job, code=ACCOUNT_CLOSED_CODE, message=ACCOUNT_CLOSED)
        return JobStatus.FAILED
    except TaskTimeout:
        partial.unlink(missing_ok=True)
        logger.error("export stopped at the task timeout", extra={"job_id": job.pk})
        fail_after_timeout(ExportJob, job.pk, what="export")
        return JobStatus.FAILED
    except OperationalError:
        partial.unlink(missing_ok=True)
        raise  # the database went away: the queue runs the task again
    except (OSError, DatabaseError) as exc:
        partial.unlink(missing_ok=True)
        logger.exception("export failed", extra={"job_id": job.pk})
        fail_job(
            job, code="export_failed", message=f"The export could not be written ({type(exc).__name__})."
        )
        return JobStatus.FAILED
    except Exception:  # a bug: the job says so, rather than read "running" until the prune's stale sweep
        partial.unlink(missing_ok=True)
        logger.exception("export failed unexpectedly", extra={"job_id": job.pk})
        fail_job(job, code="export_failed", message="The export failed unexpectedly.")
        return JobStatus.FAILED
    now = timezone.now()
    finished = ExportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE,
        progress=100,
        file_name=name,
        size_bytes=(directory / name).stat().st_size,
        counts={
            "categories": counts.categories,
            "contents": counts.contents,
            "reviews": counts.reviews,
            "ai_questions": questions,
        },
        finished_at=now,
        expires_at=now + timedelta(hours=settings.PORTABILITY_EXPORT_KEEP_HOURS),
    )
    if not finished:  # the account was erased while the file was written: nobody may download it
        (directory / name).unlink(missing_ok=True)
        logger.info("export discarded: its account was erased", extra={"job_id": job.pk})
        return None
    logger.info("export written", extra={"job_id": job.pk, "rows": ticker.done})
    return JobStatus.DONE
