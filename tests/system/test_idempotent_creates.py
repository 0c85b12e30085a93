"""Retries racing through the deployed processes (gunicorn's two workers, PostgreSQL): creating
requests sent at once with one Idempotency-Key, each on its own connection (either worker), create
once (a content, a generation and its charge, an export job and its task). Checked from outside: the answers over HTTP, the rows through ``manage.py shell``."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.ai.paragraphs import PARAGRAPHS
from tests.system.stack import running

pytestmark = pytest.mark.system

PASSWORD = "a-long-passphrase-1"
LEARNER = """
from modules.identity.testing import make_user
make_user(email={email!r}, password={password!r}, tier="PRO")
"""
COUNTS = """
import json
from modules.ai.models import AIQuestion, AIUsage
from modules.identity.models import User
from modules.learning.models import Content
from modules.portability.models import ExportJob
from django_q.models import OrmQ
user = User.objects.get(email={email!r})
print(json.dumps({{
    "contents": Content.objects.filter(user=user).count(),
    "exports": ExportJob.objects.filter(user=user).count(),
    "export_tasks": sum(1 for task in OrmQ.objects.all() if task.name().startswith("run_export")),
    "questions": AIQuestion.objects.filter(user=user).count(),
    "charged": sum(AIUsage.objects.filter(user=user).values_list("questions_generated", flat=True)),
}}))
"""
RACERS = 8


def test_racing_retries_with_one_key_create_once_across_workers(stack_factory) -> None:
    stack = stack_factory()
    email = f"retry-{uuid.uuid4().hex[:6]}@example.com"
    stack.shell(LEARNER.format(email=email, password=PASSWORD))
    with running(stack, worker=False):
        access = stack.login(email, PASSWORD)

        def post(path: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
            with stack.client(access) as http:  # a connection of its own: either worker answers
                answer = http.post(path, json=body, headers={"Idempotency-Key": key})
                return answer.status_code, answer.json()

        def race(path: str, body: dict[str, Any]) -> list[tuple[int, Any]]:
            key = uuid.uuid4().hex
            with ThreadPoolExecutor(RACERS) as pool:
                return list(pool.map(lambda _: post(path, body, key), range(RACERS)))

        title, body = PARAGRAPHS["photosynthesis"]
        created = race("/api/content/", {"title": title, "body": body})
        assert {status for status, _ in created} == {201}, created
        assert len({answer["id"] for _, answer in created}) == 1

        content_id = created[0][1]["id"]
        generated = race(
            "/api/ai-review/generate/",
            {
                "content_id": content_id,
                "question_types": ["fill_blank"],
                "difficulty_level": "beginner",
                "count": 2,
            },
        )
        # the first generation runs; a retry during it answers 409, one after it the same questions
        assert {status for status, _ in generated} <= {201, 409}, generated
        first = [answer for status, answer in generated if status == 201]
        assert first, generated
        assert all(answer == first[0] for answer in first)

        exported = race("/api/portability/exports/", {"format": "json"})
        assert {status for status, _ in exported} == {202}, exported
        assert len({answer["id"] for _, answer in exported}) == 1

        counts = json.loads(stack.shell(COUNTS.format(email=email)).strip().splitlines()[-1])
    assert counts == {
        "contents": 1,
        "exports": 1,
        "export_tasks": 1,
        "questions": len(first[0]["questions"]),
        "charged": 2,
    }
    assert "Traceback" not in stack.web_log.read_text()
