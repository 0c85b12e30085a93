"""Accounts: registration and email verification, password reset and change, the profile, deletion,
and the checks other modules make on a user."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlencode

from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from modules.common.cache import CacheUnavailable
from modules.common.errors import (
    EmailNotVerified,
    EmailTaken,
    FieldError,
    Forbidden,
    InvalidToken,
    ValidationFailed,
)
from modules.identity import selectors, tokens
from modules.identity.models import EmailLog, User
from modules.identity.services.lockout import clear_password_failures, password_check
from modules.identity.services.outbox import send_email
from modules.identity.services.tiers import effective_tier, open_subscription
from modules.identity.tiers import Tier

VERIFY_EMAIL_TEMPLATE = "identity/email/verify_email"
PASSWORD_RESET_TEMPLATE = "identity/email/password_reset"  # noqa: S105 (a template path)
VERIFY_TASK = "modules.identity.tasks.send_verification_email"
RESET_TASK = "modules.identity.tasks.send_password_reset"
# One email of a kind per address and minute at most, whatever the throttles allow.
EMAIL_COOLDOWN_SECONDS = 60
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "timezone",
    "daily_reminder_hour",
    "notifications_enabled",
    "scheduler",
    "desired_retention",
)


# --- Views of a user and the checks other modules make ---------------------------------------------


@dataclass(frozen=True)
class UserSummary:
    id: int
    email: str
    subscription_tier: str
    is_email_verified: bool


@dataclass(frozen=True)
class Profile:
    id: int
    email: str
    first_name: str
    last_name: str
    timezone: str
    daily_reminder_hour: int
    notifications_enabled: bool
    scheduler: str
    desired_retention: float
    subscription_tier: str
    is_email_verified: bool
    date_joined: datetime


def summary(user: User) -> UserSummary:
    return UserSummary(
        id=user.pk,
        email=user.email,
        subscription_tier=effective_tier(user).value,
        is_email_verified=user.is_email_verified,
    )


def profile(user: User) -> Profile:
    return Profile(
        id=user.pk,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        timezone=user.timezone,
        daily_reminder_hour=user.daily_reminder_hour,
        notifications_enabled=user.notifications_enabled,
        scheduler=user.scheduler,
        desired_retention=user.desired_retention,
        subscription_tier=effective_tier(user).value,
        is_email_verified=user.is_email_verified,
        date_joined=user.date_joined,
    )


def ensure_email_verified(user: User) -> None:
    """Raises EmailNotVerified for users who have not confirmed their address yet."""
    if not user.is_email_verified:
        raise EmailNotVerified()


def require_admin(user: User) -> None:
    """Raises Forbidden unless the user is active staff."""
    if not (user.is_active and user.is_staff):
        raise Forbidden()


# --- Helpers -----------------------------------------------------------------------------------------


def _validate_new_password(password: str, *, user: User, field: str) -> None:
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            fields=[FieldError(("body", field), message, kind="weak_password") for message in exc.messages]
        ) from exc


def _check_current_password(user: User, password: str, *, field: str) -> None:
    """Wrong passwords count against the account like failed logins (services/lockout.py): a stolen
    access token is not a way to guess the password."""
    with password_check(user.email) as check:
        if not user.check_password(password):
            check.wrong()
            raise ValidationFailed.field(field, "The password is not correct.", kind="invalid_password")


def _enqueue(func: str, *args: Any) -> None:
    from django_q.tasks import async_task

    async_task(func, *args)


def _first_send_in_cooldown(kind: str, email: str) -> bool:
    try:
        return bool(cache.add(f"identity:email-cooldown:{kind}:{email}", 1, timeout=EMAIL_COOLDOWN_SECONDS))
    except CacheUnavailable:  # the cooldown only spares inboxes; the email must not be lost
        return True


def plain_token(token: str) -> str:
    """The token as it was issued. One copied out of an email's link may still be percent-encoded
    (``%3A`` for the ``:`` of a verification token). Neither kind of token ever contains ``%``, so a
    ``%`` means one layer of encoding: it is decoded once (never repeatedly), and whatever comes out
    goes through the same signature checks as any other input."""
    token = token.strip()
    return unquote(token) if "%" in token else token


def _send_link(*, to: str, template: str, path: str, token: str, **context: Any) -> None:
    """A templated email whose link takes the token to ``FRONTEND_URL`` + ``path``."""
    link = f"{settings.FRONTEND_URL}{path}?{urlencode({'token': token})}"
    send_email(to=to, template=template, context={"link": link, "token": token, **context})


@transaction.atomic
def mark_verified(user: User) -> None:
    """The fast flag on User and allauth's EmailAddress say the same thing: the address is proven."""
    User.objects.filter(pk=user.pk).update(is_email_verified=True)
    user.is_email_verified = True
    updated = EmailAddress.objects.filter(user=user, email=user.email).update(verified=True, primary=True)
    if not updated:
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)


