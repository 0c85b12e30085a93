"""Review tallies: counts of each user's reviews per local day, category and elapsed-time bucket
(``ReviewTally``), and per bucket over all time (``ReviewTotal``), so that the dashboard and the
retention view read a few hundred rows instead of a learner's whole history.

**Kept exact by the writes.** Every write that adds history (a review, an import), removes it (a
content deleted) or moves it (a content changing category, a category deleted) updates the tallies in
its own transaction, with additive upserts. Nothing is ever counted from a copy that may be late.

**Ready or not.** A user's tallies are used only while ``ReviewTallyState`` says they are complete and
cut in the user's current time zone. Until they are built (``build_review_tallies`` hourly for active
learners, after an import, and queued by insights when a learner's analytics find them not ready), or
after the user moved to another zone, reads count from the history itself, as they did before tallies
existed, and writes leave the tallies alone: the next build recounts them.

**Race-free builds.** A build locks the user's state row (``FOR UPDATE``); every tally write locks it
too (``FOR SHARE``, on PostgreSQL) in the statement that adds its counts. Whichever comes second waits
for the first to commit: a review recorded while a build runs is either in the build's count or added
after it, never both, never neither. The state row is created before the build's transaction, so
there is always a row to lock.

The elapsed time of a review is written on its history row (``ReviewHistory.elapsed_days``: days since
the card's previous review, or its creation); a build first fills it where it is missing. The reads
are in services/tally_reads.py.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Case, Count, F, FloatField, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from modules.common.time import local_date, zone
from modules.identity import services as identity
from modules.learning.models import (
    ReviewHistory,
    ReviewTally,
    ReviewTallyState,
    ReviewTotal,
)
from modules.learning.services import card_memory
from modules.learning.services.analytics import reviewer_ids

logger = logging.getLogger(__name__)

# Upper bounds (days, inclusive) of the elapsed-time buckets; the last bucket takes everything beyond.
# Whole days with halves rounding down: "0-1", "2-3", "4-7", "8-14", "15-30", "31-90", "91+".
ELAPSED_BUCKET_UPPER_DAYS: tuple[float, ...] = (1.5, 3.5, 7.5, 14.5, 30.5, 90.5)
NO_CATEGORY = 0
SECONDS_PER_DAY = 86_400.0

_RESULTS = ("remembered", "partial", "forgot")
_COUNTS = ("remembered", "partial", "forgot", "predicted_sum", "predicted_count", "time_spent_seconds")


def elapsed_bucket(elapsed_days: float) -> int:
    """The bucket of an elapsed time: the first whose upper bound it does not pass."""
    return bisect.bisect_left(ELAPSED_BUCKET_UPPER_DAYS, elapsed_days)


def elapsed_days_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / SECONDS_PER_DAY


class TalliedReview(NamedTuple):
    """What a tally needs of one review."""

    reviewed_at: datetime
    category_id: int | None
    elapsed_days: float
    result: str
    predicted: float | None
    time_spent_seconds: int | None


# --- Writes: additive upserts inside the caller's transaction ----------------------------------------


def _sums(reviews: Iterable[TalliedReview], tz_name: str, sign: int) -> tuple[dict, dict]:
    by_key: dict[tuple[date, int, int], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0, 0])
    by_bucket: dict[int, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0, 0])
    for review in reviews:
        bucket = elapsed_bucket(review.elapsed_days)
        key = (local_date(review.reviewed_at, tz_name), review.category_id or NO_CATEGORY, bucket)
        for sums in (by_key[key], by_bucket[bucket]):
            sums[_RESULTS.index(review.result)] += sign
            if review.predicted is not None:
                sums[3] += sign * review.predicted
                sums[4] += sign
            sums[5] += sign * (review.time_spent_seconds or 0)
    return by_key, by_bucket


def _upsert_sql(table: str, keys: Sequence[str], rows: int, vendor: str, only_if: str = "") -> str:
    """An additive upsert of ``rows`` rows into ``table``, which adds nothing unless the user's tallies
    are ready (on PostgreSQL the ``ready`` CTE the caller puts in front; elsewhere its own subquery).
    Placeholders: the rows' values, then (user id, zone) elsewhere, or the zone on PostgreSQL."""
    columns = ["user_id", *keys, *_COUNTS]
    quoted = ", ".join(columns)
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    values = ", ".join([placeholder] * rows)
    conflict = ", ".join(["user_id", *keys])
    updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in _COUNTS)
    if vendor == "postgresql":
        ready = "SELECT 1 FROM ready WHERE ready.timezone_name = %s AND ready.timezone_name <> ''"
        source = f"SELECT * FROM (VALUES {values}) AS v ({quoted}) WHERE EXISTS ({ready})"  # noqa: S608
        if only_if:
            source = f"{source} AND {only_if}"
    else:
        ready = "SELECT 1 FROM learning_reviewtallystate WHERE user_id = %s AND timezone_name = %s AND timezone_name <> ''"
        source = f"SELECT * FROM (VALUES {values}) WHERE EXISTS ({ready})"  # noqa: S608
    return f"INSERT INTO {table} ({quoted}) {source} ON CONFLICT ({conflict}) DO UPDATE SET {updates}"


