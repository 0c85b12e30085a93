"""Dashboard latency for a heavy user, in process (Django's test client) against PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/resee_bench_insights \\
        .venv/bin/python bench/insights_dashboard.py [--contents 10000] [--history 10] [--recent 20000]

Seeds one user with ``--contents`` contents and ``--history`` past reviews each through
``bench/seed.py`` (10,000 x 10 = the issue's 100,000 history rows), plus ``--recent`` reviews
spread over the last 30 days (the seed's history is mostly months old; a heavy user's last month is
what the dashboard counts). Then it measures GET /api/analytics/dashboard/ and
GET /api/analytics/retention/ ``--requests`` times each, in two states: before any snapshot (every
day of the 30-day series counted live) and after ``snapshot_learning_metrics`` (the steady state:
past final days read from snapshots). It prints p50/p95/max and the query count of each.

The database is migrated; seeding is skipped when the bench user exists (``--reseed`` redoes it, with
the seed's ``reset``). The database name must contain "bench". Throttles are off; the test client
skips the network and the WSGI server, so this is the application's own time per request.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
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
from django.conf import settings  # noqa: E402
from django.core import signals  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import close_old_connections, connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.seed import seed_bench  # noqa: E402
from modules.identity import services as identity  # noqa: E402
from modules.insights import services as insights  # noqa: E402

BENCH_EMAIL = "bench@resee.local"

# As under a WSGI server with a connection pool: no reconnect per request (Django's test runner does
# the same). It also keeps the query log across a request, so the queries can be counted.
signals.request_started.disconnect(close_old_connections)
signals.request_finished.disconnect(close_old_connections)


def seed(*, contents: int, history: int, recent: int, reseed: bool) -> None:
    user_model = apps.get_model("identity", "User")
    if user_model.objects.filter(email=BENCH_EMAIL).exists() and not reseed:
        print("reusing the seeded bench user")
        return
    seed_bench(users=1, contents=contents, history=history, due=100, reset=reseed)
    add_recent_reviews(count=recent)


def add_recent_reviews(*, count: int) -> None:
    user = apps.get_model("identity", "User").objects.get(email=BENCH_EMAIL)
    content_ids = list(
        apps.get_model("learning", "Content").objects.filter(user=user).values_list("id", flat=True)
    )
    history = apps.get_model("learning", "ReviewHistory")
    rng = random.Random(7)
    now = timezone.now()
    results = ("remembered",) * 3 + ("partial", "forgot")
    rows = []
    for _ in range(count):
        at = now - timedelta(seconds=rng.uniform(60, 30 * 86_400))
        rows.append(
            history(
                user_id=user.pk,
                content_id=rng.choice(content_ids),
                result=rng.choice(results),
                reviewed_at=at,
                recorded_at=at,
                stage_before=2,
                stage_after=3,
                interval_days=14,
                time_spent_seconds=rng.randint(5, 90),
                retrievability_before=round(rng.uniform(0.6, 1.0), 4),
            )
        )
    history.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"added {count:,} reviews over the last 30 days")


def measure(client: Client, path: str, requests: int) -> dict[str, float]:
    for _ in range(10):  # warm-up: imports, connection, caches of the database
        assert client.get(path, secure=True).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(path, secure=True)
    query_count = len(queries)  # now: the next request clears the connection's query log
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, secure=True)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p95": timings[int(len(timings) * 0.95) - 1],
        "max": timings[-1],
        "queries": query_count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contents", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=10, help="past reviews per content (bench/seed.py)")
    parser.add_argument("--recent", type=int, default=20_000, help="extra reviews over the last 30 days")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    database = settings.DATABASES["default"]
    if connection.vendor != "postgresql" or "bench" not in database["NAME"]:
        sys.exit("run against PostgreSQL with a database whose name contains 'bench' (DATABASE_URL)")

    call_command("migrate", verbosity=0)
    seed(contents=args.contents, history=args.history, recent=args.recent, reseed=args.reseed)
    user = apps.get_model("identity", "User").objects.select_related("subscription").get(email=BENCH_EMAIL)
    contents = apps.get_model("learning", "Content").objects.filter(user=user).count()
    reviews = apps.get_model("learning", "ReviewHistory").objects.filter(user=user).count()
    print(f"bench user: {contents:,} contents, {reviews:,} history rows; {args.requests} requests per line")

    client = Client(headers={"Authorization": f"Bearer {identity.issue_tokens(user).access}"})
    apps.get_model("insights", "LearningMetrics").objects.filter(user=user).delete()
    lines = [
        (
            "dashboard, no snapshots (30 days live)",
            measure(client, "/api/analytics/dashboard/", args.requests),
        )
    ]
    started = time.perf_counter()
    written = insights.snapshot_learning_metrics()
    snapshot_ms = (time.perf_counter() - started) * 1000
    lines.append(("dashboard, with snapshots", measure(client, "/api/analytics/dashboard/", args.requests)))
    lines.append(
        ("retention, all time", measure(client, "/api/analytics/retention/", max(args.requests // 4, 20)))
    )
    lines.append(
        ("retention, last 30 days", measure(client, "/api/analytics/retention/?days=30", args.requests))
    )

    print(f"snapshot_learning_metrics: {written} snapshots in {snapshot_ms:.0f} ms")
    print(f"{'endpoint':42} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
    for name, result in lines:
        print(
            f"{name:42} {result['p50']:8.1f} {result['p95']:8.1f} {result['max']:8.1f} {result['queries']:8d}"
        )


if __name__ == "__main__":
    main()
