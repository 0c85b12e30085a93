"""The one NinjaAPI: auth, error handlers and every module's router, composed once."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import IntegrityError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.errors import Throttled as NinjaThrottled
from ninja.openapi.schema import OpenAPISchema

from config.openapi import ApiSchema, ErrorTable
from config.parser import BODY_PARAMETER, ApiParser
from modules.ai.api import router as ai_router
from modules.common.errors import (
    Conflict,
    DomainError,
    FieldError,
    Forbidden,
    InvalidCredentials,
    NotFound,
    QuotaExceeded,
    TemporaryRefusal,
    Throttled,
    TokenInvalid,
    Unavailable,
    ValidationFailed,
)
from modules.identity.api import accounts_router, auth_router
from modules.identity.auth import jwt_auth, staff_jwt_auth
from modules.identity.throttles import tier_throttle
from modules.insights.api import admin_router as insights_admin_router
from modules.insights.api import router as insights_router
from modules.learning.api import content_router, review_router
from modules.ops.api import health_router, monitoring_router
from modules.portability.api import router as portability_router

logger = logging.getLogger("resee.api")


class Api(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        # Ninja's schema plus every error answer of every operation, from the table below
        # (config/openapi.py).
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        return ApiSchema(self, path_prefix, errors=ERROR_TABLE)


# Versioning (docs/api.md): config/urls.py mounts this API at /api/v1/ (namespace "api", the canonical
# base every schema path names) and again at /api/ (namespace API_ALIAS_NAMESPACE), an alias of it.
API_VERSION = "1"
API_ALIAS_NAMESPACE = "api-alias"

api = Api(
    title="Resee API",
    version=API_VERSION,
    description=(
        "Spaced-repetition learning: content, reviews on schedule, AI practice questions, insights.\n\n"
        "The base URL is `/api/v1/`; every path below names it. `/api/` is an alias that serves the same "
        "operations with the same answers (for clients written before versioning); new clients use "
        "`/api/v1/`. A deprecated operation is marked `deprecated` here and answers `Deprecation`, "
        "`Sunset` and `Link` headers at least six months before it is removed (docs/api.md)."
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=jwt_auth,
    # JSON bodies and query strings with values PostgreSQL cannot store (NUL, lone surrogates, integers
    # beyond bigint, infinite numbers) answer 422 here, before any route sees them (config/parser.py).
    parser=ApiParser(),
    # Every route: the caller's tier rate per hour (per user; anonymous callers per IP). /api/auth/*
    # replaces it with a per-IP rate (identity's auth_throttle); a route may set its own.
    throttle=[tier_throttle],
)

api.add_router("/auth/", auth_router)
api.add_router("/accounts/", accounts_router)
api.add_router("/content/", content_router)
api.add_router("/review/", review_router)
api.add_router("/ai-review/", ai_router)
api.add_router("/analytics/", insights_router)
api.add_router("/portability/", portability_router)
# Admin-only routers: staff-only authentication declared once here, never checked in a route.
api.add_router("/analytics/", insights_admin_router, auth=staff_jwt_auth)
api.add_router("/health/", health_router)
api.add_router("/monitoring/", monitoring_router, auth=staff_jwt_auth)


# --- Error handlers: every error answers {"detail", "code"} -------------------------------------

# The code of each status when the API layer answers it itself (Ninja's and Django's errors, not a
# service's), with the detail it gives; config/middleware.py answers the same for Django's own pages.
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Malformed request body."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("forbidden", "You do not have permission to do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    409: ("conflict", "The request conflicts with a concurrent change."),
    422: ("validation_error", "Validation failed."),
    429: ("throttled", "Too many requests."),
    500: ("server_error", "Internal server error."),
    503: ("unavailable", "The database is unavailable; retry."),
}


def error_response(
    request: HttpRequest, *, status: int, detail: object | None = None, code: str | None = None
) -> HttpResponse:
    """An error answer: ``code`` and ``detail`` default to the API layer's own for ``status``."""
    default_code, default_detail = HTTP_ERRORS.get(status, HTTP_ERRORS[400 if status < 500 else 500])
    body = {"detail": default_detail if detail is None else detail, "code": code or default_code}
    return api.create_response(request, body, status=status)


# The answer to each domain error (modules/common/errors.py): its status, found along the error's class
# hierarchy (EmailNotVerified answers as Forbidden), then its ``code`` and ``detail``; a temporary
# refusal that knows when it ends says so in ``Retry-After``.
DOMAIN_ERROR_STATUS: dict[type[DomainError], int] = {
    DomainError: 400,
    TokenInvalid: 401,
    InvalidCredentials: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    ValidationFailed: 422,
    QuotaExceeded: 429,
    Throttled: 429,
    Unavailable: 503,
}


def domain_error_status(error: type[DomainError]) -> int:
    return next(DOMAIN_ERROR_STATUS[cls] for cls in error.__mro__ if cls in DOMAIN_ERROR_STATUS)


# The schema declares every answer of this table on the operations that can give it (config/openapi.py).
ERROR_TABLE = ErrorTable(
    status_of=domain_error_status,
    http_codes={status: code for status, (code, _) in HTTP_ERRORS.items()},
    http_details={code: detail for code, detail in HTTP_ERRORS.values()},
)


