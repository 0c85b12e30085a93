"""A JSON body's numbers and booleans are taken as JSON types only: ``true`` is not the integer 1, nor
``"3"`` the integer 3, nor ``1`` or ``"yes"`` a boolean. Pydantic's lax mode would convert them
silently (``{"content_id": true}`` would name content 1); every such field of every operation answers
422 at its own location instead. Walks the OpenAPI schema, so a new field is covered when it is added.
Query strings and forms stay text that is parsed (``?days=30``, ``restore_profile=true``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from modules.identity.testing import auth_headers, make_user

WRONG = {
    "integer": [True, "3", 3.0],
    "number": [True, "0.9"],
    "boolean": [1, "yes", "true"],
}


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return Client().get("/api/v1/openapi.json").json()


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _scalar_type(schema: dict[str, Any], node: dict[str, Any]) -> str | None:
    node = _resolve(schema, node)
    for option in node.get("anyOf", [node]):
        kind = _resolve(schema, option).get("type")
        if kind in WRONG:
            return kind
    return None


def json_fields(schema: dict[str, Any]) -> Iterator[tuple[str, str, str, str, bool]]:
    """(method, path, field, JSON type, is a list of it) of every number or boolean in a JSON body."""
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            for name, prop in _resolve(schema, body["schema"]).get("properties", {}).items():
                kind = _scalar_type(schema, prop)
                if kind is not None:
                    yield method, path, name, kind, False
                    continue
                items = _resolve(schema, prop).get("items")
                if items is not None and (kind := _scalar_type(schema, items)) is not None:
                    yield method, path, name, kind, True


def test_the_walk_finds_the_fields_it_is_about(schema: dict[str, Any]) -> None:
    found = {(path, name) for _, path, name, _, _ in json_fields(schema)}
    assert ("/api/v1/review/complete/", "content_id") in found
    assert ("/api/v1/ai-review/jobs/", "content_ids") in found
    assert ("/api/v1/accounts/users/me/", "notifications_enabled") in found
    assert ("/api/v1/accounts/users/me/", "desired_retention") in found
    assert len(found) >= 20


@pytest.mark.django_db
def test_every_number_and_boolean_of_a_json_body_refuses_other_json_types(schema: dict[str, Any]) -> None:
    client = Client(headers=auth_headers(make_user(tier="PRO", is_staff=True, is_superuser=True)))
    accepted = []
    for method, path, name, kind, is_list in json_fields(schema):
        url = path.replace("{", "").replace("}", "")
        url = "/".join("1" if part.endswith("_id") or part == "id" else part for part in url.split("/"))
        for wrong in WRONG[kind]:
            value = [wrong] if is_list else wrong
            answer = getattr(client, method)(url, {name: value}, content_type="application/json")
            location = ["body", "payload", name, 0] if is_list else ["body", "payload", name]
            errors = answer.json()["detail"] if answer.status_code == 422 else []
            if not any(error.get("loc") == location for error in errors):
                accepted.append((method.upper(), path, name, wrong, answer.status_code))
    assert accepted == []
