from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from django.utils import timezone
from ninja_jwt.token_blacklist.models import OutstandingToken

from modules.identity import services
from modules.identity.models import EmailLog, Subscription, SubscriptionChange, User
from modules.identity.testing import DEFAULT_PASSWORD, auth_headers, make_user
from modules.identity.tiers import Tier

pytestmark = pytest.mark.django_db

ME = "/api/accounts/users/me/"
WRITABLE = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "timezone": "Asia/Kolkata",
    "daily_reminder_hour": 7,
    "notifications_enabled": False,
    "scheduler": "fsrs",
    "desired_retention": 0.85,
}


def send(client: Client, method: str, body: dict, user: User) -> object:
    return getattr(client, method)(ME, body, content_type="application/json", headers=auth_headers(user))


def test_get_me_answers_the_whole_profile(api_client: Client) -> None:
    user = make_user(email="ada@example.com", tier=Tier.PRO, first_name="Ada")

    response = api_client.get(ME, headers=auth_headers(user))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "email",
        "first_name",
        "last_name",
        "timezone",
        "daily_reminder_hour",
        "notifications_enabled",
        "scheduler",
        "desired_retention",
        "subscription_tier",
        "is_email_verified",
        "date_joined",
    }
    assert body["subscription_tier"] == "PRO"
    assert body["scheduler"] == "ladder"
    assert body["desired_retention"] == 0.9
    assert body["date_joined"].endswith(("Z", "+00:00"))


def test_get_me_without_a_token_answers_401(api_client: Client) -> None:
    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_put_me_replaces_every_writable_field(api_client: Client) -> None:
    user = make_user()

    response = send(api_client, "put", WRITABLE, user)

    assert response.status_code == 200
    assert {name: response.json()[name] for name in WRITABLE} == WRITABLE
    user.refresh_from_db()
    assert (user.timezone, user.scheduler, user.desired_retention) == ("Asia/Kolkata", "fsrs", 0.85)


def test_put_me_with_a_missing_field_answers_422(api_client: Client) -> None:
    body = {name: value for name, value in WRITABLE.items() if name != "scheduler"}

    assert send(api_client, "put", body, make_user()).status_code == 422


def test_patch_me_changes_only_the_given_fields(api_client: Client) -> None:
    user = make_user(first_name="Ada", last_name="Byron")

    response = send(api_client, "patch", {"last_name": "Lovelace", "daily_reminder_hour": 0}, user)

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.daily_reminder_hour) == ("Ada", "Lovelace", 0)


def test_empty_patch_changes_nothing(api_client: Client) -> None:
    user = make_user(first_name="Ada")

    response = send(api_client, "patch", {}, user)

    assert response.status_code == 200
    assert response.json()["first_name"] == "Ada"


@pytest.mark.parametrize(
    "field",
    ["id", "email", "subscription_tier", "is_email_verified", "date_joined"],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_sending_a_read_only_field_answers_422_and_changes_nothing(
    api_client: Client, method: str, field: str
) -> None:
    user = make_user(email="ada@example.com", tier=Tier.FREE, verified=False)
    values = {
        "id": 999,
        "email": "mallory@example.com",
        "subscription_tier": "PRO",
        "is_email_verified": True,
        "date_joined": "2000-01-01T00:00:00Z",
    }

    response = send(api_client, method, {**WRITABLE, field: values[field]}, user)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    user.refresh_from_db()
    assert (user.email, user.is_email_verified, user.first_name) == ("ada@example.com", False, "")
    assert services.effective_tier(user) is Tier.FREE


@pytest.mark.parametrize(
    "change",
    [
        {"desired_retention": 0.69},
        {"desired_retention": 0.98},
        {"scheduler": "sm2"},
        {"daily_reminder_hour": 24},
        {"daily_reminder_hour": -1},
        {"timezone": "Not/A_Zone"},
        {"timezone": None},
        {"first_name": "x" * 151},
        {"is_staff": True},
        {"token_version": 0},
    ],
    ids=str,
)
def test_patch_me_rejects_out_of_range_or_unknown_values_with_422(api_client: Client, change: dict) -> None:
    user = make_user()

    response = send(api_client, "patch", change, user)

    assert response.status_code == 422
    user.refresh_from_db()
    assert not user.is_staff
    assert user.desired_retention == 0.9


@pytest.mark.parametrize("retention", [0.70, 0.97])
def test_desired_retention_bounds_are_inclusive(api_client: Client, retention: float) -> None:
    assert send(api_client, "patch", {"desired_retention": retention}, make_user()).status_code == 200


def test_delete_me_with_the_password_deletes_the_account_and_its_data(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    user = make_user(email="ada@example.com")
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    SocialAccount.objects.create(user=user, provider="google", uid="123")
    EmailLog.objects.create(to="ada@example.com", template="identity/email/verify_email", subject="hi")
    pair = services.issue_tokens(user)

    with django_capture_on_commit_callbacks(execute=True):  # the erasure, queued on commit, runs inline
        response = api_client.delete(
            ME, {"password": DEFAULT_PASSWORD}, content_type="application/json", headers=auth_headers(user)
        )

    assert response.status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Subscription.objects.filter(user_id=user.pk).exists()
    assert not SubscriptionChange.objects.filter(user_id=user.pk).exists()
    assert not EmailAddress.objects.filter(email="ada@example.com").exists()
    assert not SocialAccount.objects.exists()
    assert not EmailLog.objects.filter(to="ada@example.com").exists()
    assert not OutstandingToken.objects.exists()
    assert api_client.get(ME, headers={"Authorization": f"Bearer {pair.access}"}).status_code == 401


def test_delete_me_with_a_wrong_password_answers_422_and_keeps_the_account(api_client: Client) -> None:
    user = make_user()

    response = api_client.delete(
        ME, {"password": "wrong"}, content_type="application/json", headers=auth_headers(user)
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "password"]
    assert User.objects.filter(pk=user.pk).exists()


def test_delete_me_without_a_body_answers_422(api_client: Client) -> None:
    user = make_user()

    response = api_client.delete(ME, headers=auth_headers(user))

    assert response.status_code in (400, 422)
    assert User.objects.filter(pk=user.pk).exists()


def test_subscription_answers_tier_limits_and_dates(api_client: Client) -> None:
    user = make_user(tier=Tier.BASIC)

    response = api_client.get("/api/accounts/subscription/", headers=auth_headers(user))

    assert response.status_code == 200
    body = response.json()
    assert body["tier"] == "BASIC"
    assert body["limits"] == {
        "api_requests_per_hour": 1000,
        "ai_questions_daily": 30,
        "review_intervals": [1, 3, 7, 14, 30, 60, 90],
    }
    assert body["expires_at"] is None
    assert body["started_at"]


def test_subscription_past_its_expiry_answers_free_limits(api_client: Client) -> None:
    user = make_user(tier=Tier.PRO)
    expired = timezone.now() - timedelta(minutes=1)
    Subscription.objects.filter(user=user).update(expires_at=expired)

    body = api_client.get("/api/accounts/subscription/", headers=auth_headers(user)).json()

    assert body["tier"] == "FREE"
    assert body["limits"]["api_requests_per_hour"] == 500
    assert body["limits"]["review_intervals"] == [1, 3]
    assert body["expires_at"] is not None


def test_user_without_a_subscription_row_is_free(api_client: Client) -> None:
    user = User.objects.create_user(email="root@example.com", password=DEFAULT_PASSWORD)

    body = api_client.get("/api/accounts/subscription/", headers=auth_headers(user)).json()

    assert body["tier"] == "FREE"
    assert body["started_at"]
