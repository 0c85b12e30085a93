"""The user's tier ladder and scheduler, and the rounding of recall estimates in answers.

``User`` is identity's model, read here for its fields (tier, scheduler, desired retention, time
zone): the JWT authentication already loaded it for the request, and a DTO copy per call would cost
more than it protects on the hot paths.
"""

from __future__ import annotations

from modules.identity.services import User, tier_spec_for
from modules.learning.scheduling import Scheduler, scheduler_for


def ladder_for(user: User) -> tuple[int, ...]:
    """The user's tier ladder (an expired subscription counts as FREE)."""
    return tuple(tier_spec_for(user).review_intervals)


def scheduler_for_user(user: User) -> Scheduler:
    """The user's scheduler (ladder or FSRS) with their tier's ladder and desired retention."""
    return scheduler_for(
        kind=user.scheduler, intervals=ladder_for(user), desired_retention=float(user.desired_retention)
    )


def rounded(probability: float) -> float:
    """A recall probability as answers show it: clamped to [0, 1], 4 decimals."""
    return round(min(max(probability, 0.0), 1.0), 4)
