"""FSRS (Free Spaced Repetition Scheduler, v6) in the learner's calendar days, bounded by the tier ladder.

Mapping of results to FSRS ratings: ``forgot`` → Again, ``partial`` → Hard, ``remembered`` → Good
(Resee has no "easy" answer).

Configuration of ``fsrs.Scheduler`` and why:
- no learning or relearning steps: Resee schedules whole days, so every review, even a forgotten one,
  gets an interval of at least one day (FSRS's minimum) instead of minutes;
- no fuzzing: the same review always gives the same interval (testable, and an idempotent replay of a
  review is reproducible);
- ``maximum_interval`` is the tier ladder's longest interval, so FSRS never schedules past what the
  tier allows (FREE: 3 days, BASIC: 90, PRO: 180).

Days: FSRS counts the days since the last review in the learner's calendar (``timezone``, a day
starting at ``day_start_hour`` local, 4 am by default, see ``days``): a review on the same calendar day
is a same-day review (FSRS-6's short-term formula), the next morning is one day later even if fewer
than 24 hours passed. The memory update is FSRS-6's (``fsrs6``; the ``fsrs`` package's own engine
counts 24-hour periods, which predicted recall measurably worse, see docs/scheduling.md). The weights
are the published defaults or a learner's fitted ``FsrsParameters`` (``fitting.fit_fsrs``).

Memory state (stability, difficulty, FSRS state and step, the last review) is persisted on the
schedule. A card whose state was produced by the ladder (the user switched scheduler, or never used
FSRS) has no memory state; :meth:`FsrsScheduler.replay` rebuilds it from the card's review history.

Stage: FSRS has no stages, but the ladder stage stays meaningful for FSRS cards: it moves by the same
rule as the ladder (remembered +1 up to the ladder's last stage, partial stays, forgot → 0), so it
counts consecutive successful recalls, clamped to the ladder, and a user switching back to the ladder
continues from a sensible stage.

Recall estimate: FSRS's power forgetting curve ``R(t) = (1 + F*t/S)^(-d)`` with ``d = w[20]`` and
``F = 0.9^(-1/d) - 1`` (so R(S) = 0.9). :meth:`FsrsScheduler.recall_probability` (what the queue
shows) uses ``t`` in fractional days since the last review, so the estimate falls smoothly through
the day, as Anki's displayed retrievability does; the ``retrievability_before`` of a review is the
model's own prediction, at whole calendar days (:meth:`FsrsScheduler.review_recall`), so recorded
predictions can be compared with outcomes exactly as the benchmark scores them. A card never reviewed
under FSRS is estimated with the initial stability of a "Good" first review (``w[2]``), counting its
creation as the first study.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import ClassVar

from fsrs import Scheduler as FsrsEngine
from fsrs import State
from fsrs.scheduler import DEFAULT_PARAMETERS

from modules.learning.scheduling.base import (
    CardState,
    ReviewResult,
    SchedulerKind,
    Step,
    ladder_stage_after,
)
from modules.learning.scheduling.days import DEFAULT_DAY_START_HOUR, LearnerDays
from modules.learning.scheduling.fsrs6 import FsrsParameters, initial_state, next_state

RATINGS: dict[ReviewResult, int] = {
    ReviewResult.FORGOT: 1,  # Again
    ReviewResult.PARTIAL: 2,  # Hard
    ReviewResult.REMEMBERED: 3,  # Good
}
DEFAULT_INTERVALS = (1, 3, 7, 14, 30, 60, 120, 180)


@dataclass(frozen=True)
class FsrsScheduler:
    desired_retention: float = 0.9
    parameters: tuple[float, ...] | FsrsParameters = DEFAULT_PARAMETERS
    intervals: tuple[int, ...] = field(default=DEFAULT_INTERVALS)
    timezone: str = "UTC"
    day_start_hour: int = DEFAULT_DAY_START_HOUR
    days: LearnerDays = field(init=False, repr=False, compare=False)

    kind: ClassVar[SchedulerKind] = SchedulerKind.FSRS

    def __post_init__(self) -> None:
        if not 0.0 < self.desired_retention < 1.0:
            raise ValueError("desired_retention must be between 0 and 1")
        if not self.intervals or any(days < 1 for days in self.intervals):
            raise ValueError("a ladder needs at least one interval, each of one day or more")
        weights = (
            self.parameters
            if isinstance(self.parameters, FsrsParameters)
            else FsrsParameters(weights=tuple(self.parameters))
        ).weights
        object.__setattr__(self, "parameters", weights)  # a plain tuple, as callers index it
        object.__setattr__(self, "days", LearnerDays(self.timezone, self.day_start_hour))

    @cached_property
    def engine(self) -> FsrsEngine:
        """The ``fsrs`` package's scheduler with the same settings (its interval rule is ours)."""
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

    def elapsed_days(self, card: CardState, at: datetime) -> int:
        """Whole calendar days of the learner from the card's last refresh to ``at`` (0: same day)."""
        return self.days.elapsed_days(card.anchor, at)

    def review(self, card: CardState, result: ReviewResult, at: datetime) -> Step:
        before = self.review_recall(card, at)
        rating = RATINGS[result]
        if self.has_memory(card):
            stability, difficulty = next_state(
                self.parameters,
                stability=card.stability,  # type: ignore[arg-type]
                difficulty=card.difficulty,  # type: ignore[arg-type]
                elapsed_days=self.elapsed_days(card, at),
                rating=rating,
            )
        else:
            stability, difficulty = initial_state(self.parameters, rating)
        interval = self.interval_for_stability(stability)
        state = replace(
            card,
            stage=ladder_stage_after(card.stage, result, last_stage=self.last_stage),
            last_reviewed_at=at,
            review_count=card.review_count + 1,
            scheduler=SchedulerKind.FSRS,
            stability=stability,
            difficulty=difficulty,
            fsrs_state=int(State.Review),  # no learning steps: every review leaves the card in Review
            fsrs_step=None,
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

    def _stability(self, card: CardState) -> float:
        return card.stability if self.has_memory(card) else self.parameters[2]  # type: ignore[return-value]

    def recall_probability(self, card: CardState, at: datetime) -> float:
        """R now, at fractional days since the last review (smooth through the day; for display)."""
        return fsrs_recall(
            stability=self._stability(card), elapsed_days=card.elapsed_days(at), parameters=self.parameters
        )

    def review_recall(self, card: CardState, at: datetime) -> float:
        """FSRS's prediction for a review at ``at``: R at whole calendar days (1.0 on the same day)."""
        return fsrs_recall(
            stability=self._stability(card),
            elapsed_days=self.elapsed_days(card, at),
            parameters=self.parameters,
        )


def fsrs_recall(
    *, stability: float, elapsed_days: float, parameters: tuple[float, ...] = DEFAULT_PARAMETERS
) -> float:
    """FSRS-6's power forgetting curve; 0.9 when elapsed_days equals the stability."""
    decay = -parameters[20]
    factor = 0.9 ** (1 / decay) - 1
    return (1 + factor * max(elapsed_days, 0.0) / max(stability, 1e-3)) ** decay
