"""A learner's memory-model fit and retention simulation through the API, on the shared review log.

    python bench/prepare_db.py postgres://postgres@127.0.0.1:5432/resee_bench_memory
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/resee_bench_memory \\
        taskset -c 0 .venv/bin/python bench/memory_fit.py [--csv bench/data/review_logs_josh.csv]
        [--timezone America/Los_Angeles] [--copies 9]

Imports the log (12,580 reviews of 1,205 cards; Again -> forgot, Hard -> partial, Good/Easy ->
remembered; answer times kept) as a PRO learner's history through learning's import facade, then, as
the learner, with Django's test client and the queue inline (``Q_SYNC=1``: the job runs in this
process when its request commits, exactly the worker's code):

- ``POST /api/review/fits/`` (202) and ``GET /api/review/fits/{id}/``: the fit's wall time as the
  request measured it and as the job recorded it, its outcomes and held-back log losses;
- ``GET /api/review/parameters/`` and ``GET /api/review/simulation/`` (365 days) on those cards;
- a second learner with the log imported ``--copies`` times (about 10,000 cards, 113,000 reviews):
  ``GET /api/review/simulation/`` on their cards.

Prints JSON. Run it pinned to one core (``taskset -c 0``) for the issue's "one core" numbers. The
database is migrated and the two learners are recreated on each run; its name must contain "bench".
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("THROTTLES_ENABLED", "0")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("Q_SYNC", "1")

import django  # noqa: E402

django.setup()

from django.apps import apps  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from modules.identity import services as identity  # noqa: E402
from modules.identity.testing import auth_headers, make_user  # noqa: E402
from modules.learning import services as learning  # noqa: E402

RESULTS = {"1": "forgot", "2": "partial", "3": "remembered", "4": "remembered"}
EMAILS = ("bench-memory-fit@resee.local", "bench-memory-10k@resee.local")


def read_log(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def import_log(user: object, rows: list[dict[str, str]], *, copies: int) -> int:
    """The log as the learner's history: one content per card (created a minute before its first
    review), its reviews replayed through the learner's scheduler, as an Anki import does."""
    first: dict[str, datetime] = {}
    for row in rows:
        at = datetime.fromisoformat(row["review_time"])
        first[row["card_id"]] = min(first.get(row["card_id"], at), at)
    total = 0
    for copy in range(copies):
        contents = [
            learning.ImportedContent(
                ref=f"{copy}:{card}",
                key=learning.ExternalKey("csv", f"{copy}:{card}"),
                title=f"Card {card} ({copy})",
                body=f"Card {card} of the shared review log.",
                created_at=at - timedelta(minutes=1),
            )
            for card, at in first.items()
        ]
        reviews = [
            learning.ImportedReview(
                content_ref=f"{copy}:{row['card_id']}",
                key=learning.ExternalKey("csv", f"{copy}:{index}"),
                result=RESULTS[row["review_rating"]],
                reviewed_at=datetime.fromisoformat(row["review_time"]),
                time_spent_seconds=round(int(row["review_duration"]) / 1000),
            )
            for index, row in enumerate(rows)
        ]
        outcome = learning.import_learning_data(
            user=user, data=learning.LearningImport(contents=contents, reviews=reviews)
        )
        total += outcome.counts.reviews_imported
    return total


def learner(email: str, *, timezone: str) -> object:
    existing = apps.get_model("identity", "User").objects.filter(email=email).first()
    if existing is not None:
        identity.delete_account(user=existing)
    return make_user(email=email, tier="PRO", timezone=timezone)


def timed_get(client: Client, path: str) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.get(path, secure=True)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, (path, response.status_code, response.content[:500])
    return elapsed, response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "data" / "review_logs_josh.csv")
    parser.add_argument("--timezone", default="America/Los_Angeles")
    parser.add_argument("--copies", type=int, default=9)
    args = parser.parse_args()
    if "bench" not in connection.settings_dict["NAME"]:
        sys.exit("refusing to run on a database whose name does not contain 'bench'")
    call_command("migrate", verbosity=0)
    rows = read_log(args.csv)
    report: dict[str, object] = {"log_reviews": len(rows)}

    user = learner(EMAILS[0], timezone=args.timezone)
    started = time.perf_counter()
    report["imported_reviews"] = import_log(user, rows, copies=1)
    report["import_s"] = round(time.perf_counter() - started, 2)
    client = Client(headers=auth_headers(user))

    started = time.perf_counter()
    response = client.post("/api/review/fits/", {}, content_type="application/json", secure=True)
    report["fit_request_s"] = round(time.perf_counter() - started, 2)  # the job ran inline, on commit
    assert response.status_code == 202, response.content
    _, fit = timed_get(client, f"/api/review/fits/{response.json()['id']}/")
    report["fit"] = {
        key: fit[key] for key in ("status", "seconds", "review_count", "holdout_count", "version")
    } | {
        model: {key: fit[model][key] for key in ("outcome", "log_loss_before", "log_loss_after")}
        | {"trained_on": fit[model].get("trained_on")}
        for model in ("fsrs", "ladder")
    }
    _, parameters = timed_get(client, "/api/review/parameters/")
    report["parameters"] = {key: parameters[key] for key in ("version", "fitted_at", "review_count")}
    report["fsrs_weights"] = [round(value, 4) for value in parameters["fsrs"]["weights"]]
    report["ladder_stabilities"] = [round(value, 2) for value in parameters["ladder"]["stabilities"] or []]
    elapsed, simulation = timed_get(client, "/api/review/simulation/?days=365&desired_retention=0.9")
    report["simulation_own_cards"] = summary(elapsed, simulation)

    big = learner(EMAILS[1], timezone=args.timezone)
    started = time.perf_counter()
    report["big_imported_reviews"] = import_log(big, rows, copies=args.copies)
    report["big_import_s"] = round(time.perf_counter() - started, 2)
    elapsed, simulation = timed_get(
        Client(headers=auth_headers(big)), "/api/review/simulation/?days=365&desired_retention=0.9"
    )
    report["simulation_big"] = summary(elapsed, simulation)
    print(json.dumps(report, indent=2, default=str))


def summary(elapsed: float, simulation: dict) -> dict:
    return {
        "request_s": round(elapsed, 2),
        "cards": simulation["cards"],
        "new_cards_per_day": simulation["new_cards_per_day"],
        "outcome": simulation["outcome"],
        "minutes_per_day": round(simulation["outcome"]["minutes"] / simulation["days"], 1),
        "recommended_desired_retention": simulation["recommended_desired_retention"],
        "ladder": simulation["ladder"],
        "seconds_per_recalled": simulation["seconds_per_recalled"],
        "seconds_per_forgotten": simulation["seconds_per_forgotten"],
    }


if __name__ == "__main__":
    main()
