"""Insights' facade: a learner's dashboard and retention calibration, the admins' subscription
analytics, and the daily ``LearningMetrics`` snapshots behind the dashboard's series.

Everything a learner sees is cut in their local calendar days (``user.timezone``). The numbers come
from learning's and AI's facades (grouped queries in the database; insights never reads their
tables) and from insights' own snapshots.

What counts as a success: ``remembered`` counts 1, ``partial`` 1/2, ``forgot`` 0, and a success rate
is the mean over the reviews it covers (``None`` when there are none). The same rule gives the
dashboard's rates, the categories' rates, the snapshots' ``success_rate`` and the observed recall of
the retention view, so every number agrees with every other.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from modules.ai import services as ai
from modules.common.db import replica_reads
from modules.common.time import local_date, local_day_bounds
from modules.identity import services as identity
from modules.insights import selectors
from modules.insights.models import LearningMetrics
from modules.learning import services as learning

logger = logging.getLogger(__name__)

User = identity.User

SERIES_DAYS = 30  # reviews_per_day and success_rate_30d: today and the 29 local days before it
SHORT_WINDOW_DAYS = 7  # success_rate_7d: today and the 6 local days before it
FORECAST_DAYS = 7
RETENTION_HORIZON_DAYS = 7  # predicted_retention_in_7d
PARTIAL_CREDIT = 0.5
# A day is final (no review can land in it any more) once the longest a review may be back-dated
# (learning's limit for offline clients) has passed since its end; the margin covers a review whose
# transaction was still open at that moment.
FINALITY_MARGIN = timedelta(hours=1)
SNAPSHOT_BATCH = 1_000  # users per query of the snapshot job
SUBSCRIPTION_WINDOW_DAYS = 30
SUBSCRIPTION_ACTIVE_DAYS = 7


@dataclass(frozen=True)
class RetentionBucket:
    """Reviews whose time since the card's previous review (or creation), rounded to whole days,
    is in [min_days, max_days] (``max_days`` None: no upper end)."""

    label: str
    min_days: int
    max_days: int | None


RETENTION_BUCKETS: tuple[RetentionBucket, ...] = (
    RetentionBucket("0-1", 0, 1),
    RetentionBucket("2-3", 2, 3),
    RetentionBucket("4-7", 4, 7),
    RetentionBucket("8-14", 8, 14),
    RetentionBucket("15-30", 15, 30),
    RetentionBucket("31-90", 31, 90),
    RetentionBucket("91+", 91, None),
)


# --- Success ---------------------------------------------------------------------------------------


def success_rate(*, remembered: int, partial: int, forgot: int) -> float | None:
    """(remembered + partial / 2) / reviews, rounded to 4 places; None without reviews."""
    total = remembered + partial + forgot
    if not total:
        return None
    return round((remembered + PARTIAL_CREDIT * partial) / total, 4)


def _rate_of(counts: Sequence[learning.ResultCounts]) -> float | None:
    return success_rate(
        remembered=sum(c.remembered for c in counts),
        partial=sum(c.partial for c in counts),
        forgot=sum(c.forgot for c in counts),
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def is_final(*, day: date, tz_name: str, at: datetime) -> bool:
    """True when no review can be recorded for ``day`` (local in ``tz_name``) after ``at``."""
    end_of_day = local_day_bounds(day, tz_name)[1]
    return at >= end_of_day + learning.MAX_REVIEWED_AT_AGE + FINALITY_MARGIN


# --- Dashboard -------------------------------------------------------------------------------------


def _series_days(today: date) -> list[date]:
    return [today - timedelta(days=offset) for offset in range(SERIES_DAYS - 1, -1, -1)]


def review_series(*, user: User, now: datetime | None = None) -> dict[date, learning.ResultCounts]:
    """The user's results on each of the last ``SERIES_DAYS`` local days, oldest first.

    Past days come from final snapshots; today, days without a final snapshot (not taken yet, still
    open to back-dated reviews, or cut in another time zone) are counted live, in one grouped query
    over just those days. Two queries.
    """
    now = now or timezone.now()
    tz_name = user.timezone
    days = _series_days(local_date(now, tz_name))
    snapshots = selectors.final_snapshot_counts(
        user_id=user.pk, tz_name=tz_name, start=days[0], end=days[-1] - timedelta(days=1)
    )
    live_days = [day for day in days if day not in snapshots]
    live = learning.review_counts_by_local_day(user_ids=[user.pk], tz_name=tz_name, days=live_days)
    series: dict[date, learning.ResultCounts] = {}
    for day in days:
        if day in snapshots:
            remembered, partial, forgot = snapshots[day]
            series[day] = learning.ResultCounts(remembered=remembered, partial=partial, forgot=forgot)
        else:
            series[day] = live.get((user.pk, day), learning.ResultCounts())
    return series


@replica_reads()
def dashboard(*, user: User, now: datetime | None = None) -> dict[str, Any]:
    """Every number of the learner's dashboard (contract, Insights). Nine queries whatever the size
    of the user's data (the endpoint adds the authentication's)."""
    now = now or timezone.now()
    tz_name = user.timezone
    today = local_date(now, tz_name)
    series = review_series(user=user, now=now)
    counts = list(series.values())
    window_start = local_day_bounds(next(iter(series)), tz_name)[0]

    forecast_days = [today + timedelta(days=offset) for offset in range(FORECAST_DAYS)]
    due = learning.due_counts_by_local_day(
        user_id=user.pk, tz_name=tz_name, before=local_day_bounds(forecast_days[-1], tz_name)[1]
    )
    overdue = sum(n for day, n in due.items() if day < today)
    forecast = [
        {"date": day, "due": due.get(day, 0) + (overdue if day == today else 0)} for day in forecast_days
    ]
    recall_now, recall_later = learning.mean_recall(
        user_id=user.pk,
        intervals=learning.ladder_for(user),
        at=[now, now + timedelta(days=RETENTION_HORIZON_DAYS)],
    )
    totals = learning.learning_totals(user_id=user.pk)
    categories = [
        {
            "id": category.id,
            "name": category.name,
            "content_count": category.content_count,
            "success_rate": _rate_of([category.reviews]),
        }
        for category in learning.category_review_counts(user_id=user.pk, since=window_start)
    ]
    return {
        "total_content": totals.contents,
        "total_reviews": totals.reviews,
        "due_today": forecast[0]["due"],
        "overdue": overdue,
        "success_rate_7d": _rate_of(counts[-SHORT_WINDOW_DAYS:]),
        "success_rate_30d": _rate_of(counts),
        "reviews_per_day": [
            {"date": day, "remembered": c.remembered, "partial": c.partial, "forgot": c.forgot}
            for day, c in series.items()
        ],
        "predicted_retention_now": _rounded(recall_now),
        "predicted_retention_in_7d": _rounded(recall_later),
        "categories": categories,
        "forecast_7d": forecast,
        "ai_usage_today": ai.usage_today(user=user),
    }


# --- Retention calibration -------------------------------------------------------------------------


@replica_reads()
def retention(*, user: User, days: int | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Observed recall beside the scheduler's predicted recall, by time since the previous review.

    Observed recall is the success rate of the bucket's reviews; predicted recall is the mean of
    the recall probability the user's scheduler gave each of those reviews just before it
    (``retrievability_before``, recorded by learning at review time). With ``days``, only reviews of
    the last ``days`` local days (today included) count. One query.
    """
    since = None
    if days is not None:
        now = now or timezone.now()
        first_day = local_date(now, user.timezone) - timedelta(days=days - 1)
        since = local_day_bounds(first_day, user.timezone)[0]
    upper_bounds = [bucket.max_days + 0.5 for bucket in RETENTION_BUCKETS if bucket.max_days is not None]
    stats = learning.review_counts_by_elapsed(user_id=user.pk, upper_bounds_days=upper_bounds, since=since)
    buckets = []
    for bucket, found in zip(RETENTION_BUCKETS, stats, strict=True):
        buckets.append(
            {
                "label": bucket.label,
                "min_days": bucket.min_days,
                "max_days": bucket.max_days,
                "reviews": found.reviews.total,
                "remembered": found.reviews.remembered,
                "partial": found.reviews.partial,
                "forgot": found.reviews.forgot,
                "observed_recall": _rate_of([found.reviews]),
                "predicted_recall": _rounded(found.predicted_mean),
                "predicted_reviews": found.predicted_reviews,
            }
        )
    predicted_reviews = sum(found.predicted_reviews for found in stats)
    predicted_total = sum((found.predicted_mean or 0.0) * found.predicted_reviews for found in stats)
    return {
        "scheduler": user.scheduler,
        "days": days,
        "total_reviews": sum(found.reviews.total for found in stats),
        "observed_recall": _rate_of([found.reviews for found in stats]),
        "predicted_recall": _rounded(predicted_total / predicted_reviews) if predicted_reviews else None,
        "buckets": buckets,
    }


