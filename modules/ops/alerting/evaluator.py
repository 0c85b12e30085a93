"""The alert rule evaluator: pure (no Django, no I/O), so every rule of the semantics is tested directly.

A rule compares an aggregation (avg, max, min, last) of one metric's samples inside a trailing window
with a threshold. The sweep feeds it the samples and the rule's state (is an event open, when did the
rule last fire) and acts on the returned decision:

- no sample in the window: ``NO_DATA``; nothing changes (an absent metric neither fires nor resolves);
- condition holds, no open event, last firing older than the cooldown (or never): ``FIRE``;
- condition holds, no open event, inside the cooldown: ``SUPPRESSED`` (nothing is recorded);
- condition holds, an event is open: ``STILL_FIRING`` (no second event);
- condition clears, an event is open: ``RESOLVE``;
- condition clears, nothing open: ``OK``.
"""

from __future__ import annotations

import enum
import math
import operator as op
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# Equality on floats: samples are measured values, so "== 0" must hold for 0.0 and 1e-12 alike.
_REL_TOL = 1e-9
_ABS_TOL = 1e-9


def _eq(left: float, right: float) -> bool:
    return math.isclose(left, right, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)


def _ne(left: float, right: float) -> bool:
    return not _eq(left, right)


OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": op.gt,
    ">=": op.ge,
    "<": op.lt,
    "<=": op.le,
    "==": _eq,
    "!=": _ne,
}


def _avg(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


AGGREGATIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "avg": _avg,
    "max": max,
    "min": min,
    "last": lambda values: values[-1],
}


class Decision(enum.StrEnum):
    FIRE = "fire"
    STILL_FIRING = "still_firing"
    SUPPRESSED = "suppressed"
    RESOLVE = "resolve"
    OK = "ok"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class RuleSpec:
    operator: str
    threshold: float
    window_minutes: int
    aggregation: str
    cooldown_minutes: int

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ValueError(f"unknown operator {self.operator!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}")
        if self.window_minutes < 1:
            raise ValueError("window_minutes must be at least 1")
        if self.cooldown_minutes < 0:
            raise ValueError("cooldown_minutes cannot be negative")


@dataclass(frozen=True)
class Sample:
    at: datetime
    value: float


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    value: float | None  # the aggregated value, None when there was no data
    holds: bool


def compare(operator: str, value: float, threshold: float) -> bool:
    return OPERATORS[operator](value, threshold)


def aggregate(aggregation: str, values: Sequence[float]) -> float:
    if not values:
        raise ValueError("cannot aggregate an empty window")
    return float(AGGREGATIONS[aggregation](values))


def window_values(samples: Iterable[Sample], *, now: datetime, window_minutes: int) -> list[float]:
    """Values of the samples in (now - window, now], oldest first (``last`` is the newest)."""
    start = now - timedelta(minutes=window_minutes)
    inside = sorted((s for s in samples if start < s.at <= now), key=lambda s: s.at)
    return [s.value for s in inside if math.isfinite(s.value)]


def in_cooldown(*, last_fired_at: datetime | None, now: datetime, cooldown_minutes: int) -> bool:
    if last_fired_at is None or cooldown_minutes <= 0:
        return False
    return now - last_fired_at < timedelta(minutes=cooldown_minutes)


def evaluate(
    rule: RuleSpec,
    samples: Iterable[Sample],
    *,
    now: datetime,
    has_open_event: bool,
    last_fired_at: datetime | None,
    window_end: datetime | None = None,
) -> Evaluation:
    """Decide at ``now`` over the window ending at ``window_end`` (default ``now``); the cooldown is
    measured at ``now``."""
    values = window_values(samples, now=window_end or now, window_minutes=rule.window_minutes)
    if not values:
        return Evaluation(decision=Decision.NO_DATA, value=None, holds=False)
    value = aggregate(rule.aggregation, values)
    holds = compare(rule.operator, value, rule.threshold)
    if holds:
        if has_open_event:
            decision = Decision.STILL_FIRING
        elif in_cooldown(last_fired_at=last_fired_at, now=now, cooldown_minutes=rule.cooldown_minutes):
            decision = Decision.SUPPRESSED
        else:
            decision = Decision.FIRE
    else:
        decision = Decision.RESOLVE if has_open_event else Decision.OK
    return Evaluation(decision=decision, value=value, holds=holds)


def condition_text(rule: Mapping[str, Any]) -> str:
    """``max(queue_queued_tasks, 5m) > 100``: a rule's condition (``aggregation``, ``metric``,
    ``window_minutes``, ``operator``, ``threshold``) as the messages and the history show it."""
    return (
        f"{rule['aggregation']}({rule['metric']}, {rule['window_minutes']}m) "
        f"{rule['operator']} {float(rule['threshold']):g}"
    )
