"""Predicted recall in aggregate, for the insights module: the mean recall of a user's cards at given
moments, and the user's review results by the time elapsed since the previous review (calibration).

Both read the learner's memory model (``LearnerMemoryModel``, services/memory.py) in the same query:

``mean_recall`` evaluates the recall models in SQL, mirroring ``RecallCurves.estimate`` (the queue's
estimate; tests compare the two): FSRS's power curve with the learner's fitted decay for cards that
carry FSRS memory; for the others the learner's calibrated ladder (FSRS-6's curve with one fitted
stability per stage) when it was fitted for the ladder given, else the ladder's built-in exponential
curve (``scheduling.estimate_recall``).

``review_counts_by_elapsed``'s predicted recall is what was recorded with each review
(``retrievability_before``), except for reviews scheduled by the ladder of a learner with a calibrated
ladder: their prediction is the calibrated model's, from the stage before the review and the whole
calendar days since the previous one (as the model was fitted), so the retention view compares the
learner's outcomes with the model now in use, for old reviews too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.db import NotSupportedError, connections, router
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Expression,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Exp, Greatest, Power

from modules.common.compiled import fetch_rows
from modules.learning.models import (
    Content,
    LearnerMemoryModel,
    RecallGroup,
    ReviewHistory,
    ReviewSchedule,
)
from modules.learning.scheduling import TARGET_RETENTION, ReviewResult, SchedulerKind
from modules.learning.scheduling.fsrs_scheduler import DEFAULT_PARAMETERS
from modules.learning.services.analytics import ResultCounts
from modules.learning.services.memory import ladder_key_of

_REMEMBERED = ReviewResult.REMEMBERED.value
_PARTIAL = ReviewResult.PARTIAL.value
_FORGOT = ReviewResult.FORGOT.value
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ElapsedBucketStats:
    """Reviews whose time since the card's previous review (or creation) fell in one bucket."""

    index: int
    reviews: ResultCounts
    predicted_mean: float | None  # mean ReviewHistory.retrievability_before, where it was recorded
    predicted_reviews: int  # how many reviews carried a prediction


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


_MEMORY = "user__learning_memory__"  # the learner's LearnerMemoryModel, joined (one row or none)


def _json_float(field: str, index: int) -> Cast:
    """Element ``index`` of the learner's JSON list ``field``, as a double."""
    return Cast(KeyTextTransform(str(index), f"{_MEMORY}{field}"), FloatField())


def _power_curve(*, elapsed: Expression, stability: Expression, decay: Expression) -> Power:
    """FSRS-6's curve (1 + F t / S)^(-decay), F = 0.9^(-1/decay) - 1, in SQL."""
    factor = Power(Value(0.9), Value(-1.0) / decay) - Value(1.0)
    return Power(Value(1.0) + factor * elapsed / stability, Value(-1.0) * decay)


def _recall_expression(*, at: datetime, intervals: tuple[int, ...], anchor: str) -> Case:
    """The recall of one card at ``at``, its memory last refreshed at the field ``anchor``."""
    elapsed = Greatest(_DaysBetween(Value(at, output_field=DateTimeField()), F(anchor)), Value(0.0))
    calibrated = _power_curve(
        elapsed=elapsed,
        stability=Case(
            *[
                When(stage=stage, then=_json_float("ladder_stabilities", stage))
                for stage in range(len(intervals) - 1)
            ],
            # beyond the ladder: its last stage
            default=_json_float("ladder_stabilities", len(intervals) - 1),
            output_field=FloatField(),
        ),
        decay=F(f"{_MEMORY}ladder_decay"),
    )
    fitted_fsrs = _power_curve(
        elapsed=elapsed,
        stability=Greatest(F("stability"), Value(_FSRS_MIN_STABILITY)),
        decay=_json_float("fsrs_weights", 20),
    )
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
    has_fitted_fsrs = Q(**{f"{_MEMORY}fsrs_weights__isnull": False})
    has_calibrated_ladder = Q(**{f"{_MEMORY}ladder_key": ladder_key_of(intervals)})
    return Case(
        When(has_fsrs_memory & has_fitted_fsrs, then=fitted_fsrs),
        When(has_fsrs_memory, then=fsrs),
        When(has_calibrated_ladder, then=calibrated),
        default=ladder,
        output_field=FloatField(),
    )


