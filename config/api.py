"""The one NinjaAPI: auth, error handlers and every module's router, composed once."""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.errors import Throttled as NinjaThrottled

from modules.ai.api import router as ai_router
from modules.common.errors import DomainError
from modules.identity.api import accounts_router, auth_router
from modules.identity.auth import jwt_auth
from modules.identity.throttles import tier_throttle
from modules.insights.api import router as insights_router
from modules.learning.api import content_router, review_router
from modules.ops.api import health_router, monitoring_router

logger = logging.getLogger("resee.api")

api = NinjaAPI(
    title="Resee API",
    version="1",
    description="Spaced-repetition learning: content, reviews on schedule, AI practice questions, insights.",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=jwt_auth,
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
api.add_router("/health/", health_router)
api.add_router("/monitoring/", monitoring_router)


# --- Error handlers: every error answers {"detail", "code"} -------------------------------------

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
    429: "throttled",
    503: "unavailable",
}


def error_response(request: HttpRequest, *, status: int, detail: object, code: str) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "code": code}, status=status)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    response = error_response(request, status=exc.status_code, detail=exc.detail, code=exc.code)
    for name, value in exc.headers.items():
        response[name] = value
    return response


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {key: value for key, value in error.items() if key in {"type", "loc", "msg"}} for error in exc.errors
    ]
    return error_response(request, status=422, detail=errors, code="validation_error")


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        request, status=401, detail="Authentication credentials were not provided.", code="not_authenticated"
    )


@api.exception_handler(AuthorizationError)
def on_authorization_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return error_response(
        request, status=403, detail="You do not have permission to do this.", code="forbidden"
    )


@api.exception_handler(NinjaThrottled)
def on_throttled(request: HttpRequest, exc: NinjaThrottled) -> HttpResponse:
    return error_response(request, status=429, detail="Too many requests.", code="throttled")


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    detail = "Malformed request body." if exc.status_code == 400 else str(exc)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(request, status=exc.status_code, detail=detail, code=code)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, status=404, detail="Not found.", code="not_found")


@api.exception_handler(Exception)
def on_unhandled(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Logged with its traceback (and sent to Sentry by its logging integration); the client sees
    # nothing of it.
    logger.exception("unhandled error", extra={"path": request.path, "method": request.method})
    return error_response(request, status=500, detail="Internal server error.", code="server_error")
