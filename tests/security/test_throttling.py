"""Brute force against the auth endpoints is cut off per client address."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from modules.identity.testing import make_user

pytestmark = pytest.mark.django_db


@override_settings(AUTH_THROTTLE_RATE="5/hour")
def test_password_guessing_is_throttled_with_429_and_retry_after(api_client: Client) -> None:
    make_user(email="ada@example.com")
    guess = {"email": "ada@example.com", "password": "guess"}

    statuses = [
        api_client.post("/api/auth/token/", guess, content_type="application/json").status_code
        for _ in range(5)
    ]
    blocked = api_client.post("/api/auth/token/", guess, content_type="application/json")

    assert statuses == [401] * 5
    assert blocked.status_code == 429
    assert blocked.json() == {"detail": "Too many requests.", "code": "throttled"}
    assert 1 <= int(blocked["Retry-After"]) <= 3600


@override_settings(AUTH_THROTTLE_RATE="2/hour", NUM_PROXIES=0)
def test_a_forged_forwarded_for_header_does_not_reset_the_count(api_client: Client) -> None:
    guess = {"email": "ada@example.com", "password": "guess"}

    statuses = [
        api_client.post(
            "/api/auth/token/", guess, content_type="application/json", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}"
        ).status_code
        for n in range(3)
    ]

    assert statuses == [401, 401, 429]


@override_settings(AUTH_THROTTLE_RATE="2/hour")
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/auth/register/", {"email": "x@example.com", "password": "short"}),
        ("/api/auth/verify-email/", {"token": "nope"}),
        ("/api/auth/resend-verification/", {"email": "x@example.com"}),
        ("/api/auth/token/refresh/", {"refresh": "nope"}),
        ("/api/auth/password-reset/", {"email": "x@example.com"}),
        ("/api/auth/password-reset/confirm/", {"token": "nope", "new_password": "whatever-1234"}),
        ("/api/auth/google/", {"id_token": "nope"}),
    ],
)
def test_every_public_auth_route_is_throttled_per_ip(api_client: Client, path: str, body: dict) -> None:
    statuses = [api_client.post(path, body, content_type="application/json").status_code for _ in range(3)]

    assert statuses[-1] == 429
