"""Reads other modules make of identity: counts for ops, tiers and their history for analytics,
time zones and reminder recipients for learning. Each is one or two queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from modules.identity import selectors


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
    """Active accounts (a closed account is inactive from its closure on)."""
    return selectors.count_users()


def count_signups(*, since: datetime) -> int:
    """Accounts created at or after ``since``, closed ones left out."""
    return selectors.count_signups(since=since)


def count_failed_emails(*, since: datetime) -> int:
    """Emails whose latest delivery attempt failed at or after ``since`` (given up, or to be retried)."""
    return selectors.count_failed_emails(since=since)


def users_by_tier() -> dict[str, int]:
    """Active accounts per effective tier (expired or deactivated subscriptions count as FREE; closed
    accounts are inactive);
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
    """The IANA time zone of each existing user id (one query); unknown ids and closed accounts (their
    erasure is under way) are left out, so per-user work skips them."""
    return selectors.timezones_for_user_ids(ids)


def tier_for_user_ids(ids: Iterable[int]) -> dict[int, str]:
    """Effective tier of each existing user id (one query); unknown ids and closed accounts are left
    out."""
    return selectors.tier_for_user_ids(ids, now=timezone.now())


def users_due_for_reminder(*, utc_now: datetime) -> list[ReminderRecipient]:
    """Users to remind at ``utc_now``: notifications on, email verified, active (a closed account is
    not), and it is their ``daily_reminder_hour`` in their own time zone. Two queries."""
    return [
        ReminderRecipient(id=user.pk, email=user.email, timezone=user.timezone, first_name=user.first_name)
        for user in selectors.reminder_candidates(utc_now=utc_now).only(
            "id", "email", "timezone", "first_name"
        )
    ]
