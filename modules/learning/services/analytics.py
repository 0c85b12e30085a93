"""Aggregate reads over learning's tables: analytics for the insights module, counters for ops'
metrics.

Every function is a fixed, small number of grouped queries whatever the amount of data: counting
and averaging happen in the database (``GROUP BY`` with time-zone-aware day truncation, conditional
``COUNT``), never in Python loops over review rows. They return frozen dataclasses and plain
mappings, never QuerySets. They count raw results (remembered / partial / forgot); what counts as a
"success" is the caller's decision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate

from modules.common.time import local_day_bounds, zone
from modules.learning import selectors
from modules.learning.models import Content, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import ReviewResult

_REMEMBERED = ReviewResult.REMEMBERED.value
_PARTIAL = ReviewResult.PARTIAL.value
_FORGOT = ReviewResult.FORGOT.value


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


def _result_counts() -> dict[str, Count]:
    return {
        "remembered": Count("id", filter=Q(result=_REMEMBERED)),
        "partial": Count("id", filter=Q(result=_PARTIAL)),
        "forgot": Count("id", filter=Q(result=_FORGOT)),
    }


def _counts_of(row: dict[str, Any]) -> ResultCounts:
    return ResultCounts(remembered=row["remembered"], partial=row["partial"], forgot=row["forgot"])


# --- Totals and the review series ------------------------------------------------------------------


def count_contents(*, user_id: int) -> int:
    """The user's contents: the kept total on PostgreSQL (selectors.content_total), else an
    index-only count."""
    if selectors.content_totals_kept():
        return selectors.content_total(user_id=user_id)
    return Content.objects.filter(user_id=user_id).count()


def learning_totals(*, user_id: int) -> LearningTotals:
    """The user's contents and reviews, all time (two index-only counts in one query)."""
    reviews = ReviewHistory.objects.filter(user_id=user_id).order_by().values("user_id")
    totals = Content.objects.filter(user_id=user_id).aggregate(
        contents=Count("id"),
        reviews=Max(Subquery(reviews.annotate(n=Count("id")).values("n")[:1])),
    )
    return LearningTotals(contents=totals["contents"], reviews=totals["reviews"] or 0)


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


# --- Counters for ops' metrics (all users) -------------------------------------------------------------


def count_reviews(*, since: datetime) -> int:
    return ReviewHistory.objects.filter(reviewed_at__gte=since).count()


def count_active_reviewers(*, since: datetime) -> int:
    """Distinct users with at least one review since ``since``."""
    return ReviewHistory.objects.filter(reviewed_at__gte=since).aggregate(n=Count("user_id", distinct=True))[
        "n"
    ]


def count_overdue(*, now: datetime) -> int:
    """Schedules past due, all users."""
    return ReviewSchedule.objects.filter(next_review_date__lt=now).count()
