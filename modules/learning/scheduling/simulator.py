"""A retention simulator (after Anki's FSRS simulator): what a desired retention costs and yields.

Given a learner's cards (FSRS memory state and days since their last review) and their FSRS-6 weights,
:func:`simulate` plays the next ``days`` days: every card due that day is reviewed, recalled with the
probability FSRS predicts (a seeded random draw), its memory updated by FSRS-6 and its next interval
chosen by the policy:

- FSRS at ``desired_retention``: the days until R falls to it, within [1, ``max_interval``] (the
  tier's longest interval), exactly like ``FsrsScheduler``;
- or the tier ladder (``ladder=intervals``): the contract's stage rule, the stage's interval.

The memory model is FSRS-6 with the learner's weights either way, so the two policies can be compared
on the same learner. Each day records the reviews done, the minutes they took (seconds per recalled
and per forgotten review, from the learner's own answer times, see :func:`answer_seconds`) and the
cards remembered: the sum over all cards of their recall probability that day (Anki's "memorized").

:func:`recommend_retention` simulates each candidate retention (0.70..0.97) on the same cards and the
same random draws, and recommends the one with the fewest reviews per remembered card at the end.
Everything is vectorised over cards: one numpy step per simulated day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from modules.learning.scheduling.fsrs6 import S_MAX, S_MIN, next_states

MIN_RETENTION, MAX_RETENTION = 0.70, 0.97
DEFAULT_CANDIDATES: tuple[float, ...] = tuple(round(0.70 + 0.01 * step, 2) for step in range(28))
DEFAULT_SECONDS_RECALLED, DEFAULT_SECONDS_FORGOTTEN = 8.0, 20.0


class InvalidRetention(ValueError):
    def __init__(self, value: object) -> None:
        super().__init__(
            f"desired retention must be between {MIN_RETENTION} and {MAX_RETENTION}, got {value!r}"
        )


@dataclass(frozen=True)
class SimulationCards:
    """The learner's cards at day 0: memory state, days since the last review, ladder stage."""

    stability: np.ndarray
    difficulty: np.ndarray
    elapsed_days: np.ndarray
    stage: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        count = len(self.stability)
        stage = self.stage if len(self.stage) else np.zeros(count, dtype=np.int64)
        object.__setattr__(
            self, "stability", np.clip(np.asarray(self.stability, dtype=np.float64), S_MIN, S_MAX)
        )
        object.__setattr__(
            self, "difficulty", np.clip(np.asarray(self.difficulty, dtype=np.float64), 1.0, 10.0)
        )
        object.__setattr__(
            self, "elapsed_days", np.maximum(np.asarray(self.elapsed_days, dtype=np.float64), 0.0)
        )
        object.__setattr__(self, "stage", np.asarray(stage, dtype=np.int64))
        if not (len(self.difficulty) == len(self.elapsed_days) == len(self.stage) == count):
            raise ValueError("stability, difficulty, elapsed_days and stage need one value per card")

    def __len__(self) -> int:
        return len(self.stability)


@dataclass(frozen=True)
class SimulationResult:
    desired_retention: float | None  # None: the ladder
    reviews_per_day: np.ndarray
    minutes_per_day: np.ndarray
    remembered_per_day: np.ndarray

    @property
    def total_reviews(self) -> int:
        return int(self.reviews_per_day.sum())

    @property
    def total_minutes(self) -> float:
        return float(self.minutes_per_day.sum())

    @property
    def remembered(self) -> float:
        """Expected cards recalled on the last simulated day."""
        return float(self.remembered_per_day[-1]) if len(self.remembered_per_day) else 0.0

    @property
    def reviews_per_remembered_card(self) -> float:
        return self.total_reviews / self.remembered if self.remembered else float("inf")


@dataclass(frozen=True)
class RetentionRecommendation:
    desired_retention: float
    results: tuple[SimulationResult, ...]  # one per candidate, in the candidates' order

    def result_for(self, retention: float) -> SimulationResult:
        return next(r for r in self.results if r.desired_retention == retention)


