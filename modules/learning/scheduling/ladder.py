"""The tier ladder: fixed intervals per stage, exactly the contract's rule.

Rule (contract, Learning): a new card's first review is ``intervals[0]`` days after its creation.
``remembered`` moves to the next stage and schedules that stage's interval; at the last stage it stays
there and reschedules the last interval. ``partial`` keeps the stage and reschedules the current
stage's interval. ``forgot`` resets to stage 0 (``intervals[0]``, one day in every tier). A stage
beyond the ladder (the tier shrank) is clamped to its last stage when the card is next reviewed.

Recall estimate (Ebbinghaus forgetting curve)::

    R(t) = exp(-t / S)

``t`` is the time in days since the memory was last refreshed (the last review, or the creation of a
card never reviewed). The ladder has no memory model of its own, so ``S`` (the "strength" of the
memory, in days) is derived from the stage, on one assumption: the ladder's intervals are chosen so
that, at the moment a card falls due, the learner still recalls it with the target probability
``TARGET_RETENTION`` (0.9, the conventional spaced-repetition target, also FSRS's default). Solving
``exp(-interval / S) = 0.9`` for S gives::

    S(stage) = intervals[stage] / -ln(0.9) ≈ 9.49 * intervals[stage]

So a stage-0 card (1 day) has S ≈ 9.5 days (R ≈ 0.90 after a day, 0.73 after three), a PRO stage-7
card (180 days) has S ≈ 1,708 days. The estimate is in (0, 1], equals 1 at t = 0 and falls with time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import ClassVar

from modules.learning.scheduling.base import (
    CardState,
    ReviewResult,
    SchedulerKind,
    Step,
    ladder_stage_after,
)

TARGET_RETENTION = 0.9
_STRENGTH_PER_DAY = 1.0 / -math.log(TARGET_RETENTION)  # S = interval * this


@dataclass(frozen=True)
class LadderScheduler:
    intervals: tuple[int, ...]

    kind: ClassVar[SchedulerKind] = SchedulerKind.LADDER

    def __post_init__(self) -> None:
        if not self.intervals or any(days < 1 for days in self.intervals):
            raise ValueError("a ladder needs at least one interval, each of one day or more")

    @property
    def last_stage(self) -> int:
        return len(self.intervals) - 1

    def clamp(self, stage: int) -> int:
        return min(max(stage, 0), self.last_stage)

    def interval_for(self, stage: int) -> int:
        return self.intervals[self.clamp(stage)]

    def strength_for(self, stage: int) -> float:
        """S in days such that R at the stage's own interval equals TARGET_RETENTION."""
        return self.interval_for(stage) * _STRENGTH_PER_DAY

    def first_interval_days(self) -> int:
        return self.intervals[0]

    def review(self, card: CardState, result: ReviewResult, at: datetime) -> Step:
        before = self.recall_probability(card, at)
        stage = ladder_stage_after(card.stage, result, last_stage=self.last_stage)
        interval = self.intervals[stage]
        state = replace(
            card,
            stage=stage,
            last_reviewed_at=at,
            review_count=card.review_count + 1,
            scheduler=SchedulerKind.LADDER,
            # FSRS's memory state would go stale under the ladder; it is rebuilt from the history when
            # the card is next reviewed with FSRS.
            stability=None,
            difficulty=None,
            fsrs_state=None,
            fsrs_step=None,
        )
        return Step(
            state=state,
            interval_days=interval,
            due_at=at + timedelta(days=interval),
            retrievability_before=before,
        )

    def recall_probability(self, card: CardState, at: datetime) -> float:
        return math.exp(-card.elapsed_days(at) / self.strength_for(card.stage))
