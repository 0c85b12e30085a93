"""Request metrics middleware: latency, status and route template of every /api/ request.

"/api/" covers both prefixes of the API, /api/v1/ and its alias /api/; the route template keeps the
prefix the client used ("/api/v1/content/" and "/api/content/" count apart), which measures how much
traffic still uses the alias.

The route is the URL pattern's template (or "unmatched") and the method one of the HTTP methods (or
"OTHER"), so what a client sends cannot grow the set of counted series.

Sits right after SecurityMiddleware, so the latency covers the rest of the stack. Recording adds to
the process's pending counts, written to Redis about once a second (modules/ops/requestmetrics.py), so
most requests make no round trip for it. It never breaks a request: a failed write is logged and
recording pauses for a short while (a cache outage must not add a socket timeout to every request).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from modules.ops.requestmetrics import Observation, RequestMetricsStore

logger = logging.getLogger(__name__)

PAUSE_AFTER_FAILURE_SECONDS = 30.0
UNMATCHED_ROUTE = "unmatched"
# Methods counted by name; any other (a client may send any token: gunicorn accepts them) counts as
# OTHER, so a client cannot add fields to the totals, which never expire, or series to /metrics.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.store = RequestMetricsStore()
        self._paused_until = 0.0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not (settings.REQUEST_METRICS_ENABLED and request.path.startswith("/api/")):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = (time.perf_counter() - started) * 1000
        if time.monotonic() >= self._paused_until:
            self._record(request, response, duration_ms)
        return response

    def _record(self, request: HttpRequest, response: HttpResponse, duration_ms: float) -> None:
        try:
            match = request.resolver_match
            route = f"/{match.route}" if match is not None and match.route else UNMATCHED_ROUTE
            self.store.record(
                Observation(
                    method=request.method if request.method in KNOWN_METHODS else OTHER_METHOD,
                    route=route,
                    status=response.status_code,
                    duration_ms=duration_ms,
                )
            )
        except Exception:  # metrics must never break a request; the failure is logged, then paused
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_SECONDS
            logger.warning("request metrics could not be recorded; pausing", exc_info=True)
