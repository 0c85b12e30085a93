"""Each card's FSRS-6 memory under the learner's weights, kept on its schedule (as Anki keeps a card's
memory state and recomputes it when the parameters change).

The retention simulator starts every card from its FSRS-6 memory (stability, difficulty, the day of
its last review) after its whole history, replayed with the learner's weights in their calendar days.
Replaying a million reviews on every request took seconds; the memory is kept instead:

- **each review** steps its card's memory by one FSRS-6 review (``stepped_memory``, in the review's
  own statement: no query of its own). The result is exactly what a replay of the card's history gives
  (the same formulas, the same day numbers; tests/learning/test_card_memory.py);
- the memory records the **basis** it was computed under: a checksum of the weights and the zone
  (``memory_basis``). A review of a card whose memory has another basis (new weights were fitted, the
  learner moved to another zone) cannot step it and leaves it unkept (NULL);
- **rebuilds** (``rebuild_card_memory``) replay the learner's whole log under the current basis: after
  a fit that changed the weights, after an import, and when a simulation finds more than
  ``REBUILD_AFTER_UNKEPT`` unkept cards (a job). A card reviewed while the rebuild ran keeps what its
  review wrote (the rebuild's UPDATE applies only to schedules unchanged since it read them);
- the simulator (``current_memory``) uses every kept memory and replays the unkept cards alone from
  their histories, so its answer never depends on whether a rebuild ran.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
from django.db import connection, transaction

from modules.identity import services as identity
from modules.learning import selectors
from modules.learning.models import LearnerMemoryModel, ReviewSchedule
from modules.learning.scheduling import DEFAULT_FSRS_PARAMETERS, ReviewResult
from modules.learning.scheduling.fitting import RATING_OF_RESULT
from modules.learning.scheduling.fsrs6 import final_states, initial_state, next_state
from modules.learning.services.fit_models import review_table
from modules.learning.services.memory import learner_days

logger = logging.getLogger(__name__)

# a simulation that finds more unkept cards than this asks the worker to rebuild the learner's memory
REBUILD_AFTER_UNKEPT = 200
_UPDATE_CHUNK = 5_000


@lru_cache(maxsize=256)
def _basis(weights: tuple[float, ...], tz_name: str) -> int:
    text = ",".join(repr(float(value)) for value in weights) + "|" + tz_name
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def memory_basis(weights: Sequence[float] | None, tz_name: str) -> int:
    """The basis of memory computed with ``weights`` (None: FSRS's defaults) in ``tz_name``'s days."""
    return _basis(tuple(weights or DEFAULT_FSRS_PARAMETERS.weights), tz_name)


def learner_weights(user_id: int) -> tuple[float, ...]:
    """The learner's fitted FSRS-6 weights, or FSRS's defaults."""
    fitted = LearnerMemoryModel.objects.filter(user_id=user_id).values_list("fsrs_weights", flat=True).first()
    return tuple(fitted) if fitted else DEFAULT_FSRS_PARAMETERS.weights


@dataclass(frozen=True, slots=True)
class KeptMemory:
    """A card's kept memory (``ReviewSchedule.memory_*``); all None: not kept."""

    stability: float | None = None
    difficulty: float | None = None
    day: int | None = None
    basis: int | None = None

    def as_columns(self) -> dict[str, float | int | None]:
        return {
            "memory_stability": self.stability,
            "memory_difficulty": self.difficulty,
            "memory_day": self.day,
            "memory_basis": self.basis,
        }


NOT_KEPT = KeptMemory()


def stepped_memory(
    *,
    weights: Sequence[float] | None,
    tz_name: str,
    previous: KeptMemory,
    review_count: int,
    result: ReviewResult,
    at: datetime,
) -> KeptMemory:
    """The card's memory after a review at ``at`` (its ``review_count`` reviews before; ``weights``
    None: the defaults). NOT_KEPT when its memory before is not kept under the current basis."""
    w = tuple(weights or DEFAULT_FSRS_PARAMETERS.weights)
    basis = _basis(w, tz_name)
    rating = RATING_OF_RESULT[result]
    day = learner_days(tz_name).day(at)
    if review_count == 0:
        stability, difficulty = initial_state(w, rating)
    elif (
        previous.basis == basis
        and previous.stability is not None
        and previous.difficulty is not None
        and previous.day is not None
    ):
        stability, difficulty = next_state(
            w,
            stability=previous.stability,
            difficulty=previous.difficulty,
            elapsed_days=max(day - previous.day, 0),
            rating=rating,
        )
    else:
        return NOT_KEPT
    return KeptMemory(stability=stability, difficulty=difficulty, day=day, basis=basis)


@dataclass(frozen=True)
class ReplayedMemory:
    """Cards' memory after their whole history (numpy columns, one row per card with reviews)."""

    content_ids: np.ndarray
    stability: np.ndarray
    difficulty: np.ndarray
    days: np.ndarray  # of each card's last review


def replayed_memory(log: selectors.ReviewLog, *, weights: Sequence[float], tz_name: str) -> ReplayedMemory:
    """Every card of ``log`` replayed from its first review with ``weights`` in ``tz_name``'s days."""
    if not len(log):
        empty = np.zeros(0)
        return ReplayedMemory(empty.astype(np.int64), empty, empty, empty.astype(np.int64))
    days = learner_days(tz_name)
    table = review_table(log, days=days)
    stability, difficulty = final_states(weights, table.histories)
    rows = np.arange(len(table.card_ids))
    last_seen = table.reviewed_at[rows, table.histories.lengths - 1]
    return ReplayedMemory(
        content_ids=np.asarray(table.card_ids, dtype=np.int64),
        stability=np.asarray(stability, dtype=np.float64),
        difficulty=np.asarray(difficulty, dtype=np.float64),
        days=np.asarray(days.days_of_epochs(last_seen), dtype=np.int64),
    )


def rebuild_card_memory(*, user_id: int) -> int:
    """Replays the learner's whole log under their current weights and zone and keeps every card's
    memory. Cards reviewed (or otherwise changed) since their schedule was read are left as their
    review wrote them. Returns how many schedules it wrote; 0 for an account that is gone."""
    zones = identity.timezones_for_user_ids([user_id])
    if user_id not in zones:
        return 0
    tz_name = zones[user_id]
    weights = learner_weights(user_id)
    basis = memory_basis(weights, tz_name)
    # read before the log: a schedule changed after this read fails its guard below
    guards = {
        content_id: (count, last) for content_id, count, last in selectors.memory_guards(user_id=user_id)
    }
    replayed = replayed_memory(selectors.review_log(user_id=user_id), weights=weights, tz_name=tz_name)
    rows = [
        (content_id, float(s), float(d), int(day), basis, guards[content_id][0], guards[content_id][1])
        for content_id, s, d, day in zip(
            replayed.content_ids.tolist(),
            replayed.stability.tolist(),
            replayed.difficulty.tolist(),
            replayed.days.tolist(),
            strict=True,
        )
        if content_id in guards
    ]
    written = 0
    for start in range(0, len(rows), _UPDATE_CHUNK):
        written += _write_memory(user_id=user_id, rows=rows[start : start + _UPDATE_CHUNK])
    logger.info(
        "card memory rebuilt",
        extra={"user_id": user_id, "cards": len(rows), "written": written, "skipped": len(rows) - written},
    )
    return written


def forget_card_memory(*, user_id: int) -> int:
    """Marks every card memory of the learner unkept (after history was written in bulk)."""
    return ReviewSchedule.objects.filter(user_id=user_id, memory_basis__isnull=False).update(
        **NOT_KEPT.as_columns()
    )


def enqueue_rebuild(*, user_id: int) -> None:
    """Asks the worker to rebuild the learner's card memory (``rebuild_card_memory``)."""
    from django_q.tasks import async_task

    async_task("modules.learning.tasks.rebuild_card_memory", user_id, task_name=f"card-memory-{user_id}")


def _write_memory(*, user_id: int, rows: list[tuple]) -> int:
    """One UPDATE per chunk on PostgreSQL (arrays unnested), guarded by each schedule's review count
    and last review as read before the log; the ORM's updates elsewhere."""
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        columns = list(zip(*rows, strict=True))
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE learning_reviewschedule AS s SET memory_stability = v.stability, "
                "memory_difficulty = v.difficulty, memory_day = v.day, memory_basis = v.basis "
                "FROM unnest(%s::bigint[], %s::float8[], %s::float8[], %s::int4[], %s::int4[], %s::int8[], "
                "%s::timestamptz[]) AS v(content_id, stability, difficulty, day, basis, review_count, last) "
                "WHERE s.user_id = %s AND s.content_id = v.content_id AND s.review_count = v.review_count "
                "AND s.last_reviewed_at IS NOT DISTINCT FROM v.last",
                [*(list(column) for column in columns), user_id],
            )
            return cursor.rowcount
    written = 0
    with transaction.atomic():
        for content_id, s, d, day, basis, count, last in rows:
            written += ReviewSchedule.objects.filter(
                user_id=user_id, content_id=content_id, review_count=count, last_reviewed_at=last
            ).update(memory_stability=s, memory_difficulty=d, memory_day=day, memory_basis=basis)
    return written


