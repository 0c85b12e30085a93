from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule
from ninja_jwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from modules.identity import services, tasks
from modules.identity.apps import IdentityConfig
from modules.identity.testing import DEFAULT_PASSWORD, make_user
from modules.identity.tokens import fingerprint
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db


def post(client: Client, path: str, body: dict, **kwargs) -> object:
    return client.post(path, body, content_type="application/json", **kwargs)


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_obtain_token_records_the_refresh_token_as_outstanding_by_fingerprint(api_client: Client) -> None:
    user = make_user(email="ada@example.com")

    body = post(
        api_client, "/api/auth/token/", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}
    ).json()

    outstanding = OutstandingToken.objects.get(user=user)
    assert outstanding.jti == claims(body["refresh"])["jti"]
    assert outstanding.token == fingerprint(body["refresh"])
    assert body["refresh"] not in outstanding.token


def test_tokens_live_60_minutes_and_7_days(api_client: Client) -> None:
    user = make_user()
    pair = services.issue_tokens(user)

    access, refresh = claims(pair.access), claims(pair.refresh)

    assert access["exp"] - access["iat"] == 60 * 60
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    assert access["ver"] == refresh["ver"] == user.token_version


def test_refresh_answers_a_new_pair_and_blacklists_the_old_refresh(api_client: Client) -> None:
    user = make_user()
    pair = services.issue_tokens(user)

    response = post(api_client, "/api/auth/token/refresh/", {"refresh": pair.refresh})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert body["refresh"] != pair.refresh
    assert BlacklistedToken.objects.filter(token__jti=claims(pair.refresh)["jti"]).exists()
    # The rotated token is recorded too, so "revoke everything" can reach it.
    assert OutstandingToken.objects.filter(jti=claims(body["refresh"])["jti"], user=user).exists()
    me = api_client.get("/api/accounts/users/me/", headers={"Authorization": f"Bearer {body['access']}"})
    assert me.status_code == 200


def test_reusing_a_rotated_refresh_token_answers_401(api_client: Client) -> None:
    pair = services.issue_tokens(make_user())
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": pair.refresh}).status_code == 200

    again = post(api_client, "/api/auth/token/refresh/", {"refresh": pair.refresh})

    assert again.status_code == 401
    assert again.json()["code"] == "token_invalid"


def test_refresh_with_an_access_token_answers_401(api_client: Client) -> None:
    pair = services.issue_tokens(make_user())

    assert post(api_client, "/api/auth/token/refresh/", {"refresh": pair.access}).status_code == 401


def test_refresh_token_unknown_to_the_outstanding_table_answers_401(api_client: Client) -> None:
    pair = services.issue_tokens(make_user())
    OutstandingToken.objects.all().delete()

    assert post(api_client, "/api/auth/token/refresh/", {"refresh": pair.refresh}).status_code == 401


def test_refresh_checks_the_token_version(api_client: Client) -> None:
    user = make_user()
    pair = services.issue_tokens(user)
    user.token_version += 1
    user.save(update_fields=["token_version"])

    assert post(api_client, "/api/auth/token/refresh/", {"refresh": pair.refresh}).status_code == 401


@pytest.mark.parametrize("change", ["deactivated", "deleted"])
def test_refresh_of_a_deactivated_or_deleted_user_answers_401(api_client: Client, change: str) -> None:
    user = make_user()
    pair = services.issue_tokens(user)
    if change == "deactivated":
        user.is_active = False
        user.save(update_fields=["is_active"])
    else:
        user.delete()

    assert post(api_client, "/api/auth/token/refresh/", {"refresh": pair.refresh}).status_code == 401
    headers = {"Authorization": f"Bearer {pair.access}"}
    assert api_client.get("/api/accounts/users/me/", headers=headers).status_code == 401


def test_logout_blacklists_the_refresh_token_and_answers_204(api_client: Client) -> None:
    user = make_user()
    pair = services.issue_tokens(user)
    headers = {"Authorization": f"Bearer {pair.access}"}

    response = post(api_client, "/api/auth/logout/", {"refresh": pair.refresh}, headers=headers)

    assert response.status_code == 204
    assert response.content == b""
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": pair.refresh}).status_code == 401
    # Logging out twice is harmless.
    assert (
        post(api_client, "/api/auth/logout/", {"refresh": pair.refresh}, headers=headers).status_code == 204
    )


