"""Imports (Anki, CSV, Resee exports): the upload is checked while the client waits (size, zip
structure, format), then a job reads it and writes it into the learner's account in one transaction,
reporting its progress through the cache."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO

from django.core.cache import cache
from django.db import DatabaseError, OperationalError, transaction
from django.utils import timezone

from modules.ai import services as ai
from modules.common import idempotency
from modules.common.errors import NotFound, ValidationFailed
from modules.common.task_timeout import Deadline, TaskTimeout
from modules.identity import services as identity
from modules.identity.services import User
from modules.learning import services as learning
from modules.portability import selectors
from modules.portability.errors import FileRejected, FileTooLarge, UnsupportedFile
from modules.portability.formats import anki, bundle, csvfile
from modules.portability.formats.archive import SafeZip, bounded_copy
from modules.portability.models import ImportJob, ImportKind, JobStatus, PortabilityRequestKey
from modules.portability.services.files import archive_limits, storage_dir, upload_limit
from modules.portability.services.jobs import (
    ACCOUNT_CLOSED,
    ACCOUNT_CLOSED_CODE,
    AccountClosed,
    claim_job,
    enqueue_job,
    ensure_account_open,
    ensure_room,
    fail_after_timeout,
    fail_job,
    hold_room,
    instance_id,
)

logger = logging.getLogger(__name__)

_PARSED = 15  # percent of an Anki import done once its collection is extracted and counted
QUESTION_BATCH = 2_000  # a Resee export's questions stored at a time
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


def request_import(
    *,
    user: User,
    kind: str,
    upload: IO[bytes],
    file_name: str,
    restore_profile: bool = False,
    idempotency_key: str | None = None,
) -> ImportJobView:
    """Stores an upload and queues its import. The file is checked first (size, zip structure, that it
    is what ``kind`` says): a FileRejected error stores nothing. Throttled, storing nothing, while
    ``PORTABILITY_MAX_ACTIVE_JOBS`` of the learner's imports are unfinished (counted before the copy,
    and again under their lock when the job is created).

    With an ``idempotency_key`` the import is queued once: the same key with the same file (its
    SHA-256), name, kind and ``restore_profile`` later answers that job as it is now and keeps nothing
    of the new upload, even when the limit is reached meanwhile; the key with another request is a
    Conflict."""
    identity.ensure_email_verified(user)
    ensure_import_room(user=user, idempotency_key=idempotency_key)
    kind = ImportKind(kind)
    directory = storage_dir("PORTABILITY_UPLOAD_DIR")
    stored = directory / f"{secrets.token_urlsafe(24)}{_EXTENSIONS[kind]}"
    digest = hashlib.sha256()
    queued: list[ImportJob] = []

    def queue_import() -> ImportJobView:
        with transaction.atomic():
            hold_room(ImportJob, user_id=user.pk, what="import")
            job = ImportJob.objects.create(
                user=user,
                kind=kind,
                original_name=file_name[:255],
                upload_name=stored.name,
                size_bytes=size,
                restore_profile=restore_profile,
            )
            enqueue_job("modules.portability.tasks.run_import", job.pk)  # at commit
        queued.append(job)
        return _import_view(job)

    try:
        with stored.open("wb") as target:
            try:
                # hashed only when a key may have to tell this file from another
                source = _Hashed(upload, digest.update) if idempotency_key else upload
                size = bounded_copy(source, target, limit=upload_limit(), what="The upload")
            except FileRejected as exc:
                raise FileTooLarge(f"The file is larger than {upload_limit()} bytes.") from exc
        if size == 0:
            raise UnsupportedFile("The file is empty.")
        _precheck(kind, stored)
        view = idempotency.once(
            model=PortabilityRequestKey,
            user_id=user.pk,
            operation="import",
            key=idempotency_key,
            request={
                "kind": kind.value,
                "file_name": file_name[:255],
                "restore_profile": restore_profile,
                "sha256": digest.hexdigest(),
            },
            run=queue_import,
            stored=lambda created: {"job_id": created.id},
            replay=lambda first: import_status(user=user, job_id=first["job_id"]),
        )
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    if not queued:  # a retry: the first request's job imports the first upload
        stored.unlink(missing_ok=True)
    return view


class _Hashed:
    """A readable upload that feeds what is read from it to a hash's ``update``."""

    def __init__(self, source: IO[bytes], update: Callable[[bytes], object]) -> None:
        self.source = source
        self.update = update

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size)
        self.update(chunk)
        return chunk


