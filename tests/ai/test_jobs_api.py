"""POST /api/ai-review/jobs/ and GET /api/ai-review/jobs/{id}/ (tasks run inline under tests)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from modules.ai import services
from modules.ai.models import AIJob, AIQuestion, AIUsage
from modules.ai.testing import make_job
from modules.identity.testing import make_user
from modules.learning.testing import make_content
from tests.ai import fake_anthropic

JOBS = "/api/ai-review/jobs/"

pytestmark = pytest.mark.django_db


def job_body(content_ids, **overrides):
    return {
        "content_ids": content_ids,
        "question_types": ["multiple_choice", "fill_blank"],
        "difficulty_level": "beginner",
        "count": 3,
    } | overrides


def test_a_job_is_accepted_with_202_then_runs_to_done_with_its_questions(
    provider, basic_user, paragraph_contents, client_for, django_capture_on_commit_callbacks
) -> None:
    client = client_for(basic_user)
    ids = [c.pk for c in paragraph_contents.values()]

    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post(JOBS, job_body(ids), content_type="application/json")

    assert accepted.status_code == 202
    assert accepted.json()["status"] == "queued"
    job = client.get(f"{JOBS}{accepted.json()['id']}/").json()
    assert job["status"] == "done"
    assert job["error"] == ""
    assert len(job["questions"]) == 9
    assert {q["content_id"] for q in job["questions"]} == set(ids)
    assert AIUsage.objects.get(user=basic_user).questions_generated == 9
    assert AIJob.objects.get().reserved == 0
    if provider.fake is not None:
        assert len(provider.fake.requests) == 3


def test_a_job_reserves_its_whole_quota_up_front(
    basic_user, paragraph_contents, client_for, settings
) -> None:
    settings.AI_PROVIDER = "local"
    ids = [c.pk for c in paragraph_contents.values()]

    response = client_for(basic_user).post(JOBS, job_body(ids, count=10), content_type="application/json")
    assert response.status_code == 202  # 30 of 30: still allowed
    again = client_for(basic_user).post(JOBS, job_body(ids[:1], count=1), content_type="application/json")

    assert again.status_code == 429
    assert again.json()["code"] == "quota_exceeded"


def test_a_job_over_the_quota_is_429_and_not_created(
    basic_user, paragraph_contents, client_for, settings
) -> None:
    settings.AI_PROVIDER = "local"
    ids = [c.pk for c in paragraph_contents.values()] + [make_content(user=basic_user, title="Fourth").pk]

    over = client_for(basic_user).post(JOBS, job_body(ids, count=10), content_type="application/json")

    assert over.status_code == 429
    assert "40 requested" in over.json()["detail"]
    assert not AIJob.objects.exists()
    assert AIUsage.objects.get(user=basic_user).questions_generated == 0


def test_a_job_naming_another_users_content_is_404(
    basic_user, paragraph_contents, client_for, settings
) -> None:
    settings.AI_PROVIDER = "local"
    theirs = make_content(user=make_user(), title="Theirs")

    response = client_for(basic_user).post(
        JOBS, job_body([paragraph_contents["photosynthesis"].pk, theirs.pk]), content_type="application/json"
    )

    assert response.status_code == 404
    assert not AIJob.objects.exists()
    assert not AIUsage.objects.filter(questions_generated__gt=0).exists()


def test_another_users_job_is_404(basic_user, client_for) -> None:
    stranger = make_user()
    job = make_job(user=stranger, content_ids=[make_content(user=stranger).pk])

    response = client_for(basic_user).get(f"{JOBS}{job.pk}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_free_and_unverified_users_cannot_queue_jobs(client_for, db) -> None:
    free = make_user(tier="FREE")
    unverified = make_user(tier="PRO")
    content = make_content(user=unverified)
    unverified.is_email_verified = False
    unverified.save(update_fields=["is_email_verified"])

    assert client_for(free).post(JOBS, job_body([content.pk]), content_type="application/json").json()[
        "code"
    ] == ("tier_required")
    assert client_for(unverified).post(JOBS, job_body([content.pk]), content_type="application/json").json()[
        "code"
    ] == ("email_not_verified")


@pytest.mark.parametrize(
    "overrides", [{"content_ids": []}, {"content_ids": [1, 1]}, {"count": 0}, {"extra": 1}]
)
def test_invalid_job_bodies_are_422(basic_user, client_for, overrides) -> None:
    response = client_for(basic_user).post(JOBS, job_body([1]) | overrides, content_type="application/json")

    assert response.status_code == 422


def test_a_job_whose_provider_fails_after_retries_is_failed_with_a_readable_error_and_releases_its_quota(
    fake_claude, basic_user, paragraph_contents, client_for, django_capture_on_commit_callbacks, caplog
) -> None:
    ids = [c.pk for c in paragraph_contents.values()]
    # The first content succeeds; the second finds Claude overloaded on every retry.
    fake_claude.queue = [fake_anthropic.message("record_questions", _two_questions())] + [
        fake_anthropic.overloaded() for _ in range(3)
    ]

    with django_capture_on_commit_callbacks(execute=True):
        job_id = (
            client_for(basic_user)
            .post(JOBS, job_body(ids, count=2), content_type="application/json")
            .json()["id"]
        )

    job = client_for(basic_user).get(f"{JOBS}{job_id}/").json()
    assert job["status"] == "failed"
    assert "overloaded" in job["error"] and "released" in job["error"]
    assert len(job["questions"]) == 2  # what was made before the failure is kept
    assert AIUsage.objects.get(user=basic_user).questions_generated == 2
    assert AIJob.objects.get().reserved == 0
    # the task ends as a success for Django-Q2: the failure is a warning in the worker's log
    failed = [
        r for r in caplog.records if r.levelname == "WARNING" and "failed: the provider" in r.getMessage()
    ]
    assert [r.job_id for r in failed] == [job_id]


def test_running_a_finished_job_again_changes_nothing(
    basic_user, paragraph_contents, client_for, settings, django_capture_on_commit_callbacks
) -> None:
    settings.AI_PROVIDER = "local"
    with django_capture_on_commit_callbacks(execute=True):
        job_id = (
            client_for(basic_user)
            .post(JOBS, job_body([paragraph_contents["photosynthesis"].pk]), content_type="application/json")
            .json()["id"]
        )

    assert services.run_job(job_id=job_id) is None
    assert AIQuestion.objects.count() == 3
    assert AIUsage.objects.get(user=basic_user).questions_generated == 3


def test_a_job_resumes_after_its_worker_died_without_repeating_finished_contents(
    basic_user, paragraph_contents, settings
) -> None:
    settings.AI_PROVIDER = "local"
    first, second = paragraph_contents["photosynthesis"], paragraph_contents["tls_handshake"]
    usage = AIUsage.objects.create(user=basic_user, date=timezone.now().date(), questions_generated=4)
    job = make_job(
        user=basic_user,
        content_ids=[first.pk, second.pk],
        completed_content_ids=[first.pk],
        status="running",
        usage=usage,
        reserved=2,
    )

    assert services.run_job(job_id=job.pk) == "done"

    assert set(AIQuestion.objects.values_list("content_id", flat=True)) == {second.pk}
    job.refresh_from_db()
    assert (job.status, job.reserved, job.completed_content_ids) == ("done", 0, [first.pk, second.pk])


def test_a_content_deleted_before_the_job_runs_is_skipped_and_not_charged(
    basic_user, paragraph_contents, client_for, settings
) -> None:
    settings.AI_PROVIDER = "local"
    keep, gone = paragraph_contents["photosynthesis"], paragraph_contents["double_helix"]
    job_id = (
        client_for(basic_user)
        .post(JOBS, job_body([keep.pk, gone.pk]), content_type="application/json")
        .json()["id"]
    )
    gone.delete()

    assert services.run_job(job_id=job_id) == "done"

    job = AIJob.objects.get(pk=job_id)
    assert "no longer exists" in job.error
    assert AIUsage.objects.get(user=basic_user).questions_generated == 3


def test_stale_jobs_are_failed_and_their_quota_released(basic_user, paragraph_contents) -> None:
    usage = AIUsage.objects.create(user=basic_user, date=timezone.now().date(), questions_generated=6)
    stale = make_job(
        user=basic_user, content_ids=[paragraph_contents["photosynthesis"].pk], usage=usage, reserved=6
    )
    AIJob.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    fresh = make_job(user=basic_user, content_ids=[paragraph_contents["photosynthesis"].pk])

    assert services.fail_stale_jobs() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == "failed" and "did not finish" in stale.error
    assert fresh.status == "queued"
    usage.refresh_from_db()
    assert usage.questions_generated == 0


def test_stale_job_sweep_is_a_declared_schedule() -> None:
    from django.apps import apps

    specs = {s.func for s in apps.get_app_config("ai").schedules}
    assert "modules.ai.tasks.fail_stale_jobs" in specs


def _two_questions():
    return {
        "questions": [
            {
                "type": "fill_blank",
                "question": "Fill in the blank: the _____ absorbs red and blue light.",
                "correct_answer": "chlorophyll",
                "explanation": "The text says the pigment chlorophyll absorbs red and blue light.",
            },
            {
                "type": "multiple_choice",
                "question": "Where does the Calvin cycle run?",
                "options": ["stroma", "thylakoid membranes", "cell wall"],
                "correct_answer": "stroma",
                "explanation": "The Calvin cycle runs in the stroma.",
            },
        ]
    }


# --- Jobs longer than one task may run ------------------------------------------------------------


@pytest.fixture
def job_tasks(monkeypatch) -> list[int]:
    """The job ids each run of the queue's task was given, in order (the queue runs tasks inline here)."""
    from modules.ai import tasks

    ran: list[int] = []
    real = tasks.run_generation_job

    def recording(job_id: int) -> str | None:
        ran.append(job_id)
        return real(job_id)

    monkeypatch.setattr(tasks, "run_generation_job", recording)
    return ran