def field_loc(location: tuple[str | int, ...]) -> list[str | int]:
    """A domain location as Ninja's ``loc`` for the same input, so a field's errors have one shape
    whether the schema or a service rejects it: query, path, form and file fields are ``[source,
    name]``; a body field is ``["body", "payload", *path]`` (``BODY_PARAMETER``); the whole body is
    ``["body"]``."""
    source, *path = location
    if source == "body" and path:
        return ["body", BODY_PARAMETER, *path]
    return [source, *path]


def _field_detail(error: FieldError) -> dict[str, object]:
    return {"type": error.kind, "loc": field_loc(error.location), "msg": error.message}


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    status = domain_error_status(type(exc))
    detail: object = exc.detail
    if isinstance(exc, ValidationFailed):
        # The contract: a 422's detail is the list of field errors, even when a service gave a sentence
        # about the whole body ("Give at least one content id.").
        fields = exc.fields or (FieldError(location=("body",), message=exc.detail),)
        detail = [_field_detail(error) for error in fields]
    response = error_response(request, status=status, detail=detail, code=exc.code)
    if isinstance(exc, TemporaryRefusal) and exc.retry_after_seconds is not None:
        response["Retry-After"] = str(exc.retry_after_seconds)
    elif status == 429:  # every 429 says when to retry (the schema declares it required)
        response["Retry-After"] = "1"
    return response


def field_error(error: object) -> dict[str, object]:
    """One 422 detail item: always ``type``, ``loc`` (a list of str/int) and ``msg``, JSON-safe.

    Pydantic's errors carry ``input``, ``ctx`` (whose values may be exceptions) and ``url``: dropped, the
    input may be huge or secret. Some of Ninja's own errors are shorthands such as CursorPagination's
    ``{"cursor": "Invalid Cursor"}``: the key becomes the ``loc`` and the value the ``msg``.
    """
    if not isinstance(error, dict):
        return {"type": "value_error", "loc": [], "msg": str(error)}
    extra = {
        key: value for key, value in error.items() if key not in {"type", "loc", "msg", "input", "ctx", "url"}
    }
    loc = error.get("loc")
    if loc is None:
        loc = list(extra)[:1]
    elif isinstance(loc, str | int):
        loc = [loc]
    msg = error.get("msg")
    if msg is None:
        msg = next((str(value) for value in extra.values()), "Invalid value.")
    return {
        "type": str(error.get("type") or "value_error"),
        "loc": [part if isinstance(part, int) and not isinstance(part, bool) else str(part) for part in loc],
        "msg": str(msg),
    }


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(request, status=422, detail=[field_error(error) for error in exc.errors])


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, status=401)


@api.exception_handler(AuthorizationError)
def on_authorization_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return error_response(request, status=403)


@api.exception_handler(NinjaThrottled)
def on_throttled(request: HttpRequest, exc: NinjaThrottled) -> HttpResponse:
    # Always a Retry-After (the schema says so): Ninja replaces it with the throttle's wait when known.
    response = error_response(request, status=429)
    response["Retry-After"] = str(math.ceil(exc.wait) if exc.wait is not None else 1)
    return response


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ValidationError):
        # Ninja turns anything the body parser raises into a 400; the parser's validation errors
        # (config/parser.py) are 422s.
        return on_validation_error(request, exc.__cause__)
    # Ninja's own: 400 for a body it cannot parse (its message may quote the body), 401/403 above.
    detail = None if exc.status_code == 400 else str(exc)
    return error_response(request, status=exc.status_code, detail=detail)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, status=404)


@api.exception_handler(SuspiciousOperation)
def on_suspicious_operation(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # Django answers these 400 itself, but inside a route Ninja catches them first: a body over
    # DATA_UPLOAD_MAX_MEMORY_SIZE, a query string with too many fields, a forged host, ...
    logger.warning("suspicious request: %s", type(exc).__name__, extra={"path": request.path})
    detail = "Request body too large." if isinstance(exc, RequestDataTooBig) else "Malformed request."
    return error_response(request, status=400, detail=detail)


@api.exception_handler(IntegrityError)
def on_integrity_error(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
    # The services turn the conflicts they expect into domain errors and lock against the races they
    # know (see learning's delete_category / hold_content). What still gets here is a write that lost
    # a race nobody locked against, e.g. an account deleted while one of its requests was writing:
    # the client may retry; a 500 would say the server is broken.
    logger.warning("integrity error", exc_info=exc, extra={"path": request.path, "method": request.method})
    return error_response(request, status=409)


@api.exception_handler(OperationalError)
def on_database_unavailable(request: HttpRequest, exc: OperationalError) -> HttpResponse:
    # The database refused or dropped the work (down, restarting, deadlock victim, lock timeout).
    logger.error("database unavailable", exc_info=exc, extra={"path": request.path, "method": request.method})
    return error_response(request, status=503)


@api.exception_handler(Exception)
def on_unhandled(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Logged with its traceback (and sent to Sentry by its logging integration); the client sees
    # nothing of it.
    logger.exception("unhandled error", extra={"path": request.path, "method": request.method})
    return error_response(request, status=500)
