"""The retention simulator's 16 policies (as ``GET /api/review/simulation/`` plays them) on synthetic
cards: together in one pass (``simulate_many``, what the service does) against one simulation at a
time with every day's recall evaluated (what it did before session 28). Process CPU seconds.

    .venv/bin/python bench/simulator_policies.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modules.learning.scheduling.fsrs6 import DEFAULT_WEIGHTS
from modules.learning.scheduling.simulator import SimulationCards, simulate, simulate_many

PRO = (1, 3, 7, 14, 30, 60, 120, 180)
COARSE = tuple(round(0.70 + 0.03 * step, 2) for step in range(10))
FINE = (0.71, 0.72, 0.74, 0.75)
SHAPES = ((200, 365, 0), (10_000, 365, 0), (41_000, 365, 0), (20_000, 730, 0), (0, 730, 28))


def cards(count: int) -> SimulationCards:
    rng = np.random.default_rng(0)
    return SimulationCards(
        stability=np.exp(rng.normal(np.log(10), 1.2, count)),
        difficulty=rng.uniform(2, 9, count),
        elapsed_days=rng.integers(0, 10, count).astype(float),
        stage=rng.integers(0, len(PRO), count),
    )


def main() -> None:
    print("| cards x days, new a day | one at a time | together |\n|---|---|---|")
    for count, days, new in SHAPES:
        deck = cards(count)
        common = {
            "weights": DEFAULT_WEIGHTS,
            "days": days,
            "max_interval": max(PRO),
            "new_cards_per_day": new,
        }
        started = time.process_time()
        first = (0.9, *COARSE)
        simulate_many(
            deck, retentions=first, ladder=PRO, daily_remembered=[True] + [False] * len(first), **common
        )
        simulate_many(deck, retentions=FINE, daily_remembered=[False] * len(FINE), **common)
        together = time.process_time() - started
        started = time.process_time()
        for value in (*first, *FINE):
            simulate(deck, desired_retention=value, **common)
        simulate(deck, desired_retention=None, ladder=PRO, **common)
        alone = time.process_time() - started
        print(f"| {count:,} x {days}, {new} | {alone:.2f} s | {together:.2f} s |")


if __name__ == "__main__":
    main()
