"""How well do the two schedulers predict recall? Evaluated on real review logs.

    python bench/recall_eval.py [--csv bench/data/review_logs_josh.csv] [--split 0.7] [--json OUT]

For every review of a card after its first, each model predicts the probability of recall at that
moment from the card's earlier reviews only; the outcome is "recalled" unless the rating was Again
(the usual definition in the FSRS benchmark: Hard, Good and Easy are successful recalls). Ratings map
to Resee's answers as Resee would record them: Again -> forgot, Hard -> partial, Good and Easy ->
remembered.

Models (pure code from modules/learning/scheduling, no Django, no database):
- ladder: the tier ladder's Ebbinghaus estimate R = exp(-t / S(stage)), S = interval / -ln(0.9),
  the stage following the contract's rule (PRO ladder by default);
- ladder, calibrated: the same with the one free constant (the retention assumed at the due date)
  fitted on the training period by grid search;
- FSRS: FSRS-6 with its default parameters, as Resee runs it (no learning steps, Easy -> Good);
- baseline: a constant, the recall rate of the training period.

Split: reviews are ordered by time; the first ``--split`` share is the training period (used only by
the calibrated ladder and the baseline), the rest is the test period where every metric is measured.
Memory state is always replayed through all earlier reviews, as a live system would have it.

Metrics on the test period: log loss (lower is better), RMSE over 20 equal-width bins of predicted R
weighted by bin size ("calibration error"), AUC (ranking quality), mean predicted vs observed recall.
Also reported without same-day reviews (t < 1 day), which neither model was designed for.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modules.learning.scheduling import (  # noqa: E402
    CardState,
    FsrsScheduler,
    LadderScheduler,
    ReviewResult,
    ladder_stage_after,
)

PRO = (1, 3, 7, 14, 30, 60, 120, 180)
RESULTS = {
    1: ReviewResult.FORGOT,
    2: ReviewResult.PARTIAL,
    3: ReviewResult.REMEMBERED,
    4: ReviewResult.REMEMBERED,
}
EPS = 1e-6


@dataclass(frozen=True)
class Prediction:
    at: datetime
    elapsed_days: float
    recalled: int
    ladder_stage: int  # for the calibrated ladder
    fsrs: float


def load(path: Path) -> dict[str, list[tuple[datetime, int]]]:
    cards: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    with path.open() as handle:
        for row in csv.DictReader(handle):
            cards[row["card_id"]].append(
                (datetime.fromisoformat(row["review_time"]), int(row["review_rating"]))
            )
    for reviews in cards.values():
        reviews.sort()
    return cards


def predictions(cards: dict[str, list[tuple[datetime, int]]], intervals: tuple[int, ...]) -> list[Prediction]:
    fsrs = FsrsScheduler(intervals=intervals)
    out: list[Prediction] = []
    for reviews in cards.values():
        first_at, first_rating = reviews[0]
        card = fsrs.review(CardState(introduced_at=first_at), RESULTS[first_rating], first_at).state
        stage = ladder_stage_after(0, RESULTS[first_rating], last_stage=len(intervals) - 1)
        for at, rating in reviews[1:]:
            out.append(
                Prediction(
                    at=at,
                    elapsed_days=card.elapsed_days(at),
                    recalled=int(rating > 1),
                    ladder_stage=stage,
                    fsrs=fsrs.recall_probability(card, at),
                )
            )
            card = fsrs.review(card, RESULTS[rating], at).state
            stage = ladder_stage_after(stage, RESULTS[rating], last_stage=len(intervals) - 1)
    out.sort(key=lambda p: p.at)
    return out


def ladder_prediction(p: Prediction, intervals: tuple[int, ...], target: float) -> float:
    strength = intervals[p.ladder_stage] / -math.log(target)
    return math.exp(-p.elapsed_days / strength)


def log_loss(ps: list[float], ys: list[int]) -> float:
    return -sum(
        y * math.log(min(max(p, EPS), 1 - EPS)) + (1 - y) * math.log(1 - min(max(p, EPS), 1 - EPS))
        for p, y in zip(ps, ys, strict=True)
    ) / len(ys)


def rmse_bins(ps: list[float], ys: list[int], bins: int = 20) -> float:
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for p, y in zip(ps, ys, strict=True):
        b = sums[min(int(p * bins), bins - 1)]
        b[0] += p
        b[1] += y
        b[2] += 1
    total = sum(b[2] for b in sums.values())
    return math.sqrt(sum(b[2] * (b[0] / b[2] - b[1] / b[2]) ** 2 for b in sums.values()) / total)


def auc(ps: list[float], ys: list[int]) -> float:
    ranked = sorted(zip(ps, ys, strict=True))
    positives = sum(ys)
    negatives = len(ys) - positives
    if not positives or not negatives:
        return float("nan")
    rank_sum, index = 0.0, 0
    while index < len(ranked):  # average ranks over ties
        end = index
        while end + 1 < len(ranked) and ranked[end + 1][0] == ranked[index][0]:
            end += 1
        average_rank = (index + end) / 2 + 1
        rank_sum += average_rank * sum(y for _, y in ranked[index : end + 1])
        index = end + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def metrics(ps: list[float], ys: list[int]) -> dict[str, float]:
    return {
        "log_loss": round(log_loss(ps, ys), 4),
        "rmse_bins": round(rmse_bins(ps, ys), 4),
        "auc": round(auc(ps, ys), 4),
        "mean_predicted": round(sum(ps) / len(ps), 4),
        "observed": round(sum(ys) / len(ys), 4),
        "n": len(ys),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "data" / "review_logs_josh.csv")
    parser.add_argument(
        "--split", type=float, default=0.7, help="share of reviews (by time) used for fitting"
    )
    parser.add_argument("--ladder", choices=("FREE", "BASIC", "PRO"), default="PRO")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    intervals = {"FREE": (1, 3), "BASIC": (1, 3, 7, 14, 30, 60, 90), "PRO": PRO}[args.ladder]
    ladder = LadderScheduler(intervals)  # the production estimate, for a sanity check below

    cards = load(args.csv)
    preds = predictions(cards, intervals)
    cut = int(len(preds) * args.split)
    train, test = preds[:cut], preds[cut:]

    # sanity: the evaluation's ladder formula is the production one
    probe = CardState(introduced_at=preds[0].at, stage=2, last_reviewed_at=preds[0].at)
    assert (
        abs(
            ladder.recall_probability(probe, preds[1].at)
            - ladder_prediction(
                Prediction(preds[1].at, probe.elapsed_days(preds[1].at), 1, 2, 0), intervals, 0.9
            )
        )
        < 1e-12
    )

    grid = [round(0.05 + 0.01 * step, 2) for step in range(95)]  # 0.05 .. 0.99
    report: dict[str, object] = {
        "data": {
            "cards": len(cards),
            "reviews": sum(len(r) for r in cards.values()),
            "predicted": len(preds),
            "train": len(train),
            "test": len(test),
            "test_from": test[0].at.isoformat(),
            "ladder": args.ladder,
        },
    }
    subsets = {"all": lambda p: True, "excluding_same_day": lambda p: p.elapsed_days >= 1}
    for label, keep in subsets.items():
        fit = [p for p in train if keep(p)]
        subset = [p for p in test if keep(p)]
        fit_ys = [p.recalled for p in fit]
        best_target = min(
            grid,
            key=lambda t, fit=fit, fit_ys=fit_ys: log_loss(
                [ladder_prediction(p, intervals, t) for p in fit], fit_ys
            ),
        )
        base_rate = sum(fit_ys) / len(fit_ys)
        ys = [p.recalled for p in subset]
        report[label] = {
            "ladder (R=exp(-t/S), target 0.9)": metrics(
                [ladder_prediction(p, intervals, 0.9) for p in subset], ys
            ),
            f"ladder calibrated (target {best_target})": metrics(
                [ladder_prediction(p, intervals, best_target) for p in subset], ys
            ),
            "FSRS-6 default parameters": metrics([p.fsrs for p in subset], ys),
            "baseline (constant train recall rate)": metrics([base_rate] * len(subset), ys),
        }

    print(f"{report['data']}")
    for label in ("all", "excluding_same_day"):
        print(f"\n### Test period, {label.replace('_', ' ')}\n")
        print("| model | log loss | RMSE (bins) | AUC | mean predicted | observed | n |")
        print("|---|---|---|---|---|---|---|")
        for model, values in report[label].items():  # type: ignore[union-attr]
            print(
                f"| {model} | {values['log_loss']} | {values['rmse_bins']} | {values['auc']} | "
                f"{values['mean_predicted']} | {values['observed']} | {values['n']} |"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
