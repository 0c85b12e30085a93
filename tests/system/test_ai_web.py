"""AI calls made inside a web request (generate, evaluate, analyze), against gunicorn's own timeout."""

from __future__ import annotations

import time

import pytest

from tests.system.peers import AnthropicServer
from tests.system.stack import running
from tests.system.test_ai_jobs import MATERIAL, PASSWORD, PRO_USER

pytestmark = pytest.mark.system


def test_a_claude_call_longer_than_the_web_timeout_answers_503_and_the_worker_lives(
    stack_factory, record_property
) -> None:
    with AnthropicServer() as anthropic:
        anthropic.delay = 30.0  # a slow model: longer than the web server lets a request run
        # 15 s: a worker's boot (the warm-up imports the SDK: seconds on a loaded machine) also has to
        # fit in gunicorn's timeout, or the arbiter kills the worker before it serves anything
        stack = stack_factory(**anthropic.env(), GUNICORN_TIMEOUT="15")
        with running(stack, worker=False):
            stack.shell(PRO_USER.format(email="slow@example.com", password=PASSWORD))
            access = stack.login("slow@example.com", PASSWORD)
            with stack.client(access, timeout=60) as http:
                content = http.post("/api/content/", json={"title": "Plants", "body": MATERIAL})
                assert content.status_code == 201, content.text
                body = {
                    "content_id": content.json()["id"],
                    "question_types": ["fill_blank"],
                    "difficulty_level": "beginner",
                    "count": 3,
                }
                started = time.monotonic()
                answer = http.post("/api/ai-review/generate/", json=body)
                seconds = time.monotonic() - started
                record_property("seconds until the slow generation was answered", round(seconds, 1))
                assert answer.status_code == 503, answer.text
                assert answer.json()["code"] == "unavailable", answer.text
                assert seconds < 15, seconds  # answered before gunicorn's timeout, not by it
                assert "within the 12 s a request may wait" in answer.json()["detail"]
                usage = http.get("/api/ai-review/usage/").json()
                assert usage["questions_generated"] == 0, usage  # the reservation was given back
        log = stack.web_log.read_text(errors="replace")
        assert "WORKER TIMEOUT" not in log, log[-3000:]
