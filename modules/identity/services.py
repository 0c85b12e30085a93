"""Identity's facade: users, tiers, tokens, the email outbox. Other modules call only this.

Public functions other modules use: ``tier_spec_for``, ``effective_tier``, ``ensure_email_verified``,
``require_admin``, ``send_email``, ``issue_tokens``, the counts and DTO readers at the end
(``count_users``, ``count_signups``, ``count_failed_emails``, ``users_by_tier``, ``tier_changes``,
``tier_for_user_ids``, ``users_due_for_reminder``) and ``ensure_demo_user``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from modules.common.cache import CacheUnavailable
from modules.common.errors import (
    EmailNotVerified,
    EmailTaken,
    Forbidden,
    InvalidToken,
    TokenInvalid,
    ValidationFailed,
)
from modules.identity import google, selectors, tokens
from modules.identity.models import EmailLog, Subscription, SubscriptionChange, User
from modules.identity.tiers import TIER_SPECS, Tier, TierSpec
from modules.identity.tokens import TokenPair

logger = logging.getLogger(__name__)

__all__ = [
    "Login",
    "ReminderRecipient",
    "SubscriptionInfo",
    "Tier",
    "TierChange",
    "TierSpec",
    "TokenPair",
    "User",
    "UserSummary",
    "change_tier",
    "count_failed_emails",
    "count_signups",
    "count_users",
    "effective_tier",
    "ensure_email_verified",
    "issue_tokens",
    "require_admin",
    "send_email",
    "tier_change_counts",
    "tier_changes",
    "tier_for_user_ids",
    "tier_spec_for",
    "timezones_for_user_ids",
    "users_by_tier",
    "users_due_for_reminder",
]

VERIFY_EMAIL_TEMPLATE = "identity/email/verify_email"
PASSWORD_RESET_TEMPLATE = "identity/email/password_reset"  # noqa: S105 (a template path)
# One email of a kind per address and minute at most, whatever the throttles allow.
EMAIL_COOLDOWN_SECONDS = 60
WRONG_CREDENTIALS = "No active account found with the given credentials."


@dataclass(frozen=True)
class UserSummary:
    id: int
    email: str
    subscription_tier: str
    is_email_verified: bool


# --- Tiers ---------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class SubscriptionInfo:
    tier: Tier
    limits: TierSpec
    started_at: datetime
    expires_at: datetime | None


def subscription_info(user: User) -> SubscriptionInfo:
    sub = _subscription(user)
    tier = effective_tier(user)
    return SubscriptionInfo(
        tier=tier,
        limits=TIER_SPECS[tier],
        started_at=sub.started_at if sub is not None else user.date_joined,
        expires_at=sub.expires_at if sub is not None else None,
    )


@transaction.atomic
def change_tier(
    *, user: User, tier: Tier | str, source: str, expires_at: datetime | None = None
) -> SubscriptionChange | None:
    """Put the user on ``tier`` (until ``expires_at``, or open-ended) and record the change.

    The row is locked, so concurrent changes are recorded one after the other with the right
    ``from_tier`` (the tier that counted before: an expired PRO changes from FREE). Setting the tier
    the user already has, with the same expiry, changes and records nothing (returns None).
    """
    new_tier = Tier(tier)
    sub = Subscription.objects.select_for_update().filter(user=user).first()
    now = timezone.now()
    if sub is None:
        previous = Tier.FREE
        sub = Subscription(user=user)
        unchanged = False
    else:
        user.subscription = sub
        previous = effective_tier(user, at=now)
        unchanged = previous == new_tier and sub.expires_at == expires_at and sub.is_active
    if unchanged:
        return None
    sub.tier = new_tier
    sub.started_at = now
    sub.expires_at = expires_at
    sub.is_active = True
    sub.save()
    user.subscription = sub
    return SubscriptionChange.objects.create(
        user=user, from_tier=previous.value, to_tier=new_tier.value, changed_at=now, source=source[:40]
    )


def change_tier_by_email(*, email: str, tier: Tier | str, source: str, days: int | None = None) -> User:
    """``manage.py set_tier``: raises User.DoesNotExist for an unknown address."""
    user = User.objects.select_related("subscription").get(email=User.objects.normalize_email(email))
    expires_at = timezone.now() + timedelta(days=days) if days else None
    change_tier(user=user, tier=tier, source=source, expires_at=expires_at)
    return user


# --- Checks other modules call -------------------------------------------------------------------


def ensure_email_verified(user: User) -> None:
    """Raises EmailNotVerified for users who have not confirmed their address yet."""
    if not user.is_email_verified:
        raise EmailNotVerified()


def require_admin(user: User) -> None:
    """Raises Forbidden unless the user is staff (admin routes answer 403 ``forbidden`` otherwise)."""
    if not (user.is_active and user.is_staff):
        raise Forbidden()


def summary(user: User) -> UserSummary:
    return UserSummary(
        id=user.pk,
        email=user.email,
        subscription_tier=effective_tier(user).value,
        is_email_verified=user.is_email_verified,
    )


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
    """Queue a templated email; returns the EmailLog id.

    The message is rendered now (so the context may hold any object the templates can read) and
    stored on its EmailLog; the worker sends it after the surrounding transaction commits, and
    retries it with backoff when the email backend fails (see outbox.deliver).
    """
    subject, text, html = render_email(template, context)
    log = EmailLog.objects.create(
        to=to, template=template[:120], subject=subject[:255], body_text=text, body_html=html
    )
    transaction.on_commit(lambda: _enqueue_delivery(log.pk))
    return log.pk


def _enqueue_delivery(log_id: int) -> None:
    from django_q.tasks import async_task

    async_task("modules.identity.tasks.deliver_email", log_id, task_name=f"email-{log_id}")


def _enqueue(func: str, *args: Any) -> None:
    from django_q.tasks import async_task

    async_task(func, *args)


def _first_send_in_cooldown(kind: str, email: str) -> bool:
    try:
        return bool(cache.add(f"identity:email-cooldown:{kind}:{email}", 1, timeout=EMAIL_COOLDOWN_SECONDS))
    except CacheUnavailable:  # the cooldown only spares inboxes; the email must not be lost
        return True


def _frontend_link(path: str, token: str) -> str:
    return f"{settings.FRONTEND_URL}{path}?{urlencode({'token': token})}"


# --- Tokens ------------------------------------------------------------------------------------


def issue_tokens(user: User) -> TokenPair:
    """A fresh refresh/access pair carrying the user's current token version (and nothing secret)."""
    return tokens.issue_pair(user)


