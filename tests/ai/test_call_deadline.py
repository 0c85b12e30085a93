"""Claude calls end within a deadline: a web request's (``AI_SYNC_TIMEOUT_SECONDS``, below gunicorn's
own timeout) and a job task's (``Q_TIMEOUT`` less a margin), retries and their waits included."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import checks

from modules.ai.models import AIJob, AIQuestion, AIUsage
from modules.ai.providers.base import call_deadline, current_deadline
from modules.ai.services.jobs import task_budget_seconds
from modules.ai.testing import make_question
from tests.ai import fake_anthropic
from tests.ai.test_generate_api import URL as GENERATE
from tests.ai.test_generate_api import body
from tests.ai.test_jobs_api import JOBS, job_body

pytestmark = pytest.mark.django_db

ANALYZE = "/api/ai-review/analyze/"
EVALUATE = "/api/ai-review/evaluate/"


@pytest.fixture
def waiting_budget(settings: Any, fake_claude: Any) -> Any:
    """Claude (the fake) with a 4 s budget for calls made while the user waits; 5 s per attempt."""
    settings.AI_SYNC_TIMEOUT_SECONDS = 4.0
    return fake_claude


def _sync_calls(user: Any, content: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    question = make_question(user=user, content_id=content.pk)
    return {
        "generate": (GENERATE, body(content.pk, count=3)),
        "analyze": (ANALYZE, {"content_id": content.pk}),
        "evaluate": (EVALUATE, {"question_id": question.pk, "answer": "the sugar store"}),
    }


@pytest.mark.parametrize("route", ["generate", "analyze", "evaluate"])
def test_a_call_made_while_the_user_waits_may_take_only_the_requests_budget(
    route, waiting_budget, basic_user, paragraph_contents, client_for
) -> None:
    path, payload = _sync_calls(basic_user, paragraph_contents["photosynthesis"])[route]

    answer = client_for(basic_user).post(path, payload, content_type="application/json")

    assert answer.status_code in {200, 201}, answer.content
    assert len(waiting_budget.timeouts) == 1
    assert 2.0 < waiting_budget.timeouts[0] <= 4.0  # what was left of 4 s, not AI_REQUEST_TIMEOUT's 5


@pytest.mark.parametrize("route", ["generate", "analyze", "evaluate"])
def test_a_slow_claude_answers_503_within_the_budget_naming_it(
    route, waiting_budget, basic_user, paragraph_contents, client_for
) -> None:
    path, payload = _sync_calls(basic_user, paragraph_contents["photosynthesis"])[route]
    waiting_budget.slow = 6.0  # longer than the 4 s budget
    questions = AIQuestion.objects.count()

    answer = client_for(basic_user).post(path, payload, content_type="application/json")

    assert answer.status_code == 503, answer.content
    assert answer.json()["code"] == "unavailable"
    assert "did not answer within the 4 s a request may wait" in answer.json()["detail"]
    assert len(waiting_budget.requests) == 1  # nothing was left for a retry
    assert _questions_charged(basic_user) == 0
    assert AIQuestion.objects.count() == questions


def test_generation_that_runs_out_of_time_points_to_jobs(
    waiting_budget, basic_user, paragraph_contents, client_for
) -> None:
    waiting_budget.slow = 6.0

    answer = client_for(basic_user).post(
        GENERATE, body(paragraph_contents["photosynthesis"].pk), content_type="application/json"
    )

    assert answer.status_code == 503
    assert "a generation job has no such limit" in answer.json()["detail"]


def test_an_overloaded_claude_is_retried_when_the_wait_fits_the_budget(
    waiting_budget, basic_user, paragraph_contents, client_for
) -> None:
    waiting_budget.queue = [fake_anthropic.overloaded()]  # no retry-after: the SDK's 0.5 s backoff

    answer = client_for(basic_user).post(
        GENERATE, body(paragraph_contents["photosynthesis"].pk, count=3), content_type="application/json"
    )

    assert answer.status_code == 201, answer.content
    assert len(waiting_budget.requests) == 2
    assert [h["x-stainless-retry-count"] for h in waiting_budget.headers] == ["0", "1"]
    assert waiting_budget.timeouts[1] < waiting_budget.timeouts[0]  # the retry gets what is left


def test_a_retry_whose_wait_does_not_fit_the_budget_is_not_made(
    waiting_budget, basic_user, paragraph_contents, client_for
) -> None:
    waiting_budget.queue = [
        fake_anthropic.error(429, "rate_limit_error", "Slow down", retry_after="30"),
    ]

    answer = client_for(basic_user).post(
        GENERATE, body(paragraph_contents["photosynthesis"].pk, count=3), content_type="application/json"
    )

    assert answer.status_code == 503
    assert "rate limiting" in answer.json()["detail"] and "after 0 retries" in answer.json()["detail"]
    assert answer["Retry-After"] == "30"  # Claude's own hint, passed on
    assert len(waiting_budget.requests) == 1
    assert _questions_charged(basic_user) == 0


def test_without_a_deadline_the_sdk_retries_and_times_out_as_configured(fake_claude) -> None:
    """A call outside any deadline (a shell, a script) keeps the SDK's own retries and timeout."""
    from modules.ai.providers.base import Material
    from modules.ai.providers.registry import get_provider

    assert current_deadline() is None
    fake_claude.queue = [fake_anthropic.overloaded()]

    get_provider().analyze_content(Material(title="Plants", body="Plants make sugar from light. " * 5))

    assert len(fake_claude.requests) == 2
    assert fake_claude.timeouts == [5.0, 5.0]


