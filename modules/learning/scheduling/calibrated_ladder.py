"""Calibrated recall for ladder users: per-stage memory stability fitted to the learner's own history.

The ladder's built-in estimate assumes the learner recalls a card with 90% probability when it falls
due (``S = interval / -ln 0.9``, ``ladder``). Measured on the shared log that is far too optimistic
(it predicts 0.96 where 0.82 is observed, worse than a constant). Here the ladder stage is kept as the
memory state, but each stage's stability is learned from the learner's reviews:

    R(t, stage) = (1 + F t / S[stage])^(-decay),   F = 0.9^(-1/decay) - 1

(FSRS-6's forgetting curve with its default decay; ``S`` is the time at which R falls to 90%), with
``t`` in the learner's calendar days since the previous review. For each stage, ``log S`` is the
maximum a posteriori estimate under a normal prior centred on the ladder's own assumption (R = 0.9 at
the stage's interval, i.e. ``S = interval``) with ``PRIOR_SIGMA`` (in natural-log units): a stage with
few reviews stays near the assumption, a stage with many follows the data.

Stages are replayed with the contract's rule (``ladder_stage_after``), from stage 0 at a card's first
review. Targets are chosen exactly as for FSRS (``fitting``): not a card's first review, not a
same-day review; like the FSRS fit, recent reviews weigh more (``fitting.recency_weights``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modules.learning.scheduling.base import ReviewResult, ladder_stage_after
from modules.learning.scheduling.days import DEFAULT_DAY_START_HOUR, LearnerDays
from modules.learning.scheduling.fitting import ReviewEvent, ReviewTable, recency_weights, table_from_events
from modules.learning.scheduling.fsrs6 import DEFAULT_WEIGHTS, S_MAX, S_MIN

DEFAULT_DECAY = DEFAULT_WEIGHTS[20]
PRIOR_SIGMA = 1.0
_RESULT_OF_RATING = {
    1: ReviewResult.FORGOT,
    2: ReviewResult.PARTIAL,
    3: ReviewResult.REMEMBERED,
    4: ReviewResult.REMEMBERED,
}
_EPS = 1e-7


@dataclass(frozen=True)
class LadderRecallModel:
    """Stability per ladder stage (days) and the forgetting curve's decay."""

    stabilities: tuple[float, ...]
    decay: float = DEFAULT_DECAY
    trained_on: int = 0

    def __post_init__(self) -> None:
        if not self.stabilities or any(not (S_MIN <= s <= S_MAX) for s in self.stabilities):
            raise ValueError("one stability per stage, each within [0.001, 36500] days")

    def recall(self, *, stage: int, elapsed_days: float) -> float:
        stability = self.stabilities[min(max(stage, 0), len(self.stabilities) - 1)]
        factor = 0.9 ** (-1 / self.decay) - 1
        return (1 + factor * max(elapsed_days, 0.0) / stability) ** -self.decay

    def recall_many(self, stages: np.ndarray, elapsed_days: np.ndarray) -> np.ndarray:
        stability = np.array(self.stabilities)[np.clip(stages, 0, len(self.stabilities) - 1)]
        factor = 0.9 ** (-1 / self.decay) - 1
        return (1 + factor * np.maximum(elapsed_days, 0.0) / stability) ** -self.decay


def prior_ladder_model(intervals: Sequence[int]) -> LadderRecallModel:
    """The ladder's own assumption on FSRS's curve: R = 0.9 when a stage's interval has passed."""
    return LadderRecallModel(stabilities=tuple(float(days) for days in intervals))


def ladder_stages(table: ReviewTable, intervals: Sequence[int]) -> np.ndarray:
    """The stage each card is at before each of its reviews, ``(cards, steps)``, by the contract's rule."""
    ratings = table.histories.ratings
    stages = np.zeros(ratings.shape, dtype=np.int64)
    last = len(intervals) - 1
    for row, length in enumerate(table.histories.lengths):
        stage = 0
        for step in range(int(length)):
            stages[row, step] = stage
            stage = ladder_stage_after(stage, _RESULT_OF_RATING[int(ratings[row, step])], last_stage=last)
    return stages


def fit_stage_stabilities(
    stages: np.ndarray,
    elapsed_days: np.ndarray,
    recalled: np.ndarray,
    *,
    intervals: Sequence[int],
    decay: float = DEFAULT_DECAY,
    prior_sigma: float = PRIOR_SIGMA,
    sample_weight: np.ndarray | None = None,
) -> LadderRecallModel:
    """MAP stability per stage from flat arrays of targets (stage, calendar days, 1/0 recalled).

    ``sample_weight`` (mean 1) weighs each target's log likelihood, e.g. by recency.
    """
    weight = np.ones(len(recalled)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    factor = 0.9 ** (-1 / decay) - 1
    grid = np.linspace(math.log(S_MIN * 10), math.log(S_MAX), 2_000)  # log S, 0.01 .. 36,500 days
    stabilities: list[float] = []
    for stage, interval in enumerate(intervals):
        chosen = stages == stage
        if stage == len(intervals) - 1:
            chosen = stages >= stage
        t, y, share = elapsed_days[chosen], recalled[chosen], weight[chosen]
        log_prior = -((grid - math.log(interval)) ** 2) / (2 * prior_sigma**2)
        if len(t):
            # the log likelihood on a fine grid of log S: a 1-D problem, solved exactly enough and
            # without any optimiser corner cases (empty stages, all-recalled stages)
            r = np.clip((1 + factor * t[None, :] / np.exp(grid)[:, None]) ** -decay, _EPS, 1 - _EPS)
            log_likelihood = (share * (y * np.log(r) + (1 - y) * np.log(1 - r))).sum(axis=1)
        else:
            log_likelihood = 0.0
        stabilities.append(float(np.exp(grid[int(np.argmax(log_likelihood + log_prior))])))
    return LadderRecallModel(stabilities=tuple(stabilities), decay=decay, trained_on=len(recalled))


def fit_ladder_recall(
    events: Sequence[ReviewEvent],
    *,
    intervals: Sequence[int],
    timezone: str = "UTC",
    day_start_hour: int = DEFAULT_DAY_START_HOUR,
) -> LadderRecallModel:
    """The learner's ladder recall model from their reviews (the prior alone without any)."""
    if not intervals or any(days < 1 for days in intervals):
        raise ValueError("a ladder needs at least one interval, each of one day or more")
    table = table_from_events(events, days=LearnerDays(timezone, day_start_hour))
    if not table.target_count:
        return prior_ladder_model(intervals)
    stages = ladder_stages(table, intervals)
    recency = recency_weights(table, table.target)[table.target]
    return fit_stage_stabilities(
        stages[table.target],
        table.histories.elapsed[table.target],
        table.recalled[table.target],
        intervals=intervals,
        sample_weight=recency * len(recency) / recency.sum(),
    )