def ensure_import_room(*, user: User, idempotency_key: str | None = None) -> None:
    """Throttled while the learner has ``PORTABILITY_MAX_ACTIVE_JOBS`` unfinished imports: the API asks
    before it reads the upload's body. A retry with a key already used is never refused here (it answers
    the first request's job)."""
    if idempotency_key and idempotency.used(
        model=PortabilityRequestKey, user_id=user.pk, operation="import", key=idempotency_key
    ):
        return
    ensure_room(ImportJob, user_id=user.pk, what="import")


def _precheck(kind: ImportKind, path: Path) -> None:
    """The cheap checks, while the client waits: the zip's directory, the collection or manifest is
    there, JSON or text looks like it. Reading the data is the job's. Every read here is bounded: the
    zip's directory by its member limit, Anki's ``meta`` by ``METADATA_LIMIT`` (and read only up to
    its version), the head of a JSON or CSV file by 4 KiB."""
    if kind in {ImportKind.APKG, ImportKind.COLPKG, ImportKind.RESEE_ZIP}:
        with SafeZip(path, archive_limits()) as archive:
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
class _Source:
    """What an import reads: learning's records (lists, or iterators reading a Resee export as the
    import goes), the questions and profile of a Resee export, and how far the reading is (0 to 1)."""

    data: learning.LearningImport
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    questions: Iterable[bundle.QuestionRow] = ()
    profile: bundle.ProfileRow | None = None
    finish: Callable[[], None] = lambda: None  # once everything is read: the rest of the file is sound
    fraction: Callable[[int, int], float] = lambda done, total: done / max(total, 1)
    floor: int = _PARSED  # percent done when the rows start (Anki: counted first; others: nothing yet)


@contextmanager
def _source(job: ImportJob, path: Path, *, user: User) -> Iterator[_Source]:
    """Every file is opened and its rows streamed while they are written: an Anki collection after a
    first pass that counts its cards, ratings and notes (its reviews then come card by card), a CSV
    file and a Resee export once their header is read."""
    now = timezone.now()
    kind = ImportKind(job.kind)
    if kind in {ImportKind.APKG, ImportKind.COLPKG}:
        with anki.open_package(path, limits=archive_limits(), now=now) as read:
            yield _Source(
                data=read.data,
                counts={"notes": read.notes, "cards": read.cards, "media_skipped": read.media_skipped},
                warnings=read.warnings,
                fraction=lambda done, total: min(done / max(read.expected_rows, 1), 1.0),
            )
    elif kind == ImportKind.CSV:
        with csvfile.open_csv(path, now=now) as table:
            # counts and warnings are the reader's own: complete once the import has read every row
            yield _Source(
                data=table.data,
                counts=table.counts,
                warnings=table.warnings,
                fraction=lambda done, total: table.fraction(),
                floor=0,
            )
    elif kind == ImportKind.RESEE_JSON:
        with bundle.open_json(path) as reader:
            yield _from_bundle(reader, user=user)
    else:
        with SafeZip(path, archive_limits()) as archive, bundle.open_csv_zip(archive) as reader:
            yield _from_bundle(reader, user=user)


