"""The Django admin's login is throttled like the API's: per client IP (the auth routes' budget) and per
account (wrong passwords, shared with the API's login)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.test import Client
from time_machine import TimeMachineFixture

from modules.identity.services.lockout import LOCKED
from modules.identity.testing import DEFAULT_PASSWORD, make_admin, make_user

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
WINDOW = 900


@pytest.fixture(autouse=True)
def _clock_mid_window(time_machine: TimeMachineFixture, mid_window_clock: None) -> None:
    """Both limits' windows far from their ends: the account's 15 minutes (the clock) and the per-IP
    hour (the auth throttle's own timer, tests/identity/conftest.py)."""
    now = time.time()
    time_machine.move_to(datetime.fromtimestamp(now - now % WINDOW + WINDOW / 2, UTC), tick=True)


def admin_login(client: Client, email: str, password: str, ip: str = "203.0.113.1"):
    return client.post(LOGIN, {"username": email, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def logged_in(client: Client) -> bool:
    return client.get("/admin/", REMOTE_ADDR="203.0.113.1").status_code == 200


def test_a_right_password_logs_a_staff_member_in(settings) -> None:
    settings.LOGIN_FAILURE_RATE = "3/15m"
    make_admin(email="root@example.com")
    client = Client()

    response = admin_login(client, "root@example.com", DEFAULT_PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)


def test_wrong_passwords_from_many_addresses_lock_the_account_even_for_the_right_one(settings) -> None:
    settings.AUTH_THROTTLE_RATE = "100000/hour"
    settings.LOGIN_FAILURE_RATE = "3/15m"
    make_admin(email="root@example.com")
    client = Client()

    wrong = [admin_login(client, "root@example.com", "guess", ip=f"198.51.100.{n}") for n in range(3)]
    refused = admin_login(client, "Root@Example.com", DEFAULT_PASSWORD, ip="192.0.2.50")

    assert [response.status_code for response in wrong] == [200, 200, 200]
    assert refused.status_code == 429
    assert WINDOW / 2 - 5 <= int(refused["Retry-After"]) <= WINDOW / 2 + 1
    assert LOCKED in refused.content.decode()
    assert not logged_in(client)


def test_the_admin_and_the_api_share_the_accounts_budget(settings, api_client: Client) -> None:
    settings.AUTH_THROTTLE_RATE = "100000/hour"
    settings.LOGIN_FAILURE_RATE = "3/15m"
    make_admin(email="root@example.com")
    for n in range(3):
        api_client.post(
            "/api/auth/token/",
            {"email": "root@example.com", "password": "guess"},
            content_type="application/json",
            REMOTE_ADDR=f"198.51.100.{n}",
        )

    assert admin_login(Client(), "root@example.com", DEFAULT_PASSWORD).status_code == 429


def test_a_right_password_of_an_account_without_admin_access_is_not_counted_as_a_guess(settings) -> None:
    settings.AUTH_THROTTLE_RATE = "100000/hour"
    settings.LOGIN_FAILURE_RATE = "2/15m"
    make_user(email="ada@example.com")
    client = Client()

    statuses = [admin_login(client, "ada@example.com", DEFAULT_PASSWORD).status_code for _ in range(4)]

    assert statuses == [200] * 4  # "enter the correct email and password for a staff account", never 429


def test_the_admin_login_counts_in_the_per_ip_budget_of_the_auth_routes(settings) -> None:
    settings.AUTH_THROTTLE_RATE = "2/hour"
    settings.LOGIN_FAILURE_RATE = "100/15m"
    make_admin(email="root@example.com")
    make_admin(email="other@example.com")
    client = Client()

    first = admin_login(client, "root@example.com", "guess")
    second = client.post(
        "/api/auth/token/",
        {"email": "x@example.com", "password": "guess"},
        content_type="application/json",
        REMOTE_ADDR="203.0.113.1",
    )
    refused = admin_login(client, "other@example.com", DEFAULT_PASSWORD)
    elsewhere = admin_login(client, "other@example.com", DEFAULT_PASSWORD, ip="192.0.2.9")

    assert (first.status_code, second.status_code) == (200, 401)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert "Too many login attempts" in refused.content.decode()
    assert elsewhere.status_code == 302


def test_throttles_enabled_false_turns_the_admin_limits_off(settings) -> None:
    settings.THROTTLES_ENABLED = False
    settings.AUTH_THROTTLE_RATE = "1/hour"
    settings.LOGIN_FAILURE_RATE = "1/15m"
    make_admin(email="root@example.com")
    client = Client()

    wrong = [admin_login(client, "root@example.com", "guess").status_code for _ in range(3)]

    assert wrong == [200] * 3
    assert admin_login(client, "root@example.com", DEFAULT_PASSWORD).status_code == 302
