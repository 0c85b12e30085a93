"""POST /api/ai-review/generate/ with both providers: answers, quota, tiers, errors."""

from __future__ import annotations

from typing import Any

import pytest

from modules.ai.models import AIQuestion, AIRequestLog, AIUsage
from modules.ai.testing import make_usage
from modules.common.time import local_date
from modules.identity.testing import make_user
from modules.learning.testing import make_content
from tests.ai import fake_anthropic
from tests.ai.paragraphs import PARAGRAPHS

URL = "/api/ai-review/generate/"
ALL_TYPES = ["multiple_choice", "fill_blank", "blur"]

pytestmark = pytest.mark.django_db


def body(content_id: int, **overrides: Any) -> dict[str, Any]:
    return {
        "content_id": content_id,
        "question_types": ALL_TYPES,
        "difficulty_level": "intermediate",
        "count": 6,
    } | overrides


def test_generate_answers_201_with_questions_tokens_and_remaining_quota(
    provider, basic_user, paragraph_contents, client_for
) -> None:
    content = paragraph_contents["photosynthesis"]

    response = client_for(basic_user).post(URL, body(content.pk), content_type="application/json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert set(data) == {"questions", "total_tokens", "remaining_daily_quota"}
    assert len(data["questions"]) == 6
    assert {q["type"] for q in data["questions"]} == set(ALL_TYPES)
    for q in data["questions"]:
        assert {"id", "type", "question", "options", "correct_answer", "explanation", "difficulty"} <= set(q)
        assert {"tokens_used", "generation_time_ms"} <= set(q)
        assert q["difficulty"] == "intermediate"
        if q["type"] == "multiple_choice":
            assert 3 <= len(q["options"]) <= 5 and q["correct_answer"] in q["options"]
        else:
            assert q["options"] == []
    assert data["remaining_daily_quota"] == 30 - 6
    assert sum(q["tokens_used"] for q in data["questions"]) == data["total_tokens"]
    assert AIQuestion.objects.filter(user=basic_user, content=content).count() == 6
    log = AIRequestLog.objects.get()
    assert (log.provider, log.task, log.outcome) == (provider.name, "generate_questions", "ok")
    if provider.name == "claude":
        assert data["total_tokens"] == 1600  # the fake's usage: 1200 in + 400 out
        assert log.cost_usd > 0
    else:
        assert data["total_tokens"] == 0


def test_generated_questions_come_from_the_content_not_from_its_title(
    basic_user, paragraph_contents, client_for, settings
) -> None:
    settings.AI_PROVIDER = "local"
    content = paragraph_contents["double_helix"]

    data = client_for(basic_user).post(URL, body(content.pk, count=9), content_type="application/json").json()

    texts = [q["question"] for q in data["questions"]]
    assert len(set(texts)) == 9
    assert not any(content.title in t for t in texts)
    for q in data["questions"]:
        if q["type"] == "fill_blank":
            sentence = q["question"].removeprefix("Fill in the blank: ").replace("_____", q["correct_answer"])
            assert sentence.strip(" …") in content.body


def test_free_tier_gets_403_tier_required(provider, client_for, db) -> None:
    user = make_user(tier="FREE")
    content = make_content(user=user)

    response = client_for(user).post(URL, body(content.pk), content_type="application/json")

    assert response.status_code == 403
    assert response.json()["code"] == "tier_required"
    assert not AIQuestion.objects.exists()


def test_unverified_user_gets_403_email_not_verified(provider, client_for, db) -> None:
    user = make_user(tier="PRO")
    content = make_content(user=user)
    user.is_email_verified = False
    user.save(update_fields=["is_email_verified"])

    response = client_for(user).post(URL, body(content.pk), content_type="application/json")

    assert response.status_code == 403
    assert response.json()["code"] == "email_not_verified"


def test_another_users_content_is_404(provider, basic_user, client_for) -> None:
    stranger = make_user(tier="PRO")
    theirs = make_content(user=stranger, title="Secret", body=PARAGRAPHS["tls_handshake"][1])

    response = client_for(basic_user).post(URL, body(theirs.pk), content_type="application/json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not AIUsage.objects.filter(user=basic_user, questions_generated__gt=0).exists()


def test_a_request_that_would_pass_the_quota_is_429_and_generates_nothing(
    provider, basic_user, paragraph_contents, client_for
) -> None:
    make_usage(user=basic_user, day=local_date(_now(), basic_user.timezone), questions=27)
    content = paragraph_contents["photosynthesis"]

    response = client_for(basic_user).post(URL, body(content.pk, count=4), content_type="application/json")

    assert response.status_code == 429
    assert response.json()["code"] == "quota_exceeded"
    assert "27 of 30" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0
    assert not AIQuestion.objects.exists()
    assert AIUsage.objects.get(user=basic_user).questions_generated == 27
    if provider.fake is not None:
        assert provider.fake.requests == []  # the provider was never called


def test_the_last_questions_of_the_quota_can_be_generated(
    provider, basic_user, paragraph_contents, client_for
) -> None:
    make_usage(user=basic_user, day=local_date(_now(), basic_user.timezone), questions=27)

    response = client_for(basic_user).post(
        URL, body(paragraph_contents["photosynthesis"].pk, count=3), content_type="application/json"
    )

    assert response.status_code == 201
    assert response.json()["remaining_daily_quota"] == 0


def test_pro_tier_has_a_200_question_day(provider, client_for, db) -> None:
    user = make_user(tier="PRO")
    content = make_content(user=user, title="Photosynthesis", body=PARAGRAPHS["photosynthesis"][1])

    response = client_for(user).post(URL, body(content.pk, count=5), content_type="application/json")

    assert response.json()["remaining_daily_quota"] == 195


@pytest.mark.parametrize(
    "overrides",
    [
        {"count": 0},
        {"count": 11},
        {"question_types": []},
        {"question_types": ["essay"]},
        {"question_types": ["blur", "blur"]},
        {"difficulty_level": "expert"},
        {"is_admin": True},
    ],
)
def test_invalid_bodies_are_422(basic_user, paragraph_contents, client_for, settings, overrides) -> None:
    settings.AI_PROVIDER = "local"
    response = client_for(basic_user).post(
        URL, body(paragraph_contents["photosynthesis"].pk, **overrides), content_type="application/json"
    )

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_anonymous_request_is_401(api_client, db) -> None:
    response = api_client.post(URL, body(1), content_type="application/json")

    assert response.status_code == 401


def test_claude_overloaded_after_retries_is_503_and_costs_no_quota(
    fake_claude, basic_user, paragraph_contents, client_for
) -> None:
    fake_claude.queue = [fake_anthropic.overloaded() for _ in range(3)]  # 1 try + 2 retries

    response = client_for(basic_user).post(
        URL, body(paragraph_contents["photosynthesis"].pk), content_type="application/json"
    )

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert "overloaded" in response.json()["detail"].lower()
    assert len(fake_claude.requests) == 3
    assert AIUsage.objects.get(user=basic_user).questions_generated == 0
    assert not AIQuestion.objects.exists()
    log = AIRequestLog.objects.get()
    assert log.outcome == "error" and "529" in log.error


def test_claude_rate_limit_is_retried_and_then_succeeds(
    fake_claude, basic_user, paragraph_contents, client_for
) -> None:
    fake_claude.queue = [fake_anthropic.rate_limited()]

    response = client_for(basic_user).post(
        URL, body(paragraph_contents["photosynthesis"].pk, count=3), content_type="application/json"
    )

    assert response.status_code == 201
    assert len(fake_claude.requests) == 2
    assert fake_claude.headers[1].get("x-stainless-retry-count") == "1"
    assert response.json()["remaining_daily_quota"] == 27


def test_claude_rate_limited_after_retries_is_503_with_its_retry_after(
    fake_claude, basic_user, paragraph_contents, client_for
) -> None:
    fake_claude.queue = [fake_anthropic.rate_limited() for _ in range(3)]  # 1 try + 2 retries

    response = client_for(basic_user).post(
        URL, body(paragraph_contents["photosynthesis"].pk), content_type="application/json"
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "1"  # what Claude's last answer asked for
    assert AIUsage.objects.get(user=basic_user).questions_generated == 0


def test_claude_malformed_answer_is_503_and_nothing_is_stored(
    fake_claude, basic_user, paragraph_contents, client_for
) -> None:
    bad = {
        "questions": [
            {"type": "multiple_choice", "question": "Which?", "options": ["a", "b"], "correct_answer": "c"}
        ]
    }
    fake_claude.queue = [fake_anthropic.message("record_questions", bad)]

    response = client_for(basic_user).post(
        URL, body(paragraph_contents["photosynthesis"].pk), content_type="application/json"
    )

    assert response.status_code == 503
    assert "did not match the expected shape" in response.json()["detail"]
    assert not AIQuestion.objects.exists()
    assert AIUsage.objects.get(user=basic_user).questions_generated == 0
    log = AIRequestLog.objects.get()
    assert log.outcome == "error" and log.tokens_in == 1200  # the failed call still cost tokens


def test_local_provider_rejects_a_text_too_short_with_422_and_no_charge(
    basic_user, client_for, settings
) -> None:
    settings.AI_PROVIDER = "local"
    content = make_content(user=basic_user, title="Note", body="Buy milk.")

    response = client_for(basic_user).post(URL, body(content.pk), content_type="application/json")

    assert response.status_code == 422
    assert "too short" in response.json()["detail"][0]["msg"]
    assert AIUsage.objects.get(user=basic_user).questions_generated == 0


def test_fewer_questions_than_asked_charge_only_what_was_made(basic_user, client_for, settings) -> None:
    settings.AI_PROVIDER = "local"
    content = make_content(
        user=basic_user,
        title="Mitochondria",
        body="Mitochondria produce most of the chemical energy that powers the biochemical reactions of the cell.",
    )

    data = (
        client_for(basic_user)
        .post(URL, body(content.pk, question_types=["fill_blank"], count=10), content_type="application/json")
        .json()
    )

    made = len(data["questions"])
    assert 1 <= made < 10
    assert data["remaining_daily_quota"] == 30 - made
    assert AIUsage.objects.get(user=basic_user).questions_generated == made


def test_generating_again_asks_new_questions(basic_user, paragraph_contents, client_for, settings) -> None:
    settings.AI_PROVIDER = "local"
    client = client_for(basic_user)
    content_id = paragraph_contents["tls_handshake"].pk

    first = client.post(URL, body(content_id, count=5), content_type="application/json").json()["questions"]
    second = client.post(URL, body(content_id, count=5), content_type="application/json").json()["questions"]

    asked = {(q["question"], q["correct_answer"]) for q in first}
    assert not asked & {(q["question"], q["correct_answer"]) for q in second}


def _now():
    from django.utils import timezone

    return timezone.now()
