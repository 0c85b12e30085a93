"""The retention simulator for a learner (after Anki's FSRS simulator): what a desired retention would
cost them and yield over the next days, on their own cards, weights and answer times.

The cards: every scheduled content of the learner with FSRS-6's memory state after its whole history
(replayed with the learner's weights, in their calendar days; a content never reviewed has the state
of a first "Good" answer, counting from its creation). The costs: the median seconds of the learner's
recalled and forgotten answers (``ReviewHistory.time_spent_seconds``; defaults without any). The
learner's own shares of "partial" among recalled answers and of "forgot" among first answers, and
their new contents per day over the last 30 days (unless given), feed the simulation too.

``simulate_retention`` plays FSRS at the desired retention (capped at the tier's longest interval,
as the scheduler does), recommends the retention with the fewest reviews per remembered card (a
coarse pass over 0.70..0.97 every 0.03, then every 0.01 around the best) and, for comparison, plays
the tier ladder, all of them in one vectorised pass (``simulate_many``; the fine steps in a second).
Everything is synchronous: the simulations of 10,000 cards over 365 days take about 0.6 s; reading and
replaying the whole history dominates for a learner with a long one (docs/scheduling.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from django.utils import timezone

from modules.common.errors import ValidationFailed
from modules.common.time import local_date
from modules.identity.services import User
from modules.learning import selectors
from modules.learning.models import LearnerMemoryModel
from modules.learning.scheduling import DEFAULT_FSRS_PARAMETERS, ReviewResult
from modules.learning.scheduling.fsrs6 import final_states, initial_state
from modules.learning.scheduling.simulator import (
    MAX_RETENTION,
    MIN_RETENTION,
    SimulationCards,
    SimulationResult,
    answer_seconds,
    simulate_many,
)
from modules.learning.selectors import LOGGED_RESULTS
from modules.learning.services.fit_models import review_table
from modules.learning.services.memory import learner_days
from modules.learning.services.schedulers import ladder_for

MAX_DAYS = 730
MAX_NEW_CARDS_PER_DAY = 500
# (cards at the start + new cards over the run) x days: about 2.6 s of numpy at the limit for the 16
# policies of an answer (docs/scheduling.md)
MAX_CARD_DAYS = 15_000_000
NEW_CARDS_WINDOW_DAYS = 30
COARSE_CANDIDATES: tuple[float, ...] = tuple(round(0.70 + 0.03 * step, 2) for step in range(10))


@dataclass(frozen=True)
class SimulatedDay:
    date: date
    reviews: int
    minutes: float
    remembered: float  # expected cards recalled that day (the sum of every card's recall probability)


@dataclass(frozen=True)
class PolicyOutcome:
    """One policy over the whole run."""

    desired_retention: float | None  # None: the tier ladder
    reviews: int
    minutes: float
    remembered: float  # on the last day
    reviews_per_remembered_card: float | None


@dataclass(frozen=True)
class RetentionSimulation:
    days: int
    desired_retention: float
    cards: int
    new_cards_per_day: int
    max_interval: int
    parameters_version: int | None  # the learner's fitted parameters (None: FSRS's defaults)
    seconds_per_recalled: float
    seconds_per_forgotten: float
    partial_share: float
    outcome: PolicyOutcome
    per_day: tuple[SimulatedDay, ...]
    recommended_desired_retention: float
    candidates: tuple[PolicyOutcome, ...]  # every retention tried for the recommendation, ascending
    ladder: PolicyOutcome  # the learner's tier ladder on the same cards


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed.field(field, message, source="query")


def _outcome(result: SimulationResult) -> PolicyOutcome:
    per_card = result.reviews_per_remembered_card
    return PolicyOutcome(
        desired_retention=result.desired_retention,
        reviews=result.total_reviews,
        minutes=round(result.total_minutes, 1),
        remembered=round(result.remembered, 1),
        reviews_per_remembered_card=round(per_card, 4) if np.isfinite(per_card) else None,
    )


def simulate_retention(
    *,
    user: User,
    days: int = 365,
    desired_retention: float | None = None,
    new_cards_per_day: int | None = None,
    now: datetime | None = None,
) -> RetentionSimulation:
    """Simulates the learner's next ``days`` days at ``desired_retention`` (default: their profile's).

    ValidationFailed (422) for days outside 1..``MAX_DAYS``, a retention outside 0.70..0.97, new
    cards per day outside 0..``MAX_NEW_CARDS_PER_DAY``, or a simulation larger than ``MAX_CARD_DAYS``.
    """
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise _invalid("days", f"days must be a whole number between 1 and {MAX_DAYS}.")
    retention = float(user.desired_retention) if desired_retention is None else desired_retention
    if not (isinstance(retention, int | float) and MIN_RETENTION <= retention <= MAX_RETENTION):
        raise _invalid(
            "desired_retention", f"desired_retention must be between {MIN_RETENTION} and {MAX_RETENTION}."
        )
    if new_cards_per_day is not None and not 0 <= new_cards_per_day <= MAX_NEW_CARDS_PER_DAY:
        raise _invalid(
            "new_cards_per_day", f"new_cards_per_day must be between 0 and {MAX_NEW_CARDS_PER_DAY}."
        )
    now = now or timezone.now()
    model = LearnerMemoryModel.objects.filter(user=user).values_list("version", "fsrs_weights").first()
    version, fitted = model if model is not None else (None, None)
    weights = tuple(fitted) if fitted else DEFAULT_FSRS_PARAMETERS.weights
    cards, log = _learner_cards(user=user, weights=weights, now=now)
    if new_cards_per_day is None:
        since = now - timedelta(days=NEW_CARDS_WINDOW_DAYS)
        new_cards_per_day = round(
            selectors.contents_created_since(user_id=user.pk, since=since) / NEW_CARDS_WINDOW_DAYS
        )
    if (len(cards) + new_cards_per_day * days) * days > MAX_CARD_DAYS:
        raise _invalid(
            "days",
            f"Too large to simulate at once: {len(cards)} cards and {new_cards_per_day} new a day over "
            f"{days} days; simulate fewer days or fewer new cards per day.",
        )
    recalled = log.results != LOGGED_RESULTS.index(ReviewResult.FORGOT.value)
    timed = np.nan_to_num(log.seconds) > 0  # answer times given (and not zero)
    seconds_ok, seconds_failed = answer_seconds(log.seconds[timed] * 1000.0, recalled[timed])
    partial = int((log.results == LOGGED_RESULTS.index(ReviewResult.PARTIAL.value)).sum())
    partial_share = partial / max(int(recalled.sum()), 1)
    firsts = _first_answers(log)
    first_forgot_share = (
        float((firsts == LOGGED_RESULTS.index(ReviewResult.FORGOT.value)).mean()) if len(firsts) else 0.3
    )
    intervals = ladder_for(user)
    common = {
        "weights": weights,
        "days": days,
        "seconds_recalled": seconds_ok,
        "seconds_forgotten": seconds_failed,
        "partial_share": partial_share,
        "new_cards_per_day": new_cards_per_day,
        "first_forgot_share": first_forgot_share,
        "seed": 0,
    }
    max_interval = max(intervals)
    # one pass: the chosen retention (remembered on every day, for per_day), the coarse candidates and
    # the ladder (their last day is all they report); a second for the fine steps around the best
    retention = round(retention, 2)
    first = [retention, *(value for value in COARSE_CANDIDATES if value != retention)]
    *played, ladder = simulate_many(
        cards,
        retentions=first,
        ladder=intervals,
        max_interval=max_interval,
        daily_remembered=[True] + [False] * len(first),
        **common,
    )
    runs: dict[float, SimulationResult] = dict(zip(first, played, strict=True))
    chosen = runs[retention]
    coarse_best = min(COARSE_CANDIDATES, key=lambda value: _cost(runs[value]))
    fine = [
        value
        for value in (round(coarse_best + step, 2) for step in (-0.02, -0.01, 0.01, 0.02))
        if MIN_RETENTION <= value <= MAX_RETENTION and value not in runs
    ]
    if fine:
        finer = simulate_many(
            cards, retentions=fine, max_interval=max_interval, daily_remembered=[False] * len(fine), **common
        )
        runs.update(zip(fine, finer, strict=True))
    candidates = sorted(
        value for value in runs if value in COARSE_CANDIDATES or abs(value - coarse_best) <= 0.021
    )
    recommended = min(candidates, key=lambda value: _cost(runs[value]))
    today = local_date(now, user.timezone)
    return RetentionSimulation(
        days=days,
        desired_retention=round(retention, 2),
        cards=len(cards),
        new_cards_per_day=new_cards_per_day,
        max_interval=max_interval,
        parameters_version=version if fitted else None,
        seconds_per_recalled=round(seconds_ok, 1),
        seconds_per_forgotten=round(seconds_failed, 1),
        partial_share=round(partial_share, 4),
        outcome=_outcome(chosen),
        per_day=tuple(
            SimulatedDay(
                date=today + timedelta(days=offset),
                reviews=int(chosen.reviews_per_day[offset]),
                minutes=round(float(chosen.minutes_per_day[offset]), 2),
                remembered=round(float(chosen.remembered_per_day[offset]), 1),
            )
            for offset in range(days)
        ),
        recommended_desired_retention=recommended,
        candidates=tuple(_outcome(runs[value]) for value in candidates),
        ladder=_outcome(ladder),
    )


def _cost(result: SimulationResult) -> tuple[float, float]:
    """Fewest reviews per remembered card; more cards remembered breaks ties."""
    return (result.reviews_per_remembered_card, -result.remembered)


def _first_answers(log: selectors.ReviewLog) -> np.ndarray:
    """Each card's first result (``log.results`` indexes): the log is oldest first."""
    _, first = np.unique(log.content_ids, return_index=True)
    return log.results[first]


