"""Domain errors: what went wrong, in the domain's words. Services raise these; the transport that
called them decides how each is answered (config/api.py holds the API's table).

An error carries a ``code`` (a stable machine-readable name), a ``detail`` sentence, and, where it
applies, structured facts: the rejected inputs of a ``ValidationFailed`` (``FieldError``) and when a
temporary refusal may be retried (``retry_after_seconds``). A new error needs only a class here; it
inherits its parent's answer unless the table names it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Self, TypeVar

# Where a rejected input came from: the request's JSON body, its query string, its path, its form
# fields or an uploaded file.
InputSource = Literal["body", "query", "path", "form", "file"]


class DomainError(Exception):
    code: str = "bad_request"
    default_detail: str = "Bad request."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail if detail is not None else self.default_detail
        super().__init__(self.detail)


@dataclass(frozen=True)
class FieldError:
    """One rejected input. ``location`` is its source, then its path inside it: ``("body",
    "reviewed_at")``, ``("query", "ordering")``, ``("file", "file")``. ``kind`` names the rule it
    broke (``value_error`` unless more precise)."""

    location: tuple[str | int, ...]
    message: str
    kind: str = "value_error"


class ValidationFailed(DomainError):
    """Input that passed the schema but breaks a rule only the service can check.

    Either about named inputs (``fields``; build one with ``ValidationFailed.field``) or, with a
    ``detail`` alone, about the input as a whole ("Give at least one content id.").
    """

    code = "validation_error"
    default_detail = "Validation failed."

    def __init__(self, detail: str | None = None, *, fields: Sequence[FieldError] = ()) -> None:
        self.fields: tuple[FieldError, ...] = tuple(fields)
        super().__init__(detail if detail is not None or not self.fields else self.fields[0].message)

    @classmethod
    def field(
        cls, name: str, message: str, *, source: InputSource = "body", kind: str = "value_error"
    ) -> Self:
        """One rejected input named ``name`` in ``source``."""
        return cls(fields=[FieldError(location=(source, name), message=message, kind=kind)])


class InvalidToken(DomainError):
    code = "invalid_token"
    default_detail = "The token is invalid, expired or already used."


class TokenInvalid(DomainError):
    """A token that does not authenticate: a bad, expired or revoked access or refresh token. A client
    holding a refresh token may try it."""

    code = "token_invalid"
    default_detail = "The token is invalid or expired."


class InvalidCredentials(DomainError):
    """A sign-in that fails: a wrong email or password, an inactive account, a Google ID token that is
    not accepted. Unlike ``TokenInvalid``, refreshing a token cannot help."""

    code = "invalid_credentials"
    default_detail = "No active account found with the given credentials."


class Forbidden(DomainError):
    code = "forbidden"
    default_detail = "You do not have permission to do this."


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    default_detail = "Verify your email address first."


class TierRequired(Forbidden):
    code = "tier_required"
    default_detail = "Your subscription tier does not include this feature."


class NotFound(DomainError):
    code = "not_found"
    default_detail = "Not found."


class Conflict(DomainError):
    code = "conflict"
    default_detail = "Conflict."


class EmailTaken(Conflict):
    code = "email_taken"
    default_detail = "An account with this email already exists."


class TemporaryRefusal(DomainError):
    """A refusal that ends by itself; ``retry_after_seconds`` says when trying again may succeed
    (None: unknown)."""

    def __init__(self, detail: str | None = None, *, retry_after_seconds: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class QuotaExceeded(TemporaryRefusal):
    code = "quota_exceeded"
    default_detail = "Daily quota exceeded."


class Throttled(TemporaryRefusal):
    """Too many requests, attempts or unfinished jobs at once; ``retry_after_seconds`` says when there is
    room again."""

    code = "throttled"
    default_detail = "Too many requests."


class Unavailable(TemporaryRefusal):
    code = "unavailable"
    default_detail = "A dependency is unavailable."


ViewFunction = TypeVar("ViewFunction", bound=Callable[..., object])


def raises(*errors: type[DomainError]) -> Callable[[ViewFunction], ViewFunction]:
    """Declares the domain errors a function may raise, for the transport to document: the API's
    schema declares each one's answer on the route (config/openapi.py). Only what is declared counts
    (a subclass is declared by its own name); applied twice, the declarations add up."""

    def declare(function: ViewFunction) -> ViewFunction:
        declared: tuple[type[DomainError], ...] = getattr(function, "domain_errors", ())
        function.domain_errors = (*declared, *errors)  # type: ignore[attr-defined]
        return function

    return declare


def without_io(function: ViewFunction) -> ViewFunction:
    """Declares that a view touches neither the database nor the cache (a liveness probe), so no outage
    can make it answer "unavailable": the API's schema then does not declare that (config/openapi.py)."""
    function.without_io = True  # type: ignore[attr-defined]
    return function
