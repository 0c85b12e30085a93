"""GET /api/analytics/retention/: observed recall beside the predicted recall, by time since the
previous review, on a fixture computed by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modules.identity.testing import make_user
from modules.insights import services
from modules.insights.services.learner import RETENTION_BUCKETS
from modules.learning import services as learning
from modules.learning.testing import make_content
from tests.insights.builders import review, utc

pytestmark = pytest.mark.django_db

T0 = utc(2026, 1, 1)
DAY = timedelta(days=1)


@pytest.fixture(params=["history", "tallies"])
def learner(request):
    """Ten reviews of three cards; each comment gives the time since the card's previous review
    (or its creation) and the scheduler's prediction recorded with the review. Every test runs twice:
    counted from the history (tallies not built) and from learning's review tallies."""
    user = make_user(timezone="America/Los_Angeles")
    x = make_content(user=user, title="x", created_at=T0)
    y = make_content(user=user, title="y", created_at=T0)
    z = make_content(user=user, title="z", created_at=T0 + 5 * DAY)
    at = T0 + DAY
    review(x, "remembered", at, predicted=0.9)  # 1 day (first review: since creation)
    at += 3 * DAY
    review(x, "partial", at, predicted=0.8)  # 3 days
    at += 3.5 * DAY
    review(x, "forgot", at, predicted=0.5)  # 3.5 days: still "2-3" (rounded to whole days, halves down)
    at += 3.5 * DAY + timedelta(minutes=1)
    review(x, "remembered", at, predicted=0.7)  # a minute past 3.5 days: "4-7"
    review(y, "forgot", T0 + 100 * DAY, predicted=0.2)  # 100 days
    review(y, "remembered", T0 + 100 * DAY + timedelta(hours=20), predicted=None)  # 20 hours, no prediction
    at = T0 + 12 * DAY
    review(z, "forgot", at, predicted=0.7)  # 7 days
    at += 14 * DAY
    review(z, "remembered", at, predicted=0.6)  # 14 days
    at += 30.5 * DAY
    review(z, "remembered", at, predicted=0.5)  # 30.5 days: "15-30"
    at += 31 * DAY
    review(z, "partial", at, predicted=0.4)  # 31 days
    if request.param == "tallies":
        learning.rebuild_review_tallies(user_id=user.pk, tz_name=user.timezone)
    return user


def bucket(label, min_days, max_days, remembered, partial, forgot, observed, predicted, predicted_reviews):
    return {
        "label": label,
        "min_days": min_days,
        "max_days": max_days,
        "reviews": remembered + partial + forgot,
        "remembered": remembered,
        "partial": partial,
        "forgot": forgot,
        "observed_recall": observed,
        "predicted_recall": predicted,
        "predicted_reviews": predicted_reviews,
    }


def test_retention_groups_reviews_by_days_since_the_previous_review(client_for, learner) -> None:
    someone_else = make_user()
    review(make_content(user=someone_else, created_at=T0), "forgot", T0 + DAY, predicted=0.1)

    response = client_for(learner).get("/api/analytics/retention/")

    assert response.status_code == 200
    assert response.json() == {
        "scheduler": "ladder",
        "days": None,
        "total_reviews": 10,
        # remembered 5, partial 2, forgot 3 -> (5 + 1) / 10
        "observed_recall": 0.6,
        # the nine recorded predictions
        "predicted_recall": round((0.9 + 0.8 + 0.5 + 0.7 + 0.7 + 0.6 + 0.5 + 0.4 + 0.2) / 9, 4),
        "buckets": [
            bucket("0-1", 0, 1, 2, 0, 0, 1.0, 0.9, 1),
            bucket("2-3", 2, 3, 0, 1, 1, 0.25, 0.65, 2),
            bucket("4-7", 4, 7, 1, 0, 1, 0.5, 0.7, 2),
            bucket("8-14", 8, 14, 1, 0, 0, 1.0, 0.6, 1),
            bucket("15-30", 15, 30, 1, 0, 0, 1.0, 0.5, 1),
            bucket("31-90", 31, 90, 0, 1, 0, 0.5, 0.4, 1),
            bucket("91+", 91, None, 0, 0, 1, 0.0, 0.2, 1),
        ],
    }


def test_retention_over_the_last_days_measures_from_a_review_before_the_window(learner) -> None:
    # 13:00 PDT on 2026-04-11: y's second review (20 hours after its first, which was on Apr 10 local)
    now = T0 + 100 * DAY + timedelta(hours=20)

    last_two_days = services.retention(user=learner, days=2, now=now)
    today_only = services.retention(user=learner, days=1, now=now)

    assert last_two_days.total_reviews == 2
    assert [b.reviews for b in last_two_days.buckets] == [1, 0, 0, 0, 0, 0, 1]
    assert today_only.total_reviews == 1
    first = today_only.buckets[0]
    assert (first.label, first.remembered, first.predicted_recall) == ("0-1", 1, None)
    assert today_only.observed_recall == 1.0
    assert today_only.predicted_recall is None


def test_retention_without_reviews_answers_empty_buckets(client_for, django_assert_max_num_queries) -> None:
    user = make_user(scheduler="fsrs")
    client = client_for(user)

    with django_assert_max_num_queries(2):
        body = client.get("/api/analytics/retention/?days=30").json()

    assert body["scheduler"] == "fsrs"
    assert body["days"] == 30
    assert body["total_reviews"] == 0
    assert body["observed_recall"] is None
    assert [b["label"] for b in body["buckets"]] == ["0-1", "2-3", "4-7", "8-14", "15-30", "31-90", "91+"]
    assert all(b["reviews"] == 0 and b["observed_recall"] is None for b in body["buckets"])


@pytest.mark.parametrize("days", ["0", "3651", "soon"])
def test_retention_rejects_a_bad_window(client_for, days) -> None:
    response = client_for(make_user()).get(f"/api/analytics/retention/?days={days}")

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_retention_requires_authentication(api_client) -> None:
    assert api_client.get("/api/analytics/retention/").status_code == 401


def test_the_retention_buckets_are_the_tallies_buckets() -> None:
    bounds = tuple(b.max_days + 0.5 for b in RETENTION_BUCKETS if b.max_days is not None)
    assert bounds == learning.ELAPSED_BUCKET_UPPER_DAYS
    assert RETENTION_BUCKETS[-1].max_days is None


def test_retention_query_count_does_not_grow_with_the_history(
    client_for, django_assert_max_num_queries
) -> None:
    small, heavy = make_user(), make_user(tier="PRO")
    for user, cards, reviews in ((small, 1, 1), (heavy, 40, 25)):
        for index in range(cards):
            content = make_content(user=user, title=f"card {index}", created_at=T0)
            for step in range(reviews):
                review(content, "remembered", T0 + (step + 1) * DAY, predicted=0.8)
        learning.rebuild_review_tallies(user_id=user.pk, tz_name=user.timezone)

    for user in (small, heavy):
        client = client_for(user)
        for query in ("", "?days=30", "?days=3650"):
            with django_assert_max_num_queries(2):  # the user, the tallies (header and buckets)
                body = client.get(f"/api/analytics/retention/{query}").json()
        assert body["total_reviews"] == (1 if user is small else 1000)