@dataclass(frozen=True)
class Login:
    tokens: TokenPair
    user: UserSummary


def obtain_tokens(*, email: str, password: str) -> Login:
    """Email + password -> tokens. The same answer for every kind of failure, and about the same time:
    Django's ModelBackend hashes the given password even when no account has that email."""
    user = authenticate(email=User.objects.normalize_email(email), password=password)
    if user is None:
        raise TokenInvalid(WRONG_CREDENTIALS)
    return Login(tokens=issue_tokens(user), user=summary(user))


def refresh_tokens(*, refresh: str) -> TokenPair:
    """Rotate a refresh token: a new pair, the old refresh blacklisted (reuse -> TokenInvalid)."""
    _, pair = tokens.rotate(refresh)
    return pair


def logout(*, user: User, refresh: str) -> None:
    tokens.blacklist(user=user, raw_refresh=refresh)


def revoke_all_sessions(user: User) -> None:
    """Every access and refresh token of the user stops working (password reset or change, admin)."""
    tokens.revoke_all(user)


# --- Registration and email verification ---------------------------------------------------------


def _field_error(field: str, message: str, kind: str) -> dict[str, Any]:
    # The shape of Ninja's own 422 entries, so clients read every validation error the same way.
    return {"type": kind, "loc": ["body", "payload", field], "msg": message}


def _validate_new_password(password: str, *, user: User, field: str) -> None:
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            [_field_error(field, message, "weak_password") for message in exc.messages]
        ) from exc


