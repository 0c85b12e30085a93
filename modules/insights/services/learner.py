"""A learner's analytics: the dashboard and the retention calibration.

Everything a learner sees is cut in their local calendar days (``user.timezone``). The numbers come
from learning's and AI's facades (grouped queries in the database; insights never reads their
tables) and from insights' own daily snapshots.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from modules.ai import services as ai
from modules.common.db import replica_reads
from modules.common.time import local_date, local_day_bounds
from modules.identity.services import User
from modules.insights import selectors
from modules.insights.services.success import rate_of, rounded
from modules.learning import services as learning

logger = logging.getLogger(__name__)

SERIES_DAYS = 30  # reviews_per_day and success_rate_30d: today and the 29 local days before it
SHORT_WINDOW_DAYS = 7  # success_rate_7d: today and the 6 local days before it
FORECAST_DAYS = 7
RETENTION_HORIZON_DAYS = 7  # predicted_retention_in_7d


@dataclass(frozen=True)
class DayReviews:
    date: date
    remembered: int
    partial: int
    forgot: int


@dataclass(frozen=True)
class CategoryStats:
    id: int
    name: str
    content_count: int
    success_rate: float | None  # of the category's reviews over the series' days


@dataclass(frozen=True)
class ForecastDay:
    date: date
    due: int  # today's includes everything overdue


@dataclass(frozen=True)
class Dashboard:
    total_content: int
    total_reviews: int
    due_today: int
    overdue: int
    success_rate_7d: float | None
    success_rate_30d: float | None
    reviews_per_day: tuple[DayReviews, ...]  # SERIES_DAYS local days, oldest first
    predicted_retention_now: float | None
    predicted_retention_in_7d: float | None
    categories: tuple[CategoryStats, ...]
    forecast_7d: tuple[ForecastDay, ...]  # today first
    ai_usage_today: ai.UsageDTO


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
# The same buckets as learning's review tallies (learning.ELAPSED_BUCKET_UPPER_DAYS: whole days, halves
# rounding down); tests/insights/test_retention.py holds the two together.


@dataclass(frozen=True)
class RetentionBucketStats:
    label: str
    min_days: int
    max_days: int | None
    reviews: int
    remembered: int
    partial: int
    forgot: int
    observed_recall: float | None
    predicted_recall: float | None
    predicted_reviews: int  # the reviews that carried a prediction


@dataclass(frozen=True)
class Retention:
    scheduler: str
    days: int | None
    total_reviews: int
    observed_recall: float | None
    predicted_recall: float | None
    buckets: tuple[RetentionBucketStats, ...]  # one per RETENTION_BUCKETS, in its order


BUILD_TALLIES_TASK = "modules.insights.tasks.build_learner_tallies"
BUILD_REQUEST_SECONDS = 600  # one build request per learner in this time, however often they look


def _want_tallies(user: User) -> None:
    """The learner's review tallies could not answer (never built, or cut in a zone they left): their
    numbers were counted from the history this time; a build is queued so the next ones are not."""
    try:
        if not cache.add(f"insights:tallies-wanted:{user.pk}", 1, timeout=BUILD_REQUEST_SECONDS):
            return
    except Exception:  # a cache outage: the hourly build catches up with active learners
        logger.warning("review tallies: could not note a build request", exc_info=True)
        return
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(BUILD_TALLIES_TASK, user.pk, task_name=f"tallies-{user.pk}"))


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
def dashboard(*, user: User, now: datetime | None = None) -> Dashboard:
    """Every number of the learner's dashboard (contract, Insights), whatever the size of the user's
    data: from learning's review tallies (seven queries, none of them reading the history), or, while
    the user's tallies are not ready, from snapshots and the history (ten). The endpoint adds the
    authentication's query."""
    now = now or timezone.now()
    tz_name = user.timezone
    today = local_date(now, tz_name)
    days = _series_days(today)
    totals = learning.bucket_tallies(user_id=user.pk, tz_name=tz_name)
    window = (
        learning.tally_window(user_id=user.pk, tz_name=tz_name, first_day=days[0], last_day=days[-1])
        if totals is not None
        else None
    )
    if totals is None or window is None:
        _want_tallies(user)
    if totals is not None and window is not None:
        series = {day: window.by_day.get(day, learning.ResultCounts()) for day in days}
        reviews_total = sum(found.reviews.total for found in totals)
        contents_total = learning.count_contents(user_id=user.pk)
        category_stats = learning.category_review_stats(user_id=user.pk, window=window)
    else:
        series = review_series(user=user, now=now)
        learning_totals = learning.learning_totals(user_id=user.pk)
        reviews_total, contents_total = learning_totals.reviews, learning_totals.contents
        category_stats = learning.category_review_counts(
            user_id=user.pk, since=local_day_bounds(days[0], tz_name)[0]
        )
    counts = list(series.values())

    forecast_days = [today + timedelta(days=offset) for offset in range(FORECAST_DAYS)]
    overdue, due = learning.due_by_local_day(user_id=user.pk, tz_name=tz_name, days=forecast_days)
    forecast = tuple(
        ForecastDay(date=day, due=due.get(day, 0) + (overdue if day == today else 0)) for day in forecast_days
    )
    recall_now, recall_later = learning.mean_recall(
        user_id=user.pk,
        intervals=learning.ladder_for(user),
        at=[now, now + timedelta(days=RETENTION_HORIZON_DAYS)],
    )
    categories = tuple(
        CategoryStats(
            id=category.id,
            name=category.name,
            content_count=category.content_count,
            success_rate=rate_of([category.reviews]),
        )
        for category in category_stats
    )
    return Dashboard(
        total_content=contents_total,
        total_reviews=reviews_total,
        due_today=forecast[0].due,
        overdue=overdue,
        success_rate_7d=rate_of(counts[-SHORT_WINDOW_DAYS:]),
        success_rate_30d=rate_of(counts),
        reviews_per_day=tuple(
            DayReviews(date=day, remembered=c.remembered, partial=c.partial, forgot=c.forgot)
            for day, c in series.items()
        ),
        predicted_retention_now=rounded(recall_now),
        predicted_retention_in_7d=rounded(recall_later),
        categories=categories,
        forecast_7d=forecast,
        ai_usage_today=ai.usage_today(user=user),
    )


