"""The error answers every route can give, documented once in the OpenAPI schema.

A route documents what is its own (403 tier_required, 409 email_taken, ...). The answers the API
layer gives any route are added here, where the route has not documented them itself: 400 for a
malformed body, 401 on authenticated routes, 404 when a path (or an authenticated body) names an
object, 409 when a write loses a race, 422 for invalid parameters or bodies, 429 on throttled routes
and 503 (the database is down). All of them have the contract's shape, ``{"detail", "code"}``.
"""

from __future__ import annotations

from typing import Any

from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "description": "Every error answer: `detail` (a message, or for 422 the list of field errors) and `code`.",
    "properties": {
        "detail": {
            "title": "Detail",
            "anyOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string"},
                            "loc": {
                                "type": "array",
                                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                            },
                            "msg": {"type": "string"},
                        },
                        "required": ["type", "loc", "msg"],
                    },
                },
            ],
        },
        "code": {"title": "Code", "type": "string"},
    },
    "required": ["detail", "code"],
}

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_DESCRIPTIONS = {
    "400": "Malformed request (`bad_request`)",
    "401": "Not authenticated (`not_authenticated`, `token_invalid`)",
    "404": "Not found, or not yours (`not_found`)",
    "409": "Conflict (`conflict`)",
    "422": "Validation error (`validation_error`); `detail` lists `{type, loc, msg}`",
    "429": "Too many requests (`throttled`, with `Retry-After`)",
    "503": "A dependency is down (`unavailable`)",
}


def error_statuses(operation: Operation, details: dict[str, Any]) -> list[str]:
    """The statuses the API layer may answer on ``operation`` whatever the route does."""
    parameters = details.get("parameters", [])
    has_body = "requestBody" in details
    statuses = []
    if has_body:
        statuses.append("400")
    if operation.auth_callbacks:
        statuses.append("401")
    if any(parameter.get("in") == "path" for parameter in parameters) or (
        has_body and operation.auth_callbacks
    ):
        statuses.append("404")  # an object named in the path, or by id in an authenticated body
    if _WRITES & set(operation.methods):
        statuses.append("409")
    if parameters or has_body:
        statuses.append("422")
    if operation.throttle_objects:
        statuses.append("429")
    statuses.append("503")
    return statuses


class ApiSchema(OpenAPISchema):
    """Ninja's schema plus, on each operation, the shared error answers it does not document itself."""

    def operation_details(self, operation: Operation) -> dict[str, Any]:
        details = super().operation_details(operation)
        self.schemas.setdefault(ERROR_SCHEMA_NAME, ERROR_SCHEMA)
        reference = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
        responses = details.setdefault("responses", {})
        for status in error_statuses(operation, details):
            if int(status) not in responses:  # Ninja keys the statuses a route documents by int
                responses[int(status)] = {
                    "description": _DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": reference}},
                }
        return details