def _learner_cards(
    *, user: User, weights: tuple[float, ...], now: datetime
) -> tuple[SimulationCards, selectors.ReviewLog]:
    """The learner's scheduled contents as simulator cards (and their review log, oldest first)."""
    days = learner_days(user.timezone)
    today = days.day(now)
    log = selectors.review_log(user_id=user.pk)
    starts = selectors.content_starts(user_id=user.pk)
    memory: dict[int, tuple[float, float, int]] = {}  # content id -> stability, difficulty, last day
    if len(log):
        table = review_table(log, days=days)
        stability, difficulty = final_states(weights, table.histories)
        last_seen = table.reviewed_at[np.arange(len(table.card_ids)), table.histories.lengths - 1]
        last_days = days.days_of_epochs(last_seen).tolist()
        for row, content_id in enumerate(table.card_ids):
            memory[content_id] = (float(stability[row]), float(difficulty[row]), last_days[row])  # type: ignore[index]
    first_stability, first_difficulty = initial_state(weights, 3)
    columns: list[tuple[float, float, float, int]] = []
    for content_id, created_at, stage in starts:
        if content_id in memory:
            s, d, last_day = memory[content_id]
        else:  # never reviewed: a first "Good" at its creation
            s, d, last_day = first_stability, first_difficulty, days.day(created_at)
        columns.append((s, d, float(max(today - last_day, 0)), stage))
    if not columns:
        empty = np.zeros(0)
        return SimulationCards(empty, empty, empty, np.zeros(0, dtype=np.int64)), log
    s_col, d_col, elapsed_col, stage_col = zip(*columns, strict=True)
    return (
        SimulationCards(
            stability=np.array(s_col),
            difficulty=np.array(d_col),
            elapsed_days=np.array(elapsed_col),
            stage=np.array(stage_col, dtype=np.int64),
        ),
        log,
    )
