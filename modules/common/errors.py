"""Domain errors. Services raise these; config/api.py maps each to its HTTP status and ``code``.

One handler on ``DomainError`` covers every subclass, so a new error needs only a class here.
"""

from __future__ import annotations


class DomainError(Exception):
    status_code: int = 400
    code: str = "bad_request"
    default_detail: str = "Bad request."

    def __init__(self, detail: str | list | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.detail = detail if detail is not None else self.default_detail
        self.headers = headers or {}
        super().__init__(str(self.detail))


class BadRequest(DomainError):
    pass


class InvalidToken(DomainError):
    code = "invalid_token"
    default_detail = "The token is invalid, expired or already used."


class ValidationFailed(DomainError):
    """Input that passed the schema but breaks a rule only the service can check."""

    status_code = 422
    code = "validation_error"
    default_detail = "Validation failed."


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"
    default_detail = "Authentication credentials were not provided."


class TokenInvalid(DomainError):
    status_code = 401
    code = "token_invalid"
    default_detail = "The token is invalid or expired."


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"
    default_detail = "You do not have permission to do this."


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    default_detail = "Verify your email address first."


class TierRequired(Forbidden):
    code = "tier_required"
    default_detail = "Your subscription tier does not include this feature."


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    default_detail = "Conflict."


class EmailTaken(Conflict):
    code = "email_taken"
    default_detail = "An account with this email already exists."


class QuotaExceeded(DomainError):
    status_code = 429
    code = "quota_exceeded"
    default_detail = "Daily quota exceeded."


class Throttled(DomainError):
    status_code = 429
    code = "throttled"
    default_detail = "Too many requests."


class Unavailable(DomainError):
    status_code = 503
    code = "unavailable"
    default_detail = "A dependency is unavailable."
