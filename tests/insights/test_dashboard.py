"""GET /api/analytics/dashboard/: every field against numbers computed by hand on small fixtures.

"Now" is pinned in insights' services (``timezone.now`` of that module only); AI usage is read by
the AI module for the real local today, so the fixture puts it there.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from unittest import mock

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.ai.testing import make_usage
from modules.common.time import local_date, zone
from modules.identity.testing import make_user
from modules.insights import services
from modules.insights.testing import make_snapshot
from modules.learning import services as learning
from modules.learning.testing import make_category, make_content
from tests.insights.builders import history_model, review, schedule_model, set_schedule, utc

pytestmark = pytest.mark.django_db

# 23:45 in Seoul (UTC+9) on 2026-03-10
SEOUL_NOW = utc(2026, 3, 10, 14, 45)
# 12:00 in Los Angeles on 2026-03-10 (PDT, UTC-7; daylight saving time began on 2026-03-08)
LA_NOW = utc(2026, 3, 10, 19, 0)


def get_dashboard(client, now):
    with mock.patch("modules.insights.services.learner.timezone") as clock:
        clock.now.return_value = now
        response = client.get("/api/analytics/dashboard/")
    assert response.status_code == 200, response.content
    return response.json()


def series_as_dict(body: dict) -> dict[str, tuple[int, int, int]]:
    return {
        day["date"]: (day["remembered"], day["partial"], day["forgot"])
        for day in body["reviews_per_day"]
        if day["remembered"] or day["partial"] or day["forgot"]
    }


@pytest.fixture(params=["history", "tallies"])
def seoul_learner(request):
    """A BASIC learner in Seoul: 5 contents in 2 of 3 categories, 7 reviews, 5 schedules. Every test
    runs twice: counted from the history (tallies not built) and from learning's review tallies."""
    user = make_user(timezone="Asia/Seoul", tier="BASIC")
    alpha = make_category(user=user, name="Alpha")
    beta = make_category(user=user, name="Beta")
    make_category(user=user, name="Gamma")
    created = utc(2026, 2, 1)
    c1 = make_content(user=user, title="c1", category=alpha, created_at=created)
    c2 = make_content(user=user, title="c2", category=alpha, created_at=created)
    c3 = make_content(user=user, title="c3", category=beta, created_at=created)
    c4 = make_content(user=user, title="c4", created_at=created)
    c5 = make_content(user=user, title="c5", created_at=SEOUL_NOW - timedelta(days=2))
    # Schedules: due dates around local midnights, ladder stages and last reviews for the recall.
    set_schedule(
        c1, stage=0, last_reviewed_at=SEOUL_NOW - timedelta(days=1), next_review_date=utc(2026, 3, 8, 10)
    )
    set_schedule(
        c2, stage=1, last_reviewed_at=SEOUL_NOW - timedelta(days=3), next_review_date=utc(2026, 3, 10, 14, 59)
    )
    set_schedule(
        c3, stage=2, last_reviewed_at=SEOUL_NOW - timedelta(days=14), next_review_date=utc(2026, 3, 10, 15)
    )
    set_schedule(c4, stage=0, last_reviewed_at=SEOUL_NOW, next_review_date=utc(2026, 3, 16, 14, 59))
    set_schedule(c5, stage=0, last_reviewed_at=None, next_review_date=utc(2026, 3, 16, 15))
    # Reviews (local Seoul time in the comments)
    review(c1, "remembered", utc(2026, 3, 10, 14, 30))  # Mar 10 23:30: today
    review(c2, "partial", utc(2026, 3, 9, 15, 30))  # Mar 10 00:30: today (UTC: Mar 9)
    review(c3, "forgot", utc(2026, 3, 9, 14, 30))  # Mar 9 23:30
    review(c1, "remembered", utc(2026, 3, 4, 3))  # Mar 4: first day of the 7-day window
    review(c3, "remembered", utc(2026, 3, 3, 3))  # Mar 3: before the 7-day window
    review(c4, "forgot", utc(2026, 2, 9))  # Feb 9 09:00: first day of the 30-day series
    review(c2, "remembered", utc(2026, 2, 8, 14, 50))  # Feb 8 23:50: out (but < 30 x 24 h ago)
    make_usage(
        user=user, day=local_date(timezone.now(), "Asia/Seoul"), questions=3, tokens=1200, cost_usd="0.0123"
    )
    if request.param == "tallies":
        learning.rebuild_review_tallies(user_id=user.pk, tz_name=user.timezone)
    return user


