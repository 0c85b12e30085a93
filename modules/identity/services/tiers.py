"""Tiers: which tier counts for a user, its limits, and every change of a subscription (recorded)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from modules.identity.models import Subscription, SubscriptionChange, User
from modules.identity.tiers import TIER_SPECS, Tier, TierSpec


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
    """The limits of the user's effective tier."""
    return TIER_SPECS[effective_tier(user)]


@dataclass(frozen=True)
class SubscriptionInfo:
    tier: Tier
    limits: TierSpec
    started_at: datetime
    expires_at: datetime | None


def subscription_info(user: User) -> SubscriptionInfo:
    """The effective tier with its limits; a user without a subscription is FREE since joining."""
    sub = _subscription(user)
    tier = effective_tier(user)
    return SubscriptionInfo(
        tier=tier,
        limits=TIER_SPECS[tier],
        started_at=sub.started_at if sub is not None else user.date_joined,
        expires_at=sub.expires_at if sub is not None else None,
    )


@transaction.atomic
def change_subscription(
    *, user: User, tier: Tier | str, expires_at: datetime | None, is_active: bool, source: str
) -> SubscriptionChange | None:
    """Set the user's subscription (tier, expiry, active flag) and record the change.

    Every change is one ``SubscriptionChange`` from the tier that counted before to the tier that
    counts after (``effective_tier``: an expired or deactivated PRO counts as FREE), so a change of
    expiry or of the active flag alone is recorded too: a renewal on the same tier is a row from PRO
    to PRO, a deactivation one from PRO to FREE. ``from_tier`` is ``""`` when the user had no
    subscription yet (the account's first recorded tier). ``started_at`` becomes the moment of the
    change. The row is locked, so concurrent changes are recorded one after the other, each with the
    tier the previous one left. Setting what the subscription already holds changes and records
    nothing (returns None).
    """
    new_tier = Tier(tier)
    now = timezone.now()
    sub = Subscription.objects.select_for_update().filter(user=user).first()
    if sub is None:
        previous = ""
        sub = Subscription(user=user)
    else:
        user.subscription = sub
        if (sub.tier, sub.expires_at, sub.is_active) == (new_tier, expires_at, is_active):
            return None
        previous = effective_tier(user, at=now).value
    sub.tier = new_tier
    sub.started_at = now
    sub.expires_at = expires_at
    sub.is_active = is_active
    sub.save()
    user.subscription = sub
    return SubscriptionChange.objects.create(
        user=user,
        from_tier=previous,
        to_tier=effective_tier(user, at=now).value,
        changed_at=now,
        source=source[:40],
    )


def change_tier(
    *, user: User, tier: Tier | str, source: str, expires_at: datetime | None = None
) -> SubscriptionChange | None:
    """Put the user on an active ``tier`` (until ``expires_at``, or open-ended): ``change_subscription``
    with the subscription active."""
    return change_subscription(user=user, tier=tier, expires_at=expires_at, is_active=True, source=source)


# A limited tier lasts at most 100 years: more is open-ended (no --days), and a date past year 9999
# would overflow (``timedelta``/``datetime`` raise OverflowError).
MAX_TIER_DAYS = 36_500


def change_tier_by_email(*, email: str, tier: Tier | str, source: str, days: int | None = None) -> User:
    """``manage.py set_tier``: raises User.DoesNotExist for an unknown address, ValueError for ``days``
    not between 1 and ``MAX_TIER_DAYS``."""
    if days is not None and not 0 < days <= MAX_TIER_DAYS:
        raise ValueError(
            f"days must be between 1 and {MAX_TIER_DAYS} (100 years); leave it out for an open-ended tier"
        )
    user = User.objects.select_related("subscription").get(email=User.objects.normalize_email(email))
    expires_at = timezone.now() + timedelta(days=days) if days else None
    change_tier(user=user, tier=tier, source=source, expires_at=expires_at)
    return user


def open_subscription(*, user: User, tier: Tier, source: str) -> Subscription:
    """The first subscription of a new account, with its first history row (``from_tier`` ``""``).
    For accounts created in this transaction: no row to lock, so one INSERT each."""
    sub = Subscription.objects.create(user=user, tier=tier)
    user.subscription = sub
    SubscriptionChange.objects.create(user=user, from_tier="", to_tier=tier.value, source=source)
    return sub