def answer_seconds(durations_ms: Sequence[float], recalled: Sequence[bool]) -> tuple[float, float]:
    """Median answer time (seconds) of recalled and of forgotten reviews; defaults when one is missing.

    Answers over 20 minutes are left out (the learner walked away), as Anki's simulator caps them.
    """
    durations = np.asarray(durations_ms, dtype=np.float64) / 1000.0
    outcome = np.asarray(recalled, dtype=bool)
    valid = (durations > 0) & (durations <= 1200)
    ok, failed = durations[valid & outcome], durations[valid & ~outcome]
    return (
        float(np.median(ok)) if len(ok) else DEFAULT_SECONDS_RECALLED,
        float(np.median(failed)) if len(failed) else DEFAULT_SECONDS_FORGOTTEN,
    )


def _check_retention(value: float) -> None:
    if not (isinstance(value, int | float) and MIN_RETENTION <= value <= MAX_RETENTION):
        raise InvalidRetention(value)


def simulate(
    cards: SimulationCards,
    *,
    weights: Sequence[float],
    desired_retention: float | None = 0.9,
    ladder: Sequence[int] | None = None,
    days: int = 365,
    max_interval: int = 36_500,
    seconds_recalled: float = DEFAULT_SECONDS_RECALLED,
    seconds_forgotten: float = DEFAULT_SECONDS_FORGOTTEN,
    partial_share: float = 0.0,
    new_cards_per_day: int = 0,
    first_forgot_share: float = 0.3,
    seed: int = 0,
) -> SimulationResult:
    """Play ``days`` days of reviews under FSRS at ``desired_retention`` (or the ``ladder``).

    ``new_cards_per_day`` new cards are studied each day (their first answer is "forgot" with
    probability ``first_forgot_share``, FSRS's first-review state follows); they count in the reviews,
    minutes and cards remembered like the others.
    """
    if ladder is None:
        if desired_retention is None:
            raise InvalidRetention(desired_retention)
        _check_retention(desired_retention)
    elif not ladder or any(interval < 1 for interval in ladder):
        raise ValueError("a ladder needs at least one interval, each of one day or more")
    if not 1 <= days <= 3650:
        raise ValueError("days must be between 1 and 3650")
    if max_interval < 1:
        raise ValueError("max_interval must be at least one day")
    if not (0.0 <= partial_share <= 1.0 and 0.0 <= first_forgot_share <= 1.0):
        raise ValueError("partial_share and first_forgot_share must be between 0 and 1")
    if not 0 <= new_cards_per_day <= 10_000:
        raise ValueError("new_cards_per_day must be between 0 and 10000")
    w = np.asarray(weights, dtype=np.float64)
    decay = w[20]
    factor = 0.9 ** (-1 / decay) - 1
    rng = np.random.default_rng(seed)
    new_count = new_cards_per_day * days
    stability = np.concatenate([cards.stability, np.ones(new_count)])
    difficulty = np.concatenate([cards.difficulty, np.full(new_count, 5.0)])
    last_day = np.concatenate([-cards.elapsed_days, np.zeros(new_count)])  # day of the last review
    stage = np.concatenate([cards.stage, np.zeros(new_count, dtype=np.int64)])
    existing = len(cards)
    first_forgot = rng.random(new_count) < first_forgot_share
    new_ratings = np.where(first_forgot, 1, 3)
    new_stability = np.clip(w[new_ratings - 1], S_MIN, S_MAX)
    new_difficulty = np.clip(w[4] - np.exp(w[5] * (new_ratings - 1)) + 1, 1.0, 10.0)
    intervals = np.asarray(ladder, dtype=np.float64) if ladder is not None else None
    if intervals is not None:
        stage = np.clip(stage, 0, len(intervals) - 1)

    def next_interval(s: np.ndarray, stages: np.ndarray) -> np.ndarray:
        if intervals is not None:
            return intervals[stages]
        days_to_target = s / factor * (desired_retention ** (-1 / decay) - 1)  # type: ignore[operator]
        return np.clip(np.round(days_to_target), 1, max_interval)

    due_day = np.concatenate(
        [
            np.maximum(last_day[:existing] + next_interval(stability[:existing], stage[:existing]), 0.0),
            np.full(new_count, np.inf),
        ]
    )
    reviews = np.zeros(days, dtype=np.int64)
    minutes = np.zeros(days)
    remembered = np.zeros(days)
    for day in range(days):
        known = existing + new_cards_per_day * day  # cards studied before today
        if new_cards_per_day:
            fresh = slice(known, known + new_cards_per_day)
            stability[fresh], difficulty[fresh] = (
                new_stability[fresh.start - existing : fresh.stop - existing],
                (new_difficulty[fresh.start - existing : fresh.stop - existing]),
            )
            stage[fresh] = np.where(new_ratings[fresh.start - existing : fresh.stop - existing] == 3, 1, 0)
            if intervals is not None:
                stage[fresh] = np.minimum(stage[fresh], len(intervals) - 1)
            last_day[fresh] = day
            due_day[fresh] = day + next_interval(stability[fresh], stage[fresh])
            forgot_today = int(first_forgot[fresh.start - existing : fresh.stop - existing].sum())
            reviews[day] += new_cards_per_day
            minutes[day] += (
                forgot_today * seconds_forgotten + (new_cards_per_day - forgot_today) * seconds_recalled
            ) / 60
        due = np.flatnonzero(due_day[:known] <= day)
        if len(due):
            elapsed = day - last_day[due]
            s, d = stability[due], difficulty[due]
            recall = (1 + factor * elapsed / s) ** -decay
            draws = rng.random((2, len(due)))
            recalled = draws[0] < recall
            ratings = np.where(recalled, np.where(draws[1] < partial_share, 2, 3), 1)
            stability[due], difficulty[due] = next_states(w, s, d, elapsed, ratings)
            if intervals is not None:
                stage[due] = np.where(
                    ratings == 3,
                    np.minimum(stage[due] + 1, len(intervals) - 1),
                    np.where(ratings == 2, stage[due], 0),
                )
            last_day[due] = day
            due_day[due] = day + next_interval(stability[due], stage[due])
            reviews[day] += len(due)
            minutes[day] += (recalled.sum() * seconds_recalled + (~recalled).sum() * seconds_forgotten) / 60
        studied = known + new_cards_per_day
        remembered[day] = float(
            ((1 + factor * (day - last_day[:studied]) / stability[:studied]) ** -decay).sum()
        )
    return SimulationResult(
        desired_retention=None if ladder is not None else float(desired_retention),  # type: ignore[arg-type]
        reviews_per_day=reviews,
        minutes_per_day=minutes,
        remembered_per_day=remembered,
    )