def _statements(
    *, user_id: int, tz_name: str, by_key: dict, by_bucket: dict, only_if: str = ""
) -> list[tuple[str, list[Any]]]:
    """The upserts adding the sums to the user's tallies and totals, with their parameters (see
    ``_upsert_sql`` for what they need around them); ``only_if`` (PostgreSQL): an SQL condition of
    the composed statement they also need."""
    statements: list[tuple[str, list[Any]]] = []
    for table, keys, sums in (
        ("learning_reviewtally", ("day", "category_id", "bucket"), by_key),
        ("learning_reviewtotal", ("bucket",), by_bucket),
    ):
        if sums:
            rows = [
                (user_id, *(key if isinstance(key, tuple) else (key,)), *values)
                for key, values in sums.items()
            ]
            params = [value for row in rows for value in row]
            params += [tz_name] if connection.vendor == "postgresql" else [user_id, tz_name]
            statements.append((_upsert_sql(table, keys, len(rows), connection.vendor, only_if), params))
    return statements


# On PostgreSQL every tally write starts with this CTE (placeholder: the user id): the state row, locked
# FOR SHARE whatever its zone, so a build waits for the write or the write for the build.
READY_CTE = "ready AS (SELECT timezone_name FROM learning_reviewtallystate WHERE user_id = %s FOR SHARE)"