@replica_reads()
def retention(*, user: User, days: int | None = None, now: datetime | None = None) -> Retention:
    """Observed recall beside the scheduler's predicted recall, by time since the previous review.

    Observed recall is the success rate of the bucket's reviews; predicted recall is the mean of
    the recall probability the user's scheduler gave each of those reviews just before it
    (``retrievability_before``, recorded by learning at review time). With ``days``, only reviews of
    the last ``days`` local days (today included) count. One query on learning's review tallies (a
    few rows per day, or per bucket for all time); two, the second over the history, while the user's
    tallies are not ready.
    """
    first_day = None
    if days is not None:
        now = now or timezone.now()
        first_day = local_date(now, user.timezone) - timedelta(days=days - 1)
    stats = learning.elapsed_bucket_stats(
        user_id=user.pk,
        tz_name=user.timezone,
        first_day=first_day,
        when_not_ready=lambda: _want_tallies(user),
    )
    buckets = tuple(
        RetentionBucketStats(
            label=bucket.label,
            min_days=bucket.min_days,
            max_days=bucket.max_days,
            reviews=found.reviews.total,
            remembered=found.reviews.remembered,
            partial=found.reviews.partial,
            forgot=found.reviews.forgot,
            observed_recall=rate_of([found.reviews]),
            predicted_recall=rounded(found.predicted_mean),
            predicted_reviews=found.predicted_reviews,
        )
        for bucket, found in zip(RETENTION_BUCKETS, stats, strict=True)
    )
    predicted_reviews = sum(found.predicted_reviews for found in stats)
    predicted_total = sum((found.predicted_mean or 0.0) * found.predicted_reviews for found in stats)
    return Retention(
        scheduler=user.scheduler,
        days=days,
        total_reviews=sum(found.reviews.total for found in stats),
        observed_recall=rate_of([found.reviews for found in stats]),
        predicted_recall=rounded(predicted_total / predicted_reviews) if predicted_reviews else None,
        buckets=buckets,
    )
