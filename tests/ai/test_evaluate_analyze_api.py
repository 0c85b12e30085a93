"""POST /api/ai-review/evaluate/ and /api/ai-review/analyze/ with both providers."""

from __future__ import annotations

import pytest

from modules.ai.models import AIRequestLog, AIUsage
from modules.ai.testing import make_question
from modules.identity.testing import make_user
from modules.learning.testing import make_content
from tests.ai import fake_anthropic

EVALUATE = "/api/ai-review/evaluate/"
ANALYZE = "/api/ai-review/analyze/"

pytestmark = pytest.mark.django_db


def fill_blank_question(user, content):
    return make_question(
        user=user,
        content_id=content.pk,
        type="fill_blank",
        question="Fill in the blank: In the second stage, the _____, which runs in the stroma, fixes carbon.",
        correct_answer="Calvin cycle",
        explanation="The text says: “In the second stage, the Calvin cycle, which runs in the stroma…”",
    )


def test_exact_answer_is_correct_with_full_score(
    provider, basic_user, paragraph_contents, client_for
) -> None:
    question = fill_blank_question(basic_user, paragraph_contents["photosynthesis"])

    response = client_for(basic_user).post(
        EVALUATE, {"question_id": question.pk, "answer": "the Calvin cycle"}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json() == {"is_correct": True, "score": 1.0, "feedback": "Correct: “Calvin cycle”."}
    if provider.fake is not None:
        assert provider.fake.requests == []  # an exact answer needs no model call


def test_near_answer_is_graded_by_the_provider(provider, basic_user, paragraph_contents, client_for) -> None:
    question = fill_blank_question(basic_user, paragraph_contents["photosynthesis"])

    data = (
        client_for(basic_user)
        .post(
            EVALUATE, {"question_id": question.pk, "answer": "Calvin cylce"}, content_type="application/json"
        )
        .json()
    )

    assert data["is_correct"] is True
    assert 0.8 <= data["score"] < 1.0
    assert data["feedback"]
    log = AIRequestLog.objects.get(task="evaluate_answer")
    assert log.provider == provider.name
    if provider.fake is not None:
        assert len(provider.fake.requests) == 1
        sent = provider.fake.requests[0]["messages"][0]["content"]
        assert "<learner_answer>\nCalvin cylce\n</learner_answer>" in sent
        assert AIUsage.objects.get(user=basic_user).tokens_used == 460


def test_wrong_answer_is_incorrect_with_the_expected_answer_in_feedback(
    basic_user, paragraph_contents, client_for, settings
) -> None:
    settings.AI_PROVIDER = "local"
    question = fill_blank_question(basic_user, paragraph_contents["photosynthesis"])

    data = (
        client_for(basic_user)
        .post(
            EVALUATE, {"question_id": question.pk, "answer": "Krebs cycle"}, content_type="application/json"
        )
        .json()
    )

    assert data["is_correct"] is False
    assert data["score"] < 0.5
    assert "Calvin cycle" in data["feedback"]


def test_multiple_choice_is_graded_without_a_model_call(
    provider, basic_user, paragraph_contents, client_for
) -> None:
    question = make_question(
        user=basic_user,
        content_id=paragraph_contents["double_helix"].pk,
        type="multiple_choice",
        question="Which term does the text describe as “a double helix”?",
        options=["ATP", "DNA", "TLS"],
        correct_answer="DNA",
    )

    right = client_for(basic_user).post(
        EVALUATE, {"question_id": question.pk, "answer": "b"}, content_type="application/json"
    )
    wrong = client_for(basic_user).post(
        EVALUATE, {"question_id": question.pk, "answer": "ATP"}, content_type="application/json"
    )

    assert right.json()["is_correct"] is True
    assert wrong.json() | {"feedback": ""} == {"is_correct": False, "score": 0.0, "feedback": ""}
    assert "DNA" in wrong.json()["feedback"]
    if provider.fake is not None:
        assert provider.fake.requests == []


def test_another_users_question_is_404(provider, basic_user, client_for) -> None:
    stranger = make_user(tier="PRO")
    question = fill_blank_question(stranger, make_content(user=stranger))

    response = client_for(basic_user).post(
        EVALUATE, {"question_id": question.pk, "answer": "x"}, content_type="application/json"
    )

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_free_tier_cannot_evaluate_or_analyze(client_for, db, settings) -> None:
    settings.AI_PROVIDER = "local"
    user = make_user(tier="FREE")
    content = make_content(user=user)
    question = fill_blank_question(user, content)

    evaluate = client_for(user).post(
        EVALUATE, {"question_id": question.pk, "answer": "x"}, content_type="application/json"
    )
    analyze = client_for(user).post(ANALYZE, {"content_id": content.pk}, content_type="application/json")

    assert (evaluate.status_code, evaluate.json()["code"]) == (403, "tier_required")
    assert (analyze.status_code, analyze.json()["code"]) == (403, "tier_required")


def test_evaluate_rejects_unknown_fields(basic_user, client_for) -> None:
    response = client_for(basic_user).post(
        EVALUATE, {"question_id": 1, "answer": "x", "score": 1}, content_type="application/json"
    )

    assert response.status_code == 422


def test_analyze_answers_difficulty_concepts_summary_and_minutes(
    provider, basic_user, paragraph_contents, client_for
) -> None:
    content = paragraph_contents["photosynthesis"]

    response = client_for(basic_user).post(
        ANALYZE, {"content_id": content.pk}, content_type="application/json"
    )

    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"difficulty", "key_concepts", "summary", "estimated_study_minutes"}
    assert data["difficulty"] in {"beginner", "intermediate", "advanced"}
    assert "photosynthesis" in [c.lower() for c in data["key_concepts"]]
    assert data["summary"]
    assert 1 <= data["estimated_study_minutes"] <= 30
    assert AIRequestLog.objects.get(task="analyze_content").provider == provider.name


