from __future__ import annotations

import pytest
from django.test import Client

from modules.identity import services
from modules.identity.testing import DEFAULT_PASSWORD, auth_headers, make_user
from modules.identity.tiers import Tier

pytestmark = pytest.mark.django_db


def test_obtain_token_returns_tokens_and_user_summary(api_client: Client) -> None:
    user = make_user(email="Ada@Example.com", tier=Tier.PRO)
    response = api_client.post(
        "/api/auth/token/",
        data={"email": "ADA@example.com", "password": DEFAULT_PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {
        "id": user.pk,
        "email": "ada@example.com",
        "subscription_tier": "PRO",
        "is_email_verified": True,
    }
    me = api_client.get("/api/accounts/users/me/", headers={"Authorization": f"Bearer {body['access']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"


@pytest.mark.parametrize("email", ["ada@example.com", "nobody@example.com"])
def test_wrong_credentials_answer_the_same_401(api_client: Client, email: str) -> None:
    make_user(email="ada@example.com")
    response = api_client.post(
        "/api/auth/token/",
        data={"email": email, "password": "wrong-password"},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert response.json() == {
        "detail": "No active account found with the given credentials.",
        "code": "invalid_credentials",
    }


def test_bumping_token_version_revokes_access_tokens(api_client: Client) -> None:
    user = make_user()
    headers = auth_headers(user)
    assert api_client.get("/api/accounts/users/me/", headers=headers).status_code == 200
    user.token_version += 1
    user.save(update_fields=["token_version"])
    response = api_client.get("/api/accounts/users/me/", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_deactivated_user_token_stops_working(api_client: Client) -> None:
    user = make_user()
    headers = auth_headers(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert api_client.get("/api/accounts/users/me/", headers=headers).status_code == 401


def test_expired_subscription_counts_as_free() -> None:
    from datetime import timedelta

    from django.utils import timezone

    user = make_user(tier=Tier.PRO)
    assert services.tier_spec_for(user).ai_questions_daily == 200
    user.subscription.expires_at = timezone.now() - timedelta(seconds=1)
    user.subscription.save()
    assert services.effective_tier(user) is Tier.FREE
    assert services.tier_spec_for(user).review_intervals == (1, 3)


def test_unverified_user_is_refused_by_the_facade_check() -> None:
    from modules.common.errors import EmailNotVerified

    with pytest.raises(EmailNotVerified):
        services.ensure_email_verified(make_user(verified=False))
    services.ensure_email_verified(make_user(verified=True))
