"""Generations and jobs with an Idempotency-Key are made, and charged, once: a retry answers the first
result, a retry racing the first answers 409 while it runs, a failed request frees its key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from modules.ai.models import AIJob, AIQuestion, AIRequestKey, AIUsage
from modules.ai.services import prune_request_keys
from modules.identity.testing import auth_headers, make_user
from modules.learning.testing import make_content
from tests.ai import fake_anthropic
from tests.ai.paragraphs import PARAGRAPHS
from tests.concurrency import run_together

GENERATE = "/api/ai-review/generate/"
JOBS = "/api/ai-review/jobs/"


def _body(content_id: int, count: int = 3) -> dict[str, Any]:
    return {
        "content_id": content_id,
        "question_types": ["multiple_choice", "fill_blank"],
        "difficulty_level": "intermediate",
        "count": count,
    }


def _post(client: Client, url: str, body: dict[str, Any], key: str | None) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(url, body, content_type="application/json", headers=headers)


def _charged(user: Any) -> int:
    return sum(AIUsage.objects.filter(user=user).values_list("questions_generated", flat=True))


@pytest.mark.django_db
def test_a_retried_generation_is_generated_and_charged_once(
    fake_claude, basic_user, paragraph_contents, client_for
) -> None:
    client = client_for(basic_user)
    content = paragraph_contents["photosynthesis"]

    first = _post(client, GENERATE, _body(content.pk), "gen-1")
    second = _post(client, GENERATE, _body(content.pk), "gen-1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert len(first.json()["questions"]) == 3
    assert len(fake_claude.requests) == 1
    assert AIQuestion.objects.filter(user=basic_user).count() == 3
    assert _charged(basic_user) == 3
    again = _post(client, GENERATE, _body(content.pk), "gen-2")
    assert again.status_code == 201
    assert _charged(basic_user) == 6


@pytest.mark.django_db
def test_the_key_with_another_request_is_a_conflict(
    basic_user, paragraph_contents, client_for, settings
) -> None:
    settings.AI_PROVIDER = "local"
    client = client_for(basic_user)
    content = paragraph_contents["photosynthesis"]
    _post(client, GENERATE, _body(content.pk, count=2), "gen-1")

    other = _post(client, GENERATE, _body(content.pk, count=4), "gen-1")

    assert other.status_code == 409
    assert other.json()["code"] == "conflict"
    assert _charged(basic_user) == 2


@pytest.mark.django_db
def test_a_failed_generation_frees_its_key_and_charges_nothing(
    fake_claude, basic_user, paragraph_contents, client_for
) -> None:
    client = client_for(basic_user)
    content = paragraph_contents["photosynthesis"]
    fake_claude.queue = [fake_anthropic.overloaded() for _ in range(3)]  # 1 try + 2 retries

    failed = _post(client, GENERATE, _body(content.pk), "gen-1")
    assert failed.status_code == 503
    assert not AIRequestKey.objects.exists()
    assert _charged(basic_user) == 0

    retried = _post(client, GENERATE, _body(content.pk), "gen-1")
    assert retried.status_code == 201
    assert _charged(basic_user) == 3


@pytest.mark.django_db
def test_a_key_abandoned_in_progress_is_taken_over(
    basic_user, paragraph_contents, client_for, settings
) -> None:
    settings.AI_PROVIDER = "local"
    content = paragraph_contents["photosynthesis"]
    client = client_for(basic_user)
    # a first request whose process died while the provider worked: its key is still in progress
    _post(client, GENERATE, _body(content.pk), "gen-1")
    AIRequestKey.objects.update(response=None, created_at=timezone.now() - timedelta(seconds=30))

    busy = _post(client, GENERATE, _body(content.pk), "gen-1")
    assert busy.status_code == 409
    assert "in progress" in busy.json()["detail"]

    AIRequestKey.objects.update(created_at=timezone.now() - timedelta(minutes=3))
    taken_over = _post(client, GENERATE, _body(content.pk), "gen-1")
    assert taken_over.status_code == 201
    assert _post(client, GENERATE, _body(content.pk), "gen-1").json() == taken_over.json()


@pytest.mark.django_db(transaction=True)
def test_racing_retries_of_a_generation_generate_once(fake_claude) -> None:
    fake_claude.slow = 0.5  # the first request is still waiting for Claude when the others arrive
    user = make_user(tier="BASIC")
    title, body = PARAGRAPHS["photosynthesis"]
    content = make_content(user=user, title=title, body=body)
    headers = auth_headers(user)

    def generate(_: int) -> tuple[int, Any]:
        answer = _post(Client(headers=headers), GENERATE, _body(content.pk), "race-1")
        return answer.status_code, answer.json()

    answers = run_together(generate, 6, timeout=60)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * 5
    assert all("in progress" in answer["detail"] for status, answer in answers if status == 409)
    assert len(fake_claude.requests) == 1
    assert AIQuestion.objects.filter(user=user).count() == 3
    assert _charged(user) == 3
    created = next(answer for status, answer in answers if status == 201)
    replay = _post(Client(headers=headers), GENERATE, _body(content.pk), "race-1")
    assert replay.json() == created


@pytest.mark.django_db
def test_a_retried_job_is_queued_and_reserved_once(
    basic_user, paragraph_contents, client_for, settings
) -> None:
    settings.AI_PROVIDER = "local"
    client = client_for(basic_user)
    ids = [content.pk for content in paragraph_contents.values()]
    body = {**_body(ids[0], count=2), "content_ids": ids}
    del body["content_id"]

    first = _post(client, JOBS, body, "job-1")
    second = _post(client, JOBS, body, "job-1")
    other = _post(client, JOBS, {**body, "count": 1}, "job-1")

    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert AIJob.objects.filter(user=basic_user).count() == 1
    assert _charged(basic_user) == 2 * len(ids)


@pytest.mark.django_db(transaction=True)
def test_racing_retries_of_a_job_queue_one_job(settings) -> None:
    settings.AI_PROVIDER = "local"
    user = make_user(tier="BASIC")
    ids = [make_content(user=user, title=title, body=body).pk for title, body in PARAGRAPHS.values()]
    headers = auth_headers(user)
    body = {"content_ids": ids, "question_types": ["fill_blank"], "difficulty_level": "beginner", "count": 1}

    def create(_: int) -> tuple[int, int]:
        answer = _post(Client(headers=headers), JOBS, body, "race-1")
        return answer.status_code, answer.json()["id"]

    answers = run_together(create, 6, timeout=60)

    job = AIJob.objects.get(user=user)
    assert answers == [(202, job.pk)] * 6
    assert _charged(user) == AIQuestion.objects.filter(user=user).count() == len(ids)  # one each


@pytest.mark.django_db
def test_keys_older_than_a_day_are_pruned(basic_user, paragraph_contents, client_for, settings) -> None:
    settings.AI_PROVIDER = "local"
    client = client_for(basic_user)
    content = paragraph_contents["photosynthesis"]
    _post(client, GENERATE, _body(content.pk, count=1), "old")
    _post(client, GENERATE, _body(content.pk, count=1), "new")
    AIRequestKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))

    assert prune_request_keys() == 1
    assert list(AIRequestKey.objects.values_list("key", flat=True)) == ["new"]
