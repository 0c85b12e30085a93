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
Everything is vectorised over cards and policies: one numpy step per simulated day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from modules.learning.scheduling.fsrs6 import S_MAX, S_MIN, next_states

MIN_RETENTION, MAX_RETENTION = 0.70, 0.97
DEFAULT_CANDIDATES: tuple[float, ...] = tuple(round(0.70 + 0.01 * step, 2) for step in range(28))
DEFAULT_SECONDS_RECALLED, DEFAULT_SECONDS_FORGOTTEN = 8.0, 20.0
# policies x cards that :func:`simulate_many` plays in one array (about 16 MB per state array)
MAX_BATCH_CELLS = 2_000_000


class InvalidRetention(ValueError):
    def __init__(self, value: object) -> None:
        super().__init__(
            f"desired retention must be between {MIN_RETENTION} and {MAX_RETENTION}, got {value!r}"
        )


@dataclass(frozen=True)
class SimulationCards:
    """The learner's cards at day 0: memory state, days since the last review, ladder stage, and how
    many of the learner's cards each one stands for (1 by default; more for a sample of a large deck:
    its reviews, minutes and recall count that many times)."""

    stability: np.ndarray
    difficulty: np.ndarray
    elapsed_days: np.ndarray
    stage: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    weight: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        count = len(self.stability)
        stage = self.stage if len(self.stage) else np.zeros(count, dtype=np.int64)
        weight = np.asarray(self.weight, dtype=np.float64) if len(self.weight) else np.ones(count)
        if len(weight) != count or not (np.isfinite(weight).all() and (weight > 0).all()):
            raise ValueError("weight needs one positive value per card")
        object.__setattr__(self, "weight", weight)
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
    reviews_per_day: np.ndarray  # floats when cards stand for several (``SimulationCards.weight``)
    minutes_per_day: np.ndarray
    remembered_per_day: np.ndarray

    @property
    def total_reviews(self) -> int:
        return round(float(self.reviews_per_day.sum()))

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
    retentions: list[float] = []  # the ladder alone, or FSRS at the retention
    if ladder is None:
        if desired_retention is None:
            raise InvalidRetention(desired_retention)
        retentions.append(desired_retention)
    (result,) = simulate_many(
        cards,
        weights=weights,
        retentions=retentions,
        ladder=ladder,
        days=days,
        max_interval=max_interval,
        seconds_recalled=seconds_recalled,
        seconds_forgotten=seconds_forgotten,
        partial_share=partial_share,
        new_cards_per_day=new_cards_per_day,
        first_forgot_share=first_forgot_share,
        seed=seed,
    )
    return result