@pytest.fixture
def slow_calls(monkeypatch):
    """Makes the provider calls whose 1-based numbers are given take 1.5 s (past the 1 s timeout)."""
    import time

    from modules.ai.services import jobs

    real = jobs.call_generate
    calls = {"n": 0}

    def use(*slow: int) -> dict[str, int]:
        def call_generate(**kwargs):
            calls["n"] += 1
            if calls["n"] in slow:
                time.sleep(1.5)
            return real(**kwargs)

        monkeypatch.setattr(jobs, "call_generate", call_generate)
        return calls

    return use


def _post_job(client, ids, django_capture_on_commit_callbacks) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(JOBS, job_body(ids), content_type="application/json")
    assert answer.status_code == 202, answer.content
    return int(answer.json()["id"])


def test_a_job_longer_than_its_slice_goes_on_in_new_tasks_until_done(
    basic_user, paragraph_contents, client_for, settings, job_tasks, django_capture_on_commit_callbacks
) -> None:
    settings.AI_PROVIDER = "local"
    settings.AI_JOB_SLICE_SECONDS = 0  # every task settles one content, then queues the rest
    client = client_for(basic_user)
    ids = [c.pk for c in paragraph_contents.values()]

    job_id = _post_job(client, ids, django_capture_on_commit_callbacks)

    assert job_tasks == [job_id, job_id, job_id]
    job = client.get(f"{JOBS}{job_id}/").json()
    assert (job["status"], job["error"]) == ("done", "")
    assert sorted(q["content_id"] for q in job["questions"]) == sorted(ids * 3)
    assert AIUsage.objects.get(user=basic_user).questions_generated == 9
    assert AIJob.objects.get().reserved == 0


