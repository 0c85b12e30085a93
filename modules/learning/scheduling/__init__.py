"""Review scheduling as pure code (no Django): the tier ladder and FSRS behind one interface.

``scheduler_for(kind=..., intervals=..., desired_retention=...)`` picks one; ``estimate_recall`` gives
a card's recall probability with the model that produced its state (FSRS memory when the card has it,
otherwise the ladder's Ebbinghaus estimate).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from modules.learning.scheduling.base import (
    CardState,
    ReviewResult,
    Scheduler,
    SchedulerKind,
    Step,
    ladder_stage_after,
)
from modules.learning.scheduling.fsrs_scheduler import FsrsScheduler, fsrs_recall
from modules.learning.scheduling.ladder import TARGET_RETENTION, LadderScheduler

__all__ = [
    "TARGET_RETENTION",
    "CardState",
    "FsrsScheduler",
    "LadderScheduler",
    "ReviewResult",
    "Scheduler",
    "SchedulerKind",
    "Step",
    "estimate_recall",
    "fsrs_recall",
    "ladder_stage_after",
    "scheduler_for",
]


@lru_cache(maxsize=256)
def scheduler_for(*, kind: str, intervals: tuple[int, ...], desired_retention: float = 0.9) -> Scheduler:
    if kind == SchedulerKind.FSRS:
        return FsrsScheduler(desired_retention=desired_retention, intervals=intervals)
    return LadderScheduler(intervals=intervals)


def estimate_recall(card: CardState, at: datetime, *, intervals: tuple[int, ...]) -> float:
    """Recall probability at ``at`` under the model that produced the card's state."""
    if FsrsScheduler.has_memory(card):
        return fsrs_recall(stability=card.stability or 0.0, elapsed_days=card.elapsed_days(at))
    return scheduler_for(kind=SchedulerKind.LADDER, intervals=intervals).recall_probability(card, at)