# --- Registration and email verification ---------------------------------------------------------


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
        open_subscription(user=candidate, tier=Tier.FREE, source="registration")
        address = EmailAddress.objects.create(user=candidate, email=email, primary=True, verified=False)
        _send_verification(candidate, address)
    return candidate


def _send_verification(user: User, address: EmailAddress) -> None:
    _send_link(
        to=address.email,
        template=VERIFY_EMAIL_TEMPLATE,
        path="/verify-email",
        token=EmailConfirmationHMAC(address).key,
        first_name=user.first_name,
        expires_days=settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS,
    )


def _primary_address(user: User) -> EmailAddress:
    address = EmailAddress.objects.filter(user=user, email=user.email).first()
    if address is None:
        address = EmailAddress.objects.create(
            user=user, email=user.email, primary=True, verified=user.is_email_verified
        )
    return address


@transaction.atomic
def verify_email(*, token: str) -> User:
    """Confirm an address with the token of its email (raw or percent-encoded). Valid 3 days, single
    use."""
    confirmation = EmailConfirmationHMAC.from_key(plain_token(token))  # None: bad, expired, verified
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


def verification_token_valid(*, token: str) -> bool:
    """Whether ``verify_email`` would accept this token now; it reads and changes nothing, so a page
    can show the confirm button (or "expired") without spending the token."""
    confirmation = EmailConfirmationHMAC.from_key(plain_token(token))
    if confirmation is None:
        return False
    address = confirmation.email_address
    return address.user.is_active and address.user.email == address.email


def request_verification_email(*, email: str) -> None:
    """Resend the verification email. The work happens on the queue, so the caller's answer takes the
    same time whether or not the address has an account."""
    _enqueue(VERIFY_TASK, User.objects.normalize_email(email))


def send_verification_email(*, email: str) -> bool:
    """Task body: email a new verification link to an active, unverified account. False when skipped."""
    user = selectors.active_user_by_email(email)
    if user is None or user.is_email_verified or not _first_send_in_cooldown("verify", email):
        return False
    _send_verification(user, _primary_address(user))
    return True


# --- Password reset and change -------------------------------------------------------------------


def _reset_token_generator() -> PasswordResetTokenGenerator:
    # allauth's generator: Django's (user, password hash, last login, timestamp) plus every address
    # of the user; a token dies when the password changes (single use) or after
    # settings.PASSWORD_RESET_TIMEOUT (1 hour).
    from allauth.account.forms import default_token_generator

    return default_token_generator


def make_password_reset_token(user: User) -> str:
    from allauth.account.utils import user_pk_to_url_str

    return f"{user_pk_to_url_str(user)}-{_reset_token_generator().make_token(user)}"


def request_password_reset(*, email: str) -> None:
    """Queue the reset email; the caller's answer is the same, in the same time, for every address."""
    _enqueue(RESET_TASK, User.objects.normalize_email(email))


def send_password_reset(*, email: str) -> bool:
    """Task body: email a reset link (valid 1 hour, single use) to an active account."""
    user = selectors.active_user_by_email(email)
    if user is None or not _first_send_in_cooldown("reset", email):
        return False
    _send_link(
        to=user.email,
        template=PASSWORD_RESET_TEMPLATE,
        path="/reset-password",
        token=make_password_reset_token(user),
        first_name=user.first_name,
        expires_minutes=settings.PASSWORD_RESET_TIMEOUT // 60,
    )
    return True


def _reset_token_user(token: str, *, lock: bool) -> User | None:
    """The active user a reset token (raw or percent-encoded) is valid for, else None."""
    from allauth.account.utils import url_str_to_user_pk

    # named as a token: an error report that shows this frame's variables masks it by its name too
    uid, _, token_key = plain_token(token).partition("-")
    try:
        user_pk = url_str_to_user_pk(uid)
    except (ValueError, OverflowError, DjangoValidationError):
        return None
    users = User.objects.select_for_update() if lock else User.objects
    user = users.filter(pk=user_pk, is_active=True).first()
    if user is None or not token_key or not _reset_token_generator().check_token(user, token_key):
        return None
    return user


