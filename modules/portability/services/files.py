"""Where portability keeps its files (exports, uploads), the limits uploads are held to, and the
daily pruning of old files, of jobs whose worker never came back and of old Idempotency-Keys."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from modules.common import idempotency
from modules.portability.formats.archive import Limits
from modules.portability.models import ExportJob, ImportJob, JobStatus, PortabilityRequestKey

logger = logging.getLogger(__name__)

_STALE_AFTER = timedelta(hours=6)  # a job still running then lost its worker for good
_GRACE = 3600  # seconds before a file no job names is deleted


def upload_limit() -> int:
    return int(settings.PORTABILITY_MAX_UPLOAD_BYTES)


def archive_limits() -> Limits:
    return Limits(
        max_total_bytes=int(settings.PORTABILITY_MAX_EXPANDED_BYTES),
        max_ratio=float(settings.PORTABILITY_MAX_COMPRESSION_RATIO),
    )


def storage_dir(setting: str) -> Path:
    path = Path(getattr(settings, setting))
    path.mkdir(parents=True, exist_ok=True)
    return path


def prune_files(*, now: datetime | None = None) -> dict[str, int]:
    """Daily: deletes export files past their lifetime and uploads of finished imports (and any file no
    job names), fails jobs whose worker never came back and forgets Idempotency-Keys older than a day.
    Returns what it did."""
    now = now or timezone.now()
    export_dir = storage_dir("PORTABILITY_EXPORT_DIR")
    upload_dir = storage_dir("PORTABILITY_UPLOAD_DIR")
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
    keys = idempotency.prune(PortabilityRequestKey, now=now)
    logger.info(
        "portability files pruned", extra={"files": files, "jobs_failed": failed, "request_keys": keys}
    )
    return {"files_deleted": files, "jobs_failed": failed, "request_keys_deleted": keys}


def remove_files_of_deleted_job(sender: type, instance: ExportJob | ImportJob, **kwargs: object) -> None:
    """``post_delete`` of a job (receivers connected in apps.py): its export file or staged upload goes
    once the deletion commits. A deleted account's jobs are deleted by the database cascade, and its
    export (its profile and every content) used to stay on disk until the daily prune."""
    name, setting = (
        (instance.file_name, "PORTABILITY_EXPORT_DIR")
        if isinstance(instance, ExportJob)
        else (instance.upload_name, "PORTABILITY_UPLOAD_DIR")
    )
    if not name:
        return
    path = Path(getattr(settings, setting)) / name
    transaction.on_commit(lambda: path.unlink(missing_ok=True), using=kwargs.get("using"))  # type: ignore[arg-type]