def _check_current_password(user: User, password: str, *, field: str) -> None:
    if not user.check_password(password):
        raise ValidationFailed([_field_error(field, "The password is not correct.", "invalid_password")])


def register(
    *, email: str, password: str, first_name: str = "", last_name: str = "", timezone_name: str = "UTC"
) -> User:
    """Create an unverified FREE account and email it a verification link (valid 3 days)."""
    email = User.objects.normalize_email(email)
    candidate = User(email=email, first_name=first_name, last_name=last_name, timezone=timezone_name)
    _validate_new_password(password, user=candidate, field="password")
    if User.objects.filter(email=email).exists():
        raise EmailTaken()
    candidate.set_password(password)
    with transaction.atomic():
        try:
            with transaction.atomic():
                candidate.save()
        except IntegrityError as exc:  # a concurrent registration with the same address won
            raise EmailTaken() from exc
        sub = Subscription.objects.create(user=candidate, tier=Tier.FREE)
        candidate.subscription = sub
        SubscriptionChange.objects.create(
            user=candidate, from_tier="", to_tier=Tier.FREE, source="registration"
        )
        address = EmailAddress.objects.create(user=candidate, email=email, primary=True, verified=False)
        _send_verification(candidate, address)
    return candidate


def _send_verification(user: User, address: EmailAddress) -> None:
    key = EmailConfirmationHMAC(address).key
    send_email(
        to=address.email,
        template=VERIFY_EMAIL_TEMPLATE,
        context={
            "first_name": user.first_name,
            "link": _frontend_link("/verify-email", key),
            "token": key,
            "expires_days": settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS,
        },
    )


def _primary_address(user: User) -> EmailAddress:
    address = EmailAddress.objects.filter(user=user, email=user.email).first()
    if address is None:
        address = EmailAddress.objects.create(
            user=user, email=user.email, primary=True, verified=user.is_email_verified
        )
    return address


@transaction.atomic
def _mark_verified(user: User) -> None:
    """The fast flag on User and allauth's EmailAddress say the same thing."""
    User.objects.filter(pk=user.pk).update(is_email_verified=True)
    user.is_email_verified = True
    updated = EmailAddress.objects.filter(user=user, email=user.email).update(verified=True, primary=True)
    if not updated:
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)


@transaction.atomic
def verify_email(*, token: str) -> User:
    """Confirm an address with the token of its email. Valid 3 days, single use."""
    confirmation = EmailConfirmationHMAC.from_key(token)  # None: bad signature, expired, or verified
    if confirmation is None:
        raise InvalidToken()
    address = confirmation.email_address
    # Single use even under concurrent calls: only one UPDATE finds the address still unverified.
    if not EmailAddress.objects.filter(pk=address.pk, verified=False).update(verified=True):
        raise InvalidToken()
    user = User.objects.select_related("subscription").get(pk=address.user_id)
    if address.email != user.email or not user.is_active:
        raise InvalidToken()
    EmailAddress.objects.filter(user=user, primary=True).exclude(pk=address.pk).update(primary=False)
    EmailAddress.objects.filter(pk=address.pk).update(primary=True)
    User.objects.filter(pk=user.pk).update(is_email_verified=True)
    user.is_email_verified = True
    return user


def request_verification_email(*, email: str) -> None:
    """Resend the verification email. The work happens on the queue, so the answer (202) takes the
    same time whether or not the address has an account."""
    _enqueue("modules.identity.tasks.send_verification_email", User.objects.normalize_email(email))


def send_verification_email(*, email: str) -> bool:
    """Task body: email a new verification link to an active, unverified account. False when skipped."""
    user = selectors.active_user_by_email(email)
    if user is None or user.is_email_verified or not _first_send_in_cooldown("verify", email):
        return False
    _send_verification(user, _primary_address(user))
    return True


# --- Password reset and change -------------------------------------------------------------------


def _reset_token_generator() -> Any:
    # allauth's generator: Django's (user, password hash, last login, timestamp) plus every address
    # of the user; a token dies when the password changes (single use) or after
    # settings.PASSWORD_RESET_TIMEOUT (1 hour).
    from allauth.account.forms import default_token_generator

    return default_token_generator


