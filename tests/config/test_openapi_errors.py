"""The shared error answers are documented on every operation (config/openapi.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return Client().get("/api/openapi.json").json()


def responses(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return schema["paths"][path][method]["responses"]


def test_the_error_component_has_the_contract_shape(schema: dict[str, Any]) -> None:
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["detail", "code"]
    item = error["properties"]["detail"]["anyOf"][1]["items"]
    assert item["required"] == ["type", "loc", "msg"]


def test_an_authenticated_write_with_a_path_documents_every_shared_error(schema: dict[str, Any]) -> None:
    documented = responses(schema, "/api/v1/content/{content_id}/", "patch")
    assert {"400", "401", "404", "409", "422", "429", "503"} <= set(documented)
    assert documented["400"]["content"]["application/json"]["schema"] == ERROR_REF


def test_a_public_unthrottled_read_documents_only_what_it_can_answer(schema: dict[str, Any]) -> None:
    # the liveness probe touches neither the database nor the cache: no outage can answer 503 there
    assert set(responses(schema, "/api/v1/health/live/", "get")) == {"200"}
    assert set(responses(schema, "/api/v1/health/ready/", "get")) == {"200", "503"}


def test_a_public_body_route_has_no_401_or_404(schema: dict[str, Any]) -> None:
    documented = set(responses(schema, "/api/v1/auth/register/", "post"))
    assert {"400", "422", "429"} <= documented
    assert not {"401", "404"} & documented


def test_a_login_documents_its_own_401_with_the_shared_schema(schema: dict[str, Any]) -> None:
    documented = responses(schema, "/api/v1/auth/token/", "post")
    assert documented["401"]["content"]["application/json"]["schema"] == ERROR_REF
    assert "`invalid_credentials`" in documented["401"]["description"]


def test_every_operation_that_does_io_documents_503(schema: dict[str, Any]) -> None:
    without = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "503" not in operation["responses"]:
                without.append((path, method))
    assert without == [("/api/v1/health/live/", "get")]
