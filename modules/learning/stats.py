"""Aggregate reads over learning's tables for analytics (the insights module reads them through
``services``, which re-exports this module's public names).

Every function is a fixed, small number of grouped queries whatever the amount of data: counting
and averaging happen in the database (``GROUP BY`` with time-zone-aware day truncation, conditional
``COUNT``), never in Python loops over review rows. They return plain dataclasses and dicts, never
QuerySets. They count raw results (remembered / partial / forgot); what counts as a "success" is the
caller's decision.

``mean_recall`` evaluates the schedulers' recall models in SQL. It mirrors
``scheduling.estimate_recall`` exactly (tests compare the two): FSRS's power curve for cards that
carry FSRS memory, the ladder's exponential curve with the user's tier intervals for the others.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import NotSupportedError, connections, router
from django.db.models import (
    Avg,
    Case,
    Count,
    DateTimeField,
    F,
    FloatField,
    Func,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Exp, Greatest, Power, TruncDate

from modules.common.time import local_day_bounds, zone
from modules.learning import selectors
from modules.learning.models import Content, ReviewHistory, ReviewResultChoices, ReviewSchedule
from modules.learning.scheduling import TARGET_RETENTION, SchedulerKind
from modules.learning.scheduling.fsrs_scheduler import DEFAULT_PARAMETERS

__all__ = [
    "CategoryReviewStats",
    "DayReviewCounts",
    "ElapsedBucketStats",
    "LearningTotals",
    "ResultCounts",
    "category_review_counts",
    "due_counts_by_local_day",
    "learning_totals",
    "mean_recall",
    "review_activity_by_user",
    "review_counts_by_elapsed",
    "review_counts_by_local_day",
    "reviewer_ids",
]

_REMEMBERED = ReviewResultChoices.REMEMBERED.value
_PARTIAL = ReviewResultChoices.PARTIAL.value
_FORGOT = ReviewResultChoices.FORGOT.value
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ResultCounts:
    remembered: int = 0
    partial: int = 0
    forgot: int = 0

    @property
    def total(self) -> int:
        return self.remembered + self.partial + self.forgot


@dataclass(frozen=True)
class DayReviewCounts(ResultCounts):
    time_spent_seconds: int = 0


@dataclass(frozen=True)
class LearningTotals:
    contents: int
    reviews: int


@dataclass(frozen=True)
class CategoryReviewStats:
    id: int
    name: str
    content_count: int
    reviews: ResultCounts


@dataclass(frozen=True)
class ElapsedBucketStats:
    """Reviews whose time since the card's previous review (or creation) fell in one bucket."""

    index: int
    reviews: ResultCounts
    predicted_mean: float | None  # mean ReviewHistory.retrievability_before, where it was recorded
    predicted_reviews: int  # how many reviews carried a prediction


def _result_counts() -> dict[str, Count]:
    return {
        "remembered": Count("id", filter=Q(result=_REMEMBERED)),
        "partial": Count("id", filter=Q(result=_PARTIAL)),
        "forgot": Count("id", filter=Q(result=_FORGOT)),
    }


def _counts_of(row: dict[str, Any]) -> ResultCounts:
    return ResultCounts(remembered=row["remembered"], partial=row["partial"], forgot=row["forgot"])


# --- Totals and the review series ------------------------------------------------------------------


def learning_totals(*, user_id: int) -> LearningTotals:
    """The user's contents and reviews, all time (two index-only counts)."""
    return LearningTotals(
        contents=Content.objects.filter(user_id=user_id).count(),
        reviews=ReviewHistory.objects.filter(user_id=user_id).count(),
    )


def _day_ranges(days: Iterable[date], tz_name: str) -> list[tuple[datetime, datetime]]:
    """Consecutive local days merged into [start, end) UTC ranges."""
    ranges: list[tuple[datetime, datetime]] = []
    first = previous = None
    for day in sorted(set(days)):
        if previous is not None and day == previous + timedelta(days=1):
            previous = day
            continue
        if first is not None and previous is not None:
            ranges.append((local_day_bounds(first, tz_name)[0], local_day_bounds(previous, tz_name)[1]))
        first = previous = day
    if first is not None and previous is not None:
        ranges.append((local_day_bounds(first, tz_name)[0], local_day_bounds(previous, tz_name)[1]))
    return ranges


