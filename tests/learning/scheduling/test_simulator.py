"""The retention simulator: hand-checked first days, monotone trade-offs, the ladder policy, the
recommendation, speed and bad input (pure, no database)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from modules.learning.scheduling import simulator
from modules.learning.scheduling.fsrs6 import DEFAULT_WEIGHTS, interval_days, recall
from modules.learning.scheduling.simulator import (
    InvalidRetention,
    SimulationCards,
    answer_seconds,
    recommend_retention,
    simulate,
    simulate_many,
)

PRO = (1, 3, 7, 14, 30, 60, 120, 180)


def learner_cards(count: int, seed: int = 0) -> SimulationCards:
    rng = np.random.default_rng(seed)
    return SimulationCards(
        stability=np.exp(rng.normal(np.log(10), 1.2, count)),
        difficulty=rng.uniform(2, 9, count),
        elapsed_days=rng.integers(0, 10, count).astype(float),
    )


def test_one_card_is_first_reviewed_when_fsrs_says_and_remembered_is_its_recall() -> None:
    # S = 20 days, reviewed 5 days ago: FSRS at 0.9 schedules it 20 days after that review, day 15
    cards = SimulationCards(
        stability=np.array([20.0]), difficulty=np.array([5.0]), elapsed_days=np.array([5.0])
    )
    assert round(interval_days(DEFAULT_WEIGHTS, stability=20.0, desired_retention=0.9)) == 20

    result = simulate(cards, weights=DEFAULT_WEIGHTS, desired_retention=0.9, days=30)

    assert result.reviews_per_day[:15].sum() == 0 and result.reviews_per_day[15] == 1
    assert result.remembered_per_day[0] == pytest.approx(
        recall(DEFAULT_WEIGHTS, elapsed_days=5, stability=20.0)
    )
    assert result.remembered_per_day[14] == pytest.approx(
        recall(DEFAULT_WEIGHTS, elapsed_days=19, stability=20.0)
    )
    assert result.minutes_per_day[15] in (pytest.approx(8.0 / 60), pytest.approx(20.0 / 60))  # by outcome
    assert result.remembered_per_day[15] == 1.0  # just reviewed


def test_overdue_cards_are_reviewed_on_the_first_day() -> None:
    cards = SimulationCards(
        stability=np.array([2.0, 2.0]), difficulty=np.array([5.0, 5.0]), elapsed_days=np.array([40.0, 0.0])
    )
    result = simulate(cards, weights=DEFAULT_WEIGHTS, desired_retention=0.9, days=5)
    assert result.reviews_per_day[0] == 1


def test_higher_retention_costs_more_reviews_and_remembers_more() -> None:
    cards = learner_cards(2_000)
    results = [
        simulate(cards, weights=DEFAULT_WEIGHTS, desired_retention=r, days=180) for r in (0.75, 0.85, 0.95)
    ]
    reviews = [r.total_reviews for r in results]
    remembered = [r.remembered for r in results]
    assert reviews == sorted(reviews) and reviews[0] < reviews[-1]
    assert remembered == sorted(remembered) and remembered[0] < remembered[-1]
    assert all(r.total_minutes > 0 for r in results)


def test_ladder_policy_reviews_a_card_at_its_stage_interval() -> None:
    # stage 3 (14 days), reviewed 4 days ago: due on day 10 whatever its stability
    cards = SimulationCards(
        stability=np.array([500.0]),
        difficulty=np.array([5.0]),
        elapsed_days=np.array([4.0]),
        stage=np.array([3]),
    )
    result = simulate(cards, weights=DEFAULT_WEIGHTS, ladder=PRO, desired_retention=None, days=40)
    assert result.reviews_per_day[:10].sum() == 0 and result.reviews_per_day[10] == 1
    assert result.desired_retention is None
    # remembered (R ~ 0.99 at S = 500): stage 4, 30 days later
    assert result.reviews_per_day[11:].sum() == 0


def test_new_cards_are_studied_every_day() -> None:
    cards = learner_cards(10)
    quiet = simulate(cards, weights=DEFAULT_WEIGHTS, days=30)
    busy = simulate(cards, weights=DEFAULT_WEIGHTS, days=30, new_cards_per_day=5)
    assert (busy.reviews_per_day >= 5).all()
    assert busy.remembered > quiet.remembered + 100


def test_recommendation_minimises_reviews_per_remembered_card() -> None:
    cards = learner_cards(1_000)
    recommendation = recommend_retention(
        cards, weights=DEFAULT_WEIGHTS, candidates=(0.75, 0.85, 0.95), days=120
    )
    ratios = {r.desired_retention: r.reviews_per_remembered_card for r in recommendation.results}
    assert set(ratios) == {0.75, 0.85, 0.95}
    assert ratios[recommendation.desired_retention] == min(ratios.values())
    assert recommendation.result_for(0.85).desired_retention == 0.85


def test_ten_thousand_cards_for_a_year_take_well_under_five_seconds() -> None:
    cards = learner_cards(10_000)
    started = time.process_time()
    result = simulate(cards, weights=DEFAULT_WEIGHTS, desired_retention=0.9, days=365, max_interval=180)
    assert time.process_time() - started < 5.0
    assert result.total_reviews > 10_000


@pytest.mark.parametrize("retention", [0.5, 0.69, 0.98, 1.0, float("nan"), "0.9"])
def test_desired_retention_outside_070_097_is_refused(retention: object) -> None:
    with pytest.raises(InvalidRetention) as raised:
        simulate(learner_cards(3), weights=DEFAULT_WEIGHTS, desired_retention=retention)  # type: ignore[arg-type]
    assert isinstance(raised.value, ValueError)
    with pytest.raises(InvalidRetention):
        recommend_retention(learner_cards(3), weights=DEFAULT_WEIGHTS, candidates=(0.9, retention))  # type: ignore[arg-type]


def test_other_bad_input() -> None:
    cards = learner_cards(3)
    with pytest.raises(ValueError, match="days"):
        simulate(cards, weights=DEFAULT_WEIGHTS, days=0)
    with pytest.raises(ValueError, match="ladder"):
        simulate(cards, weights=DEFAULT_WEIGHTS, ladder=(), desired_retention=None)
    with pytest.raises(ValueError, match="one value per card"):
        SimulationCards(stability=np.ones(2), difficulty=np.ones(3), elapsed_days=np.ones(2))


def test_answer_seconds_are_medians_by_outcome() -> None:
    assert answer_seconds([4000, 6000, 8000, 30000, 2_000_000], [True, True, True, False, False]) == (
        6.0,
        30.0,
    )
    assert answer_seconds([], []) == (8.0, 20.0)


# --- Several policies in one pass ------------------------------------------------------------------


def test_each_policy_played_beside_others_gives_what_it_gives_alone() -> None:
    cards = SimulationCards(
        stability=np.exp(np.random.default_rng(1).normal(np.log(10), 1.2, 300)),
        difficulty=np.random.default_rng(2).uniform(2, 9, 300),
        elapsed_days=np.random.default_rng(3).integers(0, 10, 300).astype(float),
        stage=np.random.default_rng(4).integers(0, 8, 300),
    )
    common = {
        "weights": DEFAULT_WEIGHTS,
        "days": 90,
        "max_interval": 180,
        "new_cards_per_day": 3,
        "partial_share": 0.2,
    }

    together = simulate_many(cards, retentions=(0.75, 0.9, 0.95), ladder=PRO, **common)
    alone = [simulate(cards, desired_retention=value, **common) for value in (0.75, 0.9, 0.95)]
    alone.append(simulate(cards, desired_retention=None, ladder=PRO, **common))

    assert [result.desired_retention for result in together] == [0.75, 0.9, 0.95, None]
    for batched, single in zip(together, alone, strict=True):
        assert np.array_equal(batched.reviews_per_day, single.reviews_per_day)
        assert np.allclose(batched.minutes_per_day, single.minutes_per_day)
        assert np.allclose(batched.remembered_per_day, single.remembered_per_day)
    assert len({result.total_reviews for result in together}) == 4  # the policies do differ


def test_policies_split_into_groups_to_bound_memory_give_the_same_results(monkeypatch) -> None:
    cards = learner_cards(500)
    common = {"weights": DEFAULT_WEIGHTS, "days": 60, "max_interval": 180, "new_cards_per_day": 2}
    whole = simulate_many(cards, retentions=(0.7, 0.8, 0.9), ladder=PRO, **common)

    monkeypatch.setattr(simulator, "MAX_BATCH_CELLS", 700)  # one policy of 620 cards per group
    split = simulate_many(cards, retentions=(0.7, 0.8, 0.9), ladder=PRO, **common)

    for one, other in zip(whole, split, strict=True):
        assert one.desired_retention == other.desired_retention
        assert np.array_equal(one.reviews_per_day, other.reviews_per_day)
        assert np.allclose(one.remembered_per_day, other.remembered_per_day)


def test_a_policy_without_daily_remembered_reports_its_last_day_only() -> None:
    cards = learner_cards(200)
    common = {"weights": DEFAULT_WEIGHTS, "retentions": (0.8, 0.9), "days": 30}

    tracked, untracked = simulate_many(cards, daily_remembered=[True, False], **common)
    both = simulate_many(cards, **common)

    assert np.isnan(untracked.remembered_per_day[:-1]).all()
    assert untracked.remembered == pytest.approx(both[1].remembered)
    assert np.allclose(tracked.remembered_per_day, both[0].remembered_per_day)
    assert not np.isnan(tracked.remembered_per_day).any()
    with pytest.raises(ValueError):
        simulate_many(cards, daily_remembered=[True], **common)
    with pytest.raises(ValueError):
        simulate_many(cards, weights=DEFAULT_WEIGHTS, retentions=())
