"""A rejected input has one ``loc`` whether the schema (Ninja) or a service (``ValidationFailed``)
rejects it: config/api.py turns a domain location into the shape Ninja gives the same field."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone
from ninja.params.models import BodyModel

from config.api import api, field_loc, on_domain_error
from config.parser import BODY_PARAMETER
from modules.common.errors import QuotaExceeded, Unavailable, ValidationFailed
from modules.identity.testing import auth_headers, make_user
from modules.learning.testing import make_due_content

pytestmark = pytest.mark.django_db


def locs(response: Any) -> list[list[Any]]:
    assert response.status_code == 422, response.content
    return [item["loc"] for item in response.json()["detail"]]


def test_reviewed_at_has_one_loc_from_the_schema_and_from_the_service(auth_client: Client, user) -> None:
    content = make_due_content(user=user)

    def complete(reviewed_at: str) -> Any:
        body = {"content_id": content.pk, "result": "remembered", "reviewed_at": reviewed_at}
        return auth_client.post("/api/v1/review/complete/", body, content_type="application/json")

    by_schema = complete("not a date")
    by_service = complete((timezone.now() + timedelta(days=1)).isoformat())  # a date, but in the future

    assert locs(by_schema) == locs(by_service) == [["body", "payload", "reviewed_at"]]
    assert by_service.json()["detail"][0]["msg"] == "reviewed_at may not be in the future."


def test_a_password_has_one_loc_from_the_schema_and_from_the_service(api_client: Client) -> None:
    def register(password: str) -> Any:
        body = {"email": "ada@example.com", "password": password}
        return api_client.post("/api/v1/auth/register/", body, content_type="application/json")

    by_schema = register("x" * 300)  # over the field's max_length
    by_service = register("password123")  # Django's validators: too common

    assert locs(by_schema) == [["body", "payload", "password"]]
    assert set(map(tuple, locs(by_service))) == {("body", "payload", "password")}


def test_an_upload_has_one_loc_from_the_schema_and_from_the_service(tmp_path: Path, settings) -> None:
    settings.PORTABILITY_UPLOAD_DIR = str(tmp_path / "uploads")
    client = Client(headers=auth_headers(make_user()))
    not_a_zip = tmp_path / "notes.apkg"
    not_a_zip.write_bytes(b"just some text")

    missing = client.post("/api/v1/portability/imports/", {"kind": "apkg"})
    with not_a_zip.open("rb") as file:
        refused = client.post("/api/v1/portability/imports/", {"kind": "apkg", "file": file})

    assert locs(missing) == locs(refused) == [["file", "file"]]
    assert refused.json()["code"] == "unsupported_file"


def test_a_query_value_rejected_by_a_service_is_located_like_ninjas(auth_client: Client) -> None:
    by_schema = auth_client.get("/api/v1/content/?ordering=sideways")
    by_service = on_domain_error(
        RequestFactory().get("/"), ValidationFailed.field("ordering", "Unknown ordering.", source="query")
    )
    assert locs(by_schema) == [json.loads(by_service.content)["detail"][0]["loc"]] == [["query", "ordering"]]


@pytest.mark.parametrize(
    ("location", "loc"),
    [
        (("body", "reviewed_at"), ["body", "payload", "reviewed_at"]),
        (("body", "items", 2, "title"), ["body", "payload", "items", 2, "title"]),
        (("body",), ["body"]),
        (("query", "ordering"), ["query", "ordering"]),
        (("path", "content_id"), ["path", "content_id"]),
        (("form", "kind"), ["form", "kind"]),
        (("file", "file"), ["file", "file"]),
    ],
)
def test_every_domain_location_maps_to_ninjas_loc(location: tuple[Any, ...], loc: list[Any]) -> None:
    assert field_loc(location) == loc


def test_every_route_names_its_json_body_payload() -> None:
    """The body part of a ``loc`` is the view's parameter name; services cannot know it, so every route
    uses the one config/api.py assumes."""
    names = {
        (path, name)
        for bound in api._get_bound_routers()  # how Ninja's own OpenAPI builder walks the routes
        for path, view in bound.path_operations.items()
        for operation in view.operations
        for model in operation.models
        if issubclass(model, BodyModel)
        for name in model.model_fields
    }
    assert len(names) > 20  # every route with a JSON body was seen
    assert {name for _, name in names} == {BODY_PARAMETER}, sorted(names)


def test_a_temporary_refusal_names_when_to_retry_and_only_then() -> None:
    request = RequestFactory().post("/")

    quota = on_domain_error(request, QuotaExceeded("Daily quota reached.", retry_after_seconds=3600))
    unknown = on_domain_error(request, Unavailable("Down."))

    assert (quota.status_code, quota["Retry-After"]) == (429, "3600")
    assert unknown.status_code == 503 and "Retry-After" not in unknown
