"""The demo account ``make run`` seeds."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.db import transaction

from modules.identity.models import User
from modules.identity.services.tiers import open_subscription
from modules.identity.tiers import Tier


@dataclass(frozen=True)
class DemoUser:
    user: User
    created: bool
    password: str | None


@transaction.atomic
def ensure_demo_user(*, email: str) -> DemoUser:
    """The verified PRO demo account; its random password is returned only when it is created."""
    existing = User.objects.filter(email=User.objects.normalize_email(email)).first()
    if existing is not None:
        return DemoUser(user=existing, created=False, password=None)
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user(email=email, password=password, is_email_verified=True, first_name="Demo")
    open_subscription(user=user, tier=Tier.PRO, source="seed")
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return DemoUser(user=user, created=True, password=password)
