"""The calibrated ladder recall model: prior, per-stage fit, calibration on synthetic ladder learners."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pytest

from modules.learning.scheduling import InvalidTimezone, ReviewEvent, ReviewResult, ladder_stage_after
from modules.learning.scheduling.calibrated_ladder import (
    DEFAULT_DECAY,
    LadderRecallModel,
    fit_ladder_recall,
    prior_ladder_model,
)

PRO = (1, 3, 7, 14, 30, 60, 120, 180)
T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


def ladder_learner(
    true_stability: tuple[float, ...], *, cards: int, reviews: int, seed: int = 3
) -> list[ReviewEvent]:
    """A learner on the PRO ladder whose recall at stage s follows FSRS's curve with S = true[s]."""
    rng = random.Random(seed)
    truth = LadderRecallModel(stabilities=true_stability)
    events = []
    for card in range(cards):
        at = T0 + timedelta(days=rng.randrange(30))
        events.append(ReviewEvent(card, at, ReviewResult.REMEMBERED))
        stage = ladder_stage_after(0, ReviewResult.REMEMBERED, last_stage=len(PRO) - 1)
        for _ in range(reviews - 1):
            late = rng.choice([0, 0, 0, 1, 2])  # learners are sometimes late
            elapsed = PRO[stage] + late
            at += timedelta(days=elapsed, minutes=rng.randrange(60))
            result = (
                ReviewResult.REMEMBERED
                if rng.random() < truth.recall(stage=stage, elapsed_days=elapsed)
                else ReviewResult.FORGOT
            )
            events.append(ReviewEvent(card, at, result))
            stage = ladder_stage_after(stage, result, last_stage=len(PRO) - 1)
    return events


def test_prior_model_is_the_ladders_assumption_on_fsrs_curve() -> None:
    model = prior_ladder_model(PRO)
    assert model.stabilities == tuple(float(days) for days in PRO)
    for stage, interval in enumerate(PRO):
        assert model.recall(stage=stage, elapsed_days=interval) == pytest.approx(0.9)
    assert model.recall(stage=0, elapsed_days=0) == 1.0
    assert model.recall(stage=99, elapsed_days=180) == pytest.approx(0.9)  # stages clamp to the ladder


def test_no_history_gives_the_prior() -> None:
    assert fit_ladder_recall([], intervals=PRO) == prior_ladder_model(PRO)


def test_fit_recovers_each_stages_stability_and_is_calibrated() -> None:
    # this learner forgets much faster than the ladder assumes: R at the due date is about 0.75
    true_stability = tuple(days / 3 for days in PRO)
    events = ladder_learner(true_stability, cards=400, reviews=6)

    fitted = fit_ladder_recall(events, intervals=PRO, timezone="UTC")

    for stage in range(3):  # the stages most reviews happen at (the later ones move R too little)
        assert math.log(fitted.stabilities[stage]) == pytest.approx(math.log(true_stability[stage]), abs=0.35)
    assert fitted.stabilities[7] == pytest.approx(PRO[7], rel=0.05)  # never reached: the prior stays
    # predicted and observed recall agree on a fresh sample; the uncalibrated prior does not
    fresh = ladder_learner(true_stability, cards=400, reviews=6, seed=11)
    predicted, prior_predicted, observed = [], [], []
    by_card: dict[int, list[ReviewEvent]] = {}
    for event in fresh:
        by_card.setdefault(event.card_id, []).append(event)  # type: ignore[arg-type]
    prior = prior_ladder_model(PRO)
    for history in by_card.values():
        stage = ladder_stage_after(0, history[0].result, last_stage=len(PRO) - 1)
        for before, event in pairwise(history):
            days = (event.reviewed_at.date() - before.reviewed_at.date()).days
            predicted.append(fitted.recall(stage=stage, elapsed_days=days))
            prior_predicted.append(prior.recall(stage=stage, elapsed_days=days))
            observed.append(event.result == ReviewResult.REMEMBERED)
            stage = ladder_stage_after(stage, event.result, last_stage=len(PRO) - 1)
    assert np.mean(predicted) == pytest.approx(np.mean(observed), abs=0.02)
    assert np.mean(prior_predicted) - np.mean(observed) > 0.05


def test_model_validation_and_bad_input() -> None:
    with pytest.raises(ValueError):
        LadderRecallModel(stabilities=())
    with pytest.raises(ValueError):
        LadderRecallModel(stabilities=(0.0,))
    with pytest.raises(InvalidTimezone):
        fit_ladder_recall([], intervals=PRO, timezone="Atlantis/Capital")
    with pytest.raises(ValueError, match="interval"):
        fit_ladder_recall([], intervals=())
    assert LadderRecallModel(stabilities=(1.0,)).decay == DEFAULT_DECAY
