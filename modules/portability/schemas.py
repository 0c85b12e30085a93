"""The portability module's request and response shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.urls import reverse
from ninja import Field, Schema
from pydantic import ConfigDict

ExportFormatName = Literal["json", "csv"]
ImportKindName = Literal["apkg", "colpkg", "csv", "resee-json", "resee-zip"]
JobStatusName = Literal["queued", "running", "done", "failed"]


class ExportIn(Schema):
    model_config = ConfigDict(extra="forbid")

    format: ExportFormatName = Field(
        "json", description="`json`: one document; `csv`: a zip of CSV files with a manifest.json"
    )


class ExportCountsOut(Schema):
    categories: int = 0
    contents: int = 0
    reviews: int = 0
    ai_questions: int = 0


class ExportJobOut(Schema):
    id: int
    format: ExportFormatName
    status: JobStatusName
    progress: int = Field(..., ge=0, le=100, description="Percent done")
    counts: ExportCountsOut
    error_code: str | None
    error: str
    size_bytes: int | None = Field(..., description="The file's size, once written")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    expires_at: dt.datetime | None = Field(..., description="When the file is deleted")
    download_url: str | None = Field(
        None, description="Once done: a signed link to the file, valid until `download_url_expires_at`"
    )
    download_url_expires_at: dt.datetime | None = Field(None, alias="download_expires_at")

    @staticmethod
    def resolve_download_url(obj: Any, context: dict[str, Any]) -> str | None:
        token = getattr(obj, "download_token", None)
        if not token:
            return None
        path = reverse("api:portability_export_download", kwargs={"job_id": obj.id})
        request = (context or {}).get("request")
        url = f"{path}?token={token}"
        return request.build_absolute_uri(url) if request is not None else url


class ImportCountsOut(Schema):
    notes: int = Field(0, description="Anki notes read")
    cards: int = Field(0, description="Anki cards read")
    rows: int = Field(0, description="CSV rows read")
    categories_created: int = 0
    contents_created: int = 0
    contents_updated: int = 0
    contents_skipped: int = Field(0, description="Already imported and unchanged")
    media_skipped: int = Field(0, description="Media files in the package (not imported)")
    reviews_imported: int = 0
    reviews_skipped: int = Field(0, description="Already imported, or older than the card's last review")
    ai_questions_imported: int = 0
    ai_questions_skipped: int = 0


class ImportJobOut(Schema):
    id: int
    kind: ImportKindName
    status: JobStatusName
    progress: int = Field(..., ge=0, le=100, description="Percent done")
    file_name: str
    size_bytes: int
    counts: ImportCountsOut
    warnings: list[str] = Field(..., description="What was left out, and why")
    error_code: str | None = Field(
        ...,
        description="When failed: `file_too_large`, `unsupported_file`, `unsafe_archive`, `corrupt_file`, "
        "`validation_error`, `upload_missing`, `import_failed` or `stale`; nothing was imported",
    )
    error: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
