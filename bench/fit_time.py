"""How long one per-learner FSRS fit takes: ``fit_fsrs`` on the whole shared log, on one core.

    .venv/bin/python bench/fit_time.py [--csv bench/data/review_logs_josh.csv] [--timezone America/Los_Angeles]
        [--repeat 3]

Builds ``ReviewEvent``s from the log (Again -> forgot, Hard -> partial, Good/Easy -> remembered) and
times the public ``fit_fsrs`` end to end (preprocessing included), reporting wall and CPU seconds
(CPU: ``time.process_time``, this process only, so other load on the machine does not count).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modules.learning.scheduling import ReviewEvent, ReviewResult, fit_fsrs  # noqa: E402

RESULTS = {
    1: ReviewResult.FORGOT,
    2: ReviewResult.PARTIAL,
    3: ReviewResult.REMEMBERED,
    4: ReviewResult.REMEMBERED,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "data" / "review_logs_josh.csv")
    parser.add_argument("--timezone", default="America/Los_Angeles")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with args.csv.open() as handle:
        events = [
            ReviewEvent(
                row["card_id"], datetime.fromisoformat(row["review_time"]), RESULTS[int(row["review_rating"])]
            )
            for row in csv.DictReader(handle)
        ]
    walls, cpus = [], []
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        parameters = fit_fsrs(events, timezone=args.timezone)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(
        json.dumps(
            {
                "reviews": len(events),
                "trained_on": parameters.trained_on,
                "wall_s": [round(s, 2) for s in walls],
                "cpu_s": [round(s, 2) for s in cpus],
                "median_wall_s": round(statistics.median(walls), 2),
                "median_cpu_s": round(statistics.median(cpus), 2),
                "weights": [round(w, 4) for w in parameters.weights],
            }
        )
    )


if __name__ == "__main__":
    main()