def password_reset_token_valid(*, token: str) -> bool:
    """Whether ``confirm_password_reset`` would accept this token now (reads only, spends nothing)."""
    return _reset_token_user(token, lock=False) is not None


@transaction.atomic
def confirm_password_reset(*, token: str, new_password: str) -> User:
    """Set a new password with a reset token (raw or percent-encoded); every session of the user ends.
    Proving the inbox is reachable also verifies the address."""
    # Locked: a concurrent confirm with the same token waits, then finds the password changed.
    user = _reset_token_user(token, lock=True)
    if user is None:
        raise InvalidToken()
    _validate_new_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    mark_verified(user)
    tokens.revoke_all(user)
    # The inbox's owner is back in: wrong passwords typed by someone else no longer keep them out.
    email = user.email
    transaction.on_commit(lambda: clear_password_failures(email))
    return user


@transaction.atomic
def change_password(*, user: User, current_password: str, new_password: str) -> None:
    """Change the password; every session ends, this one included (log in again with the new one)."""
    _check_current_password(user, current_password, field="current_password")
    _validate_new_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    tokens.revoke_all(user)


# --- Profile and deletion ------------------------------------------------------------------------


def update_profile(*, user: User, changes: dict[str, Any]) -> User:
    """Apply validated profile changes (schema-checked ranges and choices; names in PROFILE_FIELDS)."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed(
            fields=[
                FieldError(("body", name), "This field cannot be changed.", kind="read_only")
                for name in sorted(unknown)
            ]
        )
    if not changes:
        return user
    for name, value in changes.items():
        setattr(user, name, value)
    user.save(update_fields=list(changes))
    return user


class DeletionStep(Protocol):
    def __call__(self, *, user_id: int) -> Mapping[str, int] | None: ...


_DELETION_STEPS: list[DeletionStep] = []


def on_account_deletion(step: DeletionStep) -> None:
    """Registers ``step(user_id=...)``, run inside ``delete_account``'s transaction before the user's row
    goes (modules above identity register in their ``AppConfig.ready``): a module deletes its own rows
    of the account there, set by set, where Django's cascade would collect every row's key in Python
    and update rows it is about to delete. Whatever a step leaves, the cascade still removes. A step may
    answer how many rows of each kind it deleted (``{"learning.Content": 10000, ...}``): the erasure
    logs them."""
    if step not in _DELETION_STEPS:
        _DELETION_STEPS.append(step)


class ErasureBatch(Protocol):
    def __call__(self, *, user_id: int, limit: int) -> int: ...


_ERASURE_BATCHES: list[tuple[str, ErasureBatch]] = []


def on_account_erasure_batch(label: str, batch: ErasureBatch) -> None:
    """Registers ``batch(user_id=..., limit=...)`` for the erasure of a closed account
    (services/closure.py): run before the final transaction, again and again, each call in a
    transaction of its own, until it deletes fewer than ``limit`` rows. A module registers one for a
    table an account may hold millions of rows of (learning's review history), so that the final
    transaction's work stays bounded whatever the account's size. ``label`` names the rows in the
    erasure's log (``"learning.ReviewHistory"``)."""
    if all(registered is not batch for _, registered in _ERASURE_BATCHES):
        _ERASURE_BATCHES.append((label, batch))


def erasure_batches() -> list[tuple[str, ErasureBatch]]:
    return list(_ERASURE_BATCHES)


@transaction.atomic
def delete_account(*, user: User) -> dict[str, int]:
    """Deletes the account now and, through the registered steps and the cascades, everything it owns;
    its email log entries too. Answers the rows deleted per model (label: count, zeros left out).

    The API and the admin close an account instead (services/closure.py) and the worker erases it
    with this; it is called directly only where the caller waits on purpose (benchmarks, tests)."""
    counts: Counter[str] = Counter()
    for step in _DELETION_STEPS:
        counts.update(step(user_id=user.pk) or {})
    counts.update({"identity.EmailLog": EmailLog.objects.filter(to=user.email).delete()[0]})
    tokens.forget(user)
    counts.update(user.delete()[1])
    return {label: count for label, count in sorted(counts.items()) if count}
