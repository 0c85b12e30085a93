"""Request bodies accept only what they declare: no privilege, tier or identity through extra fields."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.identity.models import User
from modules.identity.testing import auth_headers, make_user
from modules.identity.tiers import Tier

pytestmark = pytest.mark.django_db

PRIVILEGED = [
    {"is_staff": True},
    {"is_superuser": True},
    {"is_active": False},
    {"token_version": 99},
    {"password": "new-Passphrase-12345"},
    {"id": 1},
    {"email": "mallory@example.com"},
    {"subscription_tier": "PRO"},
    {"is_email_verified": True},
    {"date_joined": "2001-01-01T00:00:00Z"},
]


@pytest.mark.parametrize("field", PRIVILEGED, ids=lambda f: next(iter(f)))
def test_patch_me_with_a_read_only_or_unknown_field_answers_422(api_client: Client, field: dict) -> None:
    user = make_user(email="ada@example.com", tier=Tier.FREE, verified=False)

    response = api_client.patch(
        "/api/accounts/users/me/",
        {"first_name": "Ada", **field},
        content_type="application/json",
        headers=auth_headers(user),
    )

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    fresh = User.objects.select_related("subscription").get(pk=user.pk)
    assert (fresh.first_name, fresh.email, fresh.is_staff, fresh.is_email_verified, fresh.token_version) == (
        "",
        "ada@example.com",
        False,
        False,
        user.token_version,
    )
    assert fresh.subscription.tier == "FREE"


@pytest.mark.parametrize(
    "field", [{"is_staff": True}, {"is_email_verified": True}, {"subscription_tier": "PRO"}]
)
def test_register_with_a_privileged_field_answers_422(api_client: Client, field: dict) -> None:
    response = api_client.post(
        "/api/auth/register/",
        {"email": "ada@example.com", "password": "a-Long-enough-passphrase-42", **field},
        content_type="application/json",
    )

    assert response.status_code == 422
    assert not User.objects.exists()


def test_token_obtain_with_extra_fields_answers_422(api_client: Client) -> None:
    response = api_client.post(
        "/api/auth/token/",
        {"email": "ada@example.com", "password": "x", "user_id": 1},
        content_type="application/json",
    )

    assert response.status_code == 422
