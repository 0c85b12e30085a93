"""Why an upload or a link is refused: each a domain error with its own ``code`` (config/api.py answers
them; an import job that fails for one of them records the same code)."""

from __future__ import annotations

from modules.common.errors import FieldError, Forbidden, ValidationFailed


class FileRejected(ValidationFailed):
    """The base of every refusal of an uploaded file: a ``ValidationFailed`` of the upload."""

    code = "file_rejected"

    def __init__(self, message: str) -> None:
        super().__init__(fields=[FieldError(("file", "file"), message)])
        self.message = message


class FileTooLarge(FileRejected):
    code = "file_too_large"


class UnsupportedFile(FileRejected):
    """Not the kind of file it was said to be (not a zip, no collection inside, not CSV text...)."""

    code = "unsupported_file"


class UnsafeArchive(FileRejected):
    """A zip that would expand too far (a zip bomb) or names paths outside itself (path traversal)."""

    code = "unsafe_archive"


class CorruptFile(FileRejected):
    """The right kind of file, but unreadable or inconsistent inside."""

    code = "corrupt_file"


class LinkExpired(Forbidden):
    code = "link_expired"
    default_detail = "This download link is invalid or has expired; ask for a new one."
