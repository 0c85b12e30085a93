"""How well do Resee's schedulers predict recall? The srs-benchmark protocol on a real review log.

    .venv/bin/python bench/recall_eval.py [--csv bench/data/review_logs_josh.csv]
        [--timezone America/Los_Angeles] [--day-start-hour 4] [--json bench/results/recall_eval.json]

Protocol (as the open-spaced-repetition srs-benchmark describes it; the code here is our own):

- ratings map to Resee's answers: Again -> forgot, Hard -> partial, Good and Easy -> remembered
  (FSRS ratings 1, 2, 3); a review is "recalled" unless it was Again;
- reviews are grouped by card in time order; elapsed time is counted in the learner's calendar days
  (``--timezone``, day starting at ``--day-start-hour``, see modules/learning/scheduling/days.py);
- a card's first review is never scored; same-day reviews stay in the card's history (FSRS-6 uses
  them) but are neither trained on nor scored; fsrs-optimizer's outlier filter drops cards whose
  first interval is a rare one (modules/learning/scheduling/fitting.py);
- the remaining reviews ("rows"), ordered by time, are split as scikit-learn's
  ``TimeSeriesSplit(n_splits=5)`` does: ``k = rows // 6``; fold ``f`` (0..4) is scored on rows
  ``[r0 + f k, r0 + (f + 1) k)`` with ``r0 = rows - 5 k`` and trained on every earlier row;
- metrics over all scored rows together: log loss, AUC, and RMSE(bins): rows binned by interval
  (``2.48 * 3.62^floor(log_3.62 t)``), review number (``1.99 * 1.89^floor(log_1.89 i)``) and lapse count
  (``1.65 * 1.73^floor(log_1.73 l)``, 0 stays 0), the RMSE of mean predicted vs observed recall over
  bins, weighted by bin size.

Models (pure code from modules/learning/scheduling, no Django, no database):

- constant: the training rows' recall rate;
- ladder FREE / BASIC / PRO: the production estimate ``R = exp(-t / S(stage))``, ``S = interval /
  -ln 0.9``, t in fractional days, the stage replayed by the contract's rule;
- ladder calibrated FREE / BASIC / PRO: the calibrated ladder recall model fitted per fold
  (``calibrated_ladder.fit_ladder_recall``);
- FSRS default (24h days): the scheduler as it ran before issue 12: memory updated with elapsed
  24-hour periods, R at fractional days since the last review;
- FSRS default (calendar days): FSRS-6's published defaults with the learner's calendar days;
- FSRS fitted per fold: ``fit_table`` (the engine of ``fit_fsrs``) on each fold's training rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modules.learning.scheduling.calibrated_ladder import fit_stage_stabilities, ladder_stages  # noqa: E402
from modules.learning.scheduling.days import LearnerDays  # noqa: E402
from modules.learning.scheduling.fitting import (  # noqa: E402
    MIN_TRAINING_REVIEWS,
    ReviewTable,
    fit_table,
    predict,
    prepare,
)
from modules.learning.scheduling.fsrs6 import DEFAULT_WEIGHTS, initial_state, next_state, recall  # noqa: E402

LADDERS = {
    "FREE": (1, 3),
    "BASIC": (1, 3, 7, 14, 30, 60, 90),
    "PRO": (1, 3, 7, 14, 30, 60, 120, 180),
}
RATING = {1: 1, 2: 2, 3: 3, 4: 3}  # Again, Hard, Good, Easy -> forgot, partial, remembered, remembered
SECONDS_PER_DAY = 86_400.0
EPS = 1e-7
N_SPLITS = 5


@dataclass(frozen=True)
class Log:
    table: ReviewTable
    order: np.ndarray  # the scored rows: flat indices into the (cards, steps) matrices, by time
    fractional_days: np.ndarray  # (cards, steps): 24-hour days since the previous review


def load(path: Path, *, days: LearnerDays) -> Log:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    table = prepare(
        [row["card_id"] for row in rows],
        [datetime.fromisoformat(row["review_time"]) for row in rows],
        [RATING[int(row["review_rating"])] for row in rows],
        days=days,
    )
    flat = np.flatnonzero(table.target.ravel())
    order = flat[np.argsort(table.reviewed_at.ravel()[flat], kind="stable")]
    times = np.where(np.isfinite(table.reviewed_at), table.reviewed_at, 0.0)  # padding is +inf
    fractional = np.zeros_like(times)
    fractional[:, 1:] = np.maximum(np.diff(times, axis=1), 0.0) / SECONDS_PER_DAY
    return Log(table=table, order=order, fractional_days=fractional)


def time_series_folds(rows: int, splits: int = N_SPLITS) -> list[tuple[int, int, int]]:
    """(train_end, test_start, test_end) per fold, as sklearn's TimeSeriesSplit(n_splits) cuts them."""
    size = rows // (splits + 1)
    if size == 0:
        raise ValueError("too few rows for the split")
    first = rows - splits * size
    return [(first + fold * size, first + fold * size, first + (fold + 1) * size) for fold in range(splits)]


