"""A content deleted while its questions are being generated: a clean 404 (or a skipped job item).

The provider call is slow (seconds with Claude) and runs outside any transaction, so a user can
delete the content meanwhile. The questions' insert then failed the foreign key at commit: a 500 on
the generate request (or on the delete), and a crashed job. ``hold_content`` (learning) now checks
and holds the content in the transaction that stores the questions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection

from modules.ai.models import AIJob, AIQuestion, AIRequestLog, AIUsage
from modules.ai.providers.local.provider import LocalProvider
from modules.learning import services as learning
from modules.learning.testing import make_content

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="deferred foreign keys need PostgreSQL"),
]

BODY = (
    "Photosynthesis converts light energy into chemical energy. Chlorophyll in the chloroplasts absorbs "
    "red and blue light. Water is split and oxygen is released. Carbon dioxide is fixed in the Calvin "
    "cycle into glucose, which stores the energy for the plant."
)


@dataclass
class LosingProvider:
    """The local provider, deleting (and committing the deletion of) the armed contents mid-call."""

    armed: list[tuple[Any, int]] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)

    def arm(self, content: Any) -> None:
        self.armed.append((content.user, content.pk))

    def lose_armed(self) -> None:
        while self.armed:
            user, content_id = self.armed.pop()
            learning.delete_content(user=user, content_id=content_id)
            self.deleted.append(content_id)


@pytest.fixture
def losing_provider(monkeypatch: pytest.MonkeyPatch, settings: Any) -> LosingProvider:
    settings.AI_PROVIDER = "local"
    losing = LosingProvider()
    generate = LocalProvider.generate_questions

    def generate_then_lose_the_content(self: LocalProvider, request: Any) -> Any:
        result = generate(self, request)
        losing.lose_armed()
        return result

    monkeypatch.setattr(LocalProvider, "generate_questions", generate_then_lose_the_content)
    return losing


def test_generating_on_a_content_deleted_meanwhile_is_404_and_costs_no_quota(
    basic_user, client_for, losing_provider
) -> None:
    content = make_content(user=basic_user, title="Photosynthesis", body=BODY)
    losing_provider.arm(content)

    response = client_for(basic_user).post(
        "/api/ai-review/generate/",
        {
            "content_id": content.pk,
            "question_types": ["fill_blank"],
            "difficulty_level": "beginner",
            "count": 2,
        },
        content_type="application/json",
    )

    assert losing_provider.deleted == [content.pk]
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Content not found.", "code": "not_found"}
    assert not AIQuestion.objects.exists()
    assert AIUsage.objects.get(user=basic_user).questions_generated == 0
    assert AIRequestLog.objects.filter(task="generate_questions").count() == 1  # the call itself happened


def test_a_job_skips_a_content_deleted_during_its_generation(basic_user, client_for, losing_provider) -> None:
    kept = make_content(user=basic_user, title="Photosynthesis", body=BODY)
    lost = make_content(user=basic_user, title="Photosynthesis again", body=BODY)
    losing_provider.arm(lost)
    body = {
        "content_ids": [lost.pk, kept.pk],
        "question_types": ["fill_blank"],
        "difficulty_level": "beginner",
        "count": 2,
    }

    response = client_for(basic_user).post("/api/ai-review/jobs/", body, content_type="application/json")

    assert response.status_code == 202, response.content
    job = AIJob.objects.get()
    assert job.status == "done"
    assert "was deleted during generation" in job.error
    assert set(AIQuestion.objects.values_list("content_id", flat=True)) == {kept.pk}
    assert AIUsage.objects.get(user=basic_user).questions_generated == 2
    assert job.reserved == 0