# --- The rollup: the mean recall from the user's recall groups -------------------------------------
#
# ``RecallGroup`` (models.py; kept by triggers, migration 0006) sums the user's cards per (kind, stage,
# anchor day): n, and the first two moments of the anchors' offsets within the day. Every card of a
# group shares its curve f (its stage's), so with x the time since a card's anchor and m the group's
# mean of x, Taylor's theorem gives exactly
#
#     sum f(x_i) = n f(m) + f2(m) sum (x_i - m)^2 / 2 + sum f3(y_i) (x_i - m)^3 / 6
#
# (f2, f3: the second and third derivatives; the first-order terms cancel around the mean). The first
# two terms come from the stored moments; the last is bounded by n var M3 / 6, with |x_i - m| < 1 day,
# var the group's variance of offsets and M3 the largest |f3| over the group's elapsed times (at its
# latest anchor: |f3| falls with the elapsed time for both curves). The bound is computed on every
# read; when the bound of the mean exceeds ``ROLLUP_TOLERANCE`` the exact per-card query answers
# instead, as it does for cards with FSRS memory (each has its own stability: not summed), for a
# moment before a group's latest anchor, and off PostgreSQL. For the ladder's built-in curve
# exp(-x/s), s >= 9.49 days (a 1-day interval), the bound is at most 1/(24 s^3) < 5e-5 for any group
# (variance <= 1/4) and about a third of that for evenly spread anchors, so it always answers.

ROLLUP_TOLERANCE = 5e-5  # half the last decimal the dashboard shows (4 places)


