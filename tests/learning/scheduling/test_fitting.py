"""FSRS-6 fitting: the vectorised model equals the scalar one, exact gradients, preprocessing, recovery
of known weights from synthetic reviews, bounds, the fallback and bad input (pure, no database)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from modules.learning.scheduling import (
    DEFAULT_FSRS_PARAMETERS,
    MIN_TRAINING_REVIEWS,
    FsrsParameters,
    InvalidTimezone,
    LearnerDays,
    ReviewEvent,
    ReviewResult,
    fit_fsrs,
)
from modules.learning.scheduling.fitting import fit_table, mean_log_loss, prepare, table_from_events
from modules.learning.scheduling.fsrs6 import (
    DEFAULT_WEIGHTS,
    LOWER_BOUNDS,
    UPPER_BOUNDS,
    CardHistories,
    forward,
    initial_state,
    log_loss_and_gradient,
    next_state,
    recall,
)
from tests.learning.scheduling.synthetic import synthetic_events

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)
TRUTH = list(DEFAULT_WEIGHTS)
TRUTH[0], TRUTH[2], TRUTH[8], TRUTH[11], TRUTH[20] = 0.6, 4.5, 1.3, 2.2, 0.35


def random_histories(seed: int, cards: int = 60) -> tuple[list[list[float]], list[list[int]]]:
    rng = random.Random(seed)
    elapsed, ratings = [], []
    for _ in range(cards):
        length = rng.randint(1, 15)
        elapsed.append([0.0] + [float(rng.choice([0, 0, 1, 2, 5, 13, 40, 200])) for _ in range(length - 1)])
        ratings.append([rng.choice([1, 2, 3, 4]) for _ in range(length)])
    return elapsed, ratings


def random_weights(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low, high = np.array(LOWER_BOUNDS), np.array(UPPER_BOUNDS)
    return low + (high - low) * rng.uniform(0.05, 0.95, len(low))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_forward_equals_the_scalar_model(seed: int) -> None:
    elapsed, ratings = random_histories(seed)
    weights = DEFAULT_WEIGHTS if seed == 1 else tuple(random_weights(seed))
    histories = CardHistories.from_sequences(elapsed, ratings)
    predictions = forward(np.array(weights), histories)[0]
    for row, card in enumerate(histories.order):
        s, d = initial_state(weights, ratings[card][0])
        for step in range(1, len(ratings[card])):
            t = elapsed[card][step]
            assert predictions[row, step] == pytest.approx(
                recall(weights, elapsed_days=t, stability=s), rel=1e-12
            )
            s, d = next_state(
                weights, stability=s, difficulty=d, elapsed_days=int(t), rating=ratings[card][step]
            )


@pytest.mark.parametrize("seed", [1, 4, 5])
def test_reverse_mode_gradient_equals_the_complex_step_derivative(seed: int) -> None:
    elapsed, ratings = random_histories(seed)
    histories = CardHistories.from_sequences(elapsed, ratings)
    rng = np.random.default_rng(seed)
    targets = (np.arange(histories.elapsed.shape[1])[None, :] > 0) & (histories.elapsed >= 1)
    recalled = (rng.random(histories.elapsed.shape) < 0.8).astype(float)
    weight = targets / targets.sum()
    w = np.array(DEFAULT_WEIGHTS) if seed == 1 else random_weights(seed)

    value, gradient = log_loss_and_gradient(w, histories, weight, recalled)

    h = 1e-30
    p = forward(w[None, :] + np.eye(21) * 1j * h, histories)[:, targets]
    y, share = recalled[targets], weight[targets]
    losses = -(share * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum(axis=1)
    assert value == pytest.approx(losses[0].real, rel=1e-12)
    np.testing.assert_allclose(gradient, losses.imag / h, rtol=1e-7, atol=1e-12)


# --- preprocessing ----------------------------------------------------------------------------------


def test_targets_skip_first_and_same_day_reviews_but_history_keeps_them() -> None:
    at = [T0, T0 + timedelta(minutes=5), T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1)]
    # 20 alike cards: the outlier filter keeps a first interval only if at least 20 cards share it
    table = prepare(
        [card for card in range(20) for _ in at], at * 20, [1, 3, 3, 1] * 20, days=LearnerDays("UTC")
    )
    assert table.histories.elapsed[0].tolist() == [0, 0, 1, 0]
    assert table.target[0].tolist() == [False, False, True, False]
    assert table.lapses[0].tolist() == [0, 0, 0, 0]  # Again on the first day is not a lapse
    # the same-day Good still moved the memory: the prediction for day 1 uses S after both reviews
    s, d = initial_state(DEFAULT_WEIGHTS, 1)
    s, d = next_state(DEFAULT_WEIGHTS, stability=s, difficulty=d, elapsed_days=0, rating=3)
    assert mean_log_loss(DEFAULT_WEIGHTS, table) == pytest.approx(
        -np.log(recall(DEFAULT_WEIGHTS, elapsed_days=1, stability=s))
    )


def test_outlier_filter_drops_cards_with_a_rare_first_interval() -> None:
    # fsrs-optimizer's rule: per first rating, drop the rarest first intervals up to 5% of the cards
    # (at least 20), and past that any interval shared by fewer than 6 cards or over 100 days
    card_ids, times, ratings = [], [], []
    for card in range(60):  # 60 cards: first Good, second review 3 days later (a common interval)
        card_ids += [card, card, card]
        times += [T0, T0 + timedelta(days=3), T0 + timedelta(days=10)]
        ratings += [3, 3, 3]
    for card in range(60, 63):  # 3 cards with a second review 150 days later: rare and long
        card_ids += [card, card]
        times += [T0, T0 + timedelta(days=150)]
        ratings += [3, 1]
    table = prepare(card_ids, times, ratings, days=LearnerDays("UTC"))
    kept_ids = {table.card_ids[row] for row in range(len(table.card_ids)) if table.target[row].any()}
    assert kept_ids == set(range(60))
    assert table.target_count == 120


def test_outlier_filter_looks_at_the_first_review_on_a_later_day() -> None:
    # The benchmark numbers reviews after skipping same-day ones, so a card's "second review" for the
    # filter is its first review on a later day. 60 cards reviewed twice on day 0 then on day 3 share
    # the interval 3; 3 cards reviewed twice on day 0 then on day 150 are rare and long: dropped. Had
    # the same-day review counted as the second, every card's "first interval" would be 0 and all kept.
    card_ids, times, ratings = [], [], []
    for card in range(63):
        later = 3 if card < 60 else 150
        card_ids += [card, card, card]
        times += [T0, T0 + timedelta(minutes=10), T0 + timedelta(days=later)]
        ratings += [1, 3, 3]
    table = prepare(card_ids, times, ratings, days=LearnerDays("UTC"))
    kept_ids = {table.card_ids[row] for row in range(len(table.card_ids)) if table.target[row].any()}
    assert kept_ids == set(range(60))
    # the benchmark's review number: the first review is 1, same-day reviews do not count
    assert table.day_number[0][:3].tolist() == [1, 1, 2]


def test_events_of_a_card_are_ordered_by_time_whatever_the_input_order() -> None:
    events = [
        ReviewEvent("x", T0 + timedelta(days=2), ReviewResult.REMEMBERED),
        ReviewEvent("x", T0, ReviewResult.FORGOT),
    ]
    table = table_from_events(events, days=LearnerDays("UTC"))
    assert table.histories.ratings[0].tolist() == [1, 3]
    assert table.histories.elapsed[0].tolist() == [0, 2]


# --- fitting ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_fit() -> tuple[FsrsParameters, list[ReviewEvent]]:
    events = synthetic_events(TRUTH, cards=300, timezone="Europe/Paris")
    return fit_fsrs(events, timezone="Europe/Paris"), events


def test_fit_recovers_known_weights_from_synthetic_reviews(
    synthetic_fit: tuple[FsrsParameters, list[ReviewEvent]],
) -> None:
    fitted, events = synthetic_fit
    table = table_from_events(events, days=LearnerDays("Europe/Paris"))
    truth_loss = mean_log_loss(TRUTH, table)
    default_loss = mean_log_loss(DEFAULT_WEIGHTS, table)
    fitted_loss = mean_log_loss(fitted.weights, table)

    assert fitted.trained_on == table.target_count > MIN_TRAINING_REVIEWS
    assert fitted_loss <= truth_loss + 0.002  # as good as the truth on its own data
    assert default_loss - truth_loss > 0.005  # and the defaults are clearly not
    # the weights the data pins down come back: initial stabilities and the curve's shape
    assert fitted.weights[2] == pytest.approx(TRUTH[2], abs=1.0)
    assert fitted.weights[0] == pytest.approx(TRUTH[0], abs=0.4)
    assert fitted.weights[20] == pytest.approx(TRUTH[20], abs=0.1)
    # on a fresh sample of the same learner the fit predicts about as well as the truth
    fresh = table_from_events(
        synthetic_events(TRUTH, cards=300, timezone="Europe/Paris", seed=99), days=LearnerDays("Europe/Paris")
    )
    assert mean_log_loss(fitted.weights, fresh) < mean_log_loss(TRUTH, fresh) + 0.004
    assert mean_log_loss(fitted.weights, fresh) < mean_log_loss(DEFAULT_WEIGHTS, fresh)


def test_fitted_weights_stay_within_the_published_bounds(
    synthetic_fit: tuple[FsrsParameters, list[ReviewEvent]],
) -> None:
    # a learner who forgets everything pushes weights against their bounds
    events = [
        ReviewEvent(card, T0 + timedelta(days=day * (card % 7 + 1)), ReviewResult.FORGOT)
        for card in range(120)
        for day in range(6)
    ]
    table = table_from_events(events, days=LearnerDays("UTC"))
    extreme = fit_table(table, prior_strength=0.0).parameters
    for fitted in (extreme, synthetic_fit[0]):
        for value, low, high in zip(fitted.weights, LOWER_BOUNDS, UPPER_BOUNDS, strict=True):
            assert low <= value <= high
    assert mean_log_loss(extreme.weights, table) < mean_log_loss(DEFAULT_WEIGHTS, table)


def test_too_few_reviews_fall_back_to_the_defaults() -> None:
    events = synthetic_events(TRUTH, cards=80, reviews_per_card=5)
    table = table_from_events(events, days=LearnerDays("Europe/Paris"))
    assert 0 < table.target_count < MIN_TRAINING_REVIEWS
    fitted = fit_fsrs(events, timezone="Europe/Paris")
    assert fitted == DEFAULT_FSRS_PARAMETERS
    assert fitted.is_default and fitted.trained_on == 0
    assert fit_fsrs([]) == DEFAULT_FSRS_PARAMETERS


def test_bad_input_raises_clear_value_errors() -> None:
    events = [ReviewEvent(1, T0, ReviewResult.REMEMBERED)]
    with pytest.raises(InvalidTimezone, match="Mars/Olympus"):
        fit_fsrs(events, timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="day_start_hour"):
        fit_fsrs(events, day_start_hour=30)
    with pytest.raises(ValueError, match="timezone-aware"):
        fit_fsrs([ReviewEvent(1, datetime(2024, 3, 4, 10), ReviewResult.REMEMBERED)])
    with pytest.raises(ValueError, match="ReviewResult"):
        fit_fsrs([ReviewEvent(1, T0, "great")])  # type: ignore[arg-type]


def test_parameters_validate_their_weights() -> None:
    assert FsrsParameters().weights == DEFAULT_WEIGHTS and FsrsParameters().is_default
    with pytest.raises(ValueError, match="21 weights"):
        FsrsParameters(weights=DEFAULT_WEIGHTS[:20])
    with pytest.raises(ValueError, match="w7"):
        FsrsParameters(weights=(*DEFAULT_WEIGHTS[:7], 0.9, *DEFAULT_WEIGHTS[8:]))
    with pytest.raises(ValueError, match="w0"):
        FsrsParameters(weights=(float("nan"), *DEFAULT_WEIGHTS[1:]))