def test_dashboard_answers_every_field_in_the_users_local_days(client_for, seoul_learner) -> None:
    someone_else = make_user(timezone="Asia/Seoul")
    review(make_content(user=someone_else, created_at=utc(2026, 2, 1)), "forgot", utc(2026, 3, 10, 14))

    body = get_dashboard(client_for(seoul_learner), SEOUL_NOW)

    assert set(body) == {
        "total_content",
        "total_reviews",
        "due_today",
        "overdue",
        "success_rate_7d",
        "success_rate_30d",
        "reviews_per_day",
        "predicted_retention_now",
        "predicted_retention_in_7d",
        "categories",
        "forecast_7d",
        "ai_usage_today",
    }
    assert body["total_content"] == 5
    assert body["total_reviews"] == 7
    # due: c1 overdue (Mar 8), c2 at 23:59 today; c3 at 00:00 tomorrow is not today
    assert body["due_today"] == 2
    assert body["overdue"] == 1
    # Mar 4..10: remembered 2, partial 1, forgot 1 -> (2 + 0.5) / 4
    assert body["success_rate_7d"] == 0.625
    # Feb 9..Mar 10: remembered 3, partial 1, forgot 2 -> 3.5 / 6
    assert body["success_rate_30d"] == round(3.5 / 6, 4)
    days = [day["date"] for day in body["reviews_per_day"]]
    assert len(days) == 30
    assert days[0] == "2026-02-09"
    assert days[-1] == "2026-03-10"
    assert series_as_dict(body) == {
        "2026-02-09": (0, 0, 1),
        "2026-03-03": (1, 0, 0),
        "2026-03-04": (1, 0, 0),
        "2026-03-09": (0, 0, 1),
        "2026-03-10": (1, 1, 0),
    }
    # Ladder (BASIC: 1, 3, 7 days): R = 0.9 ** (elapsed / interval of the stage)
    assert body["predicted_retention_now"] == round((0.9 + 0.9 + 0.81 + 1.0 + 0.81) / 5, 4)
    in_a_week = (0.9**8 + 0.9 ** (10 / 3) + 0.9**3 + 0.9**7 + 0.9**9) / 5
    assert body["predicted_retention_in_7d"] == round(in_a_week, 4)
    alpha, beta, gamma = body["categories"]
    # Alpha: remembered (A), partial (B), remembered (D); G is outside the 30 days
    assert alpha == {
        "id": alpha["id"],
        "name": "Alpha",
        "content_count": 2,
        "success_rate": round(2.5 / 3, 4),
    }
    assert beta == {"id": beta["id"], "name": "Beta", "content_count": 1, "success_rate": 0.5}
    assert gamma == {"id": gamma["id"], "name": "Gamma", "content_count": 0, "success_rate": None}
    assert body["forecast_7d"] == [
        {"date": "2026-03-10", "due": 2},
        {"date": "2026-03-11", "due": 1},
        {"date": "2026-03-12", "due": 0},
        {"date": "2026-03-13", "due": 0},
        {"date": "2026-03-14", "due": 0},
        {"date": "2026-03-15", "due": 0},
        {"date": "2026-03-16", "due": 1},
    ]
    assert body["ai_usage_today"] == {
        "date": local_date(timezone.now(), "Asia/Seoul").isoformat(),
        "questions_generated": 3,
        "daily_limit": 30,
        "remaining": 27,
        "tokens_used": 1200,
        "cost_usd": 0.0123,
    }


