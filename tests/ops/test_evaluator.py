"""The pure alert evaluator: operators, aggregations, window, cooldown, decisions (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modules.ops.alerting.evaluator import (
    Decision,
    RuleSpec,
    Sample,
    aggregate,
    compare,
    evaluate,
    in_cooldown,
    window_values,
)

NOW = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)


def series(*values: float, end: datetime = NOW) -> list[Sample]:
    """One sample a minute, the last one at ``end``."""
    return [
        Sample(at=end - timedelta(minutes=len(values) - 1 - i), value=value) for i, value in enumerate(values)
    ]


def rule(**overrides: object) -> RuleSpec:
    values: dict = {
        "operator": ">",
        "threshold": 80.0,
        "window_minutes": 5,
        "aggregation": "avg",
        "cooldown_minutes": 30,
    }
    values.update(overrides)
    return RuleSpec(**values)


@pytest.mark.parametrize(
    ("operator", "value", "threshold", "expected"),
    [
        (">", 81.0, 80.0, True),
        (">", 80.0, 80.0, False),
        (">=", 80.0, 80.0, True),
        (">=", 79.9, 80.0, False),
        ("<", 9.0, 10.0, True),
        ("<", 10.0, 10.0, False),
        ("<=", 10.0, 10.0, True),
        ("<=", 10.1, 10.0, False),
        ("==", 0.0, 0.0, True),
        ("==", 0.1 + 0.2, 0.3, True),  # float noise is not a difference
        ("==", 1.0, 2.0, False),
        ("!=", 1.0, 2.0, True),
        ("!=", 0.1 + 0.2, 0.3, False),
    ],
)
def test_every_operator_compares_the_value_with_the_threshold(
    operator: str, value: float, threshold: float, expected: bool
) -> None:
    assert compare(operator, value, threshold) is expected


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("avg", 30.0), ("max", 60.0), ("min", 10.0), ("last", 20.0)],
)
def test_every_aggregation_reduces_the_window(aggregation: str, expected: float) -> None:
    assert aggregate(aggregation, [10.0, 60.0, 30.0, 20.0]) == expected


def test_last_is_the_newest_sample_even_when_samples_arrive_unordered() -> None:
    samples = list(reversed(series(1.0, 2.0, 3.0)))
    assert window_values(samples, now=NOW, window_minutes=5) == [1.0, 2.0, 3.0]
    outcome = evaluate(
        rule(aggregation="last", operator="==", threshold=3.0),
        samples,
        now=NOW,
        has_open_event=False,
        last_fired_at=None,
    )
    assert outcome.value == 3.0
    assert outcome.decision is Decision.FIRE


def test_the_window_keeps_only_samples_of_the_last_window_minutes() -> None:
    # 10 samples, one a minute; a 3-minute window ending at NOW keeps the last 3 (older ones would
    # drag the average down below the threshold).
    samples = series(0, 0, 0, 0, 0, 0, 0, 90, 95, 100)
    assert window_values(samples, now=NOW, window_minutes=3) == [90, 95, 100]
    outcome = evaluate(rule(window_minutes=3), samples, now=NOW, has_open_event=False, last_fired_at=None)
    assert outcome.decision is Decision.FIRE
    assert outcome.value == pytest.approx(95.0)


def test_samples_after_now_are_ignored() -> None:
    future = [Sample(at=NOW + timedelta(minutes=1), value=100.0)]
    assert window_values(future, now=NOW, window_minutes=5) == []


def test_no_samples_in_the_window_is_no_data_and_keeps_an_open_event_open() -> None:
    old = series(99.0, end=NOW - timedelta(minutes=10))
    outcome = evaluate(rule(), old, now=NOW, has_open_event=True, last_fired_at=NOW - timedelta(hours=1))
    assert outcome.decision is Decision.NO_DATA
    assert outcome.value is None


def test_condition_holding_inside_the_cooldown_is_suppressed() -> None:
    outcome = evaluate(
        rule(cooldown_minutes=30),
        series(95, 95, 95),
        now=NOW,
        has_open_event=False,
        last_fired_at=NOW - timedelta(minutes=29),
    )
    assert outcome.decision is Decision.SUPPRESSED
    assert outcome.holds is True


def test_condition_holding_after_the_cooldown_fires_again() -> None:
    outcome = evaluate(
        rule(cooldown_minutes=30),
        series(95, 95, 95),
        now=NOW,
        has_open_event=False,
        last_fired_at=NOW - timedelta(minutes=30),
    )
    assert outcome.decision is Decision.FIRE


def test_zero_cooldown_never_suppresses() -> None:
    assert not in_cooldown(last_fired_at=NOW, now=NOW, cooldown_minutes=0)


def test_an_open_event_is_not_fired_twice() -> None:
    outcome = evaluate(rule(), series(95, 95), now=NOW, has_open_event=True, last_fired_at=NOW)
    assert outcome.decision is Decision.STILL_FIRING


def test_an_open_event_resolves_when_the_condition_clears() -> None:
    outcome = evaluate(rule(), series(95, 10, 10, 10, 10), now=NOW, has_open_event=True, last_fired_at=NOW)
    assert outcome.decision is Decision.RESOLVE
    assert outcome.value == pytest.approx(27.0)


def test_nothing_happens_when_the_condition_does_not_hold_and_nothing_is_open() -> None:
    outcome = evaluate(rule(), series(10, 20), now=NOW, has_open_event=False, last_fired_at=None)
    assert outcome.decision is Decision.OK


def test_non_finite_values_are_ignored() -> None:
    samples = [Sample(at=NOW, value=float("nan")), Sample(at=NOW - timedelta(minutes=1), value=90.0)]
    assert window_values(samples, now=NOW, window_minutes=5) == [90.0]


@pytest.mark.parametrize(
    "overrides",
    [{"operator": "=>"}, {"aggregation": "median"}, {"window_minutes": 0}, {"cooldown_minutes": -1}],
)
def test_a_malformed_rule_is_refused(overrides: dict) -> None:
    with pytest.raises(ValueError):
        rule(**overrides)


def test_aggregating_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        aggregate("avg", [])


def test_the_window_may_end_before_now_while_the_cooldown_is_measured_at_now() -> None:
    spec = rule(operator=">", threshold=50, window_minutes=1, aggregation="last", cooldown_minutes=10)
    end = NOW - timedelta(minutes=1)
    samples = series(10, 99, end=end) + series(0)  # 99 at end; NOW's 0 lies after the window
    fired_at = NOW - timedelta(minutes=10, seconds=1)  # 10 min ago from NOW, not from end

    outcome = evaluate(spec, samples, now=NOW, window_end=end, has_open_event=False, last_fired_at=fired_at)

    assert outcome.decision is Decision.FIRE
    assert outcome.value == 99