# --- models: each returns predictions for every review, (cards, steps), given the training rows -----

Model = Callable[[Log, np.ndarray], np.ndarray]


def constant(log: Log, train: np.ndarray) -> np.ndarray:
    rate = log.table.recalled.ravel()[train].mean()
    return np.full(log.table.recalled.shape, rate)


def ladder(intervals: tuple[int, ...]) -> Model:
    def model(log: Log, train: np.ndarray) -> np.ndarray:
        stages = ladder_stages(log.table, intervals)
        strength = np.array(intervals, dtype=np.float64)[stages] / -math.log(0.9)
        return np.exp(-log.fractional_days / strength)

    return model


def ladder_calibrated(intervals: tuple[int, ...]) -> Model:
    def model(log: Log, train: np.ndarray) -> np.ndarray:
        stages = ladder_stages(log.table, intervals)
        elapsed = log.table.histories.elapsed
        recency = 0.25 + 0.75 * np.linspace(0.0, 1.0, len(train)) ** 3  # training rows are in time order
        fitted = fit_stage_stabilities(
            stages.ravel()[train],
            elapsed.ravel()[train],
            log.table.recalled.ravel()[train],
            intervals=intervals,
            sample_weight=recency * len(recency) / recency.sum(),
        )
        return fitted.recall_many(stages, elapsed)

    return model


def fsrs_24h_days(log: Log, train: np.ndarray) -> np.ndarray:
    """The pre-issue-12 scheduler: memory updated with whole 24-hour periods, R at fractional days."""
    histories, w = log.table.histories, DEFAULT_WEIGHTS
    out = np.ones(histories.elapsed.shape)
    for row, length in enumerate(histories.lengths):
        s, d = initial_state(w, int(histories.ratings[row, 0]))
        for step in range(1, int(length)):
            days = float(log.fractional_days[row, step])
            out[row, step] = recall(w, elapsed_days=days, stability=s)
            s, d = next_state(
                w,
                stability=s,
                difficulty=d,
                elapsed_days=math.floor(days),
                rating=int(histories.ratings[row, step]),
            )
    return out


def fsrs_default(log: Log, train: np.ndarray) -> np.ndarray:
    return predict(DEFAULT_WEIGHTS, log.table)


FIT_SECONDS: list[tuple[float, float]] = []  # (wall, CPU) per fold


def fsrs_fitted(log: Log, train: np.ndarray) -> np.ndarray:
    mask = np.zeros(log.table.target.size, dtype=bool)
    mask[train] = True
    wall, cpu = time.perf_counter(), time.process_time()
    report = fit_table(log.table, mask.reshape(log.table.target.shape))
    FIT_SECONDS.append((time.perf_counter() - wall, time.process_time() - cpu))
    return predict(report.parameters.weights, log.table)


# --- metrics ----------------------------------------------------------------------------------------


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def auc(p: np.ndarray, y: np.ndarray) -> float:
    positives = int(y.sum())
    negatives = len(y) - positives
    if not positives or not negatives:
        return float("nan")
    ranks = rankdata(p)  # ties share their average rank
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _log_bin(values: np.ndarray, scale: float, base: float, decimals: int) -> np.ndarray:
    exponent = np.floor(np.log(np.maximum(values, 1e-6)) / math.log(base))
    return np.round(scale * base**exponent, decimals)


def rmse_bins(
    p: np.ndarray, y: np.ndarray, elapsed: np.ndarray, number: np.ndarray, lapses: np.ndarray
) -> float:
    keys = np.stack(
        [
            _log_bin(elapsed, 2.48, 3.62, 2),
            _log_bin(number, 1.99, 1.89, 0),
            np.where(lapses == 0, 0.0, _log_bin(lapses, 1.65, 1.73, 0)),
        ],
        axis=1,
    )
    _, bins = np.unique(keys, axis=0, return_inverse=True)
    bins = bins.ravel()
    counts = np.bincount(bins)
    mean_p = np.bincount(bins, weights=p) / counts
    mean_y = np.bincount(bins, weights=y) / counts
    return float(np.sqrt(np.sum(counts * (mean_p - mean_y) ** 2) / counts.sum()))


