"""bench/shapes.py and bench/seed.py's learners: the data and the report of make bench's three shapes."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from bench.seed import MARKER, seed_learner
from bench.shapes import HEAVY, LIGHT, NOT_TIMED, ROUTES, heavy_light, merge, report, untimed_routes
from config.api import api
from modules.identity import services as identity
from modules.learning.models import Content, ReviewHistory, ReviewSchedule


@pytest.mark.django_db
def test_a_learner_gets_contents_of_the_asked_age_reviews_and_due_cards_and_a_few_marked() -> None:
    now = timezone.now()
    user_id = seed_learner(
        email="shape@bench.resee.local", contents=40, history=6, due=7, age_days=(400, 410), marked=3, now=now
    )

    user = identity.User.objects.get(pk=user_id)
    assert identity.effective_tier(user) == "PRO" and not user.has_usable_password()
    contents = Content.objects.filter(user=user)
    assert contents.count() == 40
    assert all(now - timedelta(days=410) <= c.created_at <= now - timedelta(days=400) for c in contents)
    assert contents.filter(body__contains=MARKER).count() == 3
    assert ReviewHistory.objects.filter(user=user).count() == 240
    assert ReviewSchedule.objects.filter(user=user, next_review_date__lt=now).count() == 7


def _wrk(rps: float, p99: float, non_2xx: int = 0) -> str:
    result = {"requests": int(rps * 20), "duration_s": 20.0, "rps": rps, "p50_ms": p99 / 3, "p90_ms": p99 / 2}
    result |= {"p95_ms": p99 / 1.5, "p99_ms": p99, "max_ms": p99 * 2, "mean_ms": p99 / 3}
    result |= {"non_2xx": non_2xx, "socket_errors": 0, "timeouts": 0}
    return f"Running 20s test\nRESULT {json.dumps(result)}\n"


def test_the_report_prints_every_ratio_of_every_round(tmp_path: Path) -> None:
    route = {"light_p50_ms": 10.0, "light_p95_ms": 12.0, "heavy_p50_ms": 11.0, "heavy_p95_ms": 14.0}
    rows = [
        {"route": "dashboard", "path": "/d/", "target": True, **route, "ratio_p50": 1.1},
        {
            "route": "retention",
            "path": "/r/",
            "target": True,
            **route,
            "heavy_p50_ms": 13.0,
            "ratio_p50": 1.3,
        },
        {"route": "search, 5% match", "path": "/s/", "target": False, **route, "ratio_p50": 5.0},
    ]
    (tmp_path / "heavy-light-1.json").write_text(json.dumps({"requests": 40, "routes": rows}))
    (tmp_path / "loop-health-1.txt").write_text(_wrk(1000, 20))
    (tmp_path / "loop-1.txt").write_text(_wrk(310, 90, non_2xx=2))
    (tmp_path / "repeat-health-1.txt").write_text(_wrk(1000, 20))
    (tmp_path / "repeat-content-1.txt").write_text(_wrk(450, 24))
    (tmp_path / "repeat-health-q-1.txt").write_text(_wrk(1000, 20))
    (tmp_path / "repeat-queue-1.txt").write_text(_wrk(390, 30))

    text = report(tmp_path)

    assert "worst heavy/light 1.30 (retention" in text  # the search of common words is not a target
    assert "| search, 5% match (not a target) |" in text
    assert "(b) loop: 31% of health/live (target >= 30%), p99 90.0 ms (target < 100), non-2xx 2" in text
    assert "(c) repeat-content: 45% of health/live" in text
    assert "(c) repeat-queue: 39% of health/live" in text
    assert (tmp_path / "summary-shapes.md").read_text() == text


def test_slices_merge_into_one_result(tmp_path: Path) -> None:
    slices = tmp_path / "loop-1.slices"
    slices.write_text(_wrk(100, 30) + _wrk(300, 10, non_2xx=1))

    merged = json.loads(merge(slices).removeprefix("RESULT "))

    assert merged["requests"] == 8000 and merged["duration_s"] == 40.0 and merged["rps"] == 200.0
    assert merged["p99_ms"] == pytest.approx((30 * 2000 + 10 * 6000) / 8000)
    assert merged["max_ms"] == 60 and merged["non_2xx"] == 1 and merged["slices"] == 2


@pytest.mark.django_db
def test_each_seeded_review_carries_the_days_since_the_cards_previous_review() -> None:
    seed_learner(email="elapsed@bench.resee.local", contents=5, history=4, due=1)

    for content in Content.objects.filter(user__email="elapsed@bench.resee.local"):
        anchor = content.created_at
        for row in ReviewHistory.objects.filter(content=content).order_by("reviewed_at"):
            assert row.elapsed_days == pytest.approx((row.reviewed_at - anchor).total_seconds() / 86_400)
            anchor = row.reviewed_at


@pytest.mark.django_db(transaction=True)
def test_shape_a_times_every_route_and_its_writes_leave_the_learners_as_they_were(
    live_server, tmp_path: Path
) -> None:
    for position, (email, due) in enumerate(((LIGHT, 4), (HEAVY, 5))):
        seed_learner(
            email=email, contents=30, history=3, due=due, age_days=(100, 110), marked=5, seed=position
        )
    before = {
        email: (
            Content.objects.filter(user__email=email).count(),
            ReviewHistory.objects.filter(user__email=email).count(),
            ReviewSchedule.objects.filter(user__email=email, next_review_date__lt=timezone.now()).count(),
        )
        for email in (LIGHT, HEAVY)
    }

    found = heavy_light(live_server.url, tmp_path / "heavy-light-1.json", requests=3, warmup=1)

    routes = {row["route"]: row for row in found["routes"]}
    assert {"answer a card", "create a content", "edit a content", "delete a content"} <= set(routes)
    assert {label for label, _ in ROUTES} <= set(routes)  # every read, the simulator's included
    assert all(row["light_p50_ms"] > 0 and row["heavy_p50_ms"] > 0 for row in routes.values())
    assert routes["answer a card"]["target"] and not routes["search, 5% match"]["target"]
    for email, (contents, reviews, due) in before.items():
        assert Content.objects.filter(user__email=email).count() == contents
        assert ReviewHistory.objects.filter(user__email=email).count() == reviews + 4  # 1 + 3 answers
        assert (
            ReviewSchedule.objects.filter(user__email=email, next_review_date__lt=timezone.now()).count()
            == due
        )
    assert json.loads((tmp_path / "heavy-light-1.json").read_text()) == found


def test_every_get_route_of_the_api_is_timed_by_shape_a_or_says_why_not() -> None:
    schema = api.get_openapi_schema()

    assert untimed_routes(schema) == []
    # and the check sees a route it does not know (a new one added to the API)
    schema["paths"]["/api/v1/review/new-report/"] = {"get": {}}
    schema["paths"]["/api/v1/content/{content_id}/versions/"] = {"get": {}, "post": {}}
    assert untimed_routes(schema) == ["/api/content/{}/versions/", "/api/review/new-report/"]
    # NOT_TIMED names routes that exist (no stale excuses)
    listed = {path.replace("/api/v1/", "/api/") for path in schema["paths"]}
    shaped = {re.sub(r"\{[^}]*\}", "{}", path) for path in listed}
    assert set(NOT_TIMED) <= shaped
