"""Sessions end when they should: rotation, logout, password reset, deactivation, deletion."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.core import mail
from django.test import Client
from ninja_jwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from modules.identity import services
from modules.identity.testing import DEFAULT_PASSWORD, make_user

pytestmark = pytest.mark.django_db


def post(client: Client, path: str, body: dict, **kwargs) -> object:
    return client.post(path, body, content_type="application/json", **kwargs)


def login(client: Client, email: str = "ada@example.com", password: str = DEFAULT_PASSWORD) -> dict:
    response = post(client, "/api/auth/token/", {"email": email, "password": password})
    assert response.status_code == 200
    return response.json()


def me(client: Client, access: str) -> int:
    return client.get("/api/accounts/users/me/", headers={"Authorization": f"Bearer {access}"}).status_code


def test_refresh_token_reuse_after_rotation_is_refused(api_client: Client) -> None:
    make_user(email="ada@example.com")
    first = login(api_client)
    rotated = post(api_client, "/api/auth/token/refresh/", {"refresh": first["refresh"]}).json()

    reuse = post(api_client, "/api/auth/token/refresh/", {"refresh": first["refresh"]})

    assert reuse.status_code == 401
    assert reuse.json()["code"] == "token_invalid"
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": rotated["refresh"]}).status_code == 200


def test_logout_ends_the_refresh_token(api_client: Client) -> None:
    make_user(email="ada@example.com")
    session = login(api_client)

    response = post(
        api_client,
        "/api/auth/logout/",
        {"refresh": session["refresh"]},
        headers={"Authorization": f"Bearer {session['access']}"},
    )

    assert response.status_code == 204
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": session["refresh"]}).status_code == 401


def test_password_reset_revokes_every_refresh_and_access_token(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    user = make_user(email="ada@example.com")
    phone, laptop = login(api_client), login(api_client)
    rotated = post(api_client, "/api/auth/token/refresh/", {"refresh": laptop["refresh"]}).json()
    with django_capture_on_commit_callbacks(execute=True):
        post(api_client, "/api/auth/password-reset/", {"email": "ada@example.com"})
    link = next(word for word in mail.outbox[-1].body.split() if "token=" in word)
    token = parse_qs(urlparse(link).query)["token"][0]

    confirm = post(
        api_client,
        "/api/auth/password-reset/confirm/",
        {"token": token, "new_password": "a-Fresh-passphrase-31"},
    )

    assert confirm.status_code == 200
    for session in (phone, rotated):
        assert (
            post(api_client, "/api/auth/token/refresh/", {"refresh": session["refresh"]}).status_code == 401
        )
        assert me(api_client, session["access"]) == 401
    live = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    assert not live.exists()  # the blacklist agrees: nothing outstanding is left unrevoked
    assert BlacklistedToken.objects.filter(token__user=user).count() == 3
    fresh = login(api_client, password="a-Fresh-passphrase-31")
    assert me(api_client, fresh["access"]) == 200


def test_deactivating_a_user_ends_their_tokens(api_client: Client) -> None:
    user = make_user(email="ada@example.com")
    session = login(api_client)
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert me(api_client, session["access"]) == 401
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": session["refresh"]}).status_code == 401
    assert (
        post(
            api_client, "/api/auth/token/", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}
        ).status_code
        == 401
    )


def test_deleted_users_tokens_stop_working(api_client: Client) -> None:
    user = make_user(email="ada@example.com")
    session = login(api_client)
    services.delete_account(user=user)

    assert me(api_client, session["access"]) == 401
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": session["refresh"]}).status_code == 401