def evaluate(log: Log, model: Model) -> dict[str, float]:
    table = log.table
    rows = log.order
    predicted: list[np.ndarray] = []
    scored: list[np.ndarray] = []
    for train_end, test_start, test_end in time_series_folds(len(rows)):
        predictions = model(log, rows[:train_end]).ravel()
        test = rows[test_start:test_end]
        predicted.append(predictions[test])
        scored.append(test)
    p = np.concatenate(predicted)
    test_rows = np.concatenate(scored)
    y = table.recalled.ravel()[test_rows]
    return {
        "log_loss": round(log_loss(p, y), 4),
        "rmse_bins": round(
            rmse_bins(
                p,
                y,
                table.histories.elapsed.ravel()[test_rows],
                table.day_number.ravel()[test_rows],  # the benchmark's i: same-day reviews not counted
                table.lapses.ravel()[test_rows],
            ),
            4,
        ),
        "auc": round(auc(p, y), 4),
        "mean_predicted": round(float(p.mean()), 4),
        "observed": round(float(y.mean()), 4),
        "n": len(y),
    }


def models() -> dict[str, Model]:
    out: dict[str, Model] = {"constant (training recall rate)": constant}
    for tier, intervals in LADDERS.items():
        out[f"ladder {tier} (S = interval / -ln 0.9)"] = ladder(intervals)
    for tier, intervals in LADDERS.items():
        out[f"ladder {tier} calibrated"] = ladder_calibrated(intervals)
    out["FSRS-6 default (24h days)"] = fsrs_24h_days
    out["FSRS-6 default (calendar days)"] = fsrs_default
    out["FSRS-6 fitted per fold"] = fsrs_fitted
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "data" / "review_logs_josh.csv")
    parser.add_argument(
        "--timezone",
        default="America/Los_Angeles",
        help="the learner's IANA zone (the shared log has no review between 06:00 and 15:00 UTC: any "
        "zone from UTC-2 to UTC-10 puts the 4 am day start in that gap and counts the same days)",
    )
    parser.add_argument("--day-start-hour", type=int, default=4)
    parser.add_argument("--only", help="evaluate only the models whose name contains this text")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    log = load(args.csv, days=LearnerDays(args.timezone, args.day_start_hour))
    table = log.table
    report: dict[str, object] = {
        "data": {
            "csv": str(args.csv.relative_to(ROOT) if args.csv.is_relative_to(ROOT) else args.csv),
            "cards": len(table.histories.lengths),
            "reviews": table.review_count,
            "rows": len(log.order),
            "same_day_reviews": int(
                ((table.histories.elapsed < 1) & (np.arange(table.recalled.shape[1]) > 0)[None, :])[
                    np.arange(table.recalled.shape[1])[None, :] < table.histories.lengths[:, None]
                ].sum()
            ),
            "scored": N_SPLITS * (len(log.order) // (N_SPLITS + 1)),
            "timezone": args.timezone,
            "day_start_hour": args.day_start_hour,
            "min_training_reviews": MIN_TRAINING_REVIEWS,
        },
        "models": {},
    }
    results: dict[str, dict[str, float]] = report["models"]  # type: ignore[assignment]
    for name, model in models().items():
        if args.only and args.only not in name:
            continue
        results[name] = evaluate(log, model)
    if FIT_SECONDS:
        report["fit_seconds_per_fold"] = {
            "wall": [round(wall, 2) for wall, _ in FIT_SECONDS],
            "cpu": [round(cpu, 2) for _, cpu in FIT_SECONDS],
        }

    print(json.dumps(report["data"]))
    print("\n| model | log loss | RMSE (bins) | AUC | mean predicted | observed | n |")
    print("|---|---|---|---|---|---|---|")
    for name, values in results.items():
        print(
            f"| {name} | {values['log_loss']:.4f} | {values['rmse_bins']:.4f} | {values['auc']:.4f} | "
            f"{values['mean_predicted']:.4f} | {values['observed']:.4f} | {values['n']} |"
        )
    if FIT_SECONDS:
        print(f"\nFSRS fit per fold, seconds: {report['fit_seconds_per_fold']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
