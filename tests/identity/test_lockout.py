"""Wrong passwords are limited per account, across every client address (services/lockout.py).

Real Redis counts them. The API's per-IP budget (AUTH_THROTTLE_RATE) is set high here, so only the
per-account limit (LOGIN_FAILURE_RATE) can refuse; the clock sits mid-window, so no test straddles
two windows unless it means to.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from time_machine import TimeMachineFixture

from modules.identity import services
from modules.identity.models import User
from modules.identity.services.lockout import LOCKED
from modules.identity.testing import DEFAULT_PASSWORD, auth_headers, make_user
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"
WINDOW = 900


@pytest.fixture(autouse=True)
def _limits(settings) -> None:
    settings.AUTH_THROTTLE_RATE = "100000/hour"
    settings.LOGIN_FAILURE_RATE = "3/15m"


@pytest.fixture
def mid_window(time_machine: TimeMachineFixture) -> float:
    """The clock 7.5 minutes into a 15-minute window, running."""
    now = time.time()
    middle = now - now % WINDOW + WINDOW / 2
    time_machine.move_to(datetime.fromtimestamp(middle, UTC), tick=True)
    return middle


def login(client: Client, email: str, password: str, ip: str = "203.0.113.1"):
    return client.post(
        TOKEN, {"email": email, "password": password}, content_type="application/json", REMOTE_ADDR=ip
    )


def test_wrong_passwords_from_different_addresses_add_up_then_even_the_right_one_is_refused(
    api_client: Client, mid_window: float
) -> None:
    make_user(email="ada@example.com")

    wrong = [
        login(api_client, "ada@example.com", "guess", ip=f"198.51.100.{n}").status_code for n in range(3)
    ]
    refused = login(api_client, "ada@example.com", DEFAULT_PASSWORD, ip="192.0.2.77")

    assert wrong == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.json() == {"detail": LOCKED, "code": "throttled"}
    # 7.5 minutes of the window are left (the clock runs, so a second may have gone)
    assert WINDOW / 2 - 5 <= int(refused["Retry-After"]) <= WINDOW / 2 + 1
    assert "access" not in refused.json()


def test_the_address_typed_is_normalised_so_case_and_spaces_do_not_open_new_budgets(
    api_client: Client, mid_window: float
) -> None:
    make_user(email="ada@example.com")

    for typed in ("ada@example.com", "ADA@example.com", " Ada@Example.COM "):
        assert login(api_client, typed, "guess").status_code == 401

    assert login(api_client, "ada@example.com", DEFAULT_PASSWORD).status_code == 429


def test_an_address_without_an_account_is_limited_the_same_way(api_client: Client, mid_window: float) -> None:
    """Otherwise the lockout would tell which addresses have an account."""
    statuses = [login(api_client, "nobody@example.com", "guess").status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]


def test_the_lockout_is_per_account(api_client: Client, mid_window: float) -> None:
    make_user(email="ada@example.com")
    make_user(email="bob@example.com")
    for _ in range(3):
        login(api_client, "ada@example.com", "guess")

    assert login(api_client, "bob@example.com", DEFAULT_PASSWORD).status_code == 200
    assert login(api_client, "ada@example.com", DEFAULT_PASSWORD).status_code == 429


def test_right_passwords_do_not_fill_the_budget_and_reset_nothing(
    api_client: Client, mid_window: float
) -> None:
    make_user(email="ada@example.com")
    make_user(email="mallory@example.com")

    ok = [login(api_client, "ada@example.com", DEFAULT_PASSWORD).status_code for _ in range(5)]
    wrong = [login(api_client, "ada@example.com", "guess").status_code for _ in range(2)]
    # the attacker's own successful logins (and the owner's) do not clear the count
    login(api_client, "mallory@example.com", DEFAULT_PASSWORD)
    assert login(api_client, "ada@example.com", DEFAULT_PASSWORD).status_code == 200
    third = login(api_client, "ada@example.com", "guess")

    assert ok == [200] * 5
    assert wrong == [401, 401]
    assert third.status_code == 401
    assert login(api_client, "ada@example.com", DEFAULT_PASSWORD).status_code == 429


def test_the_lockout_ends_with_its_window_and_refusals_do_not_extend_it(
    api_client: Client, mid_window: float, time_machine: TimeMachineFixture
) -> None:
    make_user(email="ada@example.com")
    for _ in range(3):
        login(api_client, "ada@example.com", "guess")
    refusals = [login(api_client, "ada@example.com", "guess").status_code for _ in range(20)]

    time_machine.move_to(datetime.fromtimestamp(mid_window + WINDOW / 2 + 1, UTC), tick=True)

    assert refusals == [429] * 20
    assert login(api_client, "ada@example.com", DEFAULT_PASSWORD).status_code == 200


def test_the_count_lives_in_redis_and_expires_with_its_window(api_client: Client, settings) -> None:
    """A real 2-second window: the counter's key carries a TTL of about the window, and once the window
    has passed the account answers again (nothing is slept beyond it)."""
    settings.LOGIN_FAILURE_RATE = "2/2s"
    make_user(email="ada@example.com")
    while time.time() % 2 > 0.5:  # start at the beginning of a 2-second window
        time.sleep(0.05)

    statuses = [login(api_client, "ada@example.com", "guess").status_code for _ in range(3)]
    redis = cache._cache.get_client()
    keys = redis.keys("*identity:password-failures:*")
    ttls = [redis.ttl(key) for key in keys]
    time.sleep(2.1)

    assert statuses == [401, 401, 429]
    assert len(keys) == 1
    assert all(0 < ttl <= 3 for ttl in ttls)
    assert login(api_client, "ada@example.com", DEFAULT_PASSWORD).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_cannot_pass_the_limit(settings) -> None:
    """Each check takes its slot atomically before the hash: 20 guesses at once on a budget of 5 get
    exactly 5 password checks."""
    settings.LOGIN_FAILURE_RATE = "5/hour"
    make_user(email="ada@example.com")

    def guess(index: int) -> int:
        return login(Client(), "ada@example.com", f"guess-{index}", ip=f"198.51.100.{index}").status_code

    statuses = run_together(guess, 20, timeout=60)

    assert sorted(statuses) == [401] * 5 + [429] * 15
    cache.clear()


def test_wrong_current_passwords_count_against_the_account(api_client: Client, mid_window: float) -> None:
    """A stolen access token is not a way to guess the password: password change and account deletion
    share the account's budget with the login."""
    user = make_user(email="ada@example.com")
    headers = auth_headers(user)
    change = {"current_password": "guess", "new_password": "a-New-passphrase-77"}

    first = api_client.post(
        "/api/accounts/users/me/password/", change, content_type="application/json", headers=headers
    )
    second = api_client.delete(
        "/api/accounts/users/me/", {"password": "guess"}, content_type="application/json", headers=headers
    )
    third = login(api_client, "ada@example.com", "guess")
    refused_change = api_client.post(
        "/api/accounts/users/me/password/",
        {"current_password": DEFAULT_PASSWORD, "new_password": "a-New-passphrase-77"},
        content_type="application/json",
        headers=headers,
    )
    refused_delete = api_client.delete(
        "/api/accounts/users/me/",
        {"password": DEFAULT_PASSWORD},
        content_type="application/json",
        headers=headers,
    )

    assert (first.status_code, second.status_code, third.status_code) == (422, 422, 401)
    assert refused_change.status_code == 429
    assert refused_change.json()["code"] == "throttled"
    assert int(refused_change["Retry-After"]) >= 1
    assert refused_delete.status_code == 429
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)  # nothing changed, nothing deleted