# --- Subscription analytics (admins) ---------------------------------------------------------------


def _tier_rank(tier: str) -> int:
    return list(identity.Tier).index(identity.Tier(tier))


@replica_reads()
def subscription_analytics(*, user: User, now: datetime | None = None) -> dict[str, Any]:
    """Users per tier, who is active, what they review and spend on AI, and how tiers changed.

    Admins only (Forbidden otherwise). Activity is reviewing: a user is active in a window when
    they completed at least one review in it (rolling 7 and 30 days). Reviews and AI questions and
    cost are attributed to the tier the user is on now. Six queries; the per-tier sums run over the
    users active in the window (one row each), never over reviews.
    """
    identity.require_admin(user)
    now = now or timezone.now()
    since = now - timedelta(days=SUBSCRIPTION_WINDOW_DAYS)
    users = identity.users_by_tier()
    activity = learning.review_activity_by_user(
        since=since, recent_since=now - timedelta(days=SUBSCRIPTION_ACTIVE_DAYS)
    )
    ai_usage = ai.questions_and_cost_by_user(since=since)
    tier_of = identity.tier_for_user_ids(activity.keys() | ai_usage.keys())
    rows = {
        tier: {
            "tier": tier,
            "users": count,
            "active_7d": 0,
            "active_30d": 0,
            "reviews_30d": 0,
            "ai_questions_30d": 0,
            "ai_cost_usd_30d": 0.0,
        }
        for tier, count in users.items()
    }
    for user_id, (reviews, recent) in activity.items():
        row = rows.get(tier_of.get(user_id, ""))
        if row is None:  # deleted since
            continue
        row["active_30d"] += 1
        row["active_7d"] += 1 if recent else 0
        row["reviews_30d"] += reviews
    for user_id, (questions, cost) in ai_usage.items():
        row = rows.get(tier_of.get(user_id, ""))
        if row is None:
            continue
        row["ai_questions_30d"] += questions
        row["ai_cost_usd_30d"] += cost
    tiers = sorted(rows.values(), key=lambda row: _tier_rank(row["tier"]))
    for row in tiers:
        row["ai_cost_usd_30d"] = round(row["ai_cost_usd_30d"], 6)
    totals = {
        key: sum(row[key] for row in tiers)
        for key in ("users", "active_7d", "active_30d", "reviews_30d", "ai_questions_30d")
    }
    totals["ai_cost_usd_30d"] = round(sum(row["ai_cost_usd_30d"] for row in tiers), 6)
    return {
        "generated_at": now,
        "window_days": SUBSCRIPTION_WINDOW_DAYS,
        "tiers": tiers,
        "totals": totals,
        "tier_changes_30d": _tier_change_summary(identity.tier_change_counts(since=since)),
    }