@dataclass(frozen=True)
class CurrentMemory:
    """Scheduled cards of a learner with their memory now (numpy columns, by content id): all of
    them, or a sample when they have more (``total``)."""

    content_ids: np.ndarray
    stage: np.ndarray
    reviewed: np.ndarray  # bool: reviewed at least once (the others have no memory yet)
    stability: np.ndarray  # NaN where not reviewed
    difficulty: np.ndarray
    days: np.ndarray  # day of the last review; the creation's day where not reviewed
    replayed: int  # cards whose memory was not kept and was replayed from their history
    total: int  # the learner's cards in all

    @property
    def unkept_share(self) -> float:
        return self.replayed / len(self.content_ids) if len(self.content_ids) else 0.0


def current_memory(*, user_id: int, weights: Sequence[float], tz_name: str, limit: int) -> CurrentMemory:
    """The memory of up to ``limit`` of the learner's cards (``selectors.card_memories``: all, or a
    fixed pseudo-random sample): the kept memory, the unkept cards replayed from their own histories.
    One query when every memory is kept; a second, for those cards' reviews, otherwise."""
    days = learner_days(tz_name)
    basis = memory_basis(weights, tz_name)
    cards = selectors.card_memories(user_id=user_id, limit=limit, basis=basis)
    reviewed = cards.review_counts > 0
    kept = reviewed & (cards.bases == basis) & np.isfinite(cards.stability) & np.isfinite(cards.difficulty)
    stability = np.where(kept, cards.stability, np.nan)
    difficulty = np.where(kept, cards.difficulty, np.nan)
    # read where the memory does not give the last day (NaN elsewhere, never used)
    created = np.isfinite(cards.created_epochs)
    created_days = np.zeros(len(created), dtype=np.int64)
    created_days[created] = days.days_of_epochs(cards.created_epochs[created])
    last_days = np.where(kept, cards.days, created_days)
    unkept = reviewed & ~kept
    if unkept.any():
        log = selectors.review_log(user_id=user_id, content_ids=cards.content_ids[unkept].tolist())
        replayed = replayed_memory(log, weights=weights, tz_name=tz_name)
        rows = np.searchsorted(cards.content_ids, replayed.content_ids)  # every replayed card is one of them
        stability[rows] = replayed.stability
        difficulty[rows] = replayed.difficulty
        last_days[rows] = replayed.days
        # counted as reviewed but without a review left: as if never reviewed
        missing = unkept & ~np.isfinite(stability)
        reviewed = reviewed & ~missing
        last_days = np.where(missing, created_days, last_days)
    return CurrentMemory(
        content_ids=cards.content_ids,
        stage=cards.stages,
        reviewed=reviewed,
        stability=stability,
        difficulty=difficulty,
        days=last_days.astype(np.int64),
        replayed=int(unkept.sum()),
        total=cards.total,
    )