def _recall_from_groups(
    *, user_id: int, intervals: tuple[int, ...], at: Sequence[datetime]
) -> list[float | None] | None:
    """The mean recall at each moment from the rollup, or None where it cannot answer within
    ``ROLLUP_TOLERANCE`` (the caller then runs the exact query). One query."""
    connection = connections[router.db_for_read(RecallGroup)]
    if connection.vendor != "postgresql":
        return None
    groups = connection.ops.quote_name(RecallGroup._meta.db_table)
    memory = connection.ops.quote_name(LearnerMemoryModel._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT g.fsrs, g.stage, g.day, g.cards, g.offset_sum, g.offset_square_sum, g.anchor_max,
                       m.ladder_key, CAST(m.ladder_stabilities AS text), m.ladder_decay
                  FROM {groups} g LEFT JOIN {memory} m ON m.user_id = g.user_id
                 WHERE g.user_id = %s""",  # noqa: S608 (table names from the models)
            [user_id],
        )
        rows = cursor.fetchall()
    if not rows:
        return [None] * len(at)
    if any(row[0] for row in rows):
        return None
    ladder_key, stabilities_text, decay = rows[0][7], rows[0][8], rows[0][9]
    last = len(intervals) - 1
    stages = np.minimum(np.array([row[1] for row in rows], dtype=np.int64), last)
    cards = np.array([row[3] for row in rows], dtype=np.float64)
    mean_offset = np.array([row[4] for row in rows], dtype=np.float64) / cards
    variance = np.maximum(np.array([row[5] for row in rows], dtype=np.float64) / cards - mean_offset**2, 0.0)
    mean_anchor = np.array([row[2] for row in rows], dtype=np.float64) + mean_offset
    latest_anchor = np.array([row[6] for row in rows], dtype=np.float64)
    if ladder_key == ladder_key_of(intervals) and stabilities_text is not None and decay is not None:
        stabilities = json.loads(stabilities_text)
        if len(stabilities) < len(intervals) or decay <= 0 or min(stabilities[: len(intervals)]) <= 0:
            return None
        rate = (0.9 ** (-1.0 / decay) - 1.0) / np.array(stabilities, dtype=np.float64)[stages]

        def curve(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # f and its second derivative
            base = 1.0 + rate * x
            return base**-decay, decay * (decay + 1.0) * rate**2 * base ** (-decay - 2.0)

        def third(x: np.ndarray) -> np.ndarray:  # |f3|
            return decay * (decay + 1.0) * (decay + 2.0) * rate**3 * (1.0 + rate * x) ** (-decay - 3.0)

    else:
        strength = np.array(intervals, dtype=np.float64)[stages] * _LADDER_STRENGTH_PER_DAY

        def curve(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            value = np.exp(-x / strength)
            return value, value / strength**2

        def third(x: np.ndarray) -> np.ndarray:
            return np.exp(-x / strength) / strength**3

    total = float(cards.sum())
    answer: list[float | None] = []
    for moment in at:
        now = (moment - _EPOCH).total_seconds() / 86_400.0
        if now < latest_anchor.max():
            return None
        value, second = curve(now - mean_anchor)
        bound = float((cards * variance * third(now - latest_anchor)).sum()) / 6.0 / total
        if bound > ROLLUP_TOLERANCE:
            return None
        answer.append(float((cards * (value + second * variance / 2.0)).sum()) / total)
    return answer


def mean_recall(*, user_id: int, intervals: tuple[int, ...], at: Sequence[datetime]) -> list[float | None]:
    """The mean recall probability of the user's scheduled cards at each moment of ``at`` (None when
    the user has no cards), assuming no review in between, with the learner's memory model for the
    ladder ``intervals`` (their tier's).

    From the user's recall groups (one query, a few hundred rows whatever the number of cards; within
    ``ROLLUP_TOLERANCE`` of the exact mean, see above) where they can answer; else one more query that
    evaluates every card (``exact_mean_recall``).
    """
    if not at:
        return []
    if not intervals:
        raise ValueError("a ladder needs at least one interval")
    from_groups = _recall_from_groups(user_id=user_id, intervals=intervals, at=at)
    if from_groups is not None:
        return from_groups
    return exact_mean_recall(user_id=user_id, intervals=intervals, at=at)


def exact_mean_recall(
    *, user_id: int, intervals: tuple[int, ...], at: Sequence[datetime]
) -> list[float | None]:
    """``mean_recall`` evaluated card by card in SQL, the same on every database. One query.

    Reviewed cards are anchored at their last review, the others at their content's creation; the two
    are summed apart (``UNION ALL`` of two grouped sums) so that only never-reviewed cards join their
    content: one join for every card made PostgreSQL read every user's contents (40 ms for 10,000
    cards, 12 ms for 200, on the bench's database).
    """
    if not at:
        return []
    if not intervals:
        raise ValueError("a ladder needs at least one interval")
    moments = {f"at{index}": moment for index, moment in enumerate(at)}

    def parts(*, user_id: int, **moments: datetime) -> QuerySet:
        mine = ReviewSchedule.objects.filter(user_id=user_id).order_by()

        def summed(cards: QuerySet, anchor: str) -> QuerySet:
            sums = {
                name: Sum(_recall_expression(at=moment, intervals=intervals, anchor=anchor))
                for name, moment in moments.items()
            }
            return (
                cards.annotate(part=Value(anchor))
                .values("part")
                .annotate(cards=Count("id"), **sums)
                .values_list("cards", *sums)
            )

        reviewed = summed(mine.filter(last_reviewed_at__isnull=False), "last_reviewed_at")
        return reviewed.union(
            summed(mine.filter(last_reviewed_at__isnull=True), "content__created_at"), all=True
        )

    # The expression is large (every stage of the ladder, each model's curve): Django took ~15 ms to
    # compile it, PostgreSQL takes about 1 µs per card to run it; so it goes through the compiled-query
    # shortcut (modules/common/compiled.py), one shape per ladder.
    rows = fetch_rows(
        parts,
        shape=("learning.mean_recall", intervals, len(at)),
        args={"user_id": user_id, **moments},
        using=router.db_for_read(ReviewSchedule),  # the replica inside a lag-tolerant read
    )
    cards = sum(row[0] for row in rows)
    if not cards:
        return [None] * len(at)
    return [sum(row[1 + index] or 0.0 for row in rows) / cards for index in range(len(at))]


# --- Calibration: results by the time since the previous review --------------------------------------


def _elapsed_days_sql(vendor: str, later: str, earlier: str) -> str:
    if vendor == "postgresql":
        return f"(CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS double precision) / 86400.0)"
    if vendor == "sqlite":
        return f"(julianday({later}) - julianday({earlier}))"
    raise NotSupportedError(f"review_counts_by_elapsed is not implemented for {vendor}")


def _calibrated_prediction_sql(vendor: str, later: str, earlier: str) -> str:
    """The calibrated ladder's R for a review (``h``) given the model's row ``m``, in SQL.

    Whole learner days (the model's zone and day start) on PostgreSQL; SQLite (the embedded
    development default) has no time zones and counts whole 24-hour periods."""
    if vendor == "postgresql":

        def learner_day(moment: str) -> str:
            return f"CAST(({moment} AT TIME ZONE m.timezone_name) - make_interval(hours => m.day_start_hour) AS date)"

        days = f"CAST({learner_day(later)} - {learner_day(earlier)} AS double precision)"
        stability = (
            "CAST(m.ladder_stabilities ->> LEAST(h.stage_before, jsonb_array_length(m.ladder_stabilities) - 1) "
            "AS double precision)"
        )
    else:
        days = f"CAST(CAST(julianday({later}) - julianday({earlier}) AS INTEGER) AS REAL)"
        stability = (
            "CAST(json_extract(m.ladder_stabilities, '$[' || "
            "MIN(h.stage_before, json_array_length(m.ladder_stabilities) - 1) || ']') AS REAL)"
        )
    return (
        f"POWER(1.0 + (POWER(0.9, -1.0 / m.ladder_decay) - 1.0) * "
        f"(CASE WHEN {days} > 0 THEN {days} ELSE 0.0 END) / {stability}, -m.ladder_decay)"
    )


def review_counts_by_elapsed(
    *, user_id: int, upper_bounds_days: Sequence[float], since: datetime | None = None
) -> list[ElapsedBucketStats]:
    """The user's reviews (since ``since``, or all) grouped by the time elapsed since the card's
    previous review, or its creation for a first review.

    Bucket ``i`` holds elapsed times in (``upper_bounds_days[i-1]``, ``upper_bounds_days[i]``] days;
    the last bucket (index ``len(upper_bounds_days)``) everything beyond. Every bucket is in the
    answer, empty ones with zero counts. The predicted recall of a ladder review of a learner with a
    calibrated ladder is the calibrated model's (module docstring); others are the recorded ones.

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
    memory = connection.ops.quote_name(LearnerMemoryModel._meta.db_table)
    previous = (
        "COALESCE(LAG(h.reviewed_at) OVER (PARTITION BY h.content_id ORDER BY h.reviewed_at, h.id), "
        "c.created_at)"
    )
    elapsed = _elapsed_days_sql(connection.vendor, "h.reviewed_at", previous)
    calibrated = _calibrated_prediction_sql(connection.vendor, "h.reviewed_at", previous)
    predicted = (
        f"CASE WHEN h.scheduler = %s AND m.ladder_stabilities IS NOT NULL THEN {calibrated} "
        "ELSE h.retrievability_before END"
    )
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
               AVG(predicted),
               COUNT(predicted)
        FROM (
            SELECT e.result, e.predicted,
                   CASE {bucket} ELSE {len(bounds)} END AS bucket
            FROM (
                SELECT h.result, {predicted} AS predicted, h.reviewed_at, {elapsed} AS elapsed
                FROM {history} h INNER JOIN {content} c ON c.id = h.content_id
                LEFT JOIN {memory} m ON m.user_id = h.user_id
                WHERE h.user_id = %s {cards_in_window}
            ) e
            WHERE e.reviewed_at >= %s
        ) b
        GROUP BY bucket
    """  # noqa: S608 (table names from the models, every value a parameter)
    params: list[Any] = [_REMEMBERED, _PARTIAL, _FORGOT, *bounds, SchedulerKind.LADDER.value, user_id]
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
