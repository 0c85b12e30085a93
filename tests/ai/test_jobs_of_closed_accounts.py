"""A generation job whose learner closes the account ends cleanly: it stops calling the provider,
releases the quota it holds, and an erasure during its run leaves it nothing to trip over."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from modules.ai import services
from modules.ai.models import AIJob, AIQuestion, AIUsage
from modules.ai.services import jobs
from modules.identity import services as identity

pytestmark = pytest.mark.django_db

JOBS = "/api/ai-review/jobs/"


def queue_job(client: Any, ids: list[int]) -> int:
    """Accepted (and its quota reserved) without running: the test runs it."""
    body = {"content_ids": ids, "question_types": ["fill_blank"], "difficulty_level": "beginner", "count": 3}
    answer = client.post(JOBS, body, content_type="application/json")
    assert answer.status_code == 202, answer.content
    return int(answer.json()["id"])


@pytest.fixture
def after_first_call(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], None]], dict[str, int]]:
    """Runs ``then()`` once the provider has answered the job's first content (counting the calls)."""

    def use(then: Callable[[], None]) -> dict[str, int]:
        real, calls = jobs.call_generate, {"n": 0}

        def call_generate(**kwargs: Any) -> Any:
            calls["n"] += 1
            answer = real(**kwargs)
            if calls["n"] == 1:
                then()
            return answer

        monkeypatch.setattr(jobs, "call_generate", call_generate)
        return calls

    return use


def test_a_job_queued_before_the_closure_fails_without_calling_the_provider(
    basic_user, paragraph_contents, client_for, settings, after_first_call
) -> None:
    settings.AI_PROVIDER = "local"
    calls = after_first_call(lambda: None)
    job_id = queue_job(client_for(basic_user), [c.pk for c in paragraph_contents.values()])
    identity.close_account(user=basic_user)

    assert services.run_job(job_id=job_id) == "failed"

    job = AIJob.objects.get(pk=job_id)
    assert "account was closed" in job.error and job.reserved == 0
    assert calls["n"] == 0
    assert AIUsage.objects.get(user=basic_user).questions_generated == 0


def test_a_job_whose_account_closes_while_it_runs_stops_and_releases_the_rest(
    basic_user, paragraph_contents, client_for, settings, after_first_call
) -> None:
    settings.AI_PROVIDER = "local"
    calls = after_first_call(lambda: identity.close_account(user=basic_user))
    job_id = queue_job(client_for(basic_user), [c.pk for c in paragraph_contents.values()])

    assert services.run_job(job_id=job_id) == "failed"

    assert calls["n"] == 1  # no call after the closure
    job = AIJob.objects.get(pk=job_id)
    assert "account was closed" in job.error and job.reserved == 0
    assert AIUsage.objects.get(user=basic_user).questions_generated == AIQuestion.objects.count() == 3


def test_a_job_whose_account_is_erased_while_it_runs_ends_without_an_error(
    basic_user, paragraph_contents, client_for, settings, after_first_call
) -> None:
    settings.AI_PROVIDER = "local"

    def close_and_erase() -> None:
        identity.close_account(user=basic_user)
        assert identity.erase_closed_account(user_id=basic_user.pk) == "erased"

    after_first_call(close_and_erase)
    job_id = queue_job(client_for(basic_user), [c.pk for c in paragraph_contents.values()])

    assert services.run_job(job_id=job_id) == "failed"  # not an exception: nothing left to record

    assert not AIJob.objects.exists() and not AIQuestion.objects.exists()
