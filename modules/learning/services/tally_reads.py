"""Reads of the review tallies (services/tallies.py keeps them): the dashboard's days and categories,
the retention view's buckets. Each is one query, and answers None (or counts from the history) while
the user's tallies cannot answer: never built, being built, or cut in a zone the user left.

Every read starts from a one-row header about the user (``_HEADER``): the zone their tallies are ready
in, whether they have a calibrated ladder, whether they have any history at all. Without history there
is nothing to count, so the tallies answer (with nothing) even before they are built.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connections, router

from modules.common.time import local_day_bounds
from modules.learning import selectors
from modules.learning.models import ReviewTally
from modules.learning.services.analytics import CategoryReviewStats, ResultCounts
from modules.learning.services.recall import ElapsedBucketStats, review_counts_by_elapsed
from modules.learning.services.tallies import ELAPSED_BUCKET_UPPER_DAYS

_SUMMED = ("remembered", "partial", "forgot", "predicted_sum", "predicted_count")


@dataclass(frozen=True)
class BucketTally:
    bucket: int
    reviews: ResultCounts
    predicted_sum: float
    predicted_count: int


@dataclass(frozen=True)
class TallyWindow:
    by_day: dict[date, ResultCounts]
    by_category: dict[int | None, ResultCounts]  # None: no category


def _reader() -> Any:
    return connections[router.db_for_read(ReviewTally)]


# One row about the user: the zone their tallies are ready in (NULL: none, "": being built), whether
# they have a calibrated ladder, whether they have any history at all (without, there is nothing to
# count, ready or not). Placeholders: the user id, three times.
_HEADER = (
    "(SELECT (SELECT timezone_name FROM learning_reviewtallystate WHERE user_id = %s) AS zone, "
    "(SELECT CASE WHEN ladder_stabilities IS NULL THEN 0 ELSE 1 END FROM learning_learnermemorymodel "
    "WHERE user_id = %s) AS calibrated, "
    "(SELECT 1 FROM learning_reviewhistory WHERE user_id = %s LIMIT 1) AS reviewed) h"
)


def _usable(header: tuple[Any, ...], tz_name: str) -> bool:
    """Whether the tallies answer for the user: ready in their zone, or nothing to count."""
    zone_name, _, reviewed = header
    return (bool(zone_name) and zone_name == tz_name) or reviewed is None


def _bucket_rows(
    *, user_id: int, tz_name: str, first_day: date | None
) -> tuple[list[BucketTally], bool] | None:
    """Per bucket, the user's tallied reviews of ``first_day`` and after (all time without), and
    whether the learner has a calibrated ladder; None while the tallies cannot answer. One query."""
    columns = ", ".join(f"SUM(t.{name})" for name in _SUMMED)
    if first_day is None:
        join = "LEFT JOIN learning_reviewtotal t ON t.user_id = %s"
        params: list[Any] = [user_id, user_id, user_id, user_id]
    else:
        join = "LEFT JOIN learning_reviewtally t ON t.user_id = %s AND t.day >= %s"
        params = [user_id, user_id, user_id, user_id, first_day]
    with _reader().cursor() as cursor:
        cursor.execute(
            f"SELECT h.zone, h.calibrated, h.reviewed, t.bucket, {columns} FROM {_HEADER} {join} "  # noqa: S608 (no value in the text)
            "GROUP BY h.zone, h.calibrated, h.reviewed, t.bucket",
            params,
        )
        rows = cursor.fetchall()
    if not _usable(rows[0][:3], tz_name):
        return None
    found = [
        BucketTally(
            bucket=int(bucket),
            reviews=ResultCounts(remembered=int(remembered), partial=int(partial), forgot=int(forgot)),
            predicted_sum=float(predicted_sum or 0.0),
            predicted_count=int(predicted_count or 0),
        )
        for _, _, _, bucket, remembered, partial, forgot, predicted_sum, predicted_count in rows
        if bucket is not None
    ]
    return found, bool(rows[0][1])


def bucket_tallies(*, user_id: int, tz_name: str, first_day: date | None = None) -> list[BucketTally] | None:
    """Per bucket, the user's reviews of ``first_day`` and after (or all); None while the tallies are
    not ready in ``tz_name``. One query."""
    found = _bucket_rows(user_id=user_id, tz_name=tz_name, first_day=first_day)
    return None if found is None else found[0]


def elapsed_bucket_stats(
    *,
    user_id: int,
    tz_name: str,
    first_day: date | None = None,
    when_not_ready: Callable[[], None] | None = None,
) -> list[ElapsedBucketStats]:
    """The user's reviews of ``first_day`` and after (or all) in the ``ELAPSED_BUCKET_UPPER_DAYS``
    buckets, as ``review_counts_by_elapsed`` answers them: from the tallies (one query), else from the
    history (a second). The history also answers for a learner with a calibrated ladder, whose ladder
    reviews are predicted again by the model now in use (services/recall.py), which the tallies'
    recorded predictions cannot give."""
    found = _bucket_rows(user_id=user_id, tz_name=tz_name, first_day=first_day)
    if found is None and when_not_ready is not None:
        when_not_ready()
    if found is None or found[1]:
        since = local_day_bounds(first_day, tz_name)[0] if first_day is not None else None
        return review_counts_by_elapsed(
            user_id=user_id, upper_bounds_days=ELAPSED_BUCKET_UPPER_DAYS, since=since
        )
    by_bucket = {tally.bucket: tally for tally in found[0]}
    answer = []
    for index in range(len(ELAPSED_BUCKET_UPPER_DAYS) + 1):
        tally = by_bucket.get(index)
        if tally is None:
            answer.append(
                ElapsedBucketStats(
                    index=index, reviews=ResultCounts(), predicted_mean=None, predicted_reviews=0
                )
            )
            continue
        answer.append(
            ElapsedBucketStats(
                index=index,
                reviews=tally.reviews,
                predicted_mean=tally.predicted_sum / tally.predicted_count if tally.predicted_count else None,
                predicted_reviews=tally.predicted_count,
            )
        )
    return answer


def tally_window(*, user_id: int, tz_name: str, first_day: date, last_day: date) -> TallyWindow | None:
    """The user's results per local day and per category over [first_day, last_day]; None while the
    tallies cannot answer in ``tz_name``. One query.

    On PostgreSQL it reads ``ReviewDayTally`` (the tallies summed over their buckets by a trigger,
    migration 0007): at most one row per day and category, where the tallies have one per bucket too
    (heavy bench learner, 30 days: 150 rows instead of 1,016, 1.06 -> 0.2 ms execution)."""
    reader = _reader()
    if reader.vendor == "postgresql":
        return _tally_window_grouped(reader, user_id=user_id, tz_name=tz_name, days=(first_day, last_day))
    with reader.cursor() as cursor:
        cursor.execute(
            "SELECT h.zone, h.calibrated, h.reviewed, t.day, t.category_id, "  # noqa: S608 (no value in the text)
            f"SUM(t.remembered), SUM(t.partial), SUM(t.forgot) FROM {_HEADER} "
            "LEFT JOIN learning_reviewtally t ON t.user_id = %s AND t.day >= %s AND t.day <= %s "
            "GROUP BY h.zone, h.calibrated, h.reviewed, t.day, t.category_id",
            [user_id, user_id, user_id, user_id, first_day, last_day],
        )
        rows = cursor.fetchall()
    if not _usable(rows[0][:3], tz_name):
        return None
    by_day: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_category: dict[int | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    for day, category_id, *counts in (row[3:] for row in rows):
        if day is None:
            continue
        if isinstance(day, str):  # SQLite answers dates as text
            day = date.fromisoformat(day)
        for sums in (by_day[day], by_category[category_id or None]):
            for index, value in enumerate(counts):
                sums[index] += int(value)
    return TallyWindow(
        by_day={day: ResultCounts(*sums) for day, sums in by_day.items()},
        by_category={key: ResultCounts(*sums) for key, sums in by_category.items()},
    )


def _tally_window_grouped(
    reader: Any, *, user_id: int, tz_name: str, days: tuple[date, date]
) -> TallyWindow | None:
    """``tally_window`` on PostgreSQL: the day tallies summed per day and per category by the
    database (``GROUPING SETS``): heavy bench learner, 30 days, 35 rows to read instead of 150."""
    with reader.cursor() as cursor:
        cursor.execute(
            "SELECT h.zone, h.calibrated, h.reviewed, GROUPING(t.day), t.day, t.category_id, "  # noqa: S608
            f"SUM(t.remembered), SUM(t.partial), SUM(t.forgot) FROM {_HEADER} "
            "LEFT JOIN learning_reviewdaytally t ON t.user_id = %s AND t.day >= %s AND t.day <= %s "
            "GROUP BY h.zone, h.calibrated, h.reviewed, GROUPING SETS ((t.day), (t.category_id))",
            [user_id, user_id, user_id, user_id, *days],
        )
        rows = cursor.fetchall()
    if not _usable(rows[0][:3], tz_name):
        return None
    by_day: dict[date, ResultCounts] = {}
    by_category: dict[int | None, ResultCounts] = {}
    for per_category, day, category_id, remembered, partial, forgot in (row[3:] for row in rows):
        if remembered is None:  # the outer join's empty row: nothing tallied in the window
            continue
        counts = ResultCounts(int(remembered), int(partial), int(forgot))
        if per_category:
            by_category[category_id or None] = counts  # the day tallies file "no category" under 0
        else:
            by_day[day] = counts
    return TallyWindow(by_day=by_day, by_category=by_category)


def category_review_stats(*, user_id: int, window: TallyWindow) -> list[CategoryReviewStats]:
    """The user's categories (by name) with their content counts and their results in ``window``
    (``category_review_counts`` from the tallies). One query."""
    return [
        CategoryReviewStats(
            id=row["id"],
            name=row["name"],
            content_count=row["content_count"],
            reviews=window.by_category.get(row["id"], ResultCounts()),
        )
        for row in selectors.category_rows(user_id=user_id)
    ]
