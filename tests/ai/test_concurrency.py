"""Parallel generate requests by one user never pass the daily quota (real PostgreSQL, one connection
per thread, real commits)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from modules.ai.models import AIQuestion, AIUsage
from modules.ai.testing import make_usage
from modules.common.time import local_date
from modules.identity.testing import auth_headers, make_user
from modules.learning.testing import make_content
from tests.ai.conftest import PARAGRAPHS

URL = "/api/ai-review/generate/"


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_generates_near_the_quota_never_pass_30_questions(settings: Any) -> None:
    settings.AI_PROVIDER = "local"
    user = make_user(tier="BASIC")
    title, body = PARAGRAPHS["photosynthesis"]
    content = make_content(user=user, title=title, body=body)
    make_usage(user=user, day=local_date(timezone.now(), user.timezone), questions=18)  # 12 left
    headers = auth_headers(user)
    start = threading.Barrier(10)
    statuses: list[int] = []
    lock = threading.Lock()

    def generate() -> None:
        try:
            client = Client(headers=headers)
            start.wait()
            response = client.post(
                URL,
                {
                    "content_id": content.pk,
                    "question_types": ["fill_blank", "multiple_choice"],
                    "difficulty_level": "intermediate",
                    "count": 5,
                },
                content_type="application/json",
            )
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=generate) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [201, 201] + [429] * 8  # 12 left: two requests of 5 fit, a third does not
    usage = AIUsage.objects.get(user=user)
    made = AIQuestion.objects.filter(user=user).count()
    assert usage.questions_generated == 18 + made <= 30
    assert made == 10