def simulate_many(
    cards: SimulationCards,
    *,
    weights: Sequence[float],
    retentions: Sequence[float],
    ladder: Sequence[int] | None = None,
    days: int = 365,
    max_interval: int = 36_500,
    seconds_recalled: float = DEFAULT_SECONDS_RECALLED,
    seconds_forgotten: float = DEFAULT_SECONDS_FORGOTTEN,
    partial_share: float = 0.0,
    new_cards_per_day: int = 0,
    first_forgot_share: float = 0.3,
    seed: int = 0,
    daily_remembered: Sequence[bool] | None = None,
) -> list[SimulationResult]:
    """:func:`simulate` for several policies at once, on the same cards and new cards: FSRS at each of
    ``retentions``, then the ``ladder`` when given (results in that order). One numpy step per day
    plays every policy (rows of one array), so the per-day cost is paid once, not once per policy.

    ``daily_remembered`` (one flag per result, all True by default) says which policies need their
    cards remembered on every day; the others get it on the last day only (``remembered``; NaN on the
    days before), which spares an evaluation of every card's recall per day and policy. A card's
    draws on a day are the same for every policy (common random numbers), so a policy's result does
    not depend on the others played beside it.
    """
    for value in retentions:
        _check_retention(value)
    if ladder is not None and (not ladder or any(interval < 1 for interval in ladder)):
        raise ValueError("a ladder needs at least one interval, each of one day or more")
    if not retentions and ladder is None:
        raise ValueError("at least one policy (a retention or the ladder) is needed")
    if not 1 <= days <= 3650:
        raise ValueError("days must be between 1 and 3650")
    if max_interval < 1:
        raise ValueError("max_interval must be at least one day")
    if not (0.0 <= partial_share <= 1.0 and 0.0 <= first_forgot_share <= 1.0):
        raise ValueError("partial_share and first_forgot_share must be between 0 and 1")
    if not 0 <= new_cards_per_day <= 10_000:
        raise ValueError("new_cards_per_day must be between 0 and 10000")
    policies = len(retentions) + (ladder is not None)
    tracked = np.ones(policies, dtype=bool) if daily_remembered is None else np.asarray(daily_remembered)
    if tracked.shape != (policies,):
        raise ValueError("daily_remembered needs one flag per policy")
    total = len(cards) + new_cards_per_day * days
    if policies > 1 and policies * total > MAX_BATCH_CELLS:
        # bounded memory: the policies in groups (the same draws, so the same results)
        size = max(1, MAX_BATCH_CELLS // max(total, 1))
        settings = {
            "weights": weights,
            "days": days,
            "max_interval": max_interval,
            "seconds_recalled": seconds_recalled,
            "seconds_forgotten": seconds_forgotten,
            "partial_share": partial_share,
            "new_cards_per_day": new_cards_per_day,
            "first_forgot_share": first_forgot_share,
            "seed": seed,
        }
        results: list[SimulationResult] = []
        for first in range(0, len(retentions), size):
            results += simulate_many(
                cards,
                retentions=retentions[first : first + size],
                daily_remembered=tracked[first : first + size],
                **settings,
            )
        if ladder is not None:
            results += simulate_many(
                cards, retentions=(), ladder=ladder, daily_remembered=tracked[-1:], **settings
            )
        return results
    w = np.asarray(weights, dtype=np.float64)
    decay = w[20]
    factor = 0.9 ** (-1 / decay) - 1
    rng = np.random.default_rng(seed)
    existing = len(cards)
    new_count = new_cards_per_day * days
    first_forgot = rng.random(new_count) < first_forgot_share
    new_ratings = np.where(first_forgot, 1, 3)
    new_stability = np.clip(w[new_ratings - 1], S_MIN, S_MAX)
    new_difficulty = np.clip(w[4] - np.exp(w[5] * (new_ratings - 1)) + 1, 1.0, 10.0)
    intervals = np.asarray(ladder, dtype=np.float64) if ladder is not None else None
    # a policy's row: FSRS's days to its retention per unit of stability (NaN for the ladder's row)
    per_stability = np.array(
        [(value ** (-1 / decay) - 1) / factor for value in retentions] + [np.nan] * (ladder is not None)
    )
    is_ladder = np.isnan(per_stability)

    def rows(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values, (policies, len(values))).copy()

    stability = rows(np.concatenate([cards.stability, np.ones(new_count)]))
    difficulty = rows(np.concatenate([cards.difficulty, np.full(new_count, 5.0)]))
    last_day = rows(np.concatenate([-cards.elapsed_days, np.zeros(new_count)]))  # day of the last review
    stage = rows(np.concatenate([cards.stage, np.zeros(new_count, dtype=np.int64)]))
    weighted = bool((cards.weight != 1).any())
    weight = np.concatenate([cards.weight, np.ones(new_count)])  # a new card stands for itself
    if intervals is not None:
        stage = np.clip(stage, 0, len(intervals) - 1)

    days_per_stability = np.nan_to_num(per_stability)  # 0 for the ladder's row (not used there)
    last_stage = len(intervals) - 1 if intervals is not None else 0

    def next_interval(row: np.ndarray, s: np.ndarray, stages: np.ndarray) -> np.ndarray:
        """Days to the next review of the cards (``s``, ``stages``) of policy rows ``row``."""
        fsrs = np.minimum(np.maximum(np.round(s * days_per_stability[row]), 1), max_interval)
        if intervals is None:
            return fsrs
        return np.where(is_ladder[row], intervals[np.minimum(np.maximum(stages, 0), last_stage)], fsrs)

    every_row = np.arange(policies)[:, None]
    due_day = np.full((policies, total), np.inf)
    due_day[:, :existing] = np.maximum(
        last_day[:, :existing] + next_interval(every_row, stability[:, :existing], stage[:, :existing]), 0.0
    )
    # flat views of the (policy, card) arrays: a due review is one index into each, not a pair
    flat_stability, flat_difficulty = stability.reshape(-1), difficulty.reshape(-1)
    flat_last_day, flat_stage, flat_due = last_day.reshape(-1), stage.reshape(-1), due_day.reshape(-1)
    reviews = np.zeros((policies, days))
    minutes = np.zeros((policies, days))
    remembered = np.full((policies, days), np.nan)
    tracked_rows = np.flatnonzero(tracked)
    for day in range(days):
        known = existing + new_cards_per_day * day  # cards studied before today
        if new_cards_per_day:
            fresh = slice(known, known + new_cards_per_day)
            made = slice(fresh.start - existing, fresh.stop - existing)
            stability[:, fresh], difficulty[:, fresh] = new_stability[made], new_difficulty[made]
            stage[:, fresh] = np.where(new_ratings[made] == 3, 1, 0)
            if intervals is not None:
                stage[:, fresh] = np.minimum(stage[:, fresh], last_stage)
            last_day[:, fresh] = day
            due_day[:, fresh] = day + next_interval(every_row, stability[:, fresh], stage[:, fresh])
            forgot_today = int(first_forgot[made].sum())
            reviews[:, day] += new_cards_per_day
            minutes[:, day] += (
                forgot_today * seconds_forgotten + (new_cards_per_day - forgot_today) * seconds_recalled
            ) / 60
        # one pair of draws per card and day, whichever policies review it: common random numbers,
        # so policies differ by their schedules, not by their luck
        luck = rng.random((2, known))
        # cards not studied yet are due at infinity: the whole array can be searched
        due = np.flatnonzero(flat_due <= day)
        if len(due):
            row, card = np.divmod(due, total)
            elapsed = day - flat_last_day[due]
            s, d = flat_stability[due], flat_difficulty[due]
            recall = (1 + factor * elapsed / s) ** -decay
            recalled = luck[0, card] < recall
            ratings = np.where(recalled, np.where(luck[1, card] < partial_share, 2, 3), 1)
            new_s, new_d = next_states(w, s, d, elapsed, ratings)
            flat_stability[due], flat_difficulty[due] = new_s, new_d
            stages = flat_stage[due]
            if intervals is not None:
                stages = np.where(
                    ratings == 3, np.minimum(stages + 1, last_stage), np.where(ratings == 2, stages, 0)
                )
                flat_stage[due] = stages
            flat_last_day[due] = day
            flat_due[due] = day + next_interval(row, new_s, stages)
            seconds = np.where(recalled, seconds_recalled, seconds_forgotten)
            if weighted:
                reviews[:, day] += np.bincount(row, weights=weight[card], minlength=policies)
                seconds = seconds * weight[card]
            else:
                reviews[:, day] += np.bincount(row, minlength=policies)
            minutes[:, day] += np.bincount(row, weights=seconds, minlength=policies) / 60
        studied = known + new_cards_per_day
        counted = tracked_rows if day < days - 1 else every_row[:, 0]
        if len(counted):
            since = day - last_day[counted, :studied]
            recall_now = (1 + factor * since / stability[counted, :studied]) ** -decay
            remembered[counted, day] = (recall_now @ weight[:studied]) if weighted else recall_now.sum(axis=1)
    return [
        SimulationResult(
            desired_retention=None if is_ladder[index] else float(retentions[index]),
            reviews_per_day=reviews[index],
            minutes_per_day=minutes[index],
            remembered_per_day=remembered[index],
        )
        for index in range(policies)
    ]


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
        simulate_many(
            cards,
            weights=weights,
            retentions=[float(value) for value in candidates],
            days=days,
            max_interval=max_interval,
            seconds_recalled=seconds_recalled,
            seconds_forgotten=seconds_forgotten,
            partial_share=partial_share,
            new_cards_per_day=new_cards_per_day,
            first_forgot_share=first_forgot_share,
            seed=seed,
            daily_remembered=[False] * len(candidates),
        )
    )
    best = min(results, key=lambda result: (result.reviews_per_remembered_card, -result.remembered))
    return RetentionRecommendation(desired_retention=best.desired_retention, results=results)  # type: ignore[arg-type]