def _composed(user_id: int, steps: Sequence[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """The steps as one statement: the ``ready`` CTE, every step but the last as a CTE, the last."""
    params: list[Any] = [user_id]
    ctes = [READY_CTE]
    for index, (sql, values) in enumerate(steps[:-1]):
        ctes.append(f"step{index} AS ({sql})")
        params += values
    return f"WITH {', '.join(ctes)} {steps[-1][0]}", [*params, *steps[-1][1]]


def with_tallies(
    *,
    user_id: int,
    tz_name: str,
    reviews: Iterable[TalliedReview],
    writes: Sequence[tuple[str, list[Any]]],
    only_if: str = "",
    then: tuple[str, list[Any]] | None = None,
) -> tuple[str, list[Any]]:
    """PostgreSQL only: one statement that runs ``writes`` (at least one data-modifying statement of
    the caller, with its parameters; the first is the CTE ``step0``, the next ``step1``...) and counts
    ``reviews`` in the tallies, only where the SQL condition ``only_if`` holds (it may name the
    caller's steps); ``then``: a final query of the statement (its result is the statement's)."""
    by_key, by_bucket = _sums(reviews, tz_name, 1)
    counts = _statements(
        user_id=user_id, tz_name=tz_name, by_key=by_key, by_bucket=by_bucket, only_if=only_if
    )
    return _composed(user_id, [*writes, *counts, *([then] if then is not None else [])])


def _apply(*, user_id: int, tz_name: str, by_key: dict, by_bucket: dict) -> None:
    """Adds the sums to the user's tallies and totals, if the tallies are ready in ``tz_name``: one
    statement on PostgreSQL, one per table elsewhere."""
    statements = _statements(user_id=user_id, tz_name=tz_name, by_key=by_key, by_bucket=by_bucket)
    if not statements:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(*_composed(user_id, statements))
        else:
            for sql, values in statements:
                cursor.execute(sql, values)


def add_reviews(*, user_id: int, tz_name: str, reviews: Iterable[TalliedReview]) -> None:
    """Counts newly recorded reviews (call it in the transaction that writes them)."""
    by_key, by_bucket = _sums(reviews, tz_name, 1)
    _apply(user_id=user_id, tz_name=tz_name, by_key=by_key, by_bucket=by_bucket)


def _history_of(content_ids: Sequence[int]) -> list[TalliedReview]:
    rows = ReviewHistory.objects.filter(content_id__in=list(content_ids)).values_list(
        "reviewed_at",
        "content__category_id",
        "elapsed_days",
        "result",
        "retrievability_before",
        "time_spent_seconds",
    )
    return [TalliedReview(*row) for row in rows if row[2] is not None]


def remove_contents(*, user_id: int, tz_name: str, content_ids: Sequence[int]) -> None:
    """Uncounts the reviews of contents about to be deleted with their history (call it in the
    deleting transaction, after locking them)."""
    by_key, by_bucket = _sums(_history_of(content_ids), tz_name, -1)
    _apply(user_id=user_id, tz_name=tz_name, by_key=by_key, by_bucket=by_bucket)


def move_content(*, user_id: int, tz_name: str, content_id: int, to_category_id: int | None) -> None:
    """Moves a content's reviews to the category it is about to get (in the updating transaction,
    the content row locked); a no-op when the category does not change."""
    reviews = _history_of([content_id])
    if not reviews or (reviews[0].category_id or NO_CATEGORY) == (to_category_id or NO_CATEGORY):
        return
    gone, _ = _sums(reviews, tz_name, -1)
    moved, _ = _sums((review._replace(category_id=to_category_id) for review in reviews), tz_name, 1)
    for key, sums in moved.items():
        gone[key] = sums  # keys differ by category: never the same key twice
    _apply(user_id=user_id, tz_name=tz_name, by_key=gone, by_bucket={})


def uncategorise(*, user_id: int, category_id: int) -> None:
    """Moves the tallies of a category about to be deleted to "no category" (its contents stay)."""
    columns = ", ".join(_COUNTS)
    updates = ", ".join(f"{name} = learning_reviewtally.{name} + excluded.{name}" for name in _COUNTS)
    lock = (
        "SELECT 1 FROM learning_reviewtallystate WHERE user_id = %s FOR SHARE"
        if connection.vendor == "postgresql"
        else None
    )
    with connection.cursor() as cursor:
        if lock:
            cursor.execute(lock, [user_id])
        cursor.execute(
            f"INSERT INTO learning_reviewtally (user_id, day, category_id, bucket, {columns}) "  # noqa: S608
            f"SELECT user_id, day, %s, bucket, {columns} FROM learning_reviewtally "
            "WHERE user_id = %s AND category_id = %s "
            f"ON CONFLICT (user_id, day, category_id, bucket) DO UPDATE SET {updates}",
            [NO_CATEGORY, user_id, category_id],
        )
    ReviewTally.objects.filter(user_id=user_id, category_id=category_id).delete()


# --- Builds ------------------------------------------------------------------------------------------


def _bucket_expression() -> Case:
    return Case(
        *[
            When(elapsed_days__lte=bound, then=Value(index))
            for index, bound in enumerate(ELAPSED_BUCKET_UPPER_DAYS)
        ],
        default=Value(len(ELAPSED_BUCKET_UPPER_DAYS)),
        output_field=IntegerField(),
    )


def _counted(queryset: Any) -> Any:
    return queryset.annotate(
        remembered=Count("id", filter=Q(result="remembered")),
        partial=Count("id", filter=Q(result="partial")),
        forgot=Count("id", filter=Q(result="forgot")),
        predicted_sum=Coalesce(Sum("retrievability_before"), Value(0.0), output_field=FloatField()),
        predicted_count=Count("retrievability_before"),
        time_spent=Coalesce(Sum("time_spent_seconds"), Value(0)),
    ).order_by()


def _fill_elapsed(user_id: int) -> int:
    """Writes ``elapsed_days`` on the user's history rows that lack it (rows written before the column
    existed, or by a bulk writer): days since the card's previous review, else its creation."""
    if not ReviewHistory.objects.filter(user_id=user_id, elapsed_days__isnull=True).exists():
        return 0
    if connection.vendor == "postgresql":
        elapsed = "CAST(EXTRACT(EPOCH FROM (h.reviewed_at - {previous})) AS double precision) / 86400.0"
    else:
        elapsed = "(julianday(h.reviewed_at) - julianday({previous}))"
    previous = "COALESCE(LAG(h.reviewed_at) OVER (PARTITION BY h.content_id ORDER BY h.reviewed_at, h.id), c.created_at)"
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE learning_reviewhistory SET elapsed_days = e.elapsed FROM ("  # noqa: S608
            f"SELECT h.id AS id, {elapsed.format(previous=previous)} AS elapsed "
            "FROM learning_reviewhistory h INNER JOIN learning_content c ON c.id = h.content_id "
            "WHERE h.user_id = %s) e "
            "WHERE learning_reviewhistory.id = e.id AND learning_reviewhistory.elapsed_days IS NULL",
            [user_id],
        )
        return cursor.rowcount


def rebuild_review_tallies(*, user_id: int, tz_name: str, now: datetime | None = None) -> None:
    """Counts the user's tallies afresh from the history, with days cut in ``tz_name``, and marks them
    ready. Idempotent; safe beside concurrent reviews (see the module docstring)."""
    ReviewTallyState.objects.get_or_create(user_id=user_id, defaults={"timezone_name": ""})  # a row to lock
    with transaction.atomic():
        list(ReviewTallyState.objects.select_for_update().filter(user_id=user_id).values_list("pk"))
        _fill_elapsed(user_id)
        ReviewTally.objects.filter(user_id=user_id).delete()
        ReviewTotal.objects.filter(user_id=user_id).delete()
        history = ReviewHistory.objects.filter(user_id=user_id)
        by_day = _counted(
            history.annotate(
                day=TruncDate("reviewed_at", tzinfo=zone(tz_name)),
                category_key=Coalesce(F("content__category_id"), Value(NO_CATEGORY)),
                bucket=_bucket_expression(),
            ).values("user_id", "day", "category_key", "bucket")
        ).values_list(
            "user_id",
            "day",
            "category_key",
            "bucket",
            *_RESULTS,
            "predicted_sum",
            "predicted_count",
            "time_spent",
        )
        by_bucket = _counted(
            history.annotate(bucket=_bucket_expression()).values("user_id", "bucket")
        ).values_list("user_id", "bucket", *_RESULTS, "predicted_sum", "predicted_count", "time_spent")
        columns = ", ".join(_COUNTS)
        with connection.cursor() as cursor:
            sql, params = by_day.query.sql_with_params()
            cursor.execute(
                f"INSERT INTO learning_reviewtally (user_id, day, category_id, bucket, {columns}) {sql}",
                params,
            )
            sql, params = by_bucket.query.sql_with_params()
            cursor.execute(f"INSERT INTO learning_reviewtotal (user_id, bucket, {columns}) {sql}", params)
        ReviewTallyState.objects.filter(user_id=user_id).update(
            timezone_name=tz_name, built_at=now or timezone.now()
        )


# --- Builds after a bulk write, and the hourly job -----------------------------------------------------


def recount_if_ready(*, user_id: int, tz_name: str) -> None:
    """After history was written in bulk (an import): recounts the user's tallies if they are in use;
    otherwise the next build counts everything."""
    if (
        ReviewTallyState.objects.filter(user_id=user_id, timezone_name=tz_name)
        .exclude(timezone_name="")
        .exists()
    ):
        rebuild_review_tallies(user_id=user_id, tz_name=tz_name)


def build_review_tallies_of(*, user_id: int) -> bool:
    """Builds one user's tallies in their current zone unless they are ready; True when it built."""
    zones = identity.timezones_for_user_ids([user_id])
    if user_id not in zones:
        return False  # the account is gone
    if ReviewTallyState.objects.filter(user_id=user_id, timezone_name=zones[user_id]).exists():
        return False
    rebuild_review_tallies(user_id=user_id, tz_name=zones[user_id])
    return True


def build_review_tallies(*, now: datetime | None = None, active_days: int = 30, limit: int = 500) -> int:
    """Builds the tallies of up to ``limit`` users who reviewed in the last ``active_days`` days and
    have none, or have them cut in a zone they left (and then asks the worker to rebuild their card
    memory, whose days moved too). Returns how many were built."""
    now = now or timezone.now()
    active = reviewer_ids(since=now - timedelta(days=active_days))
    zones = identity.timezones_for_user_ids(active)
    ready = dict(
        ReviewTallyState.objects.filter(user_id__in=list(zones)).values_list("user_id", "timezone_name")
    )
    needing = sorted(user_id for user_id, tz_name in zones.items() if ready.get(user_id) != tz_name)
    for user_id in needing[:limit]:
        rebuild_review_tallies(user_id=user_id, tz_name=zones[user_id], now=now)
        if ready.get(user_id):  # they moved zone: their kept card memory counts days in the old one
            card_memory.enqueue_rebuild(user_id=user_id)
    if needing:
        logger.info(
            "review tallies built",
            extra={"users": min(len(needing), limit), "waiting": max(len(needing) - limit, 0)},
        )
    return min(len(needing), limit)