def test_dashboard_cuts_days_at_los_angeles_midnight_across_daylight_saving_time(client_for) -> None:
    user = make_user(timezone="America/Los_Angeles", tier="FREE")
    content = make_content(user=user, created_at=utc(2026, 2, 1))
    other = make_content(user=user, created_at=utc(2026, 2, 1))
    set_schedule(content, next_review_date=utc(2026, 3, 11, 6, 59))  # 23:59 PDT today
    set_schedule(other, next_review_date=utc(2026, 3, 11, 7, 0))  # 00:00 PDT tomorrow
    review(content, "remembered", utc(2026, 3, 10, 6, 30))  # Mar 9 23:30 PDT (UTC: Mar 10)
    review(content, "partial", utc(2026, 3, 10, 7, 30))  # Mar 10 00:30 PDT
    review(content, "forgot", utc(2026, 3, 9, 6, 30))  # Mar 8 23:30 PDT (the 23-hour day)
    review(content, "remembered", utc(2026, 3, 8, 8, 30))  # Mar 8 00:30 PST
    review(content, "remembered", utc(2026, 3, 8, 7, 30))  # Mar 7 23:30 PST (UTC: Mar 8)

    body = get_dashboard(client_for(user), LA_NOW)

    assert series_as_dict(body) == {
        "2026-03-07": (1, 0, 0),
        "2026-03-08": (1, 0, 1),
        "2026-03-09": (1, 0, 0),
        "2026-03-10": (0, 1, 0),
    }
    assert body["reviews_per_day"][-1]["date"] == "2026-03-10"
    assert body["success_rate_7d"] == round(3.5 / 5, 4)
    assert body["due_today"] == 1
    assert body["overdue"] == 0
    assert body["forecast_7d"][:2] == [{"date": "2026-03-10", "due": 1}, {"date": "2026-03-11", "due": 1}]
    assert body["ai_usage_today"]["daily_limit"] == 0
    assert body["categories"] == []


def test_a_new_user_sees_zeros_and_nulls(client_for) -> None:
    user = make_user()

    response = client_for(user).get("/api/analytics/dashboard/")

    assert response.status_code == 200
    body = response.json()
    assert body["total_content"] == body["total_reviews"] == body["due_today"] == body["overdue"] == 0
    assert body["success_rate_7d"] is None
    assert body["success_rate_30d"] is None
    assert body["predicted_retention_now"] is None
    assert body["predicted_retention_in_7d"] is None
    assert len(body["reviews_per_day"]) == 30
    assert body["reviews_per_day"][-1]["date"] == local_date(timezone.now(), user.timezone).isoformat()
    assert [day["due"] for day in body["forecast_7d"]] == [0] * 7


def test_dashboard_counts_yesterday_2330_local_on_yesterday_with_the_real_clock(client_for) -> None:
    user = make_user(timezone="America/Los_Angeles")
    content = make_content(user=user, created_at=timezone.now() - timedelta(days=5))
    today = local_date(timezone.now(), user.timezone)
    start_of_yesterday = datetime.combine(today - timedelta(days=1), time.min, tzinfo=zone(user.timezone))
    review(content, "remembered", start_of_yesterday + timedelta(hours=23, minutes=30))
    review(content, "forgot", start_of_yesterday - timedelta(hours=23, minutes=30))  # the day before, 00:30

    body = client_for(user).get("/api/analytics/dashboard/").json()

    assert body["reviews_per_day"][-2] == {
        "date": (today - timedelta(days=1)).isoformat(),
        "remembered": 1,
        "partial": 0,
        "forgot": 0,
    }
    assert body["reviews_per_day"][-3]["forgot"] == 1
    assert body["reviews_per_day"][-1]["remembered"] == 0


def test_dashboard_requires_authentication(api_client) -> None:
    response = api_client.get("/api/analytics/dashboard/")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- Snapshots in the series ---------------------------------------------------------------------------


def test_past_days_come_from_final_snapshots_and_today_is_counted_live(seoul_learner) -> None:
    # Snapshots that disagree with the history on purpose: the series must show them as stored.
    make_snapshot(user=seoul_learner, day=date(2026, 2, 20), remembered=5, partial=2, forgot=1)
    make_snapshot(user=seoul_learner, day=date(2026, 3, 3), remembered=0, partial=0, forgot=9)
    # Not usable: a provisional snapshot, one cut in another time zone, and one for today.
    make_snapshot(user=seoul_learner, day=date(2026, 3, 9), remembered=7, is_final=False)
    make_snapshot(user=seoul_learner, day=date(2026, 3, 4), remembered=4, tz_name="UTC")
    make_snapshot(user=seoul_learner, day=date(2026, 3, 10), remembered=8)

    series = services.review_series(user=seoul_learner, now=SEOUL_NOW)

    assert (series[date(2026, 2, 20)].remembered, series[date(2026, 2, 20)].partial) == (5, 2)
    assert series[date(2026, 3, 3)].forgot == 9
    assert series[date(2026, 3, 3)].remembered == 0
    assert (series[date(2026, 3, 9)].remembered, series[date(2026, 3, 9)].forgot) == (0, 1)
    assert series[date(2026, 3, 4)].remembered == 1
    assert (series[date(2026, 3, 10)].remembered, series[date(2026, 3, 10)].partial) == (1, 1)