def test_a_password_reset_through_the_emailed_link_lifts_the_lockout(
    api_client: Client, mid_window: float, django_capture_on_commit_callbacks
) -> None:
    user = make_user(email="ada@example.com")
    for _ in range(3):
        login(api_client, "ada@example.com", "guess")
    assert login(api_client, "ada@example.com", DEFAULT_PASSWORD).status_code == 429

    with django_capture_on_commit_callbacks(execute=True):  # the reset's transaction commits
        confirmed = api_client.post(
            "/api/auth/password-reset/confirm/",
            {"token": services.make_password_reset_token(user), "new_password": "a-New-passphrase-77"},
            content_type="application/json",
        )

    assert confirmed.status_code == 200
    assert login(api_client, "ada@example.com", "a-New-passphrase-77").status_code == 200


@override_settings(THROTTLES_ENABLED=False)
def test_throttles_enabled_false_turns_the_account_limit_off(api_client: Client) -> None:
    make_user(email="ada@example.com")

    statuses = {login(api_client, "ada@example.com", "guess").status_code for _ in range(6)}

    assert statuses == {401}
    assert login(api_client, "ada@example.com", DEFAULT_PASSWORD).status_code == 200


def test_the_lockout_is_logged_once_without_the_address_or_any_password(
    api_client: Client, mid_window: float, caplog: pytest.LogCaptureFixture
) -> None:
    from config.logging import JsonFormatter

    user = make_user(email="ada@example.com")
    with caplog.at_level(logging.INFO, logger="modules.identity.services.lockout"):
        for n in range(6):
            login(api_client, "ada@example.com", f"secret-guess-{n}")

    lines = [JsonFormatter().format(record) for record in caplog.records if "locked" in record.getMessage()]
    assert len(lines) == 1
    logged = json.loads(lines[0])
    assert logged["level"] == "WARNING"
    assert logged["user_id"] == user.pk
    assert "secret-guess" not in lines[0]
    assert "ada@example.com" not in lines[0]
    assert User.objects.filter(pk=user.pk).exists()