def _tier_change_summary(counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    new_accounts = upgrades = downgrades = 0
    transitions = []
    for (from_tier, to_tier), count in sorted(
        counts.items(), key=lambda item: (item[0][0] != "", item[0][0], item[0][1])
    ):
        transitions.append({"from_tier": from_tier or None, "to_tier": to_tier, "count": count})
        if not from_tier:
            new_accounts += count
        elif _tier_rank(to_tier) > _tier_rank(from_tier):
            upgrades += count
        elif _tier_rank(to_tier) < _tier_rank(from_tier):
            downgrades += count
    return {
        # changes of existing accounts (a renewal on the same tier is one, neither up nor down)
        "total": sum(count for (from_tier, _), count in counts.items() if from_tier),
        "new_accounts": new_accounts,
        "upgrades": upgrades,
        "downgrades": downgrades,
        "transitions": transitions,
    }


# --- Daily snapshots -------------------------------------------------------------------------------


def snapshot_learning_metrics(
    *, now: datetime | None = None, days: int = SERIES_DAYS, refresh: bool = False
) -> int:
    """One round of the snapshot job; returns how many snapshots it wrote.

    For every user who reviewed in the last ``days`` days, each complete local day among the last
    ``days`` gets a ``LearningMetrics`` row (days without reviews too, with zeros, so the dashboard
    never has to count them). A day is counted when it first appears (a provisional snapshot) and
    once more when it becomes final; days already final are left alone unless ``refresh``. A user
    whose time zone changed gets their days recounted in the new zone. Idempotent (an upsert on
    (user, date)), so a retried or doubled run writes the same rows. Queries: one for the active
    users, one for their zones, then three per zone and batch of ``SNAPSHOT_BATCH`` users.
    """
    now = now or timezone.now()
    active = learning.reviewer_ids(since=now - timedelta(days=days + 1))
    by_zone: dict[str, list[int]] = defaultdict(list)
    for user_id, tz_name in identity.timezones_for_user_ids(active).items():
        by_zone[tz_name].append(user_id)
    written = 0
    for tz_name, user_ids in sorted(by_zone.items()):
        user_ids.sort()
        for start in range(0, len(user_ids), SNAPSHOT_BATCH):
            written += _snapshot_batch(
                user_ids=user_ids[start : start + SNAPSHOT_BATCH],
                tz_name=tz_name,
                now=now,
                days=days,
                refresh=refresh,
            )
    logger.info(
        "learning metrics snapshots written",
        extra={"written": written, "active_users": len(active), "zones": len(by_zone)},
    )
    return written


def _snapshot_batch(*, user_ids: list[int], tz_name: str, now: datetime, days: int, refresh: bool) -> int:
    today = local_date(now, tz_name)
    complete_days = [today - timedelta(days=offset) for offset in range(days - 1, 0, -1)]
    if not complete_days:
        return 0
    final_by_day = {day: is_final(day=day, tz_name=tz_name, at=now) for day in complete_days}
    existing = selectors.snapshot_states(user_ids=user_ids, start=complete_days[0], end=complete_days[-1])
    todo: list[tuple[int, date]] = []
    for user_id in user_ids:
        for day in complete_days:
            state = existing.get((user_id, day))
            if (
                refresh
                or state is None
                or state[0] != tz_name
                or (not state[1] and final_by_day[day])  # provisional, now final: recount once
            ):
                todo.append((user_id, day))
    if not todo:
        return 0
    counts = learning.review_counts_by_local_day(
        user_ids={user_id for user_id, _ in todo}, tz_name=tz_name, days={day for _, day in todo}
    )
    rows = []
    for user_id, day in todo:
        found = counts.get((user_id, day), learning.DayReviewCounts())
        rows.append(
            LearningMetrics(
                user_id=user_id,
                date=day,
                timezone=tz_name,
                reviews=found.total,
                remembered=found.remembered,
                partial=found.partial,
                forgot=found.forgot,
                success_rate=_rate_of([found]),
                time_spent_seconds=found.time_spent_seconds,
                is_final=final_by_day[day],
                computed_at=now,
            )
        )
    LearningMetrics.objects.bulk_create(
        rows,
        batch_size=SNAPSHOT_BATCH,
        update_conflicts=True,
        unique_fields=["user", "date"],
        update_fields=[
            "timezone",
            "reviews",
            "remembered",
            "partial",
            "forgot",
            "success_rate",
            "time_spent_seconds",
            "is_final",
            "computed_at",
        ],
    )
    return len(rows)
