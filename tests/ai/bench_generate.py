"""Latency and query count of POST /api/ai-review/generate/ with the local provider (10 questions).

Runs the real stack (Django test client -> Ninja -> services -> PostgreSQL) against the database in
DATABASE_URL (migrated), with a throwaway PRO user that is deleted afterwards:

    DEBUG=1 AI_PROVIDER=local DATABASE_URL=postgres://postgres@127.0.0.1:5432/resee_ai \
        REDIS_URL=redis://127.0.0.1:6379/3 .venv/bin/python tests/ai/bench_generate.py --runs 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("AI_PROVIDER", "local")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from modules.ai.models import AIUsage  # noqa: E402
from modules.identity.services import User  # noqa: E402
from modules.identity.testing import auth_headers, make_user  # noqa: E402
from modules.learning.testing import make_content  # noqa: E402

DATA = Path(__file__).parent / "data"


def report(line: str) -> None:
    sys.stdout.write(line + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()

    user = make_user(email=f"bench-{uuid.uuid4().hex[:8]}@example.com", tier="PRO")
    try:
        contents = []
        for path in sorted(DATA.glob("*.txt")):
            title, body = path.read_text(encoding="utf-8").split("\n", 1)
            contents.append(make_content(user=user, title=title.strip(), body=body.strip()))
        client = Client(headers=auth_headers(user), HTTP_HOST="localhost")
        latencies: list[float] = []
        queries: list[int] = []
        for i in range(args.runs + 1):
            AIUsage.objects.filter(user=user).update(
                questions_generated=0
            )  # keep the day quota out of the way
            content = contents[i % len(contents)]
            payload = {
                "content_id": content.pk,
                "question_types": ["multiple_choice", "fill_blank", "blur"],
                "difficulty_level": "intermediate",
                "count": args.count,
            }
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.post("/api/ai-review/generate/", payload, content_type="application/json")
                elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 201, response.content
            assert len(response.json()["questions"]) == args.count
            if i == 0:
                report(f"first (cold) request: {elapsed:.1f} ms, {len(captured)} queries")
                continue
            latencies.append(elapsed)
            queries.append(len(captured))
        latencies.sort()
        p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
        report(
            f"runs: {len(latencies)} x {args.count} questions, provider local, database {connection.vendor}"
        )
        report(
            f"latency ms: median {statistics.median(latencies):.1f}, p95 {p95:.1f}, min {latencies[0]:.1f}, max {latencies[-1]:.1f}"
        )
        report(f"queries per request: {sorted(set(queries))}")
    finally:
        User.objects.filter(pk=user.pk).delete()


if __name__ == "__main__":
    main()
