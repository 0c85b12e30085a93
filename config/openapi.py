"""Every error answer of every operation, declared in the OpenAPI schema from the API's one error table.

An operation's error answers come from two places, merged here into its ``responses``:

- its shape: what the API layer answers any route like it (``SHAPE_RULES``): 400 for a malformed body
  or query, 401 on authenticated routes, 403 on admin routes, 404 when the path names an object, 409
  when a write loses a race, 422 for invalid input, 429 on throttled routes, 503 (the database or a
  provider is down) everywhere;
- the domain errors its view declares with ``modules.common.errors.raises``, each answered with the
  status config/api.py's table gives it (``ErrorTable.status_of``).

A route declares nothing else about errors: a status it documents itself (``openapi_extra``) keeps its
description and gets the codes of that status. Every error answer refers to the one ``Error`` schema, whose
``code`` is the enum of every code the API emits (``ErrorTable.codes``); each answer lists the codes
it can carry, with an example of each. A 429 declares its ``Retry-After`` header (always sent), a 503
the one it may carry. An operation whose URL carries input also declares the 414 the HTTP server in
front answers for a request line over its limit (``URI_TOO_LONG``, an HTML page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.client import responses as http_reasons
from typing import Any

from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from modules.common.errors import DomainError, TokenInvalid

ERROR_SCHEMA_NAME = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One rejected input: the rule it broke, where it was and why.",
    "properties": {
        "type": {"type": "string", "description": "The rule broken, e.g. `missing`, `string_too_short`"},
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": 'Where: `["body", "payload", <field>...]`, `["query", <name>]`, `["path", <name>]`',
        },
        "msg": {"type": "string"},
    },
    "required": ["type", "loc", "msg"],
}
RETRY_AFTER = "Retry-After"
# The HTTP server in front of the API (gunicorn, or a proxy) refuses a request line longer than its
# limit (gunicorn's ``limit_request_line``, 4094 bytes) with its own HTML page, before any route runs.
URI_TOO_LONG: dict[str, Any] = {
    "description": (
        "URI Too Long: the request line passed the HTTP server's limit (4094 bytes by default). The "
        "server in front of the API answers it with an HTML page, not the `Error` body."
    ),
    "content": {"text/html": {"schema": {"type": "string"}}},
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def domain_errors() -> Iterator[type[DomainError]]:
    """Every domain error class defined so far (the API imports every module that defines one)."""
    pending = [DomainError]
    while pending:
        error = pending.pop()
        yield error
        pending.extend(error.__subclasses__())


@dataclass(frozen=True)
class ErrorTable:
    """How the API answers errors (config/api.py): the status of each domain error class, and the code
    the API layer itself answers with each status (Ninja's and Django's errors, not a service's)."""

    status_of: Callable[[type[DomainError]], int]
    http_codes: Mapping[int, str]
    http_details: Mapping[str, str]

    def codes(self) -> list[str]:
        """Every code an error answer can carry: the ``Error`` schema's enum."""
        return sorted({*self.http_codes.values(), *(error.code for error in domain_errors())})

    def detail_of(self, code: str) -> str:
        if code in self.http_details:
            return self.http_details[code]
        return next(error.default_detail for error in domain_errors() if error.code == code)

    def error_schema(self) -> dict[str, Any]:
        return {
            "title": ERROR_SCHEMA_NAME,
            "type": "object",
            "description": (
                "Every error answer: `detail` (a sentence, or for 422 the list of rejected inputs) and "
                "`code`, a stable machine-readable name. Each operation lists the codes it can answer."
            ),
            "properties": {
                "detail": {
                    "title": "Detail",
                    "anyOf": [{"type": "string"}, {"type": "array", "items": FIELD_ERROR_SCHEMA}],
                },
                "code": {"title": "Code", "type": "string", "enum": self.codes()},
            },
            "required": ["detail", "code"],
        }


@dataclass(frozen=True)
class Shape:
    """What an operation looks like from outside: the input it takes and how it is guarded."""

    has_body: bool
    has_query: bool
    has_path: bool
    authenticated: bool
    staff_only: bool
    writes: bool
    throttled: bool
    does_io: bool = True  # False for a view marked ``@without_io``: no outage can reach it


def shape_of(operation: Operation, details: dict[str, Any]) -> Shape:
    places = {parameter.get("in") for parameter in details.get("parameters", [])}
    return Shape(
        has_body="requestBody" in details,
        has_query="query" in places,
        has_path="path" in places,
        authenticated=bool(operation.auth_callbacks),
        staff_only=any(getattr(auth, "staff_only", False) for auth in operation.auth_callbacks),
        writes=bool(_WRITES & set(operation.methods)),
        throttled=bool(operation.throttle_objects),
        does_io=not getattr(operation.view_func, "without_io", False),
    )


# What the API layer may answer on any operation of a shape, whatever its view does: the status, and
# the domain errors or API-layer codes (by status) behind it.
SHAPE_RULES: tuple[tuple[Callable[[Shape], bool], int, tuple[type[DomainError], ...]], ...] = (
    (lambda shape: shape.has_body or shape.has_query, 400, ()),  # unparsable JSON, too many fields
    (lambda shape: shape.authenticated, 401, (TokenInvalid,)),  # no token, or a bad one
    (lambda shape: shape.staff_only, 403, ()),  # a valid token of a user who is not staff
    (lambda shape: shape.has_path, 404, ()),  # the object the path names is missing or not yours
    (lambda shape: shape.writes, 409, ()),  # a write that lost a race (IntegrityError)
    (lambda shape: shape.has_body or shape.has_query or shape.has_path, 422, ()),  # invalid input
    (lambda shape: shape.throttled, 429, ()),  # over the rate
    (lambda shape: shape.does_io, 503, ()),  # the database is unavailable
)


class ApiSchema(OpenAPISchema):
    """Ninja's schema plus, on each operation, every error answer it can give (module docstring)."""

    def __init__(self, api: NinjaAPI, path_prefix: str, *, errors: ErrorTable) -> None:
        self.errors = errors
        super().__init__(api, path_prefix)
        self.schemas[ERROR_SCHEMA_NAME] = errors.error_schema()

    def operation_details(self, operation: Operation) -> dict[str, Any]:
        details = super().operation_details(operation)
        responses = {int(status): answer for status, answer in details.get("responses", {}).items()}
        for status, codes in self.error_codes(operation, details, responses).items():
            answer = responses.setdefault(status, {})
            listed = ", ".join(f"`{code}`" for code in codes)
            described = answer.get("description", http_reasons.get(status))
            if described == http_reasons.get(status):
                answer["description"] = f"{http_reasons.get(status, 'Error')}: {listed}"
            elif any(f"`{code}`" not in described for code in codes):
                answer["description"] = f"{described} (codes: {listed})"
            if "content" not in answer:
                answer["content"] = {
                    "application/json": {"schema": ERROR_REF, "examples": self._examples(status, codes)}
                }
            if status == 429:
                answer["headers"] = {
                    RETRY_AFTER: {
                        "description": "Seconds to wait before trying again.",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                }
            elif status == 503:
                answer["headers"] = {
                    RETRY_AFTER: {
                        "description": "Seconds to wait before trying again, when the server knows.",
                        "schema": {"type": "integer", "minimum": 0},
                    }
                }
        shape = shape_of(operation, details)
        if shape.has_query or shape.has_path:  # what the URL carries can make it too long
            responses.setdefault(414, URI_TOO_LONG)
        details["responses"] = dict(sorted(responses.items()))
        return details

    def error_codes(
        self, operation: Operation, details: dict[str, Any], documented: dict[int, dict[str, Any]]
    ) -> dict[int, list[str]]:
        """The error statuses ``operation`` can answer, each with the codes it can carry."""
        codes: dict[int, list[str]] = {}

        def add(status: int, code: str) -> None:
            if code not in codes.setdefault(status, []):
                codes[status].append(code)

        shape = shape_of(operation, details)
        for applies, status, raised in SHAPE_RULES:
            if applies(shape):
                add(status, self.errors.http_codes[status])
                for error in raised:
                    add(self.errors.status_of(error), error.code)
        for error in getattr(operation.view_func, "domain_errors", ()):
            add(self.errors.status_of(error), error.code)
        for status in documented:
            if status >= 400 and status not in codes:
                for error in domain_errors():
                    if self.errors.status_of(error) == status:
                        add(status, error.code)
                if status in self.errors.http_codes:
                    add(status, self.errors.http_codes[status])
        return dict(sorted(codes.items()))

    def _examples(self, status: int, codes: list[str]) -> dict[str, Any]:
        examples = {}
        for code in codes:
            detail: object = self.errors.detail_of(code)
            if status == 422:  # a list of rejected inputs; a service's sentence about the whole body:
                detail = [{"type": "value_error", "loc": ["body"], "msg": detail}]
            examples[code] = {"summary": code, "value": {"detail": detail, "code": code}}
        return examples