def test_a_task_timeout_after_a_settled_content_continues_the_job_in_a_new_task(
    basic_user,
    paragraph_contents,
    client_for,
    settings,
    job_tasks,
    task_timeout_one_second,
    slow_calls,
    django_capture_on_commit_callbacks,
) -> None:
    settings.AI_PROVIDER = "local"
    calls = slow_calls(2)  # the second content's first call passes the task's timeout
    client = client_for(basic_user)
    ids = [c.pk for c in paragraph_contents.values()]

    job_id = _post_job(client, ids, django_capture_on_commit_callbacks)

    assert job_tasks == [job_id, job_id]
    assert calls["n"] == 4  # the interrupted call is made again by the continuation, nothing else
    job = client.get(f"{JOBS}{job_id}/").json()
    assert (job["status"], job["error"]) == ("done", "")
    assert sorted(q["content_id"] for q in job["questions"]) == sorted(ids * 3)  # each content once
    assert AIUsage.objects.get(user=basic_user).questions_generated == 9
    assert AIJob.objects.get().reserved == 0


def test_a_task_timeout_before_any_content_fails_the_job_and_releases_its_quota(
    basic_user,
    paragraph_contents,
    client_for,
    settings,
    job_tasks,
    task_timeout_one_second,
    slow_calls,
    django_capture_on_commit_callbacks,
) -> None:
    settings.AI_PROVIDER = "local"
    slow_calls(1)
    client = client_for(basic_user)
    ids = [c.pk for c in paragraph_contents.values()]

    job_id = _post_job(client, ids, django_capture_on_commit_callbacks)

    assert job_tasks == [job_id]
    job = client.get(f"{JOBS}{job_id}/").json()
    assert job["status"] == "failed"
    assert "longer than the worker allows" in job["error"] and "released" in job["error"]
    assert job["questions"] == []
    assert AIJob.objects.get().reserved == 0
    assert AIUsage.objects.get(user=basic_user).questions_generated == 0
