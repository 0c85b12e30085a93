"""Parallel generate requests by one user never pass the daily quota (real PostgreSQL, one connection
per thread, real commits)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from modules.ai.models import AIQuestion, AIUsage
from modules.ai.testing import make_usage
from modules.common.time import local_date
from modules.identity.testing import auth_headers, make_user
from modules.learning.testing import make_content
from tests.ai.paragraphs import PARAGRAPHS
from tests.concurrency import run_together

URL = "/api/ai-review/generate/"


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_generates_near_the_quota_never_pass_30_questions(settings: Any) -> None:
    settings.AI_PROVIDER = "local"
    user = make_user(tier="BASIC")
    title, body = PARAGRAPHS["photosynthesis"]
    content = make_content(user=user, title=title, body=body)
    make_usage(user=user, day=local_date(timezone.now(), user.timezone), questions=18)  # 12 left
    headers = auth_headers(user)

    def generate(_: int) -> int:
        response = Client(headers=headers).post(
            URL,
            {
                "content_id": content.pk,
                "question_types": ["fill_blank", "multiple_choice"],
                "difficulty_level": "intermediate",
                "count": 5,
            },
            content_type="application/json",
        )
        return response.status_code

    statuses = run_together(generate, 10, timeout=60)

    assert sorted(statuses) == [201, 201] + [429] * 8  # 12 left: two requests of 5 fit, a third does not
    usage = AIUsage.objects.get(user=user)
    made = AIQuestion.objects.filter(user=user).count()
    assert usage.questions_generated == 18 + made <= 30
    assert made == 10
