"""Every error answers the contract's body {"detail", "code"}, and no traceback ever leaks."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from modules.ops import services as ops_services

pytestmark = pytest.mark.django_db


def test_malformed_json_is_400_bad_request(api_client: Client) -> None:
    response = api_client.post("/api/auth/token/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Malformed request body.", "code": "bad_request"}


def test_missing_token_is_401_not_authenticated(api_client: Client) -> None:
    response = api_client.get("/api/accounts/users/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_garbage_token_is_401_token_invalid(api_client: Client) -> None:
    response = api_client.get("/api/accounts/users/me/", headers={"Authorization": "Bearer abc.def.ghi"})
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_unknown_api_route_is_404_not_found(api_client: Client) -> None:
    response = api_client.get("/api/does-not-exist/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_wrong_method_is_405_in_the_error_shape(api_client: Client) -> None:
    response = api_client.delete("/api/health/live/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_schema_violation_is_422_with_field_errors(api_client: Client) -> None:
    response = api_client.post("/api/auth/token/", data={"email": "a@b.c"}, content_type="application/json")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert any(error["loc"][-1] == "password" for error in body["detail"])


def test_unknown_field_is_rejected_with_422(api_client: Client) -> None:
    response = api_client.post(
        "/api/auth/token/",
        data={"email": "a@b.c", "password": "x", "is_staff": True},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_unhandled_error_is_500_generic_and_logged(
    api_client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals: SELECT * FROM identity_user")

    monkeypatch.setattr(ops_services, "readiness", explode)
    with caplog.at_level(logging.ERROR, logger="resee.api"):
        response = api_client.get("/api/health/ready/")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content
    assert any("unhandled error" in record.getMessage() and record.exc_info for record in caplog.records)


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_a_path_without_its_trailing_slash_is_redirected_with_the_method_and_body_kept(
    api_client: Client, settings, debug: bool
) -> None:
    """301 made clients re-send a POST as a bodiless GET (and with DEBUG on, Django refused it: 500)."""
    from modules.identity.testing import auth_headers, make_user

    settings.DEBUG = debug
    headers = auth_headers(make_user())
    body = {"title": "Slash", "body": "Paths end with a slash."}

    redirected = api_client.post(
        "/api/v1/content?x=1", body, content_type="application/json", headers=headers
    )

    assert redirected.status_code == 308
    assert redirected["Location"] == "/api/v1/content/?x=1"
    followed = api_client.post(
        "/api/v1/content", body, content_type="application/json", headers=headers, follow=True
    )
    assert followed.status_code == 201, followed.content
    assert followed.json()["title"] == "Slash"
    assert api_client.delete("/api/v1/content/1", headers=headers).status_code == 308
