"""Identity's facade: users, tiers, tokens, the email outbox. Other modules call only this."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from modules.common.errors import EmailNotVerified
from modules.identity.models import EmailLog, Subscription, SubscriptionChange, User
from modules.identity.tiers import TIER_SPECS, Tier, TierSpec

logger = logging.getLogger(__name__)

__all__ = [
    "Tier",
    "TierSpec",
    "User",
    "effective_tier",
    "ensure_email_verified",
    "send_email",
    "tier_spec_for",
]


@dataclass(frozen=True)
class UserSummary:
    id: int
    email: str
    subscription_tier: str
    is_email_verified: bool


def _subscription(user: User) -> Subscription | None:
    try:
        return user.subscription
    except Subscription.DoesNotExist:
        return None


def effective_tier(user: User, *, at: datetime | None = None) -> Tier:
    """The tier that counts now: an expired or deactivated subscription counts as FREE."""
    sub = _subscription(user)
    if sub is None or not sub.is_active:
        return Tier.FREE
    if sub.expires_at is not None and sub.expires_at <= (at or timezone.now()):
        return Tier.FREE
    return Tier(sub.tier)


def tier_spec_for(user: User) -> TierSpec:
    return TIER_SPECS[effective_tier(user)]


def ensure_email_verified(user: User) -> None:
    """Raises EmailNotVerified for users who have not confirmed their address yet."""
    if not user.is_email_verified:
        raise EmailNotVerified()


def summary(user: User) -> UserSummary:
    return UserSummary(
        id=user.pk,
        email=user.email,
        subscription_tier=effective_tier(user).value,
        is_email_verified=user.is_email_verified,
    )


# --- The email outbox ---------------------------------------------------------------------------


def render_email(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) from the templates ``<template>_subject.txt``, ``<template>_body.txt`` and
    ``<template>_body.html``; a template name is a path under an app's ``templates/`` folder, such as
    ``identity/email/verify_email`` or ``learning/email/review_reminder``."""
    ctx = {"site_url": settings.SITE_URL, "frontend_url": settings.FRONTEND_URL, **context}
    subject = " ".join(render_to_string(f"{template}_subject.txt", ctx).split())
    text = render_to_string(f"{template}_body.txt", ctx)
    html = render_to_string(f"{template}_body.html", ctx)
    return subject, text, html


def send_email(*, to: str, template: str, context: dict[str, Any]) -> int:
    """Queue a templated email; returns the EmailLog id. Sent by the worker after the transaction commits."""
    subject, _, _ = render_email(template, context)
    log = EmailLog.objects.create(to=to, template=template, subject=subject[:255])
    transaction.on_commit(lambda: _enqueue_delivery(log.pk, template, context))
    return log.pk


def _enqueue_delivery(log_id: int, template: str, context: dict[str, Any]) -> None:
    from django_q.tasks import async_task

    async_task("modules.identity.tasks.deliver_email", log_id, template, context, task_name=f"email-{log_id}")


# --- Tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def issue_tokens(user: User) -> TokenPair:
    """A fresh refresh/access pair carrying the user's current token version (and nothing secret)."""
    from ninja_jwt.tokens import RefreshToken

    from modules.identity.auth import TOKEN_VERSION_CLAIM

    refresh = RefreshToken.for_user(user)
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


@dataclass(frozen=True)
class Login:
    tokens: TokenPair
    user: UserSummary


def obtain_tokens(*, email: str, password: str) -> Login:
    """Email + password -> tokens. The same answer (and about the same time) for every kind of failure."""
    from django.contrib.auth import authenticate

    from modules.common.errors import TokenInvalid

    user = authenticate(email=(email or "").strip().lower(), password=password)
    if user is None or not user.is_active:
        raise TokenInvalid("No active account found with the given credentials.")
    user = User.objects.select_related("subscription").get(pk=user.pk)
    return Login(tokens=issue_tokens(user), user=summary(user))


def profile(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "timezone": user.timezone,
        "daily_reminder_hour": user.daily_reminder_hour,
        "notifications_enabled": user.notifications_enabled,
        "scheduler": user.scheduler,
        "desired_retention": user.desired_retention,
        "subscription_tier": effective_tier(user).value,
        "is_email_verified": user.is_email_verified,
        "date_joined": user.date_joined,
    }


@dataclass(frozen=True)
class DemoUser:
    user: User
    created: bool
    password: str | None


@transaction.atomic
def ensure_demo_user(*, email: str) -> DemoUser:
    """The verified PRO demo account; its random password is returned only when it is created."""
    import secrets

    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        return DemoUser(user=existing, created=False, password=None)
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user(email=email, password=password, is_email_verified=True, first_name="Demo")
    Subscription.objects.create(user=user, tier=Tier.PRO)
    SubscriptionChange.objects.create(user=user, from_tier="", to_tier=Tier.PRO, source="seed")
    return DemoUser(user=user, created=True, password=password)


def require_admin(user: User) -> None:
    """Raises Forbidden unless the user is staff (admin routes answer 403 ``forbidden`` otherwise)."""
    from modules.common.errors import Forbidden

    if not (user.is_active and user.is_staff):
        raise Forbidden()
