"""Pure scheduler tests: no database, no Django."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest

from modules.identity.services import TierSpec
from modules.learning.scheduling import (
    TARGET_RETENTION,
    CardState,
    FsrsScheduler,
    LadderScheduler,
    ReviewResult,
    SchedulerKind,
    estimate_recall,
    scheduler_for,
)

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
LADDERS = {
    "FREE": (1, 3),
    "BASIC": (1, 3, 7, 14, 30, 60, 90),
    "PRO": (1, 3, 7, 14, 30, 60, 120, 180),
}
REMEMBERED, PARTIAL, FORGOT = ReviewResult.REMEMBERED, ReviewResult.PARTIAL, ReviewResult.FORGOT


def test_ladders_match_the_tier_table() -> None:
    from modules.identity.tiers import TIER_SPECS

    assert {spec.tier.value: spec.review_intervals for spec in TIER_SPECS.values()} == LADDERS
    assert all(isinstance(spec, TierSpec) for spec in TIER_SPECS.values())


# --- Ladder ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", LADDERS)
def test_every_ladder_is_walked_to_the_end_and_back(tier: str) -> None:
    intervals = LADDERS[tier]
    ladder = LadderScheduler(intervals)
    card = CardState(introduced_at=T0)
    assert ladder.first_interval_days() == 1
    at = T0 + timedelta(days=ladder.first_interval_days())
    seen = []
    for expected_stage in [*range(1, len(intervals)), len(intervals) - 1, len(intervals) - 1]:
        step = ladder.review(card, REMEMBERED, at)
        assert step.state.stage == expected_stage
        assert step.interval_days == intervals[expected_stage]
        assert step.due_at == at + timedelta(days=intervals[expected_stage])
        seen.append(step.interval_days)
        card, at = step.state, step.due_at
    assert seen[-1] == intervals[-1]  # the last stage repeats the last interval

    partial = ladder.review(card, PARTIAL, at)
    assert (partial.state.stage, partial.interval_days) == (len(intervals) - 1, intervals[-1])

    forgot = ladder.review(partial.state, FORGOT, partial.due_at)
    assert (forgot.state.stage, forgot.interval_days) == (0, 1)
    assert forgot.state.review_count == len(seen) + 2


@pytest.mark.parametrize("stage", [0, 1, 3])
def test_partial_keeps_the_stage_and_its_interval(stage: int) -> None:
    ladder = LadderScheduler(LADDERS["PRO"])
    step = ladder.review(CardState(introduced_at=T0, stage=stage), PARTIAL, T0 + timedelta(days=30))
    assert (step.state.stage, step.interval_days) == (stage, LADDERS["PRO"][stage])


def test_forgot_resets_to_stage_zero_with_one_day_interval() -> None:
    ladder = LadderScheduler(LADDERS["BASIC"])
    step = ladder.review(CardState(introduced_at=T0, stage=5), FORGOT, T0 + timedelta(days=60))
    assert (step.state.stage, step.interval_days) == (0, 1)


def test_a_stage_beyond_a_smaller_ladder_is_clamped_at_the_next_review() -> None:
    free = LadderScheduler(LADDERS["FREE"])
    pro_card = CardState(introduced_at=T0, stage=6)  # reached on PRO, now on FREE
    remembered = free.review(pro_card, REMEMBERED, T0 + timedelta(days=100))
    partial = free.review(pro_card, PARTIAL, T0 + timedelta(days=100))
    assert (remembered.state.stage, remembered.interval_days) == (1, 3)
    assert (partial.state.stage, partial.interval_days) == (1, 3)


def test_ladder_review_clears_stale_fsrs_memory() -> None:
    card = CardState(
        introduced_at=T0, scheduler=SchedulerKind.FSRS, stability=20.0, difficulty=5.0, fsrs_state=2
    )
    state = LadderScheduler(LADDERS["PRO"]).review(card, REMEMBERED, T0 + timedelta(days=3)).state
    assert state.scheduler == SchedulerKind.LADDER
    assert (state.stability, state.difficulty, state.fsrs_state) == (None, None, None)


def test_ladder_rejects_an_empty_or_zero_ladder() -> None:
    with pytest.raises(ValueError):
        LadderScheduler(())
    with pytest.raises(ValueError):
        LadderScheduler((0, 3))


@pytest.mark.parametrize("tier", LADDERS)
def test_ladder_recall_is_the_target_at_each_stages_interval(tier: str) -> None:
    ladder = LadderScheduler(LADDERS[tier])
    for stage, interval in enumerate(LADDERS[tier]):
        card = CardState(introduced_at=T0, stage=stage, last_reviewed_at=T0)
        assert ladder.recall_probability(card, T0 + timedelta(days=interval)) == pytest.approx(
            TARGET_RETENTION
        )
        assert ladder.strength_for(stage) == pytest.approx(interval / -math.log(TARGET_RETENTION))


def test_ladder_recall_is_in_range_and_falls_with_time() -> None:
    ladder = LadderScheduler(LADDERS["PRO"])
    card = CardState(introduced_at=T0, stage=2, last_reviewed_at=T0)
    values = [
        ladder.recall_probability(card, T0 + timedelta(days=days)) for days in (0, 0.5, 1, 7, 30, 365, 5000)
    ]
    assert values[0] == 1.0
    assert all(0.0 <= value <= 1.0 for value in values)
    assert values == sorted(values, reverse=True)
    assert values[-1] < values[-2]


def test_ladder_recall_of_a_new_card_counts_from_its_creation() -> None:
    ladder = LadderScheduler(LADDERS["BASIC"])
    new_card = CardState(introduced_at=T0)
    assert ladder.recall_probability(new_card, T0 + timedelta(days=1)) == pytest.approx(0.9)
    assert ladder.recall_probability(new_card, T0 - timedelta(days=1)) == 1.0  # never above 1


def test_early_review_sees_the_real_elapsed_time() -> None:
    ladder = LadderScheduler(LADDERS["PRO"])
    card = CardState(introduced_at=T0, stage=4, last_reviewed_at=T0)  # due in 30 days
    early = ladder.review(card, REMEMBERED, T0 + timedelta(days=2))
    on_time = ladder.review(card, REMEMBERED, T0 + timedelta(days=30))
    assert early.retrievability_before > on_time.retrievability_before
    assert on_time.retrievability_before == pytest.approx(0.9)


# --- FSRS --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", LADDERS)
def test_fsrs_intervals_are_monotone_in_stability_and_capped_by_the_tier(tier: str) -> None:
    fsrs = FsrsScheduler(desired_retention=0.9, intervals=LADDERS[tier])
    stabilities = [0.01, 0.5, 1, 2, 3, 5, 8, 13, 21, 50, 100, 400, 2000, 10_000]
    intervals = [fsrs.interval_for_stability(stability) for stability in stabilities]
    assert intervals == sorted(intervals)
    assert min(intervals) == 1
    assert max(intervals) == LADDERS[tier][-1]
    # our closed form is the package's own interval rule
    assert [fsrs.engine._next_interval(stability=s) for s in stabilities] == intervals


def test_free_tier_fsrs_never_schedules_past_three_days() -> None:
    fsrs = FsrsScheduler(intervals=LADDERS["FREE"], desired_retention=0.7)
    card, at = CardState(introduced_at=T0), T0 + timedelta(days=1)
    for _ in range(12):
        step = fsrs.review(card, REMEMBERED, at)
        assert 1 <= step.interval_days <= 3
        card, at = step.state, step.due_at
    assert card.stage == 1  # the derived stage is clamped to FREE's two stages


def test_fsrs_maps_results_to_ratings_and_orders_intervals() -> None:
    fsrs = FsrsScheduler(intervals=LADDERS["PRO"])
    card = CardState(introduced_at=T0)
    at = T0 + timedelta(days=1)
    again, hard, good = (fsrs.review(card, result, at) for result in (FORGOT, PARTIAL, REMEMBERED))
    assert again.state.stability < hard.state.stability < good.state.stability
    assert again.interval_days <= hard.interval_days <= good.interval_days
    assert good.state.scheduler == SchedulerKind.FSRS
    assert good.state.fsrs_state == 2  # Review: no learning steps, whole days only


def test_fsrs_successes_grow_intervals_and_a_lapse_shrinks_them() -> None:
    fsrs = FsrsScheduler(intervals=LADDERS["PRO"])
    card, at = CardState(introduced_at=T0), T0 + timedelta(days=1)
    intervals = []
    for _ in range(5):
        step = fsrs.review(card, REMEMBERED, at)
        intervals.append(step.interval_days)
        card, at = step.state, step.due_at
    assert intervals == sorted(intervals) and intervals[-1] > intervals[0]
    assert card.stage == 5
    lapse = fsrs.review(card, FORGOT, at)
    assert lapse.interval_days < intervals[-1]
    assert lapse.state.stage == 0
    assert lapse.state.stability < card.stability


def test_fsrs_is_deterministic() -> None:
    fsrs = FsrsScheduler(intervals=LADDERS["PRO"])
    card = CardState(
        introduced_at=T0,
        stage=3,
        last_reviewed_at=T0,
        scheduler=SchedulerKind.FSRS,
        stability=30.0,
        difficulty=5.0,
        fsrs_state=2,
    )
    steps = {fsrs.review(card, REMEMBERED, T0 + timedelta(days=30)).interval_days for _ in range(20)}
    assert len(steps) == 1


def test_fsrs_higher_desired_retention_means_shorter_intervals() -> None:
    relaxed = FsrsScheduler(desired_retention=0.75, intervals=LADDERS["PRO"])
    strict = FsrsScheduler(desired_retention=0.97, intervals=LADDERS["PRO"])
    assert strict.interval_for_stability(40) < relaxed.interval_for_stability(40)


def test_fsrs_recall_is_in_range_falls_with_time_and_is_090_at_stability() -> None:
    fsrs = FsrsScheduler(intervals=LADDERS["PRO"])
    card = CardState(
        introduced_at=T0,
        last_reviewed_at=T0,
        scheduler=SchedulerKind.FSRS,
        stability=10.0,
        difficulty=5.0,
        fsrs_state=2,
    )
    values = [
        fsrs.recall_probability(card, T0 + timedelta(days=days)) for days in (0, 0.25, 1, 10, 100, 10_000)
    ]
    assert values[0] == 1.0
    assert all(0.0 <= value <= 1.0 for value in values)
    assert all(later < earlier for earlier, later in itertools.pairwise(values))
    assert values[3] == pytest.approx(0.9)


def test_fsrs_recall_of_a_card_without_memory_uses_the_initial_good_stability() -> None:
    fsrs = FsrsScheduler(intervals=LADDERS["PRO"])
    new_card = CardState(introduced_at=T0)
    initial_good = fsrs.parameters[2]
    assert fsrs.recall_probability(new_card, T0 + timedelta(days=initial_good)) == pytest.approx(0.9)


def test_fsrs_replay_rebuilds_memory_from_history_and_keeps_the_stage() -> None:
    fsrs = FsrsScheduler(intervals=LADDERS["PRO"])
    events = [
        (REMEMBERED, T0 + timedelta(days=1)),
        (REMEMBERED, T0 + timedelta(days=4)),
        (FORGOT, T0 + timedelta(days=11)),
    ]
    ladder_card = CardState(introduced_at=T0, stage=0, last_reviewed_at=events[-1][1], review_count=3)

    rebuilt = fsrs.replay(ladder_card, list(reversed(events)))  # order of the input does not matter

    direct = CardState(introduced_at=T0)
    for result, at in events:
        direct = fsrs.review(direct, result, at).state
    assert rebuilt.scheduler == SchedulerKind.FSRS
    assert (rebuilt.stability, rebuilt.difficulty) == (direct.stability, direct.difficulty)
    assert (rebuilt.stage, rebuilt.review_count, rebuilt.last_reviewed_at) == (0, 3, events[-1][1])


def test_fsrs_replay_without_history_leaves_a_new_card() -> None:
    fsrs = FsrsScheduler(intervals=LADDERS["PRO"])
    rebuilt = fsrs.replay(CardState(introduced_at=T0), [])
    assert rebuilt.stability is None and not fsrs.has_memory(rebuilt)


def test_fsrs_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        FsrsScheduler(desired_retention=1.2)
    with pytest.raises(ValueError):
        FsrsScheduler(intervals=())


def test_scheduler_for_picks_by_kind_and_estimate_recall_follows_the_cards_model() -> None:
    assert isinstance(scheduler_for(kind="ladder", intervals=LADDERS["FREE"]), LadderScheduler)
    assert isinstance(
        scheduler_for(kind="fsrs", intervals=LADDERS["FREE"], desired_retention=0.8), FsrsScheduler
    )
    fsrs_card = CardState(
        introduced_at=T0,
        last_reviewed_at=T0,
        scheduler=SchedulerKind.FSRS,
        stability=5.0,
        difficulty=5.0,
        fsrs_state=2,
    )
    ladder_card = CardState(introduced_at=T0, last_reviewed_at=T0, stage=1)
    assert estimate_recall(fsrs_card, T0 + timedelta(days=5), intervals=LADDERS["PRO"]) == pytest.approx(0.9)
    assert estimate_recall(ladder_card, T0 + timedelta(days=3), intervals=LADDERS["PRO"]) == pytest.approx(
        0.9
    )


def test_scheduling_package_imports_no_django() -> None:
    import ast
    import pathlib

    import modules.learning.scheduling as package

    for path in pathlib.Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {
            (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
            if not isinstance(node, ast.ImportFrom) or node.module
        }
        assert "django" not in imported, path.name
