"""The project's own middleware.

``ApiErrorBodyMiddleware`` keeps every /api/ answer in the contract's error shape, even the ones Django
makes itself. Ninja maps the errors it sees (config/api.py). A few answers never reach it: an unknown
route under /api/ (Django's 404 page), a wrong method (Ninja's bare 405) and a crash below Ninja
(Django's 500 page). It rewrites those non-JSON error pages into ``{"detail", "code"}``. "/api/" covers
both prefixes of the API: the versioned base /api/v1/ and its alias /api/ (config/urls.py).

``DatabaseScopeMiddleware`` makes each request one unit of work for the read-replica routing.

``AccessLogMiddleware`` writes one JSON access line per request and gives each request an id.

``CommonMiddleware`` is Django's, redirecting a path without its trailing slash with 308 instead of 301.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseRedirectBase
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware
from django.utils.http import escape_leading_slashes

from config.logging import request_id_var
from modules.common import db

_CODES = {
    400: ("Bad request.", "bad_request"),
    403: ("Forbidden.", "forbidden"),
    404: ("Not found.", "not_found"),
    405: ("Method not allowed.", "method_not_allowed"),
    500: ("Internal server error.", "server_error"),
}


class ApiErrorBodyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code in _CODES
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            detail, code = _CODES[response.status_code]
            replacement = JsonResponse({"detail": detail, "code": code}, status=response.status_code)
            if response.status_code == 405 and response.has_header("Allow"):
                replacement["Allow"] = response["Allow"]
            return replacement
        return response


class PermanentRedirectKeepingMethod(HttpResponseRedirectBase):
    status_code = 308


class CommonMiddleware(DjangoCommonMiddleware):
    """Every API path ends with a slash. Django redirects a path without it (``APPEND_SLASH``) with 301,
    which clients follow as a GET without the body (a POST to /api/v1/content became a 422 "Field
    required"), and with DEBUG on it refuses a POST, PUT, PATCH or DELETE with a RuntimeError: a 500.
    308 tells the client to send the same method and body again to the path with the slash."""

    response_redirect_class = PermanentRedirectKeepingMethod

    def get_full_path_with_slash(self, request: HttpRequest) -> str:
        # Django's, without its DEBUG-only refusal of methods that 301 could not carry
        return escape_leading_slashes(request.get_full_path(force_append_slash=True))


class DatabaseScopeMiddleware:
    """One database unit of work per request (outermost, so every write in the request counts): a
    request starts unpinned, any write pins its later reads to the primary, and a request that wrote
    leaves its user's WAL position for the next lag-tolerant read (modules/common/db.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with db.request_scope(reader=lambda: _user_id(request)):
            return self.get_response(request)


def _user_id(request: HttpRequest) -> int | None:
    """The authenticated user (the API's JWT auth sets ``request.user`` too), else None."""
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


# --- Access log and request ids ---------------------------------------------------------------------

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
access_logger = logging.getLogger("resee.access")


class AccessLogMiddleware:
    """One JSON line per request (logger ``resee.access``, INFO): method, path (never the query string,
    which may hold a token), status, duration and the request id. The id comes from the client's or the
    proxy's ``X-Request-ID`` when it is a plain token, else a new one; it is answered in ``X-Request-ID``
    and carried by every log record of the request (``config.logging.RequestIdFilter``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = request_id
            return response
        finally:
            if access_logger.isEnabledFor(logging.INFO):
                access_logger.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    status,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        "user_id": _user_id(request),
                    },
                )
            request_id_var.reset(token)
