"""Review scheduling as pure code (no Django): the tier ladder and FSRS behind one interface.

``scheduler_for(kind=..., intervals=..., desired_retention=...)`` picks one; ``estimate_recall`` gives
a card's recall probability with the model that produced its state (FSRS memory when the card has it,
otherwise the ladder's Ebbinghaus estimate).

Per learner: ``fit_fsrs(events, timezone=..., day_start_hour=...)`` fits FSRS-6's weights to a
learner's ``ReviewEvent`` history (``FsrsParameters``, the defaults when the history is too short);
``FsrsScheduler(parameters=..., timezone=..., day_start_hour=...)`` schedules with them in the
learner's calendar days (``LearnerDays``; an unknown zone raises ``InvalidTimezone``, a ValueError).
See docs/scheduling.md.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache

from fsrs.scheduler import DEFAULT_PARAMETERS

from modules.learning.scheduling.base import (
    CardState,
    ReviewResult,
    Scheduler,
    SchedulerKind,
    Step,
    ladder_stage_after,
)
from modules.learning.scheduling.days import InvalidTimezone, LearnerDays
from modules.learning.scheduling.fitting import MIN_TRAINING_REVIEWS, ReviewEvent, fit_fsrs
from modules.learning.scheduling.fsrs6 import DEFAULT_FSRS_PARAMETERS, FsrsParameters
from modules.learning.scheduling.fsrs_scheduler import FsrsScheduler, fsrs_recall
from modules.learning.scheduling.ladder import TARGET_RETENTION, LadderScheduler

__all__ = [
    "DEFAULT_FSRS_PARAMETERS",
    "MIN_TRAINING_REVIEWS",
    "TARGET_RETENTION",
    "CardState",
    "FsrsParameters",
    "FsrsScheduler",
    "InvalidTimezone",
    "LadderScheduler",
    "LearnerDays",
    "ReviewEvent",
    "ReviewResult",
    "Scheduler",
    "SchedulerKind",
    "Step",
    "estimate_recall",
    "fit_fsrs",
    "fsrs_recall",
    "ladder_stage_after",
    "recall_estimate",
    "scheduler_for",
]


@lru_cache(maxsize=256)
def scheduler_for(*, kind: str, intervals: tuple[int, ...], desired_retention: float = 0.9) -> Scheduler:
    if kind == SchedulerKind.FSRS:
        return FsrsScheduler(desired_retention=desired_retention, intervals=intervals)
    return LadderScheduler(intervals=intervals)


def estimate_recall(card: CardState, at: datetime, *, intervals: tuple[int, ...]) -> float:
    """Recall probability at ``at`` under the model that produced the card's state."""
    return recall_estimate(
        scheduler=card.scheduler,
        stage=card.stage,
        stability=card.stability if card.difficulty is not None else None,
        elapsed_days=card.elapsed_days(at),
        intervals=intervals,
    )


_FSRS_DECAY = -DEFAULT_PARAMETERS[20]
_FSRS_FACTOR = 0.9 ** (1 / _FSRS_DECAY) - 1
_LADDER_STRENGTH_PER_DAY = 1.0 / -math.log(TARGET_RETENTION)


def recall_estimate(
    *, scheduler: str, stage: int, stability: float | None, elapsed_days: float, intervals: tuple[int, ...]
) -> float:
    """The same estimate from plain column values, for lists (no objects built per row).

    FSRS memory (an ``fsrs`` card with a stability) uses FSRS's curve; everything else the ladder's
    ``exp(-t / S(stage))`` (see ``ladder``).
    """
    elapsed_days = max(elapsed_days, 0.0)
    if scheduler == SchedulerKind.FSRS and stability is not None:
        return (1 + _FSRS_FACTOR * elapsed_days / max(stability, 1e-3)) ** _FSRS_DECAY
    interval = intervals[min(max(stage, 0), len(intervals) - 1)]
    return math.exp(-elapsed_days / (interval * _LADDER_STRENGTH_PER_DAY))
