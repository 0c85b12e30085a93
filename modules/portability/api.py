"""The portability router, mounted at /api/portability/. Thin: parse, call a service, shape the answer."""

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler
from django.http import FileResponse, HttpRequest
from ninja import File, Form, Query, Router, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile

from modules.common import headers
from modules.common.errors import (
    Conflict,
    EmailNotVerified,
    FieldError,
    NotFound,
    Throttled,
    ValidationFailed,
    raises,
)
from modules.portability import services
from modules.portability.errors import CorruptFile, FileTooLarge, LinkExpired, UnsafeArchive, UnsupportedFile
from modules.portability.schemas import ExportIn, ExportJobOut, ImportJobOut, ImportKindName

router = Router(tags=["portability"])

MULTIPART_ALLOWANCE = 64 * 1024  # the form's other fields and boundaries around the file
IMPORT_FORM_FIELDS = frozenset({"kind", "restore_profile"})


class _UploadLimit(FileUploadHandler):
    """Refuses an upload over the limit before reading it (Content-Length), or as soon as it passes
    the limit (a body without a length); and one from a learner whose imports are at their limit of
    unfinished jobs, before reading it (the request is authenticated by then)."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit

    def _refuse(self) -> FileTooLarge:
        return FileTooLarge(f"The file is larger than {self.limit} bytes.")

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: Any = None
    ) -> None:
        if content_length > self.limit + MULTIPART_ALLOWANCE:
            raise self._refuse()
        services.ensure_import_room(
            user=self.request.auth,  # type: ignore[attr-defined]
            idempotency_key=self.request.headers.get("Idempotency-Key"),
        )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            raise self._refuse()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _limit_upload(run: Any) -> Any:
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        request.upload_handlers.insert(0, _UploadLimit(request, services.upload_limit()))
        return run(request, *args, **kwargs)

    return limited


@router.post(
    "/exports/",
    response={202: ExportJobOut},
    summary="Export all your data",
    description="Queues an export of your profile, categories, contents with their schedules, review "
    "history and AI questions, as one JSON document or a zip of CSV files. Poll the job; when it is "
    "done it carries a download link valid for 10 minutes (ask the job again for a fresh one). At most "
    "`PORTABILITY_MAX_ACTIVE_JOBS` (by default 2) of your exports may be queued or running at once: "
    "another answers 429 `throttled`. With an `Idempotency-Key`, a retry answers 202 with the first "
    "request's job as it is now and queues nothing; the same key with another format answers 409 "
    "`conflict`.",
)
@raises(Conflict, NotFound, Throttled)
def create_export(
    request: HttpRequest,
    payload: ExportIn,
    idempotency_key: str | None = headers.idempotency_key(
        "Any printable ASCII string, e.g. a UUID: a retry with the same key and body queues nothing "
        "and answers the first request's job."
    ),
) -> Status:
    return Status(
        202,
        services.request_export(user=request.auth, format=payload.format, idempotency_key=idempotency_key),
    )


@router.get("/exports/{job_id}/", response=ExportJobOut, summary="An export job, with its download link")
def export_status(request: HttpRequest, job_id: int) -> Any:
    """The job's status and progress; once done, a download link valid 10 minutes (ask again for a
    fresh one) until the file is pruned."""
    return services.export_status(user=request.auth, job_id=job_id)


@router.get(
    "/exports/{job_id}/download/",
    auth=None,
    url_name="portability_export_download",
    summary="Download an export (signed link)",
    description="The link an export job gives: no Authorization header needed, valid 10 minutes.",
    openapi_extra={
        "responses": {
            200: {
                "description": "The export file",
                "content": {
                    "application/json": {"schema": {"type": "string", "format": "binary"}},
                    "application/zip": {"schema": {"type": "string", "format": "binary"}},
                },
            },
        }
    },
)
@raises(LinkExpired, NotFound)
def download_export(request: HttpRequest, job_id: int, token: Query[str]) -> FileResponse:
    file = services.export_download(job_id=job_id, token=token)
    return FileResponse(
        file.path.open("rb"), as_attachment=True, filename=file.filename, content_type=file.content_type
    )


@router.post(
    "/imports/",
    response={202: ImportJobOut},
    summary="Import an Anki package, a CSV file or a Resee export",
    description="Multipart upload (`file`, `kind`). Anki: notes become contents, decks categories and "
    "the review log review history. The file is checked at once (422 `file_too_large`, "
    "`unsupported_file`, `unsafe_archive`); the job imports all of it or nothing, and importing the "
    "same file again changes nothing. `restore_profile` (Resee exports) also restores your settings. At "
    "most `PORTABILITY_MAX_ACTIVE_JOBS` (by default 2) of your imports may be queued or running at once: another "
    "answers 429 `throttled` before the file is read. With an `Idempotency-Key`, a retry with the same "
    "file, name, `kind` and `restore_profile` answers 202 with the first request's job as it is now and "
    "keeps nothing of the new upload; the same key with another request answers 409 `conflict`.",
)
@decorate_view(_limit_upload)
@raises(
    Conflict,
    EmailNotVerified,
    FileTooLarge,
    NotFound,
    UnsupportedFile,
    UnsafeArchive,
    CorruptFile,
    Throttled,
    ValidationFailed,
)
def create_import(
    request: HttpRequest,
    kind: Form[ImportKindName],
    file: File[UploadedFile],
    restore_profile: Form[bool] = False,
    idempotency_key: str | None = headers.idempotency_key(
        "Any printable ASCII string, e.g. a UUID: a retry with the same key and file queues nothing "
        "and answers the first request's job."
    ),
) -> Status:
    _refuse_unknown_parts(request)
    job = services.request_import(
        user=request.auth,
        kind=kind,
        upload=file,
        file_name=file.name or "",
        restore_profile=restore_profile,
        idempotency_key=idempotency_key,
    )
    return Status(202, job)


def _refuse_unknown_parts(request: HttpRequest) -> None:
    """The contract rejects unknown request fields with 422; a multipart form is a request body too.
    So is a second file, or a field sent twice: which one would be imported is not the client's guess."""
    errors = [
        FieldError(("form", name), "Extra inputs are not permitted", kind="extra_forbidden")
        for name in request.POST
        if name not in IMPORT_FORM_FIELDS
    ]
    errors += [
        FieldError(("file", name), "Extra inputs are not permitted", kind="extra_forbidden")
        for name in request.FILES
        if name != "file"
    ]
    errors += [
        FieldError((source, name), "Send this field once.", kind="value_error")
        for source, values in (("form", request.POST), ("file", request.FILES))
        for name in values
        if len(values.getlist(name)) > 1
    ]
    if errors:
        raise ValidationFailed(fields=errors)


@router.get("/imports/{job_id}/", response=ImportJobOut, summary="An import job: progress and counts")
def import_status(request: HttpRequest, job_id: int) -> Any:
    """The job's status, progress, what it imported (`counts`) and left out (`warnings`); a failed job
    says why (`error_code`, `error`) and changed nothing."""
    return services.import_status(user=request.auth, job_id=job_id)
