"""GET /api/analytics/subscriptions/ (admins): per-tier users, activity, reviews, AI use and tier
changes, on a fixture computed by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from modules.ai.testing import make_question, make_request_log, make_usage
from modules.identity import services as identity
from modules.identity.testing import make_admin, make_user
from modules.learning.testing import make_content
from tests.insights.builders import review

pytestmark = pytest.mark.django_db


@pytest.fixture
def population():
    now = timezone.now()
    admin = make_admin()  # BASIC
    free = make_user(tier="FREE")
    basic = make_user(tier="BASIC")
    pro = make_user(tier="PRO")
    lapsed = make_user(tier="PRO")  # expired: counts as FREE everywhere
    apps.get_model("identity", "Subscription").objects.filter(user=lapsed).update(
        expires_at=now - timedelta(days=1)
    )
    upgraded = make_user(tier="FREE")
    identity.change_tier(user=upgraded, tier="BASIC", source="admin")
    downgraded = make_user(tier="PRO")
    identity.change_tier(user=downgraded, tier="FREE", source="admin")
    renewed = make_user(tier="BASIC")
    identity.change_tier(user=renewed, tier="BASIC", source="admin", expires_at=now + timedelta(days=30))
    apps.get_model("identity", "SubscriptionChange").objects.create(
        user=free, from_tier="FREE", to_tier="PRO", changed_at=now - timedelta(days=40)
    )

    def note(user):
        return make_content(user=user, created_at=now - timedelta(days=60))

    basic_note, pro_note, free_note, lapsed_note = note(basic), note(pro), note(free), note(lapsed)
    for days_ago in (1, 2, 6):
        review(basic_note, "remembered", now - timedelta(days=days_ago))
    review(pro_note, "forgot", now - timedelta(days=10))
    review(pro_note, "partial", now - timedelta(days=20))
    review(free_note, "remembered", now - timedelta(days=40))  # outside the 30 days
    review(lapsed_note, "remembered", now - timedelta(hours=1))
    # AI questions count as generated (the quota's usage), not as stored: basic generated 2 and also
    # imported 3 (stored, never generated); pro generated 4 and deleted the content of one since
    make_usage(user=basic, day=(now - timedelta(days=3)).date(), questions=2)
    for _ in range(3):
        make_question(user=basic, content_id=basic_note.pk)
    make_request_log(user=basic, cost_usd="0.01")
    make_request_log(user=basic, cost_usd="0.02")
    make_usage(user=pro, questions=3)
    make_usage(user=pro, day=(now - timedelta(days=12)).date(), questions=1)
    for _ in range(3):
        make_question(user=pro, content_id=pro_note.pk)
    make_request_log(user=pro, cost_usd="0.5")
    make_usage(user=free, day=(now - timedelta(days=45)).date(), questions=1)
    make_question(user=free, content_id=free_note.pk, created_at=now - timedelta(days=45))
    make_request_log(user=free, cost_usd="9", created_at=now - timedelta(days=45))
    return admin


def test_admins_see_users_activity_reviews_ai_and_tier_changes_per_tier(client_for, population) -> None:
    response = client_for(population).get("/api/analytics/subscriptions/")

    assert response.status_code == 200
    body = response.json()
    assert body["window_days"] == 30
    assert body["tiers"] == [
        # free, lapsed (expired PRO), downgraded; lapsed reviewed an hour ago
        {
            "tier": "FREE",
            "users": 3,
            "active_7d": 1,
            "active_30d": 1,
            "reviews_30d": 1,
            "ai_questions_30d": 0,
            "ai_cost_usd_30d": 0.0,
        },
        # the admin, basic, upgraded, renewed; basic reviewed 3 times this week
        {
            "tier": "BASIC",
            "users": 4,
            "active_7d": 1,
            "active_30d": 1,
            "reviews_30d": 3,
            "ai_questions_30d": 2,
            "ai_cost_usd_30d": 0.03,
        },
        # pro reviewed 10 and 20 days ago
        {
            "tier": "PRO",
            "users": 1,
            "active_7d": 0,
            "active_30d": 1,
            "reviews_30d": 2,
            "ai_questions_30d": 4,
            "ai_cost_usd_30d": 0.5,
        },
    ]
    assert body["totals"] == {
        "users": 8,
        "active_7d": 2,
        "active_30d": 3,
        "reviews_30d": 6,
        "ai_questions_30d": 6,
        "ai_cost_usd_30d": 0.53,
    }
    assert body["tier_changes_30d"] == {
        "total": 3,
        "new_accounts": 8,
        "upgrades": 1,
        "downgrades": 1,
        "transitions": [
            {"from_tier": None, "to_tier": "BASIC", "count": 3},
            {"from_tier": None, "to_tier": "FREE", "count": 2},
            {"from_tier": None, "to_tier": "PRO", "count": 3},
            {"from_tier": "BASIC", "to_tier": "BASIC", "count": 1},
            {"from_tier": "FREE", "to_tier": "BASIC", "count": 1},
            {"from_tier": "PRO", "to_tier": "FREE", "count": 1},
        ],
    }


def test_subscription_analytics_query_count_does_not_grow_with_users(
    client_for, population, django_assert_max_num_queries
) -> None:
    for index in range(30):
        user = make_user(tier=("FREE", "BASIC", "PRO")[index % 3])
        review(make_content(user=user), "remembered", timezone.now() - timedelta(days=index % 10))
    client = client_for(population)

    with django_assert_max_num_queries(7):
        response = client.get("/api/analytics/subscriptions/")

    assert response.json()["totals"]["active_30d"] == 33
