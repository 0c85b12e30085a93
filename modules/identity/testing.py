"""Factories other modules' tests may use (the only other public door of identity)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from modules.identity.models import Subscription, SubscriptionChange, User
from modules.identity.services import issue_tokens
from modules.identity.tiers import Tier

DEFAULT_PASSWORD = "correct-horse-battery-staple"  # noqa: S105


def make_user(
    *,
    email: str | None = None,
    tier: str = Tier.BASIC,
    verified: bool = True,
    password: str = DEFAULT_PASSWORD,
    is_staff: bool = False,
    **fields: Any,
) -> User:
    if email is None:
        email = f"user{User.objects.count() + 1}-{timezone.now().timestamp():.6f}@example.com"
    user = User.objects.create_user(
        email=email, password=password, is_email_verified=verified, is_staff=is_staff, **fields
    )
    Subscription.objects.create(user=user, tier=tier)
    SubscriptionChange.objects.create(user=user, from_tier="", to_tier=tier, source="test")
    return user


def make_admin(**fields: Any) -> User:
    return make_user(is_staff=True, **fields)


def auth_headers(user: User) -> dict[str, str]:
    """Headers for Django's test client: ``client.get(url, headers=auth_headers(user))``."""
    return {"Authorization": f"Bearer {issue_tokens(user).access}"}