def _from_bundle(reader: bundle.BundleReader, *, user: User) -> _Source:
    """A Resee export as learning's import: the learner's own export (same deployment, same account)
    finds its rows by id; any other gets keys naming where the rows came from."""
    header = reader.header
    own = header.origin.instance == instance_id() and header.origin.user_id == user.pk
    origin = f"{header.origin.instance}:{header.origin.user_id}"

    def key(source: str | None, external_id: str | None, kind: str, id_: int) -> learning.ExternalKey:
        if source and external_id:
            return learning.ExternalKey(source, external_id)
        return learning.ExternalKey("resee", f"{origin}:{kind}{id_}")

    def local(source: str | None, id_: int) -> int | None:
        return id_ if own and not source else None

    def contents() -> Iterator[learning.ImportedContent]:
        for row in reader.rows("contents"):
            yield learning.ImportedContent(
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

    def reviews() -> Iterator[learning.ImportedReview]:
        for row in reader.rows("reviews"):
            yield learning.ImportedReview(
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

    categories = [
        learning.CategoryRecord(name=row.name, description=row.description, created_at=row.created_at)
        for row in reader.rows("categories")
    ]
    return _Source(
        data=learning.LearningImport(categories=categories, contents=contents(), reviews=reviews()),
        questions=reader.rows("ai_questions"),
        profile=header.profile,
        fraction=lambda done, total: reader.fraction(),
        floor=0,
        finish=reader.finish,
    )


def _reporter(job_id: int, source: _Source, deadline: Deadline) -> Callable[[int, int], None]:
    last = [-1]

    def report(done: int, total: int) -> None:
        deadline.check()  # in case the worker's alarm was lost (modules/common/task_timeout.py)
        percent = source.floor + int((99 - source.floor) * source.fraction(done, total))
        if percent != last[0]:
            last[0] = percent
            try:
                cache.set(_progress_key(job_id), percent, timeout=3600)
            except Exception:
                logger.warning("import progress not reported", exc_info=True)

    return report


def _import_questions(user: User, source: _Source, content_ids: dict[str, int]) -> tuple[int, int]:
    """A Resee export's questions, a batch at a time; those of contents not imported are left out."""
    created = skipped = 0
    questions = iter(source.questions)
    while batch := list(islice(questions, QUESTION_BATCH)):
        made, left = ai.import_questions(
            user=user,
            questions=[
                ai.QuestionRecord(**{**row.model_dump(), "content_id": content_ids[str(row.content_id)]})
                for row in batch
                if str(row.content_id) in content_ids
            ],
        )
        created, skipped = created + made, skipped + left
    return created, skipped


def run_import(*, job_id: int) -> str | None:
    """Reads the upload and writes it into the learner's account in one transaction; returns the final
    status (None when there was nothing to do). The upload is deleted once the job has finished."""
    deadline = Deadline()
    try:
        job = claim_job(ImportJob, job_id)
    except TaskTimeout:  # waited all its time for the lock of another delivery of the task
        fail_after_timeout(ImportJob, job_id, what="import")
        return JobStatus.FAILED
    if job is None:
        return None
    user = job.user
    path = storage_dir("PORTABILITY_UPLOAD_DIR") / job.upload_name
    try:
        if not job.upload_name or not path.is_file():
            fail_job(job, code="upload_missing", message="The uploaded file is gone; upload it again.")
            return JobStatus.FAILED
        with _source(job, path, user=user) as source:
            ImportJob.objects.filter(pk=job.pk).update(progress=source.floor)
            with transaction.atomic():
                # Held to the end: a second delivery of this task waits here, then finds the job done.
                if (
                    not ImportJob.objects.select_for_update()
                    .filter(pk=job.pk, status=JobStatus.RUNNING)
                    .exists()
                ):
                    return None
                if job.restore_profile and source.profile is not None:
                    identity.update_profile(user=user, changes=source.profile.model_dump())
                outcome = learning.import_learning_data(
                    user=user, data=source.data, progress=_reporter(job.pk, source, deadline)
                )
                counts = {**source.counts, **_counts(outcome.counts)}
                created, skipped = _import_questions(user, source, outcome.content_ids)
                source.finish()
                deadline.check()  # the last moment a lost alarm can still be noticed before the commit
                # An account closed while this ran keeps nothing: its erasure waits for this transaction
                # (it holds the job's row). Asked here, not in the progress reports: those run while a
                # COPY holds the connection, where a query would wait on the COPY for ever.
                ensure_account_open(user_id=user.pk)
                if created or skipped:
                    counts.update(ai_questions_imported=created, ai_questions_skipped=skipped)
                ImportJob.objects.filter(pk=job.pk).update(
                    status=JobStatus.DONE,
                    progress=100,
                    counts=counts,
                    warnings=source.warnings,
                    finished_at=timezone.now(),
                )
        logger.info("import done", extra={"job_id": job.pk, "counts": counts})
        return JobStatus.DONE
    except AccountClosed:
        logger.info("import stopped: the account was closed", extra={"job_id": job.pk})
        fail_job(job, code=ACCOUNT_CLOSED_CODE, message=ACCOUNT_CLOSED)
        return JobStatus.FAILED
    except FileRejected as exc:
        fail_job(job, code=exc.code, message=exc.message)
        return JobStatus.FAILED
    except ValidationFailed as exc:
        fail_job(job, code=exc.code, message="; ".join(error.message for error in exc.fields) or exc.detail)
        return JobStatus.FAILED
    except TaskTimeout:
        logger.error("import stopped at the task timeout", extra={"job_id": job.pk})
        fail_after_timeout(ImportJob, job.pk, what="import")
        return JobStatus.FAILED
    except OperationalError:
        raise  # the database went away: nothing was written, the queue runs the task again
    except DatabaseError:
        logger.exception("import failed", extra={"job_id": job.pk})
        fail_job(job, code="import_failed", message="The file holds values that cannot be stored.")
        return JobStatus.FAILED
    except Exception:  # a bug: the job says so, rather than read "running" until the prune's stale sweep
        logger.exception("import failed unexpectedly", extra={"job_id": job.pk})
        fail_job(job, code="import_failed", message="The import failed unexpectedly; nothing was kept.")
        return JobStatus.FAILED
    finally:
        if selectors.import_finished(job_id=job.pk):
            path.unlink(missing_ok=True)


def _counts(counts: learning.ImportCounts) -> dict[str, int]:
    return {name: getattr(counts, name) for name in counts.__slots__}  # type: ignore[attr-defined]
