"""The portability module's tables: export and import jobs. Nobody outside the module imports them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from modules.common.idempotency import IdempotentRequest


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ExportFormat(models.TextChoices):
    JSON = "json", "JSON"
    CSV = "csv", "CSV (zip)"


class ImportKind(models.TextChoices):
    APKG = "apkg", "Anki deck package (.apkg)"
    COLPKG = "colpkg", "Anki collection package (.colpkg)"
    CSV = "csv", "CSV or Anki text export"
    RESEE_JSON = "resee-json", "Resee export (JSON)"
    RESEE_ZIP = "resee-zip", "Resee export (CSV zip)"


class Job(models.Model):
    # no index of its own: each job table's index (user, created_at) leads with it (one less to write)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    counts = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.pk} ({self.status})"


class ExportJob(Job):
    format = models.CharField(max_length=10, choices=ExportFormat.choices)
    # The file under PORTABILITY_EXPORT_DIR (a random name), kept until ``expires_at``.
    file_name = models.CharField(max_length=100, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta(Job.Meta):
        verbose_name = "export job"
        indexes = [
            models.Index(fields=["user", "-created_at"], name="portability_export_user"),
            models.Index(fields=["status", "expires_at"], name="portability_export_expiry"),
        ]


class ImportJob(Job):
    kind = models.CharField(max_length=12, choices=ImportKind.choices)
    original_name = models.CharField(max_length=255, blank=True)
    # The upload under PORTABILITY_UPLOAD_DIR until the job has run (a random name).
    upload_name = models.CharField(max_length=100, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    restore_profile = models.BooleanField(default=False)
    warnings = models.JSONField(default=list, blank=True)

    class Meta(Job.Meta):
        verbose_name = "import job"
        indexes = [
            models.Index(fields=["user", "-created_at"], name="portability_import_user"),
            models.Index(fields=["status", "created_at"], name="portability_import_status"),
        ]


class PortabilityRequestKey(IdempotentRequest):
    """An ``Idempotency-Key`` of an export (``export``) or an import (``import``) request: the job it
    created (``common.idempotency``)."""

    class Meta(IdempotentRequest.Meta):
        verbose_name = "export/import idempotency key"
