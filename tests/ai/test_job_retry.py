"""A failed generation job is retried from the admin, through ``services.retry_job``: a new job of the
same user over the contents it had not done, the quota reserved anew, once per failed job; the admin
never edits a job by hand."""

from __future__ import annotations

from typing import Any

import pytest

from modules.ai import services
from modules.ai.models import AIJob, AIQuestion, AIUsage, JobStatus
from modules.ai.testing import make_job
from modules.common.errors import Conflict, NotFound, QuotaExceeded, ValidationFailed
from modules.identity.testing import make_user
from modules.learning.testing import make_content
from tests.ai import fake_anthropic
from tests.ai.test_jobs_api import JOBS, _two_questions, job_body

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/ai/aijob/"


@pytest.fixture
def failed_job(
    fake_claude, basic_user, paragraph_contents, client_for, django_capture_on_commit_callbacks
) -> AIJob:
    """A job over three contents whose first content was done before Claude was overloaded for good."""
    ids = [content.pk for content in paragraph_contents.values()]
    fake_claude.queue = [fake_anthropic.message("record_questions", _two_questions())] + [
        fake_anthropic.overloaded() for _ in range(3)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(basic_user).post(JOBS, job_body(ids, count=2), content_type="application/json")
    job = AIJob.objects.get(pk=answer.json()["id"])
    assert job.status == JobStatus.FAILED and job.completed_content_ids == ids[:1]
    return job


def retry_in_admin(admin_client: Any, *jobs: AIJob) -> list[str]:
    """Runs the change list's action on ``jobs``; the messages it showed."""
    response = admin_client.post(
        CHANGELIST,
        {"action": "retry_failed_jobs", "_selected_action": [job.pk for job in jobs]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def test_the_admin_retries_a_failed_job_over_its_contents_left_as_a_new_job(
    failed_job, fake_claude, admin_client, django_capture_on_commit_callbacks
) -> None:
    fake_claude.queue = [fake_anthropic.message("record_questions", _two_questions()) for _ in range(2)]
    used_before = AIUsage.objects.get(user=failed_job.user).questions_generated

    with django_capture_on_commit_callbacks(execute=True):
        messages = retry_in_admin(admin_client, failed_job)

    failed_job.refresh_from_db()
    retry = failed_job.retried_as
    assert messages == [f"Job {failed_job.pk}: retried as job {retry.pk}."]
    assert retry.user_id == failed_job.user_id and retry.params == failed_job.params
    assert retry.content_ids == failed_job.content_ids[1:]  # the first content was done
    assert retry.status == JobStatus.DONE  # the queue ran it (inline here)
    assert AIQuestion.objects.filter(job=retry).count() == 4
    assert AIUsage.objects.get(user=failed_job.user).questions_generated == used_before + 4
    assert failed_job.status == JobStatus.FAILED  # its record is kept as it was


def test_a_job_is_retried_once_whatever_the_clicks(failed_job, admin_client) -> None:
    retry_in_admin(admin_client, failed_job)
    again = retry_in_admin(admin_client, failed_job)

    failed_job.refresh_from_db()
    assert again == [f"Job {failed_job.pk}: Already retried as job {failed_job.retried_as_id}."]
    assert AIJob.objects.filter(user=failed_job.user).count() == 2
    with pytest.raises(Conflict):
        services.retry_job(job_id=failed_job.pk)


def test_only_failed_jobs_with_contents_left_are_retried(basic_user, admin_client) -> None:
    content = make_content(user=basic_user)
    done = make_job(user=basic_user, content_ids=[content.pk], status=JobStatus.DONE)
    queued = make_job(user=basic_user, content_ids=[content.pk])
    finished = make_job(
        user=basic_user, content_ids=[content.pk], completed_content_ids=[content.pk], status=JobStatus.FAILED
    )
    gone = make_content(user=basic_user)
    deleted = make_job(user=basic_user, content_ids=[gone.pk], status=JobStatus.FAILED)
    gone.delete()

    messages = retry_in_admin(admin_client, done, queued, finished, deleted)

    assert messages == [
        f"Job {done.pk}: Only a failed job can be retried; this one is done.",
        f"Job {queued.pk}: Only a failed job can be retried; this one is queued.",
        f"Job {finished.pk}: Nothing is left to generate: every content was done or has been deleted.",
        f"Job {deleted.pk}: Nothing is left to generate: every content was done or has been deleted.",
    ]
    assert AIJob.objects.count() == 4
    with pytest.raises(ValidationFailed):
        services.retry_job(job_id=done.pk)
    with pytest.raises(NotFound):
        services.retry_job(job_id=done.pk + 1000)


def test_a_retry_over_the_quota_is_refused_and_can_be_made_later(failed_job, admin_client, settings) -> None:
    usage = AIUsage.objects.get(user=failed_job.user)
    AIUsage.objects.filter(pk=usage.pk).update(questions_generated=10_000)

    messages = retry_in_admin(admin_client, failed_job)

    failed_job.refresh_from_db()
    assert len(messages) == 1 and messages[0].startswith(f"Job {failed_job.pk}: ")
    assert failed_job.retried_as_id is None
    with pytest.raises(QuotaExceeded):
        services.retry_job(job_id=failed_job.pk)
    AIUsage.objects.filter(pk=usage.pk).update(questions_generated=0)
    assert services.retry_job(job_id=failed_job.pk).status == JobStatus.QUEUED


def test_the_admin_views_jobs_but_never_edits_or_adds_one(failed_job, admin_client) -> None:
    page = admin_client.get(f"{CHANGELIST}{failed_job.pk}/change/")
    assert page.status_code == 200  # view only

    edited = admin_client.post(
        f"{CHANGELIST}{failed_job.pk}/change/", {"status": "queued", "user": failed_job.user_id, "error": ""}
    )
    assert edited.status_code == 403
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    failed_job.refresh_from_db()
    assert failed_job.status == JobStatus.FAILED


def test_staff_without_the_change_permission_cannot_retry(failed_job, client) -> None:
    from django.contrib.auth.models import Permission

    staff = make_user(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_aijob"))
    client.force_login(staff)

    page = client.get(CHANGELIST)

    assert page.status_code == 200
    assert b"retry_failed_jobs" not in page.content