def make_password_reset_token(user: User) -> str:
    from allauth.account.utils import user_pk_to_url_str

    return f"{user_pk_to_url_str(user)}-{_reset_token_generator().make_token(user)}"


def request_password_reset(*, email: str) -> None:
    """Queue the reset email; the answer (202) is the same, in the same time, for every address."""
    _enqueue("modules.identity.tasks.send_password_reset", User.objects.normalize_email(email))


def send_password_reset(*, email: str) -> bool:
    """Task body: email a reset link (valid 1 hour, single use) to an active account."""
    user = selectors.active_user_by_email(email)
    if user is None or not _first_send_in_cooldown("reset", email):
        return False
    token = make_password_reset_token(user)
    send_email(
        to=user.email,
        template=PASSWORD_RESET_TEMPLATE,
        context={
            "first_name": user.first_name,
            "link": _frontend_link("/reset-password", token),
            "token": token,
            "expires_minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
        },
    )
    return True


@transaction.atomic
def confirm_password_reset(*, token: str, new_password: str) -> User:
    """Set a new password with a reset token; every session of the user ends. Proving the inbox is
    reachable also verifies the address."""
    from allauth.account.utils import url_str_to_user_pk

    uid, _, key = token.partition("-")
    try:
        user_pk = url_str_to_user_pk(uid)
    except (ValueError, OverflowError, DjangoValidationError) as exc:
        raise InvalidToken() from exc
    # Locked: a concurrent confirm with the same token waits, then finds the password changed.
    user = User.objects.select_for_update().filter(pk=user_pk, is_active=True).first()
    if user is None or not key or not _reset_token_generator().check_token(user, key):
        raise InvalidToken()
    _validate_new_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    _mark_verified(user)
    revoke_all_sessions(user)
    return user


@transaction.atomic
def change_password(*, user: User, current_password: str, new_password: str) -> None:
    """Change the password; every session ends, this one included (log in again with the new one)."""
    _check_current_password(user, current_password, field="current_password")
    _validate_new_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    revoke_all_sessions(user)


# --- Profile and account -------------------------------------------------------------------------

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "timezone",
    "daily_reminder_hour",
    "notifications_enabled",
    "scheduler",
    "desired_retention",
)