def test_logout_needs_an_access_token(api_client: Client) -> None:
    pair = services.issue_tokens(make_user())

    response = post(api_client, "/api/auth/logout/", {"refresh": pair.refresh})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_logout_with_someone_elses_refresh_token_answers_401_and_blacklists_nothing(
    api_client: Client,
) -> None:
    ada, bob = make_user(email="ada@example.com"), make_user(email="bob@example.com")
    bobs = services.issue_tokens(bob)
    headers = {"Authorization": f"Bearer {services.issue_tokens(ada).access}"}

    response = post(api_client, "/api/auth/logout/", {"refresh": bobs.refresh}, headers=headers)

    assert response.status_code == 401
    assert not BlacklistedToken.objects.exists()


@pytest.mark.parametrize("which", ["access", "garbage"])
def test_logout_with_something_other_than_a_refresh_token_answers_401(api_client: Client, which: str) -> None:
    pair = services.issue_tokens(make_user())
    headers = {"Authorization": f"Bearer {pair.access}"}
    token = pair.access if which == "access" else "not.a.jwt"

    assert post(api_client, "/api/auth/logout/", {"refresh": token}, headers=headers).status_code == 401


def test_revoke_all_sessions_blacklists_every_live_refresh_token_and_bumps_the_version() -> None:
    user = make_user()
    pairs = [services.issue_tokens(user) for _ in range(3)]
    version = user.token_version

    services.revoke_all_sessions(user)

    assert user.token_version == version + 1
    assert BlacklistedToken.objects.filter(token__user=user).count() == len(pairs)


def race_two_refreshes(token: str) -> list[int]:
    def refresh(_: int) -> int:
        return (
            Client()
            .post("/api/auth/token/refresh/", {"refresh": token}, content_type="application/json")
            .status_code
        )

    return run_together(refresh, 2, timeout=30)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refreshes_with_one_token_never_both_succeed() -> None:
    """Real threads, real PostgreSQL: both requests pass the token checks, then race on the row lock."""
    user = make_user()
    rounds = 5
    for _ in range(rounds):
        pair = services.issue_tokens(user)

        statuses = race_two_refreshes(pair.refresh)

        assert sorted(statuses) == [200, 401]
        jti = claims(pair.refresh)["jti"]
        assert BlacklistedToken.objects.filter(token__jti=jti).count() == 1
    assert OutstandingToken.objects.filter(user=user).count() == 2 * rounds


def test_flush_expired_tokens_task_deletes_only_expired_outstanding_tokens() -> None:
    user = make_user()
    live = services.issue_tokens(user)
    expired = services.issue_tokens(user)
    OutstandingToken.objects.filter(jti=claims(expired.refresh)["jti"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    tasks.flush_expired_tokens()

    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [claims(live.refresh)["jti"]]


def test_flush_expired_tokens_is_scheduled_daily() -> None:
    from django.core.management import call_command

    (spec,) = [spec for spec in IdentityConfig.schedules if spec.name == "identity.flush_expired_tokens"]
    assert spec.func == "modules.identity.tasks.flush_expired_tokens"
    assert len(spec.cron.split()) == 5 and spec.cron.split()[2:] == ["*", "*", "*"]

    call_command("setup_schedules", stdout=open("/dev/null", "w"))  # noqa: SIM115

    schedule = Schedule.objects.get(name=spec.full_name)
    assert schedule.func == spec.func
    assert schedule.schedule_type == Schedule.CRON


def test_jwt_settings_pin_hs256_and_rotation_with_blacklisting() -> None:
    assert settings.NINJA_JWT["ALGORITHM"] == "HS256"
    assert settings.NINJA_JWT["ROTATE_REFRESH_TOKENS"] and settings.NINJA_JWT["BLACKLIST_AFTER_ROTATION"]
    assert "ninja_jwt.token_blacklist" in settings.INSTALLED_APPS
