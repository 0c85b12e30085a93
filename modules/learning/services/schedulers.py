"""The user's tier ladder and scheduler, and the rounding of recall estimates in answers.

``User`` is identity's model, read here for its fields (tier, scheduler, desired retention, time
zone): the JWT authentication already loaded it for the request, and a DTO copy per call would cost
more than it protects on the hot paths.

Days: FSRS counts "days since the last review" in the learner's calendar days, in their profile's
time zone, with the day starting at ``DAY_START_HOUR`` local (docs/scheduling.md). The hour is one
constant for every learner, not a profile preference: a preference would be an identity migration, a
profile field and a contract change for an effect measured as nil on real data (the shared log gives
identical results for any zone that puts the boundary in the learner's night; it only moves reviews
made between midnight and the boundary), while "today's queue" and the reminders keep the calendar
day (midnight) of ``modules.common.time``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from modules.identity.services import User, tier_spec_for
from modules.learning.scheduling import (
    FsrsScheduler,
    InvalidTimezone,
    LadderScheduler,
    LearnerDays,
    Scheduler,
    SchedulerKind,
)
from modules.learning.scheduling.days import DEFAULT_DAY_START_HOUR

DAY_START_HOUR = DEFAULT_DAY_START_HOUR  # 4 am local, as Anki


def ladder_for(user: User) -> tuple[int, ...]:
    """The user's tier ladder (an expired subscription counts as FREE)."""
    return tuple(tier_spec_for(user).review_intervals)


def scheduler_for_user(user: User, *, fsrs_weights: Sequence[float] | None = None) -> Scheduler:
    """The user's scheduler (ladder or FSRS) with their tier's ladder and desired retention.

    FSRS counts days in the user's calendar (their time zone, ``DAY_START_HOUR``) with
    ``fsrs_weights``: the learner's fitted weights (``memory.learner_memory``), the published
    defaults when None.
    """
    return _scheduler(
        kind=user.scheduler,
        intervals=ladder_for(user),
        desired_retention=float(user.desired_retention),
        weights=tuple(fsrs_weights) if fsrs_weights is not None else None,
        timezone=user.timezone,
    )


@lru_cache(maxsize=1024)
def _scheduler(
    *,
    kind: str,
    intervals: tuple[int, ...],
    desired_retention: float,
    weights: tuple[float, ...] | None,
    timezone: str,
) -> Scheduler:
    # schedulers are immutable values: one per distinct configuration, built once per process
    if kind == SchedulerKind.FSRS:
        timezone = learner_timezone(timezone)
        if weights is None:
            return FsrsScheduler(
                desired_retention=desired_retention,
                intervals=intervals,
                timezone=timezone,
                day_start_hour=DAY_START_HOUR,
            )
        return FsrsScheduler(
            desired_retention=desired_retention,
            parameters=weights,
            intervals=intervals,
            timezone=timezone,
            day_start_hour=DAY_START_HOUR,
        )
    return LadderScheduler(intervals=intervals)


def learner_timezone(name: str) -> str:
    """The profile's zone, or UTC for a name this machine does not know (profiles are validated on
    save; like ``modules.common.time.zone``, a zone since removed from tzdata must not break reviews)."""
    try:
        LearnerDays(name, DAY_START_HOUR)
    except InvalidTimezone:
        return "UTC"
    return name


def rounded(probability: float) -> float:
    """A recall probability as answers show it: clamped to [0, 1], 4 decimals."""
    return round(min(max(probability, 0.0), 1.0), 4)