def update_profile(*, user: User, changes: dict[str, Any]) -> User:
    """Apply validated profile changes (schema-checked ranges and choices; names in PROFILE_FIELDS)."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed(
            [_field_error(name, "This field cannot be changed.", "read_only") for name in sorted(unknown)]
        )
    if not changes:
        return user
    for name, value in changes.items():
        setattr(user, name, value)
    user.save(update_fields=list(changes))
    return user


@transaction.atomic
def delete_account(*, user: User) -> None:
    """Delete the account and, through cascades, everything it owns; its email log entries too."""
    EmailLog.objects.filter(to=user.email).delete()
    tokens.forget(user)
    user.delete()


def delete_account_with_password(*, user: User, password: str) -> None:
    _check_current_password(user, password, field="password")
    delete_account(user=user)


# --- Google sign-in --------------------------------------------------------------------------------

GOOGLE_PROVIDER = "google"


def google_sign_in(*, id_token: str) -> Login:
    """Sign in (or up) with a Google ID token: same answer as ``obtain_tokens``."""
    identity = google.verify_id_token(id_token)
    try:
        user = _google_user(identity)
    except IntegrityError:
        # A concurrent first sign-in (or registration) created the rows first: read them.
        user = _google_user(identity)
    if not user.is_active:
        raise TokenInvalid(WRONG_CREDENTIALS)
    return Login(tokens=issue_tokens(user), user=summary(user))


@transaction.atomic
def _google_user(identity: google.GoogleIdentity) -> User:
    account = (
        SocialAccount.objects.select_related("user", "user__subscription")
        .filter(provider=GOOGLE_PROVIDER, uid=identity.sub)
        .first()
    )
    if account is not None:
        account.extra_data = identity.claims
        account.save(update_fields=["extra_data", "last_login"])
        return account.user
    user = (
        User.objects.select_related("subscription")
        .select_for_update(of=("self",))
        .filter(email=identity.email)
        .first()
    )
    if user is None:
        user = User(
            email=identity.email,
            first_name=identity.given_name,
            last_name=identity.family_name,
            is_email_verified=True,
        )
        user.set_unusable_password()
        user.save()
        user.subscription = Subscription.objects.create(user=user, tier=Tier.FREE)
        SubscriptionChange.objects.create(user=user, from_tier="", to_tier=Tier.FREE, source="google")
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    elif not user.is_email_verified:
        # Someone registered this address with a password but never proved they own it; Google just
        # proved the signer does. Drop that password and its sessions, so a squatter who registered
        # first keeps no way in (account pre-hijacking).
        user.set_unusable_password()
        user.save(update_fields=["password"])
        revoke_all_sessions(user)
        _mark_verified(user)
    SocialAccount.objects.create(
        user=user, provider=GOOGLE_PROVIDER, uid=identity.sub, extra_data=identity.claims
    )
    return user


# --- Demo account --------------------------------------------------------------------------------


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
    Subscription.objects.create(user=user, tier=Tier.PRO)
    SubscriptionChange.objects.create(user=user, from_tier="", to_tier=Tier.PRO, source="seed")
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return DemoUser(user=user, created=True, password=password)


# --- Readers for other modules (analytics, ops, reminders) -----------------------------------------


@dataclass(frozen=True)
class TierChange:
    user_id: int
    from_tier: str  # "" for an account's first tier
    to_tier: str
    changed_at: datetime
    source: str


@dataclass(frozen=True)
class ReminderRecipient:
    id: int
    email: str
    timezone: str
    first_name: str


def count_users() -> int:
    """Active accounts."""
    return selectors.count_users()


def count_signups(*, since: datetime) -> int:
    return selectors.count_signups(since=since)


def count_failed_emails(*, since: datetime) -> int:
    """Emails whose latest delivery attempt failed at or after ``since`` (given up, or to be retried)."""
    return selectors.count_failed_emails(since=since)


def users_by_tier() -> dict[str, int]:
    """Active accounts per effective tier (expired or deactivated subscriptions count as FREE);
    every tier is present, with 0 when nobody is on it."""
    return selectors.users_by_tier(now=timezone.now())


def tier_changes(*, since: datetime) -> list[TierChange]:
    """Tier changes at or after ``since``, oldest first (first tiers of new accounts included,
    with ``from_tier == ""``)."""
    return [
        TierChange(
            user_id=change.user_id,
            from_tier=change.from_tier,
            to_tier=change.to_tier,
            changed_at=change.changed_at,
            source=change.source,
        )
        for change in selectors.tier_changes(since=since)
    ]


def tier_change_counts(*, since: datetime) -> dict[tuple[str, str], int]:
    """How many tier changes at or after ``since`` went from one tier to another, keyed by
    ``(from_tier, to_tier)``; ``from_tier`` is ``""`` for new accounts' first tier. One query."""
    return selectors.tier_change_counts(since=since)


def timezones_for_user_ids(ids: Iterable[int]) -> dict[int, str]:
    """The IANA time zone of each existing user id (one query); unknown ids are left out."""
    return selectors.timezones_for_user_ids(ids)


def tier_for_user_ids(ids: Iterable[int]) -> dict[int, str]:
    """Effective tier of each existing user id (one query); unknown ids are left out."""
    return selectors.tier_for_user_ids(ids, now=timezone.now())


def users_due_for_reminder(*, utc_now: datetime) -> list[ReminderRecipient]:
    """Users to remind at ``utc_now``: notifications on, email verified, active, and it is their
    ``daily_reminder_hour`` in their own time zone. Two queries."""
    return [
        ReminderRecipient(id=user.pk, email=user.email, timezone=user.timezone, first_name=user.first_name)
        for user in selectors.reminder_candidates(utc_now=utc_now).only(
            "id", "email", "timezone", "first_name"
        )
    ]