def review_counts_by_local_day(
    *, user_ids: Collection[int], tz_name: str, days: Iterable[date]
) -> dict[tuple[int, date], DayReviewCounts]:
    """{(user id, local day): that day's results and time spent} for the given local days of
    ``tz_name``; days without reviews are absent. One grouped query (none when nothing is asked);
    each run of consecutive days is one range of the (user, reviewed_at) index."""
    ranges = _day_ranges(days, tz_name)
    if not ranges or not user_ids:
        return {}
    within = Q()
    for start, end in ranges:
        within |= Q(reviewed_at__gte=start, reviewed_at__lt=end)
    rows = (
        ReviewHistory.objects.filter(within, user_id__in=list(user_ids))
        .annotate(day=TruncDate("reviewed_at", tzinfo=zone(tz_name)))
        .values("user_id", "day")
        .annotate(**_result_counts(), time_spent=Coalesce(Sum("time_spent_seconds"), 0))
        .order_by()
    )
    return {
        (row["user_id"], row["day"]): DayReviewCounts(
            remembered=row["remembered"],
            partial=row["partial"],
            forgot=row["forgot"],
            time_spent_seconds=row["time_spent"],
        )
        for row in rows
    }


def reviewer_ids(*, since: datetime) -> list[int]:
    """Users with at least one review at or after ``since`` (one query on the reviewed_at index)."""
    return list(
        ReviewHistory.objects.filter(reviewed_at__gte=since)
        .order_by()
        .values_list("user_id", flat=True)
        .distinct()
    )


def review_activity_by_user(*, since: datetime, recent_since: datetime) -> dict[int, tuple[int, int]]:
    """{user id: (reviews since ``since``, reviews since ``recent_since``)} for users who reviewed
    since ``since``; one grouped query."""
    rows = (
        ReviewHistory.objects.filter(reviewed_at__gte=since)
        .values("user_id")
        .annotate(reviews=Count("id"), recent=Count("id", filter=Q(reviewed_at__gte=recent_since)))
        .order_by()
        .values_list("user_id", "reviews", "recent")
    )
    return {user_id: (reviews, recent) for user_id, reviews, recent in rows}


# --- Due reviews and predicted recall ----------------------------------------------------------------


def due_counts_by_local_day(*, user_id: int, tz_name: str, before: datetime) -> dict[date, int]:
    """{local date: schedules due that day} for everything due before ``before`` (one grouped query)."""
    return selectors.due_counts_by_local_date(user_id=user_id, before=before, tz_name=tz_name)


class _DaysBetween(Func):
    """(later - earlier) in fractional days, as a double."""

    arity = 2
    output_field = FloatField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="(CAST(EXTRACT(EPOCH FROM (%(expressions)s)) AS double precision) / 86400.0)",
            arg_joiner=" - ",
            **extra,
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="(julianday(%(expressions)s))",
            arg_joiner=") - julianday(",
            **extra,
        )

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        if "template" not in extra:
            raise NotSupportedError(f"_DaysBetween is not implemented for {connection.vendor}")
        return super().as_sql(compiler, connection, **extra)


# The ladder's strength per interval day (scheduling/ladder.py): R(interval) = TARGET_RETENTION.
_LADDER_STRENGTH_PER_DAY = 1.0 / -math.log(TARGET_RETENTION)
# FSRS-6's curve (scheduling/fsrs_scheduler.fsrs_recall): R = (1 + F * t / S) ** decay.
_FSRS_DECAY = -DEFAULT_PARAMETERS[20]
_FSRS_FACTOR = 0.9 ** (1 / _FSRS_DECAY) - 1
_FSRS_MIN_STABILITY = 1e-3


def _recall_expression(*, at: datetime, intervals: tuple[int, ...]) -> Case:
    anchor = Coalesce("last_reviewed_at", "content__created_at", output_field=DateTimeField())
    elapsed = Greatest(_DaysBetween(Value(at, output_field=DateTimeField()), anchor), Value(0.0))
    strength = Case(
        *[
            When(stage=stage, then=Value(days * _LADDER_STRENGTH_PER_DAY))
            for stage, days in enumerate(intervals[:-1])
        ],
        default=Value(intervals[-1] * _LADDER_STRENGTH_PER_DAY),  # beyond the ladder: its last stage
        output_field=FloatField(),
    )
    ladder = Exp(Value(-1.0) * elapsed / strength)
    fsrs = Power(
        Value(1.0) + Value(_FSRS_FACTOR) * elapsed / Greatest(F("stability"), Value(_FSRS_MIN_STABILITY)),
        Value(_FSRS_DECAY),
    )
    has_fsrs_memory = Q(scheduler=SchedulerKind.FSRS.value, stability__isnull=False, difficulty__isnull=False)
    return Case(When(has_fsrs_memory, then=fsrs), default=ladder, output_field=FloatField())


def mean_recall(*, user_id: int, intervals: tuple[int, ...], at: Sequence[datetime]) -> list[float | None]:
    """The mean recall probability of the user's scheduled cards at each moment of ``at`` (None when
    the user has no cards), assuming no review in between. One aggregate query."""
    if not at:
        return []
    if not intervals:
        raise ValueError("a ladder needs at least one interval")
    totals = ReviewSchedule.objects.filter(user_id=user_id).aggregate(
        **{
            f"at{index}": Avg(_recall_expression(at=moment, intervals=intervals))
            for index, moment in enumerate(at)
        }
    )
    return [totals[f"at{index}"] for index in range(len(at))]


