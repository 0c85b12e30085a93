"""Daily AI question quotas: who may use AI, the reservation of questions against the day's limit,
and the day's usage.

Quota protocol (why a failure costs nothing and concurrent requests never pass the quota):
1. reserve: one conditional UPDATE adds the requested count to today's counter only if the result
   stays within the tier's limit, committed at once (PostgreSQL re-checks the condition on the
   latest row version, so parallel requests queue on the row and cannot both pass);
2. call the provider, outside any transaction (no row lock is held during a slow network call);
3. settle in one transaction: store the questions, give back what was reserved but not produced,
   add tokens and cost, log the call; or, if the provider failed, give the whole reservation back.
A process killed between 1 and 3 leaves its reservation counted for that day (the quota errs on the
side of the limit); jobs have a sweeper that releases theirs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from modules.ai import selectors
from modules.ai.models import AIUsage
from modules.ai.providers.base import CallStats
from modules.common.errors import QuotaExceeded, TierRequired
from modules.common.time import end_of_local_day, local_date
from modules.identity.services import User, ensure_email_verified, tier_spec_for


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


def _usage_id(*, user: User, day: date) -> int:
    row, _ = AIUsage.objects.get_or_create(user=user, date=day)
    return row.pk


def reserve(*, user: User, limit: int, count: int, now: datetime | None = None) -> int:
    """Adds ``count`` to today's counter if it stays within ``limit``; returns the usage row id."""
    now = now or timezone.now()
    usage_id = _usage_id(user=user, day=local_today(user, now))
    reserved = AIUsage.objects.filter(pk=usage_id, questions_generated__lte=limit - count).update(
        questions_generated=F("questions_generated") + count, updated_at=now
    )
    if not reserved:
        used = AIUsage.objects.values_list("questions_generated", flat=True).get(pk=usage_id)
        reset = end_of_local_day(now, user.timezone)
        raise QuotaExceeded(
            f"This would pass your daily AI question quota: {used} of {limit} used today, {count} requested. "
            f"The quota resets at midnight ({user.timezone}).",
            retry_after_seconds=max(1, int((reset - now).total_seconds())),
        )
    return usage_id


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
        settle(usage_id=_usage_id(user=user, day=local_today(user)), reserved=0, used=0, stats=stats)


def remaining_quota(*, usage_id: int, limit: int) -> int:
    used = AIUsage.objects.values_list("questions_generated", flat=True).get(pk=usage_id)
    return max(0, limit - used)


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


def usage_today(*, user: User) -> UsageDTO:
    """Today's (user-local) AI usage and what is left of the daily quota."""
    day = local_today(user)
    limit = daily_limit(user)
    row = selectors.usage_row(user_id=user.pk, day=day) or {}
    generated = int(row.get("questions_generated", 0))
    return UsageDTO(
        date=day,
        questions_generated=generated,
        daily_limit=limit,
        remaining=max(0, limit - generated),
        tokens_used=int(row.get("tokens_used", 0)),
        cost_usd=float(row.get("cost_usd", 0) or 0),
    )