def test_the_dashboard_is_the_same_before_and_after_the_snapshot_job(seoul_learner) -> None:
    later = SEOUL_NOW + timedelta(days=3)  # some days are final by now, others provisional
    before = services.dashboard(user=seoul_learner, now=later)

    written = services.snapshot_learning_metrics(now=later)
    after = services.dashboard(user=seoul_learner, now=later)

    assert written == 29
    assert after == before


def test_dashboard_query_count_does_not_grow_with_the_data(client_for, seoul_learner) -> None:
    small = make_user(timezone="Asia/Seoul")
    heavy = make_user(timezone="Asia/Seoul", tier="PRO")
    seed_heavy_history(heavy, contents=400, reviews_per_content=10)
    services.snapshot_learning_metrics()

    def counted() -> list[int]:
        counts = []
        for user in (small, heavy):
            client = client_for(user)
            with CaptureQueriesContext(connection) as queries:
                assert client.get("/api/analytics/dashboard/").status_code == 200
            counts.append(len(queries))
        return counts

    from_history = counted()
    learning.build_review_tallies()
    from_tallies = counted()

    # the authentication's user and the dashboard's: with the heavy user's tallies not built, the
    # history's ten (the small user has no history: nothing to count, so the tallies answer)
    assert from_history[0] <= 8 and from_history[1] <= 11
    assert from_tallies[0] == from_tallies[1] <= 8  # none of which reads the history


def test_the_tallied_dashboard_never_reads_the_history(client_for, seoul_learner) -> None:
    learning.rebuild_review_tallies(user_id=seoul_learner.pk, tz_name=seoul_learner.timezone)
    client = client_for(seoul_learner)

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/analytics/dashboard/").status_code == 200

    # The history is touched only by the probe for whether the user has any review (one row, by index).
    walks = [q["sql"] for q in queries.captured_queries if '"learning_reviewhistory"' in q["sql"]]
    assert walks == []


def test_heavy_dashboard_stays_within_the_query_budget(client_for, django_assert_max_num_queries) -> None:
    heavy = make_user(timezone="America/Los_Angeles", tier="PRO")
    seed_heavy_history(heavy, contents=1000, reviews_per_content=10)
    client = client_for(heavy)

    with django_assert_max_num_queries(10):
        response = client.get("/api/analytics/dashboard/")

    assert response.status_code == 200
    assert response.json()["total_reviews"] == 10_000
    assert response.json()["total_content"] == 1000


def seed_heavy_history(user, *, contents: int, reviews_per_content: int) -> None:
    """Bulk rows: ``contents`` contents with schedules and their reviews over the last 60 days."""
    content_model = apps.get_model("learning", "Content")
    now = timezone.now()
    created = content_model.objects.bulk_create(
        [
            content_model(user=user, title=f"note {index}", body="text", created_at=now - timedelta(days=90))
            for index in range(contents)
        ]
    )
    schedule_model().objects.bulk_create(
        [
            schedule_model()(
                content=content,
                user=user,
                stage=index % 5,
                next_review_date=now + timedelta(hours=index % 200 - 50),
                last_reviewed_at=now - timedelta(days=index % 9),
            )
            for index, content in enumerate(created)
        ]
    )
    results = ("remembered", "remembered", "partial", "forgot")
    history_model().objects.bulk_create(
        [
            history_model()(
                user=user,
                content=content,
                result=results[(index + turn) % 4],
                reviewed_at=now - timedelta(hours=1 + (index * 7 + turn * 131) % (60 * 24)),
                stage_before=0,
                stage_after=1,
                interval_days=1,
                retrievability_before=0.8,
            )
            for index, content in enumerate(created)
            for turn in range(reviews_per_content)
        ],
        batch_size=5000,
    )
