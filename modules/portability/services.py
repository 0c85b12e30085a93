"""The portability module's facade: a learner's data out (exports) and in (Anki, CSV, Resee exports).

Both run as jobs on the worker. An export streams the learner's data, section by section, into one file
under ``PORTABILITY_EXPORT_DIR`` (JSON, or a zip of CSV files) that a signed link serves for
``PORTABILITY_LINK_SECONDS`` (10 minutes) at a time, until the file is pruned
(``PORTABILITY_EXPORT_KEEP_HOURS``). An import is checked when it is uploaded (size, zip structure,
format: a 422 with a code, and nothing is stored), then read and written by the job in one transaction:
it imports everything or nothing. Progress inside that transaction is reported through the cache (a
row written there would only be visible at commit).

Other modules are reached through their facades only: identity (profile), learning (the bulk
``import_learning_data`` / ``export_*``), ai (questions).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import DatabaseError, OperationalError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from modules.ai import services as ai
from modules.common.errors import NotFound, ValidationFailed
from modules.identity import services as identity
from modules.identity.services import User
from modules.learning import services as learning
from modules.portability import selectors
from modules.portability.errors import FileRejected, FileTooLarge, LinkExpired, UnsupportedFile
from modules.portability.formats import anki, bundle, csvfile
from modules.portability.formats.archive import Limits, SafeZip, bounded_copy
from modules.portability.models import ExportFormat, ExportJob, ImportJob, ImportKind, JobStatus

logger = logging.getLogger(__name__)

__all__ = [
    "DownloadFile",
    "ExportJobView",
    "ImportJobView",
    "export_download",
    "export_status",
    "import_status",
    "instance_id",
    "prune_files",
    "request_export",
    "request_import",
    "run_export",
    "run_import",
    "upload_limit",
]

_LINK_SALT = "portability.export-download"
_PROGRESS_EVERY = 1000  # rows between two progress writes of an export
_STALE_AFTER = timedelta(hours=6)  # a job still running then lost its worker for good
_GRACE = 3600  # seconds before a file no job names is deleted
_PARSED = 15  # percent of an import done when its file is read
_EXTENSIONS = {
    ImportKind.APKG: ".apkg",
    ImportKind.COLPKG: ".colpkg",
    ImportKind.CSV: ".csv",
    ImportKind.RESEE_JSON: ".json",
    ImportKind.RESEE_ZIP: ".zip",
}
IMPORT_COUNTS = (
    "notes",
    "cards",
    "rows",
    "categories_created",
    "contents_created",
    "contents_updated",
    "contents_skipped",
    "media_skipped",
    "reviews_imported",
    "reviews_skipped",
    "ai_questions_imported",
    "ai_questions_skipped",
)


# --- DTOs --------------------------------------------------------------------------------------------------


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
class ImportJobView:
    id: int
    kind: str
    status: str
    progress: int
    file_name: str
    size_bytes: int
    counts: dict[str, int]
    warnings: list[str]
    error_code: str | None
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class DownloadFile:
    path: Path
    filename: str
    content_type: str


# --- Shared --------------------------------------------------------------------------------------------


def instance_id() -> str:
    """This deployment's name in exports (derived from SECRET_KEY): a re-import of a learner's own export
    is recognised by it and by their id."""
    return salted_hmac("portability.instance", "origin").hexdigest()[:16]


def upload_limit() -> int:
    return int(settings.PORTABILITY_MAX_UPLOAD_BYTES)


def _limits() -> Limits:
    return Limits(
        max_total_bytes=int(settings.PORTABILITY_MAX_EXPANDED_BYTES),
        max_ratio=float(settings.PORTABILITY_MAX_COMPRESSION_RATIO),
    )


def _directory(setting: str) -> Path:
    path = Path(getattr(settings, setting))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _claim(model: type[ExportJob] | type[ImportJob], job_id: int) -> Any:
    """Marks a queued job running. A finished job is left alone (the queue may deliver a task twice); a
    running one runs again (its worker died, and what it wrote was rolled back)."""
    with transaction.atomic():
        job = model.objects.select_for_update().select_related("user").filter(pk=job_id).first()
        if job is None or job.status in {JobStatus.DONE, JobStatus.FAILED}:
            return None
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at"])
        return job


def _fail(job: ExportJob | ImportJob, *, code: str, message: str) -> None:
    type(job).objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error_code=code, error=message[:2000], finished_at=timezone.now()
    )


def _enqueue(task: str, job_id: int) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(task, job_id, task_name=f"{task.rsplit('.', 1)[-1]}-{job_id}"))


# --- Exports -------------------------------------------------------------------------------------------


def request_export(*, user: User, format: str) -> ExportJobView:
    """Queues an export of everything the learner has, as ``json`` or ``csv`` (a zip)."""
    job = ExportJob.objects.create(user=user, format=ExportFormat(format))
    _enqueue("modules.portability.tasks.run_export", job.pk)
    return _export_view(job)


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
    path = _directory("PORTABILITY_EXPORT_DIR") / job.file_name if job else None
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
    """Counts exported rows and writes the job's progress every ``_PROGRESS_EVERY`` of them."""

    def __init__(self, job_id: int, total: int) -> None:
        self.job_id, self.total, self.done = job_id, max(total, 1), 0

    def __call__(self) -> None:
        self.done += 1
        if self.done % _PROGRESS_EVERY == 0:
            percent = min(99, self.done * 100 // self.total)
            ExportJob.objects.filter(pk=self.job_id).update(progress=percent)


def run_export(*, job_id: int) -> str | None:
    """Writes the export file; returns the final status (None when there was nothing to do)."""
    job = _claim(ExportJob, job_id)
    if job is None:
        return None
    user = job.user
    directory = _directory("PORTABILITY_EXPORT_DIR")
    extension = ".json" if job.format == ExportFormat.JSON else ".zip"
    name = f"{secrets.token_urlsafe(24)}{extension}"
    partial = directory / f".{name}.part"
    counts = learning.learning_data_counts(user=user)
    questions = ai.question_list(user=user).count()
    ticker = _Ticker(job.pk, counts.categories + counts.contents + counts.reviews + questions)
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
    except OperationalError:
        partial.unlink(missing_ok=True)
        raise  # the database went away: the queue runs the task again
    except (OSError, DatabaseError) as exc:
        partial.unlink(missing_ok=True)
        logger.exception("export failed", extra={"job_id": job.pk})
        _fail(job, code="export_failed", message=f"The export could not be written ({type(exc).__name__}).")
        return JobStatus.FAILED
    now = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
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
    logger.info("export written", extra={"job_id": job.pk, "rows": ticker.done})
    return JobStatus.DONE


# --- Imports -------------------------------------------------------------------------------------------


def request_import(
    *, user: User, kind: str, upload: IO[bytes], file_name: str, restore_profile: bool = False
) -> ImportJobView:
    """Stores an upload and queues its import. The file is checked first (size, zip structure, that it
    is what ``kind`` says): a FileRejected error stores nothing."""
    identity.ensure_email_verified(user)
    kind = ImportKind(kind)
    directory = _directory("PORTABILITY_UPLOAD_DIR")
    stored = directory / f"{secrets.token_urlsafe(24)}{_EXTENSIONS[kind]}"
    try:
        with stored.open("wb") as target:
            try:
                size = bounded_copy(upload, target, limit=upload_limit(), what="The upload")
            except FileRejected as exc:
                raise FileTooLarge(f"The file is larger than {upload_limit()} bytes.") from exc
        if size == 0:
            raise UnsupportedFile("The file is empty.")
        _precheck(kind, stored)
        job = ImportJob.objects.create(
            user=user,
            kind=kind,
            original_name=file_name[:255],
            upload_name=stored.name,
            size_bytes=size,
            restore_profile=restore_profile,
        )
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    _enqueue("modules.portability.tasks.run_import", job.pk)
    return _import_view(job)


def _precheck(kind: ImportKind, path: Path) -> None:
    """The cheap checks, while the client waits: the zip's directory, the collection or manifest is
    there, JSON or text looks like it. Reading the data is the job's."""
    if kind in {ImportKind.APKG, ImportKind.COLPKG, ImportKind.RESEE_ZIP}:
        with SafeZip(path, _limits()) as archive:
            if kind == ImportKind.RESEE_ZIP:
                if not archive.has("manifest.json"):
                    raise UnsupportedFile("This zip is not a Resee export (no manifest.json).")
            else:
                anki.choose_collection(archive)
        return
    with path.open("rb") as file:
        head = file.read(4096)
    if kind == ImportKind.RESEE_JSON:
        if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            raise UnsupportedFile("This is not a JSON document.")
    elif head.startswith(b"PK\x03\x04") or b"\x00" in head:
        raise UnsupportedFile("This is not a CSV text file.")


def import_status(*, user: User, job_id: int) -> ImportJobView:
    job = selectors.import_of(user_id=user.pk, job_id=job_id)
    if job is None:
        raise NotFound("Import not found.")
    return _import_view(job)


def _progress_key(job_id: int) -> str:
    return f"portability:import-progress:{job_id}"


def _import_view(job: ImportJob) -> ImportJobView:
    progress = job.progress
    if job.status == JobStatus.RUNNING:
        try:
            progress = max(progress, int(cache.get(_progress_key(job.pk)) or 0))
        except Exception:  # a cache outage costs only the finer progress
            logger.warning("import progress unavailable", exc_info=True)
    return ImportJobView(
        id=job.pk,
        kind=job.kind,
        status=job.status,
        progress=progress,
        file_name=job.original_name,
        size_bytes=job.size_bytes,
        counts={name: int(job.counts.get(name, 0)) for name in IMPORT_COUNTS},
        warnings=list(job.warnings),
        error_code=job.error_code or None,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


@dataclass
class _Parsed:
    data: learning.LearningImport
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    questions: list[bundle.QuestionRow] = field(default_factory=list)
    profile: bundle.ProfileRow | None = None


def _parse(job: ImportJob, path: Path, *, user: User) -> _Parsed:
    now = timezone.now()
    kind = ImportKind(job.kind)
    if kind in {ImportKind.APKG, ImportKind.COLPKG}:
        read = anki.read_package(path, limits=_limits(), now=now)
        return _Parsed(
            data=read.data,
            counts={"notes": read.notes, "cards": read.cards, "media_skipped": read.media_skipped},
            warnings=read.warnings,
        )
    if kind == ImportKind.CSV:
        table = csvfile.read_csv(path.read_bytes(), now=now)
        return _Parsed(data=table.data, counts={"rows": table.rows}, warnings=table.warnings)
    if kind == ImportKind.RESEE_JSON:
        parsed = bundle.read_json(path.read_bytes())
    else:
        with SafeZip(path, _limits()) as archive:
            parsed = bundle.read_csv_zip(archive)
    return _from_bundle(parsed, user=user)


def _from_bundle(parsed: bundle.Bundle, *, user: User) -> _Parsed:
    """A Resee export as learning's import: the learner's own export (same deployment, same account)
    finds its rows by id; any other gets keys naming where the rows came from."""
    own = parsed.origin.instance == instance_id() and parsed.origin.user_id == user.pk
    origin = f"{parsed.origin.instance}:{parsed.origin.user_id}"

    def key(source: str | None, external_id: str | None, kind: str, id_: int) -> learning.ExternalKey:
        if source and external_id:
            return learning.ExternalKey(source, external_id)
        return learning.ExternalKey("resee", f"{origin}:{kind}{id_}")

    def local(source: str | None, id_: int) -> int | None:
        return id_ if own and not source else None

    contents = [
        learning.ImportedContent(
            ref=str(row.id),
            key=key(row.external_source, row.external_id, "c", row.id),
            local_id=local(row.external_source, row.id),
            title=row.title,
            body=row.body,
            category=row.category,
            created_at=row.created_at,
            updated_at=row.updated_at,
            schedule=learning.ScheduleRecord(**row.schedule.model_dump()) if row.schedule else None,
        )
        for row in parsed.contents
    ]
    reviews = [
        learning.ImportedReview(
            content_ref=str(row.content_id),
            key=key(row.external_source, row.external_id, "r", row.id),
            local_id=local(row.external_source, row.id),
            result=row.result,
            reviewed_at=row.reviewed_at,
            time_spent_seconds=row.time_spent_seconds,
            recorded=learning.RecordedReview(
                recorded_at=row.recorded_at,
                stage_before=row.stage_before,
                stage_after=row.stage_after,
                interval_days=row.interval_days,
                early=row.early,
                retrievability_before=row.retrievability_before,
                scheduler=row.scheduler,
            ),
        )
        for row in parsed.reviews
    ]
    categories = [
        learning.CategoryRecord(name=row.name, description=row.description, created_at=row.created_at)
        for row in parsed.categories
    ]
    return _Parsed(
        data=learning.LearningImport(categories=categories, contents=contents, reviews=reviews),
        questions=list(parsed.ai_questions),
        profile=parsed.profile,
    )


def _reporter(job_id: int) -> Callable[[int, int], None]:
    last = [-1]

    def report(done: int, total: int) -> None:
        percent = _PARSED + (99 - _PARSED) * done // max(total, 1)
        if percent != last[0]:
            last[0] = percent
            try:
                cache.set(_progress_key(job_id), percent, timeout=3600)
            except Exception:
                logger.warning("import progress not reported", exc_info=True)

    return report


def run_import(*, job_id: int) -> str | None:
    """Reads the upload and writes it into the learner's account in one transaction; returns the final
    status (None when there was nothing to do). The upload is deleted once the job has finished."""
    job = _claim(ImportJob, job_id)
    if job is None:
        return None
    user = job.user
    path = _directory("PORTABILITY_UPLOAD_DIR") / job.upload_name
    try:
        if not job.upload_name or not path.is_file():
            _fail(job, code="upload_missing", message="The uploaded file is gone; upload it again.")
            return JobStatus.FAILED
        parsed = _parse(job, path, user=user)
        ImportJob.objects.filter(pk=job.pk).update(progress=_PARSED)
        with transaction.atomic():
            # Held to the end: a second delivery of this task waits here, then finds the job done.
            if not ImportJob.objects.select_for_update().filter(pk=job.pk, status=JobStatus.RUNNING).exists():
                return None
            if job.restore_profile and parsed.profile is not None:
                changes = parsed.profile.model_dump()
                identity.update_profile(user=user, changes=changes)
            outcome = learning.import_learning_data(user=user, data=parsed.data, progress=_reporter(job.pk))
            counts = {**parsed.counts, **_counts(outcome.counts)}
            if parsed.questions:
                created, skipped = ai.import_questions(
                    user=user,
                    questions=[
                        ai.QuestionRecord(
                            **{**row.model_dump(), "content_id": outcome.content_ids[str(row.content_id)]}
                        )
                        for row in parsed.questions
                        if str(row.content_id) in outcome.content_ids
                    ],
                )
                counts.update(ai_questions_imported=created, ai_questions_skipped=skipped)
            ImportJob.objects.filter(pk=job.pk).update(
                status=JobStatus.DONE,
                progress=100,
                counts=counts,
                warnings=parsed.warnings,
                finished_at=timezone.now(),
            )
        logger.info("import done", extra={"job_id": job.pk, "counts": counts})
        return JobStatus.DONE
    except FileRejected as exc:
        _fail(job, code=exc.code, message=exc.message)
        return JobStatus.FAILED
    except ValidationFailed as exc:
        _fail(job, code=exc.code, message="; ".join(error.message for error in exc.fields) or exc.detail)
        return JobStatus.FAILED
    except OperationalError:
        raise  # the database went away: nothing was written, the queue runs the task again
    except DatabaseError:
        logger.exception("import failed", extra={"job_id": job.pk})
        _fail(job, code="import_failed", message="The file holds values that cannot be stored.")
        return JobStatus.FAILED
    finally:
        if selectors.import_finished(job_id=job.pk):
            path.unlink(missing_ok=True)


def _counts(counts: learning.ImportCounts) -> dict[str, int]:
    return {name: getattr(counts, name) for name in counts.__slots__}  # type: ignore[attr-defined]


# --- Housekeeping --------------------------------------------------------------------------------------


def prune_files(*, now: datetime | None = None) -> dict[str, int]:
    """Daily: deletes export files past their lifetime and uploads of finished imports (and any file no
    job names), and fails jobs whose worker never came back. Returns what it did."""
    now = now or timezone.now()
    export_dir = _directory("PORTABILITY_EXPORT_DIR")
    upload_dir = _directory("PORTABILITY_UPLOAD_DIR")
    stale = now - _STALE_AFTER
    failed = 0
    for model in (ExportJob, ImportJob):
        failed += model.objects.filter(
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING], created_at__lt=stale
        ).update(
            status=JobStatus.FAILED,
            error_code="stale",
            error="The job did not finish; start it again.",
            finished_at=now,
        )
    expired = list(
        ExportJob.objects.filter(expires_at__lte=now).exclude(file_name="").values_list("pk", "file_name")
    )
    ExportJob.objects.filter(pk__in=[pk for pk, _ in expired]).update(file_name="")
    live_exports = set(ExportJob.objects.exclude(file_name="").values_list("file_name", flat=True))
    live_uploads = set(
        ImportJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).values_list(
            "upload_name", flat=True
        )
    )
    files = 0
    for directory, live in ((export_dir, live_exports), (upload_dir, live_uploads)):
        for path in directory.iterdir():
            # A file no job names is an expired export, a finished upload or a crash's leftover; the
            # grace period spares a file whose job is being written right now.
            if path.is_file() and path.name not in live and now.timestamp() - path.stat().st_mtime > _GRACE:
                path.unlink(missing_ok=True)
                files += 1
    logger.info("portability files pruned", extra={"files": files, "jobs_failed": failed})
    return {"files_deleted": files, "jobs_failed": failed}
