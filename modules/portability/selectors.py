"""Read queries of the portability module."""

from __future__ import annotations

from datetime import datetime

from django.db.models.functions import Coalesce

from modules.portability.models import ExportJob, ImportJob, JobStatus


def export_of(*, user_id: int, job_id: int) -> ExportJob | None:
    return ExportJob.objects.filter(user_id=user_id, pk=job_id).first()


def finished_export(*, job_id: int, file_name: str) -> ExportJob | None:
    if not file_name:
        return None
    return ExportJob.objects.filter(pk=job_id, status=JobStatus.DONE, file_name=file_name).first()


def import_of(*, user_id: int, job_id: int) -> ImportJob | None:
    return ImportJob.objects.filter(user_id=user_id, pk=job_id).first()


def import_finished(*, job_id: int) -> bool:
    return ImportJob.objects.filter(pk=job_id, status__in=[JobStatus.DONE, JobStatus.FAILED]).exists()


def unfinished_jobs_seen_since(
    model: type[ExportJob] | type[ImportJob], *, user_id: int, since: datetime
) -> list[tuple[int, datetime]]:
    """The learner's queued or running jobs of one kind last started (or, still queued, created)
    after ``since``: ``(id, that moment)``, oldest first."""
    return list(
        model.objects.filter(user_id=user_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .annotate(seen=Coalesce("started_at", "created_at"))
        .filter(seen__gt=since)
        .order_by("seen", "pk")
        .values_list("pk", "seen")
    )
