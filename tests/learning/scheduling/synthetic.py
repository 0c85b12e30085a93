"""Synthetic learners: review histories drawn from FSRS-6 with known weights (for the fitting tests)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from modules.learning.scheduling import ReviewEvent, ReviewResult
from modules.learning.scheduling.fsrs6 import initial_state, interval_days, next_state, recall

RESULTS = {1: ReviewResult.FORGOT, 2: ReviewResult.PARTIAL, 3: ReviewResult.REMEMBERED}


def synthetic_events(
    weights: Sequence[float],
    *,
    cards: int,
    reviews_per_card: int = 12,
    timezone: str = "Europe/Paris",
    seed: int = 7,
    start: datetime = datetime(2024, 1, 8),
) -> list[ReviewEvent]:
    """A learner following FSRS-6 with ``weights``: reviews at local daytime hours, scheduled near 85%
    retention with jitter, a same-day retry after a third of the lapses, outcomes drawn from R."""
    rng = random.Random(seed)
    zone = ZoneInfo(timezone)
    events: list[ReviewEvent] = []
    for card in range(cards):
        day = rng.randrange(0, 60)
        at = (start + timedelta(days=day, hours=rng.uniform(8, 22))).replace(tzinfo=zone)
        rating = 1 if rng.random() < 0.3 else 3
        stability, difficulty = initial_state(weights, rating)
        events.append(ReviewEvent(card, at, RESULTS[rating]))
        for _ in range(reviews_per_card - 1):
            if rating == 1 and rng.random() < 0.33:
                elapsed, at = 0, at + timedelta(minutes=rng.uniform(5, 30))
                if at.hour >= 23:
                    break  # keep same-day retries on the same calendar day
            else:
                target = interval_days(weights, stability=stability, desired_retention=0.85)
                elapsed = max(1, round(target * rng.uniform(0.5, 1.5)))
                day += elapsed
                at = (start + timedelta(days=day, hours=rng.uniform(8, 22))).replace(tzinfo=zone)
            r = recall(weights, elapsed_days=elapsed, stability=stability)
            rating = (2 if rng.random() < 0.05 else 3) if rng.random() < r else 1
            stability, difficulty = next_state(
                weights, stability=stability, difficulty=difficulty, elapsed_days=elapsed, rating=rating
            )
            events.append(ReviewEvent(card, at, RESULTS[rating]))
    rng.shuffle(events)  # the fit must not depend on the input order
    return events