def test_call_deadline_is_scoped_to_its_block() -> None:
    with call_deadline(3.0, "a test has") as deadline:
        assert current_deadline() is deadline
        assert 2.5 < deadline.left() <= 3.0
        with call_deadline(1.0, "an inner block has") as inner:
            assert current_deadline() is inner
        assert current_deadline() is deadline
    assert current_deadline() is None


def _questions_charged(user: Any) -> int:
    return sum(AIUsage.objects.filter(user=user).values_list("questions_generated", flat=True))


# --- jobs: every call ends before the worker's alarm ----------------------------------------------


def test_a_job_task_gives_its_calls_what_is_left_of_q_timeout(
    fake_claude, basic_user, paragraph_contents, client_for, settings, django_capture_on_commit_callbacks
) -> None:
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 20}
    settings.AI_REQUEST_TIMEOUT = 60.0  # longer than the task may run
    ids = [c.pk for c in paragraph_contents.values()]

    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(basic_user).post(JOBS, job_body(ids), content_type="application/json")

    assert answer.status_code == 202
    assert task_budget_seconds() == 18.0  # 20 s less a tenth, at least a second
    assert len(fake_claude.timeouts) == 3
    assert all(16.0 < timeout <= 18.0 for timeout in fake_claude.timeouts), fake_claude.timeouts


def test_a_call_that_runs_out_of_the_tasks_time_after_a_settled_content_goes_on_in_a_new_task(
    fake_claude,
    basic_user,
    paragraph_contents,
    client_for,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    # 6 s of Q_TIMEOUT: 5 s for calls; each call takes 2.2 s, so a task settles two contents at most and
    # the third has too little left (under the shortest attempt, or less than the call takes): it goes
    # to a new task (run inline here), which has a whole task's time for it
    from modules.ai import tasks

    ran: list[int] = []
    real = tasks.run_generation_job
    monkeypatch.setattr(tasks, "run_generation_job", lambda job_id: (ran.append(job_id), real(job_id))[1])
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 6}
    settings.AI_JOB_SLICE_SECONDS = 100.0  # the slice alone would not end the task
    fake_claude.slow = 2.2
    ids = [c.pk for c in paragraph_contents.values()]

    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(basic_user).post(JOBS, job_body(ids), content_type="application/json")

    job = client_for(basic_user).get(f"{JOBS}{answer.json()['id']}/").json()
    assert (job["status"], job["error"]) == ("done", "")
    assert sorted(q["content_id"] for q in job["questions"]) == sorted(ids * 3)  # each content once
    assert len(ran) >= 2  # the job went on in a new task instead of failing
    assert AIJob.objects.get().reserved == 0


def test_a_call_that_runs_out_of_a_whole_tasks_time_fails_the_job_with_claudes_timeout(
    fake_claude, basic_user, paragraph_contents, client_for, settings, django_capture_on_commit_callbacks
) -> None:
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 4}  # 3 s for calls
    settings.AI_MAX_RETRIES = 0
    fake_claude.slow = 10.0
    ids = [paragraph_contents["photosynthesis"].pk]

    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(basic_user).post(JOBS, job_body(ids), content_type="application/json")

    job = client_for(basic_user).get(f"{JOBS}{answer.json()['id']}/").json()
    assert job["status"] == "failed"
    assert re.search(r"did not answer within the [0-3] s left to the worker's task", job["error"]), job[
        "error"
    ]
    assert len(fake_claude.requests) <= 1
    assert "released" in job["error"]
    assert _questions_charged(basic_user) == 0
    assert AIJob.objects.get().reserved == 0


# --- the startup check ----------------------------------------------------------------------------


def test_a_sync_budget_not_below_the_web_servers_timeout_is_a_startup_warning(settings) -> None:
    from modules.ai.checks import sync_call_timing

    assert sync_call_timing() == []  # the defaults: 80% of GUNICORN_TIMEOUT
    settings.AI_SYNC_TIMEOUT_SECONDS = settings.GUNICORN_TIMEOUT
    found = sync_call_timing()
    assert [message.id for message in found] == ["ai.W001"]
    assert isinstance(found[0], checks.Warning)
    assert "ai.W001" in {message.id for message in checks.run_checks()}
