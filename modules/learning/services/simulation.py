"""The retention simulator for a learner (after Anki's FSRS simulator): what a desired retention would
cost them and yield over the next days, on their own cards, weights and answer times.

The cards: every scheduled content of the learner with its FSRS-6 memory after its whole history under
the learner's weights, in their calendar days: kept on its schedule as reviews are recorded
(services/card_memory.py; a card whose memory is not kept is replayed from its own history); a content
never reviewed has the state of a first "Good" answer, counting from its creation. A deck of more than
``SAMPLE_CARDS`` cards is simulated on a sample of that many (a fixed pseudo-random order of content
ids, ``selectors.card_memories``), each sampled card standing for its share of the deck: the answer's
precision is that of a deck of ``SAMPLE_CARDS`` cards, and its cost no longer grows with the deck.

The costs: the median seconds of the learner's recalled and forgotten answers among their latest
``RECENT_ANSWERS`` reviews (``ReviewHistory.time_spent_seconds``; defaults without any); the share of
"partial" among those recalled; the share of "forgot" among the first answers of their
``RECENT_FIRSTS`` newest reviewed contents; their new contents per day over the last 30 days (unless
given). Each is read in bounded work: a learner with a million reviews costs what a new one costs.

``simulate_retention`` plays FSRS at the desired retention (capped at the tier's longest interval,
as the scheduler does), recommends the retention with the fewest reviews per remembered card (a
coarse pass over 0.70..0.97 every 0.03, then every 0.01 around the best) and, for comparison, plays
the tier ladder, all of them in one vectorised pass (``simulate_many``; the fine steps in a second).
Everything is synchronous (docs/scheduling.md, "Simulator").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from django.core.cache import cache
from django.utils import timezone

from modules.common.errors import ValidationFailed
from modules.common.time import local_date
from modules.identity.services import User
from modules.learning import selectors
from modules.learning.models import LearnerMemoryModel
from modules.learning.scheduling import DEFAULT_FSRS_PARAMETERS, ReviewResult
from modules.learning.scheduling.fsrs6 import initial_state
from modules.learning.scheduling.simulator import (
    MAX_RETENTION,
    MIN_RETENTION,
    SimulationCards,
    SimulationResult,
    answer_seconds,
    simulate_many,
)
from modules.learning.selectors import LOGGED_RESULTS
from modules.learning.services import card_memory
from modules.learning.services.memory import learner_days
from modules.learning.services.schedulers import ladder_for

MAX_DAYS = 730
MAX_NEW_CARDS_PER_DAY = 500
# (cards at the start + new cards over the run) x days: about 2.6 s of numpy at the limit for the 16
# policies of an answer (docs/scheduling.md)
MAX_CARD_DAYS = 15_000_000
NEW_CARDS_WINDOW_DAYS = 30
SAMPLE_CARDS = 300  # existing cards simulated at most (a sample of a larger deck; docs/scheduling.md)
RECENT_ANSWERS = 1_000  # latest reviews read for answer times and the share of "partial"
RECENT_FIRSTS = 200  # newest reviewed contents whose first answer gives the share of "forgot"
REBUILD_PAUSE_SECONDS = 600  # one rebuild request per learner in this long
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
    sampled_cards: int  # of ``cards``, simulated (each standing for cards / sampled_cards of the deck)
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
    cards, total = _learner_cards(user=user, weights=weights, now=now)
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
    answers = selectors.recent_answers(user_id=user.pk, limit=RECENT_ANSWERS)
    results = np.array([LOGGED_RESULTS.index(result) for result, _ in answers], dtype=np.int8)
    seconds = np.array([seconds or 0 for _, seconds in answers], dtype=np.float64)
    recalled = results != LOGGED_RESULTS.index(ReviewResult.FORGOT.value)
    timed = seconds > 0  # answer times given (and not zero)
    seconds_ok, seconds_failed = answer_seconds(seconds[timed] * 1000.0, recalled[timed])
    partial = int((results == LOGGED_RESULTS.index(ReviewResult.PARTIAL.value)).sum())
    partial_share = partial / max(int(recalled.sum()), 1)
    firsts = selectors.first_answers(user_id=user.pk, limit=RECENT_FIRSTS)
    first_forgot_share = (
        sum(result == ReviewResult.FORGOT.value for result in firsts) / len(firsts) if firsts else 0.3
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
        cards=total,
        sampled_cards=len(cards),
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
                reviews=round(float(chosen.reviews_per_day[offset])),
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


def _learner_cards(*, user: User, weights: tuple[float, ...], now: datetime) -> tuple[SimulationCards, int]:
    """The learner's scheduled contents as simulator cards (a sample of ``SAMPLE_CARDS`` of a larger
    deck, each standing for its share) and how many they have."""
    memory = card_memory.current_memory(
        user_id=user.pk, weights=weights, tz_name=user.timezone, limit=SAMPLE_CARDS
    )
    if memory.unkept_share * memory.total > card_memory.REBUILD_AFTER_UNKEPT and cache.add(
        f"learning:card-memory-rebuild:{user.pk}", 1, REBUILD_PAUSE_SECONDS
    ):
        card_memory.enqueue_rebuild(user_id=user.pk)
    today = learner_days(user.timezone).day(now)
    first_stability, first_difficulty = initial_state(weights, 3)
    sampled = len(memory.content_ids)
    return (
        SimulationCards(
            # never reviewed: a first "Good" at its creation
            stability=np.where(memory.reviewed, memory.stability, first_stability),
            difficulty=np.where(memory.reviewed, memory.difficulty, first_difficulty),
            elapsed_days=np.maximum(today - memory.days, 0).astype(np.float64),
            stage=memory.stage,
            weight=np.full(sampled, memory.total / sampled) if sampled else np.zeros(0),
        ),
        memory.total,
    )
