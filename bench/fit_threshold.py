"""How many reviews does a per-learner FSRS fit need to beat the defaults? (MIN_TRAINING_REVIEWS)

    .venv/bin/python bench/fit_threshold.py [--csv bench/data/review_logs_josh.csv] [--sizes 200,400,800,1600]

For each size ``n``: windows of ``n`` consecutive training targets of the shared log (every 900th
target a new window; the cards' earlier reviews still shape their memory), the fit as shipped
(``fit_table``) on the window, and the log loss on the next 500 targets compared with the defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from recall_eval import load, log_loss  # noqa: E402

from modules.learning.scheduling.days import LearnerDays  # noqa: E402
from modules.learning.scheduling.fitting import fit_table, predict  # noqa: E402
from modules.learning.scheduling.fsrs6 import DEFAULT_WEIGHTS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "data" / "review_logs_josh.csv")
    parser.add_argument("--timezone", default="America/Los_Angeles")
    parser.add_argument("--sizes", default="200,400,800,1600")
    parser.add_argument("--test", type=int, default=500)
    args = parser.parse_args()
    log = load(args.csv, days=LearnerDays(args.timezone))
    table, rows = log.table, log.order
    recalled = table.recalled.ravel()
    default = predict(DEFAULT_WEIGHTS, table).ravel()
    for size in (int(value) for value in args.sizes.split(",")):
        gains = []
        for start in range(0, len(rows) - size - args.test, 900):
            mask = np.zeros(table.target.size, dtype=bool)
            mask[rows[start : start + size]] = True
            fitted = fit_table(table, mask.reshape(table.target.shape)).parameters
            test = rows[start + size : start + size + args.test]
            fitted_loss = log_loss(predict(fitted.weights, table).ravel()[test], recalled[test])
            gains.append(log_loss(default[test], recalled[test]) - fitted_loss)
        values = np.array(gains)
        print(
            json.dumps(
                {
                    "training_targets": size,
                    "windows": len(values),
                    "mean_gain": round(float(values.mean()), 4),
                    "worst": round(float(values.min()), 4),
                    "best": round(float(values.max()), 4),
                    "share_better": round(float((values > 0).mean()), 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
