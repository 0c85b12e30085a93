"""GET /api/ai-review/questions/ and GET /api/ai-review/usage/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from modules.ai import services
from modules.ai.services.quota import reserve
from modules.ai.testing import make_question, make_usage
from modules.common.errors import QuotaExceeded
from modules.common.time import local_date
from modules.identity.testing import make_user
from modules.learning.testing import make_content

QUESTIONS = "/api/ai-review/questions/"
USAGE = "/api/ai-review/usage/"

pytestmark = pytest.mark.django_db


def test_questions_are_listed_newest_first_with_offset_pagination(basic_user, client_for) -> None:
    content = make_content(user=basic_user)
    made = [make_question(user=basic_user, content_id=content.pk, question=f"Q{i} _____") for i in range(25)]

    page = client_for(basic_user).get(QUESTIONS, {"limit": 10, "offset": 5}).json()

    assert page["count"] == 25
    assert [q["id"] for q in page["items"]] == [q.pk for q in reversed(made)][5:15]
    assert set(page["items"][0]) >= {
        "id",
        "content_id",
        "type",
        "question",
        "options",
        "correct_answer",
        "created_at",
    }


def test_questions_filter_by_content(basic_user, client_for) -> None:
    one, other = make_content(user=basic_user), make_content(user=basic_user, title="Other")
    mine = make_question(user=basic_user, content_id=one.pk)
    make_question(user=basic_user, content_id=other.pk)

    page = client_for(basic_user).get(QUESTIONS, {"content_id": one.pk}).json()

    assert [q["id"] for q in page["items"]] == [mine.pk]


def test_questions_of_other_users_never_show(basic_user, client_for) -> None:
    stranger = make_user()
    theirs = make_content(user=stranger)
    make_question(user=stranger, content_id=theirs.pk)

    page = client_for(basic_user).get(QUESTIONS, {"content_id": theirs.pk}).json()

    assert page == {"items": [], "count": 0}


def test_question_list_uses_a_constant_number_of_queries(
    basic_user, client_for, django_assert_max_num_queries
) -> None:
    content = make_content(user=basic_user)
    client = client_for(basic_user)
    for i in range(3):
        make_question(user=basic_user, content_id=content.pk, question=f"Q{i}")
    with django_assert_max_num_queries(3) as few:
        client.get(QUESTIONS)
    for i in range(40):
        make_question(user=basic_user, content_id=content.pk, question=f"More {i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(QUESTIONS, {"limit": 50})
    assert len(response.json()["items"]) == 43 and response.status_code == 200


def test_question_list_rejects_a_limit_over_100(basic_user, client_for) -> None:
    assert client_for(basic_user).get(QUESTIONS, {"limit": 101}).status_code == 422


def test_usage_reports_today_for_the_user_local_day(client_for, db) -> None:
    user = make_user(tier="BASIC", timezone="Pacific/Auckland")
    today = local_date(timezone.now(), "Pacific/Auckland")
    make_usage(user=user, day=today, questions=12, tokens=3400, cost_usd="0.0421")
    make_usage(user=user, day=today - timedelta(days=1), questions=30)

    data = client_for(user).get(USAGE).json()

    assert data == {
        "date": today.isoformat(),
        "questions_generated": 12,
        "daily_limit": 30,
        "remaining": 18,
        "tokens_used": 3400,
        "cost_usd": 0.0421,
    }


def test_free_user_sees_a_zero_limit(client_for, db) -> None:
    user = make_user(tier="FREE")

    data = client_for(user).get(USAGE).json()

    assert (data["daily_limit"], data["remaining"], data["questions_generated"]) == (0, 0, 0)


def test_quota_resets_at_the_users_local_midnight(db) -> None:
    user = make_user(tier="BASIC", timezone="America/New_York")
    # 23:30 in New York on 1 March is already 2 March in UTC; the quota still counts 1 March.
    before_midnight = datetime(2026, 3, 2, 4, 30, tzinfo=UTC)
    after_midnight = before_midnight + timedelta(hours=1)
    reserve(user=user, limit=30, count=30, now=before_midnight)

    with pytest.raises(QuotaExceeded):
        reserve(user=user, limit=30, count=1, now=before_midnight)
    reserve(user=user, limit=30, count=1, now=after_midnight)

    days = dict(user.ai_usage.values_list("date", "questions_generated"))
    assert days == {datetime(2026, 3, 1).date(): 30, datetime(2026, 3, 2).date(): 1}


def test_usage_today_dto_for_insights(db) -> None:
    user = make_user(tier="PRO")
    make_usage(
        user=user,
        day=local_date(timezone.now(), user.timezone),
        questions=5,
        tokens=10,
        cost_usd=Decimal("0.5"),
    )

    usage = services.usage_today(user=user)

    assert (
        usage.questions_generated,
        usage.daily_limit,
        usage.remaining,
        usage.tokens_used,
        usage.cost_usd,
    ) == (
        5,
        200,
        195,
        10,
        0.5,
    )
