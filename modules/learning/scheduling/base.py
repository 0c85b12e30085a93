"""The one interface every scheduler implements, and the plain values it works on.

No Django here: a scheduler takes a card's state, a result and a time, and answers the card's new
state, its next due time, the interval in days and the recall probability before the review. It can
also estimate the recall probability of a card at any moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Protocol

from modules.common.enums import SchedulerKind

SECONDS_PER_DAY = 86_400.0


class ReviewResult(StrEnum):
    REMEMBERED = "remembered"
    PARTIAL = "partial"
    FORGOT = "forgot"


@dataclass(frozen=True)
class CardState:
    """What a scheduler knows about one card.

    ``introduced_at`` is when the card was created (the first study); ``last_reviewed_at`` is None
    until the first review. ``scheduler`` names the model that produced the memory state below:
    ``stability``/``difficulty``/``fsrs_state``/``fsrs_step`` are FSRS's memory state and are only
    meaningful when it is ``fsrs``.
    """

    introduced_at: datetime
    stage: int = 0
    last_reviewed_at: datetime | None = None
    review_count: int = 0
    scheduler: SchedulerKind = SchedulerKind.LADDER
    stability: float | None = None
    difficulty: float | None = None
    fsrs_state: int | None = None
    fsrs_step: int | None = None

    @property
    def anchor(self) -> datetime:
        """The moment the memory was last refreshed: the last review, else the creation."""
        return self.last_reviewed_at or self.introduced_at

    def elapsed_days(self, at: datetime) -> float:
        return max(0.0, (at - self.anchor).total_seconds() / SECONDS_PER_DAY)


@dataclass(frozen=True)
class Step:
    """The outcome of one review."""

    state: CardState
    interval_days: int
    due_at: datetime
    retrievability_before: float


class Scheduler(Protocol):
    kind: ClassVar[SchedulerKind]

    def first_interval_days(self) -> int:
        """Days between a card's creation and its first review."""
        ...

    def review(self, card: CardState, result: ReviewResult, at: datetime) -> Step: ...

    def recall_probability(self, card: CardState, at: datetime) -> float: ...


def ladder_stage_after(stage: int, result: ReviewResult, *, last_stage: int) -> int:
    """The contract's stage rule: remembered climbs (the last stage repeats), partial stays, forgot resets."""
    stage = min(max(stage, 0), last_stage)
    if result == ReviewResult.REMEMBERED:
        return min(stage + 1, last_stage)
    if result == ReviewResult.PARTIAL:
        return stage
    return 0