def test_analysis_of_an_unchanged_text_is_served_from_the_cache(
    fake_claude, basic_user, paragraph_contents, client_for
) -> None:
    client = client_for(basic_user)
    content_id = paragraph_contents["photosynthesis"].pk

    first = client.post(ANALYZE, {"content_id": content_id}, content_type="application/json").json()
    second = client.post(ANALYZE, {"content_id": content_id}, content_type="application/json").json()

    assert first == second
    assert len(fake_claude.requests) == 1


def test_the_analysis_cache_is_not_shared_between_users(
    fake_claude, basic_user, paragraph_contents, client_for
) -> None:
    """Another user's analysis of the very same text is not served: its speed and cost would tell
    that someone had analysed that text."""
    other = make_user(tier="BASIC")
    mine = paragraph_contents["photosynthesis"]
    theirs = make_content(user=other, title=mine.title, body=mine.body)

    client_for(basic_user).post(ANALYZE, {"content_id": mine.pk}, content_type="application/json")
    answer = client_for(other).post(ANALYZE, {"content_id": theirs.pk}, content_type="application/json")

    assert answer.status_code == 200
    assert len(fake_claude.requests) == 2
    assert AIRequestLog.objects.filter(user=other, task="analyze_content").count() == 1


def test_analyze_another_users_content_is_404(provider, basic_user, client_for) -> None:
    stranger = make_user(tier="PRO")

    response = client_for(basic_user).post(
        ANALYZE, {"content_id": make_content(user=stranger).pk}, content_type="application/json"
    )

    assert response.status_code == 404


def test_analyze_when_claude_is_down_is_503(fake_claude, basic_user, paragraph_contents, client_for) -> None:
    fake_claude.queue = [fake_anthropic.error(500, "api_error", "Internal server error") for _ in range(3)]

    response = client_for(basic_user).post(
        ANALYZE, {"content_id": paragraph_contents["tls_handshake"].pk}, content_type="application/json"
    )

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert AIRequestLog.objects.get().outcome == "error"
