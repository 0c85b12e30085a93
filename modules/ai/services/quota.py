"""Daily AI question quotas: who may use AI, the reservation of questions against the day's limit,
and the day's usage.

A day is an ``AIUsage`` row: the user's local calendar day in the timezone of the moment the row was
created, with the UTC window [window_start, window_end) of that day, which it keeps whatever the
user's timezone becomes. The rule: at every instant, the days whose windows contain that instant hold
at most the limit. So a new question is counted on the current local day (in the user's current
timezone) and is allowed only if the questions of every day of the user whose window OVERLAPS the
current day's window (the current day's own included) stay within the limit.

A user who never changes timezone has days that follow each other without overlapping: the rule is
"questions today, reset at local midnight", unchanged. After a change of timezone, the new local days
overlap the day(s) counted in the old timezone and share their limit; the quota resets at the first
local midnight whose day no longer overlaps them (when enough of them is over). A change of timezone
can delay a reset, never bring one: however often the timezone changes, over any period P a learner
gets at most limit * (P + 2 days) / 23 hours (a day lasts at least 23 hours). Counting only the days
whose window contains *now* would not do: a learner moving one timezone west every hour, to where
23:00 has just struck, would get a fresh day every hour (each day counted on ends within the hour).

Quota protocol (why a failure costs nothing and concurrent requests never pass the quota):
1. reserve: get or create the current local day's row, then, in one short committed transaction,
   take the user's quota lock (a PostgreSQL advisory transaction lock on the user id: reservations
   of one user run one after the other, even when they count on different rows, as two requests on
   either side of a change of timezone do), sum the questions of the overlapping days, and add the
   requested count to the current day only if the sum stays within the tier's limit;
2. call the provider, outside any transaction (no lock is held during a slow network call);
3. settle in one transaction: store the questions, give back to the reserved row what was reserved
   but not produced, add tokens and cost, log the call; or, if the provider failed, give the whole
   reservation back. Giving back only lowers a counter (one UPDATE, no lock needed).
A process killed between 1 and 3 leaves its reservation counted for that day (the quota errs on the
side of the limit); jobs have a sweeper that releases theirs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from modules.ai import selectors
from modules.ai.models import AIUsage
from modules.ai.providers.base import CallStats
from modules.common.errors import QuotaExceeded, TierRequired
from modules.common.time import local_date, local_day_bounds
from modules.identity.services import User, ensure_email_verified, tier_spec_for

# pg_advisory_xact_lock(namespace, user id): one quota reservation per learner at a time
_LOCK_NAMESPACE = 0x5253_4151
# How many local days ahead a 429 looks for the reset (a bound: the days counted end sooner)
_DAYS_AHEAD = 7


def daily_limit(user: User) -> int:
    return tier_spec_for(user).ai_questions_daily


def ensure_ai_allowed(user: User) -> int:
    """The user's daily question limit; EmailNotVerified for unverified users, TierRequired for tiers
    without AI."""
    ensure_email_verified(user)
    limit = daily_limit(user)
    if limit <= 0:
        raise TierRequired("AI practice questions are part of the BASIC and PRO tiers.")
    return limit


def local_today(user: User, now: datetime | None = None) -> date:
    return local_date(now or timezone.now(), user.timezone)


@dataclass(frozen=True)
class _Day:
    """A local day of the user's current timezone: its date and UTC window [start, end)."""

    date: date
    start: datetime
    end: datetime

    @classmethod
    def at(cls, user: User, moment: datetime) -> _Day:
        day = local_date(moment, user.timezone)
        return cls(day, *local_day_bounds(day, user.timezone))

    def overlapping(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [row for row in rows if row["window_end"] > self.start and row["window_start"] < self.end]


def _counted(rows: list[dict[str, Any]], column: str = "questions_generated") -> int:
    return sum(int(row[column]) for row in rows)


def _usage_id(*, user: User, day: _Day) -> int:
    """The row of a local day of the user, created if need be."""
    row, _ = AIUsage.objects.get_or_create(
        user=user, window_start=day.start, window_end=day.end, defaults={"date": day.date}
    )
    return row.pk


def _lock_quota(user_id: int) -> None:
    """Serialises the user's reservations until the transaction ends (the rows they count on may
    differ: two requests on either side of a change of timezone count on different days)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, user_id])


def reserve(*, user: User, limit: int, count: int, now: datetime | None = None) -> int:
    """Adds ``count`` to the current local day's counter if the questions of the days overlapping it
    stay within ``limit``; returns the usage row id. QuotaExceeded otherwise, with Retry-After the
    first local midnight whose day leaves room for ``count``."""
    now = now or timezone.now()
    today = _Day.at(user, now)
    usage_id = _usage_id(user=user, day=today)
    with transaction.atomic():
        _lock_quota(user.pk)
        rows = selectors.usage_days_ending_after(user_id=user.pk, moment=today.start)
        used = _counted(today.overlapping(rows))
        if used + count > limit:
            raise _exceeded(user=user, limit=limit, count=count, used=used, rows=rows, now=now)
        AIUsage.objects.filter(pk=usage_id).update(
            questions_generated=F("questions_generated") + count, updated_at=now
        )
    return usage_id


def _frees_on(user: User, rows: list[dict[str, Any]], *, after: datetime, allowed: int) -> _Day:
    """The first local day beginning after ``after`` whose overlapping days hold at most ``allowed``
    questions (``rows``: every day ending after ``after``)."""
    day = _Day.at(user, after)
    for _ in range(_DAYS_AHEAD):  # rows end within two days of now: at the latest the day after them
        day = _Day.at(user, day.end)
        if _counted(day.overlapping(rows)) <= allowed:
            break
    return day


def _exceeded(
    *, user: User, limit: int, count: int, used: int, rows: list[dict[str, Any]], now: datetime
) -> QuotaExceeded:
    frees = _frees_on(user, rows, after=now, allowed=max(0, limit - count))
    if count > limit:
        when = "No request may ask for more than the daily limit."
    elif frees.start == _Day.at(user, now).end:
        when = f"The quota resets at midnight ({user.timezone})."
    else:  # a day counted in another timezone still overlaps the next local day
        when = (
            f"The quota resets at midnight ({user.timezone}) on {frees.date.isoformat()}: questions counted "
            "before a change of timezone count on every local day their day overlaps."
        )
    return QuotaExceeded(
        f"This would pass your daily AI question quota: {used} of {limit} used today, {count} requested. {when}",
        retry_after_seconds=max(1, math.ceil((frees.start - now).total_seconds())),
    )


def settle(*, usage_id: int, reserved: int, used: int, stats: CallStats | None) -> None:
    """Gives back the unused part of a reservation and adds the call's tokens and cost to the day."""
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    if reserved != used:
        changes["questions_generated"] = Greatest(F("questions_generated") - Value(reserved - used), Value(0))
    if stats is not None and (stats.tokens or stats.cost_usd):
        changes["tokens_used"] = F("tokens_used") + stats.tokens
        changes["cost_usd"] = F("cost_usd") + stats.cost_usd
    if len(changes) > 1:
        AIUsage.objects.filter(pk=usage_id).update(**changes)


def add_usage(*, user: User, stats: CallStats) -> None:
    if stats.tokens or stats.cost_usd:
        today = _Day.at(user, timezone.now())
        settle(usage_id=_usage_id(user=user, day=today), reserved=0, used=0, stats=stats)


def remaining_quota(*, usage_id: int, limit: int) -> int:
    """What the quota still allows on the usage row's day (the days overlapping it count too)."""
    return max(0, limit - selectors.questions_overlapping(usage_id=usage_id))


@contextmanager
def released_on_failure(*, usage_id: int, amount: int) -> Iterator[None]:
    """Any exception before the reservation is settled gives it back (then propagates)."""
    try:
        yield
    except BaseException:
        settle(usage_id=usage_id, reserved=amount, used=0, stats=None)
        raise


@dataclass(frozen=True)
class UsageDTO:
    date: date
    questions_generated: int
    daily_limit: int
    remaining: int
    tokens_used: int
    cost_usd: float


def usage_today(*, user: User, now: datetime | None = None) -> UsageDTO:
    """Today's (user-local) AI usage and what is left of the daily quota: the questions, tokens and
    cost of every day overlapping today (today's alone unless the user changed timezone lately)."""
    today = _Day.at(user, now or timezone.now())
    limit = daily_limit(user)
    days = today.overlapping(selectors.usage_days_ending_after(user_id=user.pk, moment=today.start))
    generated = _counted(days)
    return UsageDTO(
        date=today.date,
        questions_generated=generated,
        daily_limit=limit,
        remaining=max(0, limit - generated),
        tokens_used=_counted(days, "tokens_used"),
        cost_usd=float(sum(row["cost_usd"] for row in days)),
    )
