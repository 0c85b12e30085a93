"""Deprecating an API operation (policy: docs/api.md, "Deprecation").

One decorator, placed under the route's decorator, says everything once::

    @router.get("/old/", response=OldOut)
    @deprecated(on=date(2026, 1, 5), sunset=date(2026, 7, 6), use="GET /api/v1/new/")
    def old(request): ...

The operation is then marked ``deprecated`` in the OpenAPI schema (with ``x-deprecated-on``,
``x-sunset`` and ``x-replacement``), and every answer it gives, errors included, carries:

- ``Deprecation: @<unix time>`` (RFC 9745): since when the operation is deprecated;
- ``Sunset: <HTTP-date>`` (RFC 8594): from when it may stop answering;
- ``Link: </api/v1/docs>; rel="deprecation"; type="text/html"`` (RFC 9745): where to read why.

The policy is enforced where it is declared: the sunset is at least ``MIN_NOTICE`` (six months)
after the deprecation date, or the module does not import.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.http import http_date
from ninja.decorators import decorate_view
from ninja.operation import Operation
from ninja.utils import contribute_operation_callback

__all__ = ["DOCS_LINK", "MIN_NOTICE", "deprecated", "deprecation_headers"]

MIN_NOTICE = timedelta(days=183)  # six months
DOCS_LINK = "/api/v1/docs"

View = TypeVar("View", bound=Callable[..., Any])


def _midnight_utc(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def deprecation_headers(*, on: date, sunset: date) -> dict[str, str]:
    """The headers a deprecated operation answers (the dates are read as 00:00 UTC)."""
    return {
        "Deprecation": f"@{_midnight_utc(on)}",
        "Sunset": http_date(_midnight_utc(sunset)),
        "Link": f'<{DOCS_LINK}>; rel="deprecation"; type="text/html"',
    }


def deprecated(*, on: date, sunset: date, use: str = "") -> Callable[[View], View]:
    """Mark a Ninja operation deprecated since ``on`` and removable from ``sunset``; ``use`` names its
    replacement (shown in the schema)."""
    if sunset < on + MIN_NOTICE:
        raise ValueError(
            f"A sunset must come at least {MIN_NOTICE.days} days after the deprecation "
            f"({on.isoformat()} -> {sunset.isoformat()}); see docs/api.md."
        )
    headers = deprecation_headers(on=on, sunset=sunset)
    extra = {"x-deprecated-on": on.isoformat(), "x-sunset": sunset.isoformat()}
    if use:
        extra["x-replacement"] = use

    def add_headers(run: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(run)
        def run_with_headers(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            response = run(request, *args, **kwargs)
            for name, value in headers.items():
                response[name] = (
                    f"{response[name]}, {value}" if name == "Link" and response.has_header(name) else value
                )
            return response

        return run_with_headers

    def mark(operation: Operation) -> None:
        operation.deprecated = True
        operation.openapi_extra = {**(operation.openapi_extra or {}), **extra}

    def decorate(view: View) -> View:
        if inspect.iscoroutinefunction(view):
            raise TypeError("deprecated() supports synchronous operations only")
        decorate_view(add_headers)(view)  # wraps the operation's run: every answer, errors included
        if hasattr(view, "_ninja_operation"):  # placed above the route's decorator
            mark(view._ninja_operation)
        else:
            contribute_operation_callback(view, mark)
        return view

    return decorate
