"""FSRS (Free Spaced Repetition Scheduler, v6) on the ``fsrs`` package, bounded by the tier ladder.

Mapping of results to FSRS ratings: ``forgot`` → Again, ``partial`` → Hard, ``remembered`` → Good
(Resee has no "easy" answer).

Configuration of ``fsrs.Scheduler`` and why:
- no learning or relearning steps: Resee schedules whole days, so every review, even a forgotten one,
  gets an interval of at least one day (FSRS's minimum) instead of minutes;
- no fuzzing: the same review always gives the same interval (testable, and an idempotent replay of a
  review is reproducible);
- ``maximum_interval`` is the tier ladder's longest interval, so FSRS never schedules past what the
  tier allows (FREE: 3 days, BASIC: 90, PRO: 180).

Memory state (stability, difficulty, FSRS state and step, the last review) is persisted on the
schedule. A card whose state was produced by the ladder (the user switched scheduler, or never used
FSRS) has no memory state; :meth:`FsrsScheduler.replay` rebuilds it from the card's review history.

Stage: FSRS has no stages, but the ladder stage stays meaningful for FSRS cards: it moves by the same
rule as the ladder (remembered +1 up to the ladder's last stage, partial stays, forgot → 0), so it
counts consecutive successful recalls, clamped to the ladder, and a user switching back to the ladder
continues from a sensible stage.

Recall estimate: FSRS's power forgetting curve ``R(t) = (1 + F*t/S)^(-d)`` with ``d = w[20]`` and
``F = 0.9^(-1/d) - 1`` (so R(S) = 0.9), with ``t`` in fractional days since the last review (the
package's own helper floors it to whole days; fractional time keeps the estimate falling smoothly).
A card never reviewed under FSRS is estimated with the initial stability of a "Good" first review
(``w[2]``), counting its creation as the first study.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import ClassVar

from fsrs import Card, Rating, State
from fsrs import Scheduler as FsrsEngine
from fsrs.scheduler import DEFAULT_PARAMETERS

from modules.learning.scheduling.base import (
    SECONDS_PER_DAY,
    CardState,
    ReviewResult,
    SchedulerKind,
    Step,
    ladder_stage_after,
)

RATINGS: dict[ReviewResult, Rating] = {
    ReviewResult.FORGOT: Rating.Again,
    ReviewResult.PARTIAL: Rating.Hard,
    ReviewResult.REMEMBERED: Rating.Good,
}
DEFAULT_INTERVALS = (1, 3, 7, 14, 30, 60, 120, 180)
_CARD_ID = 1  # the engine needs an id; passing one avoids its 1 ms sleep generating a unique one


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class FsrsScheduler:
    desired_retention: float = 0.9
    parameters: tuple[float, ...] = DEFAULT_PARAMETERS
    intervals: tuple[int, ...] = field(default=DEFAULT_INTERVALS)

    kind: ClassVar[SchedulerKind] = SchedulerKind.FSRS

    def __post_init__(self) -> None:
        if not 0.0 < self.desired_retention < 1.0:
            raise ValueError("desired_retention must be between 0 and 1")
        if not self.intervals or any(days < 1 for days in self.intervals):
            raise ValueError("a ladder needs at least one interval, each of one day or more")

    @cached_property
    def engine(self) -> FsrsEngine:
        return FsrsEngine(
            parameters=self.parameters,
            desired_retention=self.desired_retention,
            learning_steps=(),
            relearning_steps=(),
            maximum_interval=self.maximum_interval,
            enable_fuzzing=False,
        )

    @property
    def maximum_interval(self) -> int:
        return max(self.intervals)

    @property
    def last_stage(self) -> int:
        return len(self.intervals) - 1

    @property
    def decay(self) -> float:
        return -self.parameters[20]

    @property
    def factor(self) -> float:
        return 0.9 ** (1 / self.decay) - 1

    def first_interval_days(self) -> int:
        return self.intervals[0]

    def interval_for_stability(self, stability: float) -> int:
        """Whole days until R falls to the desired retention, within [1, the tier's longest interval]."""
        days = stability / self.factor * (self.desired_retention ** (1 / self.decay) - 1)
        return min(max(round(days), 1), self.maximum_interval)

    @staticmethod
    def has_memory(card: CardState) -> bool:
        return (
            card.scheduler == SchedulerKind.FSRS
            and card.stability is not None
            and card.difficulty is not None
        )

    def _engine_card(self, card: CardState) -> Card:
        if not self.has_memory(card):
            return Card(card_id=_CARD_ID, state=State.Learning, step=0, due=_utc(card.introduced_at))
        return Card(
            card_id=_CARD_ID,
            state=State(card.fsrs_state or State.Review),
            step=card.fsrs_step,
            stability=card.stability,
            difficulty=card.difficulty,
            due=_utc(card.anchor),
            last_review=_utc(card.last_reviewed_at) if card.last_reviewed_at else None,
        )

    def review(self, card: CardState, result: ReviewResult, at: datetime) -> Step:
        before = self.recall_probability(card, at)
        at_utc = _utc(at)
        reviewed, _log = self.engine.review_card(self._engine_card(card), RATINGS[result], at_utc)
        interval = min(
            max(round((reviewed.due - at_utc).total_seconds() / SECONDS_PER_DAY), 1), self.maximum_interval
        )
        state = replace(
            card,
            stage=ladder_stage_after(card.stage, result, last_stage=self.last_stage),
            last_reviewed_at=at,
            review_count=card.review_count + 1,
            scheduler=SchedulerKind.FSRS,
            stability=reviewed.stability,
            difficulty=reviewed.difficulty,
            fsrs_state=int(reviewed.state),
            fsrs_step=reviewed.step,
        )
        return Step(
            state=state,
            interval_days=interval,
            due_at=at + timedelta(days=interval),
            retrievability_before=before,
        )

    def replay(self, card: CardState, events: Iterable[tuple[ReviewResult, datetime]]) -> CardState:
        """``card`` with FSRS memory rebuilt from its past reviews (oldest first); stage and counts kept."""
        memory = CardState(introduced_at=card.introduced_at)
        for result, at in sorted(events, key=lambda event: event[1]):
            memory = self.review(memory, result, at).state
        if memory.stability is None:  # no history: the card stays "new" to FSRS
            return replace(
                card,
                scheduler=SchedulerKind.FSRS,
                stability=None,
                difficulty=None,
                fsrs_state=None,
                fsrs_step=None,
            )
        return replace(
            card,
            scheduler=SchedulerKind.FSRS,
            stability=memory.stability,
            difficulty=memory.difficulty,
            fsrs_state=memory.fsrs_state,
            fsrs_step=memory.fsrs_step,
        )

    def recall_probability(self, card: CardState, at: datetime) -> float:
        stability = card.stability if self.has_memory(card) else self.parameters[2]
        return fsrs_recall(
            stability=stability, elapsed_days=card.elapsed_days(at), parameters=self.parameters
        )


def fsrs_recall(
    *, stability: float, elapsed_days: float, parameters: tuple[float, ...] = DEFAULT_PARAMETERS
) -> float:
    """FSRS-6's power forgetting curve; 0.9 when elapsed_days equals the stability."""
    decay = -parameters[20]
    factor = 0.9 ** (1 / decay) - 1
    return (1 + factor * max(elapsed_days, 0.0) / max(stability, 1e-3)) ** decay