def recommend_retention(
    cards: SimulationCards,
    *,
    weights: Sequence[float],
    candidates: Sequence[float] = DEFAULT_CANDIDATES,
    days: int = 365,
    max_interval: int = 36_500,
    seconds_recalled: float = DEFAULT_SECONDS_RECALLED,
    seconds_forgotten: float = DEFAULT_SECONDS_FORGOTTEN,
    partial_share: float = 0.0,
    new_cards_per_day: int = 0,
    first_forgot_share: float = 0.3,
    seed: int = 0,
) -> RetentionRecommendation:
    """The candidate retention with the fewest reviews per remembered card after ``days`` days."""
    if not candidates:
        raise ValueError("at least one candidate retention is needed")
    for value in candidates:
        _check_retention(value)
    results = tuple(
        simulate(
            cards,
            weights=weights,
            desired_retention=float(value),
            days=days,
            max_interval=max_interval,
            seconds_recalled=seconds_recalled,
            seconds_forgotten=seconds_forgotten,
            partial_share=partial_share,
            new_cards_per_day=new_cards_per_day,
            first_forgot_share=first_forgot_share,
            seed=seed,
        )
        for value in candidates
    )
    best = min(results, key=lambda result: (result.reviews_per_remembered_card, -result.remembered))
    return RetentionRecommendation(desired_retention=best.desired_retention, results=results)  # type: ignore[arg-type]
