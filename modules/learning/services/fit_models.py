"""Fitting a learner's memory models: the FSRS-6 weights and the calibrated ladder, each scored on the
learner's most recent held-back reviews against the model in use (the job around it is fitting.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from modules.learning import selectors
from modules.learning.models import FitOutcome, LearnerMemoryModel
from modules.learning.scheduling import (
    DEFAULT_FSRS_PARAMETERS,
    MIN_TRAINING_REVIEWS,
    LearnerDays,
    ReviewResult,
)
from modules.learning.scheduling.calibrated_ladder import (
    DEFAULT_DECAY,
    LadderRecallModel,
    fit_stage_stabilities,
    ladder_stages,
)
from modules.learning.scheduling.fitting import (
    RATING_OF_RESULT,
    ReviewTable,
    fit_table,
    mean_log_loss,
    prepare_epochs,
    recency_weights,
)
from modules.learning.services.memory import ladder_key_of

HOLDOUT_SHARE = 0.2  # the most recent fifth of the targets scores the candidates
MIN_HOLDOUT_REVIEWS = 20  # fewer held-back targets cannot tell two models apart: nothing is applied
_EPS = 1e-7
_LADDER_STRENGTH_PER_DAY = 1.0 / -math.log(0.9)
# FSRS's rating of each of ``selectors.LOGGED_RESULTS``, indexed as ``ReviewLog.results``
_RATINGS = np.array([RATING_OF_RESULT[ReviewResult(result)] for result in selectors.LOGGED_RESULTS])


@dataclass(frozen=True)
class FsrsFitResult:
    outcome: str
    trained_on: int | None
    weights: tuple[float, ...] | None
    log_loss_before: float | None
    log_loss_after: float | None
    applied: bool


@dataclass(frozen=True)
class LadderFitResult:
    outcome: str
    intervals: tuple[int, ...]
    stabilities: tuple[float, ...] | None
    log_loss_before: float | None
    log_loss_after: float | None
    applied: bool


@dataclass(frozen=True)
class Outcome:
    review_count: int
    holdout_count: int
    fsrs: FsrsFitResult
    ladder: LadderFitResult


def _log_loss(predicted: np.ndarray, recalled: np.ndarray) -> float:
    p = np.clip(predicted, _EPS, 1 - _EPS)
    return float(-np.mean(recalled * np.log(p) + (1 - recalled) * np.log(1 - p)))


def holdout_split(table: ReviewTable) -> tuple[np.ndarray, np.ndarray]:
    """(training targets, held-back targets): the most recent ``HOLDOUT_SHARE`` of the targets are
    held back; none when that would be fewer than ``MIN_HOLDOUT_REVIEWS``."""
    targets = table.target
    count = int(targets.sum())
    held = round(count * HOLDOUT_SHARE)
    if held < MIN_HOLDOUT_REVIEWS:
        return targets, np.zeros_like(targets)
    cutoff = np.sort(table.reviewed_at[targets])[count - held]
    return targets & (table.reviewed_at < cutoff), targets & (table.reviewed_at >= cutoff)


def review_table(log: selectors.ReviewLog, *, days: LearnerDays) -> ReviewTable:
    """A learner's review log (``selectors.review_log``) prepared for FSRS in their calendar days."""
    return prepare_epochs(log.content_ids, log.epochs, _RATINGS[log.results], days=days)


def fit_models(
    *, user_id: int, intervals: tuple[int, ...], days: LearnerDays, current: LearnerMemoryModel | None
) -> Outcome:
    log = selectors.review_log(user_id=user_id)
    table = review_table(log, days=days)
    train, holdout = holdout_split(table)
    current_weights = (
        tuple(current.fsrs_weights)
        if current is not None and current.fsrs_weights
        else DEFAULT_FSRS_PARAMETERS.weights
    )
    current_ladder = None
    if current is not None and current.ladder_stabilities and current.ladder_key == ladder_key_of(intervals):
        current_ladder = LadderRecallModel(
            stabilities=tuple(current.ladder_stabilities), decay=current.ladder_decay or DEFAULT_DECAY
        )
    return Outcome(
        review_count=len(log),
        holdout_count=int(holdout.sum()),
        fsrs=_fit_fsrs(table, train=train, holdout=holdout, current=current_weights),
        ladder=_fit_ladder(table, train=train, holdout=holdout, intervals=intervals, current=current_ladder),
    )


def _fit_fsrs(
    table: ReviewTable, *, train: np.ndarray, holdout: np.ndarray, current: tuple[float, ...]
) -> FsrsFitResult:
    if not holdout.any() or int(train.sum()) < MIN_TRAINING_REVIEWS:
        return FsrsFitResult(
            outcome=FitOutcome.TOO_FEW_REVIEWS,
            trained_on=int(train.sum()),
            weights=None,
            log_loss_before=mean_log_loss(current, table, holdout) if holdout.any() else None,
            log_loss_after=None,
            applied=False,
        )
    candidate = fit_table(table, train).parameters
    before = mean_log_loss(current, table, holdout)
    after = mean_log_loss(candidate.weights, table, holdout)
    if not after < before:
        return FsrsFitResult(
            outcome=FitOutcome.NOT_BETTER,
            trained_on=candidate.trained_on,
            weights=candidate.weights,
            log_loss_before=before,
            log_loss_after=after,
            applied=False,
        )
    return FsrsFitResult(
        outcome=FitOutcome.APPLIED,
        trained_on=candidate.trained_on,
        weights=candidate.weights,
        log_loss_before=before,
        log_loss_after=after,
        applied=True,
    )


def _stage_fit(
    table: ReviewTable, stages: np.ndarray, chosen: np.ndarray, intervals: tuple[int, ...]
) -> LadderRecallModel:
    recency = recency_weights(table, chosen)[chosen]
    return fit_stage_stabilities(
        stages[chosen],
        table.histories.elapsed[chosen],
        table.recalled[chosen],
        intervals=intervals,
        sample_weight=recency * len(recency) / recency.sum(),
    )


def _fit_ladder(
    table: ReviewTable,
    *,
    train: np.ndarray,
    holdout: np.ndarray,
    intervals: tuple[int, ...],
    current: LadderRecallModel | None,
) -> LadderFitResult:
    if not holdout.any() or not train.any():
        return LadderFitResult(
            outcome=FitOutcome.TOO_FEW_REVIEWS,
            intervals=intervals,
            stabilities=None,
            log_loss_before=None,
            log_loss_after=None,
            applied=False,
        )
    stages = ladder_stages(table, intervals)
    elapsed, recalled = table.histories.elapsed[holdout], table.recalled[holdout]
    held_stages = np.clip(stages[holdout], 0, len(intervals) - 1)
    if current is not None:
        predicted_now = current.recall_many(held_stages, elapsed)
    else:  # the built-in estimate, at the same whole calendar days
        predicted_now = np.exp(
            -elapsed / (np.asarray(intervals, dtype=np.float64)[held_stages] * _LADDER_STRENGTH_PER_DAY)
        )
    candidate = _stage_fit(table, stages, train, intervals)
    before = _log_loss(predicted_now, recalled)
    after = _log_loss(candidate.recall_many(held_stages, elapsed), recalled)
    if not after < before:
        return LadderFitResult(
            outcome=FitOutcome.NOT_BETTER,
            intervals=intervals,
            stabilities=candidate.stabilities,
            log_loss_before=before,
            log_loss_after=after,
            applied=False,
        )
    return LadderFitResult(
        outcome=FitOutcome.APPLIED,
        intervals=intervals,
        stabilities=candidate.stabilities,
        log_loss_before=before,
        log_loss_after=after,
        applied=True,
    )
