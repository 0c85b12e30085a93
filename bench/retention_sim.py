"""The retention simulator on the shared log's learner: timing, the retention curve, ladder vs FSRS.

    .venv/bin/python bench/retention_sim.py [--csv bench/data/review_logs_josh.csv]
        [--timezone America/Los_Angeles] [--cards 10000] [--days 365] [--json bench/results/retention_sim.json]

1. Fits FSRS-6 to the whole log (``fit_table``), takes every card's memory state after its last review
   and the learner's answer times, first-answer and "partial" shares, and pace of new cards.
2. Times ``simulate`` for ``--cards`` cards (the learner's cards repeated) over ``--days`` days.
3. Simulates each desired retention 0.70..0.97 and the recommendation (fewest reviews per remembered
   card), with the learner's pace of new cards.
4. Compares each tier's ladder with FSRS capped at the tier's longest interval: reviews and cards
   remembered after a year, and the FSRS retention that remembers as many cards as the ladder.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modules.learning.scheduling.days import LearnerDays  # noqa: E402
from modules.learning.scheduling.fitting import fit_table, prepare  # noqa: E402
from modules.learning.scheduling.fsrs6 import final_states  # noqa: E402
from modules.learning.scheduling.simulator import (  # noqa: E402
    DEFAULT_CANDIDATES,
    SimulationCards,
    answer_seconds,
    recommend_retention,
    simulate,
)

LADDERS = {
    "FREE": (1, 3),
    "BASIC": (1, 3, 7, 14, 30, 60, 90),
    "PRO": (1, 3, 7, 14, 30, 60, 120, 180),
}
RATING = {1: 1, 2: 2, 3: 3, 4: 3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "data" / "review_logs_josh.csv")
    parser.add_argument("--timezone", default="America/Los_Angeles")
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with args.csv.open() as handle:
        rows = list(csv.DictReader(handle))
    ratings = [RATING[int(row["review_rating"])] for row in rows]
    times = [datetime.fromisoformat(row["review_time"]) for row in rows]
    days = LearnerDays(args.timezone)
    table = prepare([row["card_id"] for row in rows], times, ratings, days=days)
    weights = fit_table(table).parameters.weights
    stability, difficulty = final_states(weights, table.histories)
    last_review_day = np.array(
        [
            days.day(datetime.fromtimestamp(table.reviewed_at[row, length - 1], tz=UTC))
            for row, length in enumerate(table.histories.lengths)
        ]
    )
    today = max(days.day(at) for at in times) + 1
    elapsed = today - last_review_day
    seconds_ok, seconds_failed = answer_seconds(
        [float(row["review_duration"]) for row in rows], [r > 1 for r in ratings]
    )
    successes = [r for r in ratings if r > 1]
    partial_share = sum(r == 2 for r in successes) / len(successes)
    first_forgot_share = float((table.histories.ratings[:, 0] == 1).mean())
    span_days = today - min(days.day(at) for at in times)
    new_per_day = round(len(table.histories.lengths) / span_days)

    repeat = int(np.ceil(args.cards / len(stability)))
    many = SimulationCards(
        stability=np.tile(stability, repeat)[: args.cards],
        difficulty=np.tile(difficulty, repeat)[: args.cards],
        elapsed_days=np.tile(elapsed, repeat)[: args.cards],
    )
    wall, cpu = time.perf_counter(), time.process_time()
    simulate(many, weights=weights, desired_retention=0.9, days=args.days)
    timing = {
        "cards": args.cards,
        "days": args.days,
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
    }

    learner = SimulationCards(stability=stability, difficulty=difficulty, elapsed_days=elapsed)
    common = {
        "weights": weights,
        "days": args.days,
        "seconds_recalled": seconds_ok,
        "seconds_forgotten": seconds_failed,
        "partial_share": partial_share,
        "new_cards_per_day": new_per_day,
        "first_forgot_share": first_forgot_share,
    }
    wall, cpu = time.perf_counter(), time.process_time()
    recommendation = recommend_retention(learner, **common)  # type: ignore[arg-type]
    recommend_timing = {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
        "candidates": len(DEFAULT_CANDIDATES),
    }
    curve = [
        {
            "desired_retention": result.desired_retention,
            "reviews": result.total_reviews,
            "minutes": round(result.total_minutes),
            "remembered": round(result.remembered),
            "reviews_per_remembered": round(result.reviews_per_remembered_card, 3),
            "minutes_per_day": round(result.total_minutes / args.days, 1),
        }
        for result in recommendation.results
    ]

    ladders = []
    for tier, intervals in LADDERS.items():
        ladder = simulate(learner, ladder=intervals, desired_retention=None, **common)  # type: ignore[arg-type]
        capped = {
            value: simulate(learner, desired_retention=value, max_interval=max(intervals), **common)  # type: ignore[arg-type]
            for value in DEFAULT_CANDIDATES
        }
        # the FSRS retention that remembers at least as many cards as the ladder, with fewest reviews
        matching = [r for r in capped.values() if r.remembered >= ladder.remembered]
        best = min(matching, key=lambda r: r.total_reviews) if matching else None
        ladders.append(
            {
                "tier": tier,
                "ladder_reviews": ladder.total_reviews,
                "ladder_remembered": round(ladder.remembered),
                "ladder_reviews_per_remembered": round(ladder.reviews_per_remembered_card, 3),
                "fsrs_0.90_reviews": capped[0.9].total_reviews,
                "fsrs_0.90_remembered": round(capped[0.9].remembered),
                "fsrs_0.90_reviews_per_remembered": round(capped[0.9].reviews_per_remembered_card, 3),
                "fsrs_matching_retention": best.desired_retention if best else None,
                "fsrs_matching_reviews": best.total_reviews if best else None,
                "fsrs_matching_remembered": round(best.remembered) if best else None,
            }
        )

    report = {
        "learner": {
            "cards": len(stability),
            "seconds_recalled": seconds_ok,
            "seconds_forgotten": seconds_failed,
            "partial_share": round(partial_share, 4),
            "first_forgot_share": round(first_forgot_share, 3),
            "new_cards_per_day": new_per_day,
        },
        "timing_one_simulation": timing,
        "timing_recommendation": recommend_timing,
        "recommended_retention": recommendation.desired_retention,
        "curve": curve,
        "ladder_vs_fsrs": ladders,
    }
    print(json.dumps({k: report[k] for k in ("learner", "timing_one_simulation", "timing_recommendation")}))
    print(f"\nrecommended desired retention: {recommendation.desired_retention}\n")
    print("| desired retention | reviews | minutes/day | remembered | reviews per remembered |")
    print("|---|---|---|---|---|")
    for row in curve[::3] + ([curve[-1]] if (len(curve) - 1) % 3 else []):
        print(
            f"| {row['desired_retention']:.2f} | {row['reviews']} | {row['minutes_per_day']} | {row['remembered']} | "
            f"{row['reviews_per_remembered']} |"
        )
    print(
        "\n| tier | ladder: reviews / remembered | FSRS 0.90 capped: reviews / remembered | "
        "FSRS remembering as many: retention, reviews |"
    )
    print("|---|---|---|---|")
    for row in ladders:
        print(
            f"| {row['tier']} | {row['ladder_reviews']} / {row['ladder_remembered']} | "
            f"{row['fsrs_0.90_reviews']} / {row['fsrs_0.90_remembered']} | "
            f"{row['fsrs_matching_retention']}, {row['fsrs_matching_reviews']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
