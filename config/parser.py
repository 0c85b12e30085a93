"""The API's request parser: JSON bodies and query strings, checked once for values no route can store.

Every route's input ends up in PostgreSQL, which refuses some values a client can send in valid JSON or
a query string; without this check each one surfaced as a 500 from deep inside a service:

- NUL characters (``\\u0000``, ``%00``): PostgreSQL text cannot hold them (psycopg raises).
- Unpaired UTF-16 surrogates (``"\\ud800"``): valid JSON escapes, but not encodable as UTF-8.
- Integers outside PostgreSQL's ``bigint`` (every integer column here is at most that).
- Numbers too large for a float (``1e999`` parses as infinity).

They are rejected, never stripped: silently changing what a client sent is worse than saying no. Such
a value answers 422 ``validation_error`` with the location of each offending value, in the shape Ninja
gives a schema error of the same field (``["body", "payload", ...path]``, ``["query", name]`` or
``["form", name]``), keys included. ``NaN`` and ``Infinity`` literals are not JSON
at all and answer 400 ``bad_request`` like any other malformed body.

Ninja wraps whatever ``parse_body`` raises into ``HttpError(400)``; the 422 travels as that error's
``__cause__`` and ``config/api.py``'s ``HttpError`` handler answers it as the validation error it is.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.errors import ValidationError
from ninja.parser import Parser

from modules.common.fields import BIGINT_MAX, BIGINT_MIN

__all__ = ["BODY_PARAMETER", "ApiParser", "find_unstorable"]

# The name every route gives its JSON body parameter (``payload: SomeIn``): Ninja locates a body field's
# error at ["body", BODY_PARAMETER, field], and so do this parser and config/api.py's domain errors.
BODY_PARAMETER = "payload"

MAX_REPORTED = 20  # locations listed in one answer; the rest are the same mistake

_NUL = "\x00"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _string_problem(value: str) -> str | None:
    if _NUL in value:
        return "May not contain NUL characters."
    if _SURROGATE.search(value):
        return "May not contain unpaired surrogate characters."
    return None


def _value_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return _string_problem(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not BIGINT_MIN <= value <= BIGINT_MAX:
        return f"Integer out of range (must be between {BIGINT_MIN} and {BIGINT_MAX})."
    if isinstance(value, float) and not math.isfinite(value):
        return "Number out of range."
    return None


def find_unstorable(data: Any, *, root: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """Field errors (``type``, ``loc``, ``msg``) for every value in ``data`` no column could store.

    Walks dicts and lists without recursion (a deeply nested body must not exhaust the stack).
    """
    errors: list[dict[str, Any]] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [(root, data)]
    while stack and len(errors) < MAX_REPORTED:
        loc, value = stack.pop()
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                problem = _string_problem(key)
                if problem is not None:
                    # The key itself is unprintable: report it by position, not by its own text.
                    errors.append({"type": "value_error", "loc": [*loc], "msg": f"Field name: {problem}"})
                    continue
                stack.append(((*loc, key), item))
        elif isinstance(value, list):
            stack.extend(((*loc, index), item) for index, item in reversed(list(enumerate(value))))
        else:
            problem = _value_problem(value)
            if problem is not None:
                errors.append({"type": "value_error", "loc": list(loc), "msg": problem})
    return errors


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


class ApiParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        data = json.loads(request.body, parse_constant=_reject_constant)
        errors = find_unstorable(data, root=("body", BODY_PARAMETER))
        if errors:
            raise ValidationError(errors)
        return data

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        result = super().parse_querydict(data, list_fields, request)
        if data is request.GET:
            source = "query"
        elif data is request.POST:
            source = "form"
        else:  # uploaded files: their names and bytes are the file module's concern
            return result
        errors = find_unstorable(result, root=(source,))
        if errors:
            raise ValidationError(errors)
        return result