# --- Categories ------------------------------------------------------------------------------------


def category_review_counts(*, user_id: int, since: datetime) -> list[CategoryReviewStats]:
    """The user's categories (by name) with their content counts and the results of their reviews
    since ``since``. Two queries."""
    by_category = {
        row["content__category_id"]: _counts_of(row)
        for row in ReviewHistory.objects.filter(
            user_id=user_id, reviewed_at__gte=since, content__category__isnull=False
        )
        .values("content__category_id")
        .annotate(**_result_counts())
        .order_by()
    }
    return [
        CategoryReviewStats(
            id=row["id"],
            name=row["name"],
            content_count=row["content_count"],
            reviews=by_category.get(row["id"], ResultCounts()),
        )
        for row in selectors.category_rows(user_id=user_id)
    ]


# --- Calibration: results by the time since the previous review --------------------------------------


def _elapsed_days_sql(vendor: str, later: str, earlier: str) -> str:
    if vendor == "postgresql":
        return f"(CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS double precision) / 86400.0)"
    if vendor == "sqlite":
        return f"(julianday({later}) - julianday({earlier}))"
    raise NotSupportedError(f"review_counts_by_elapsed is not implemented for {vendor}")


def review_counts_by_elapsed(
    *, user_id: int, upper_bounds_days: Sequence[float], since: datetime | None = None
) -> list[ElapsedBucketStats]:
    """The user's reviews (since ``since``, or all) grouped by the time elapsed since the card's
    previous review, or its creation for a first review.

    Bucket ``i`` holds elapsed times in (``upper_bounds_days[i-1]``, ``upper_bounds_days[i]``] days;
    the last bucket (index ``len(upper_bounds_days)``) everything beyond. Every bucket is in the
    answer, empty ones with zero counts.

    One query. It is SQL rather than the ORM because the previous review comes from a window function
    (``LAG`` over each card's reviews in time order: one sorted pass over the user's history) and the
    ORM cannot group by a window's result; the per-row correlated subquery the ORM can express costs
    one index probe per review (about 7x slower on 100,000 reviews).
    """
    bounds = [float(bound) for bound in upper_bounds_days]
    if not bounds or bounds != sorted(bounds):
        raise ValueError("upper_bounds_days must be a non-empty ascending sequence")
    connection = connections[router.db_for_read(ReviewHistory)]  # raw SQL follows the router too
    history = connection.ops.quote_name(ReviewHistory._meta.db_table)
    content = connection.ops.quote_name(Content._meta.db_table)
    previous = (
        "COALESCE(LAG(h.reviewed_at) OVER (PARTITION BY h.content_id ORDER BY h.reviewed_at, h.id), "
        "c.created_at)"
    )
    elapsed = _elapsed_days_sql(connection.vendor, "h.reviewed_at", previous)
    bucket = " ".join(f"WHEN e.elapsed <= %s THEN {index}" for index in range(len(bounds)))
    # With a window, only the cards reviewed in it need their history walked (their earlier reviews
    # still give the first in-window review its elapsed time).
    cards_in_window = (
        f"AND h.content_id IN (SELECT w.content_id FROM {history} w WHERE w.user_id = %s AND w.reviewed_at >= %s)"  # noqa: S608
        if since is not None
        else ""
    )
    sql = f"""
        SELECT bucket,
               SUM(CASE WHEN result = %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN result = %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN result = %s THEN 1 ELSE 0 END),
               AVG(retrievability_before),
               COUNT(retrievability_before)
        FROM (
            SELECT e.result, e.retrievability_before,
                   CASE {bucket} ELSE {len(bounds)} END AS bucket
            FROM (
                SELECT h.result, h.retrievability_before, h.reviewed_at, {elapsed} AS elapsed
                FROM {history} h INNER JOIN {content} c ON c.id = h.content_id
                WHERE h.user_id = %s {cards_in_window}
            ) e
            WHERE e.reviewed_at >= %s
        ) b
        GROUP BY bucket
    """  # noqa: S608 (table names from the models, every value a parameter)
    params: list[Any] = [_REMEMBERED, _PARTIAL, _FORGOT, *bounds, user_id]
    if since is not None:
        params += [user_id, since]
    params.append(since or _EPOCH)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = {
            int(row[0]): (
                ResultCounts(remembered=int(row[1]), partial=int(row[2]), forgot=int(row[3])),
                row[4],
                int(row[5]),
            )
            for row in cursor.fetchall()
        }
    answer = []
    for index in range(len(bounds) + 1):
        counts, predicted, predicted_reviews = found.get(index, (ResultCounts(), None, 0))
        answer.append(
            ElapsedBucketStats(
                index=index,
                reviews=counts,
                predicted_mean=float(predicted) if predicted is not None else None,
                predicted_reviews=predicted_reviews,
            )
        )
    return answer
