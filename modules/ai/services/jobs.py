"""Generation jobs over several contents: the whole quota is reserved when the job is accepted, the
queue's worker generates content by content and settles each content's share, and a sweeper fails
jobs whose worker died and releases what they still hold."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from modules.ai import selectors
from modules.ai.models import AIJob, AIQuestion, JobStatus
from modules.ai.providers.base import CallStats, NotEnoughMaterial, ProviderError, QuestionDraft
from modules.ai.providers.registry import get_provider
from modules.ai.services.calls import log_call
from modules.ai.services.generation import GenerationParams, call_generate, request_for, store_questions
from modules.ai.services.quota import ensure_ai_allowed, released_on_failure, reserve, settle
from modules.common.errors import NotFound, ValidationFailed
from modules.identity.services import User
from modules.learning.services import contents_for_user, hold_content

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobView:
    id: int
    status: str
    questions: list[AIQuestion]
    error: str
    content_ids: list[int]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def create_job(
    *, user: User, content_ids: list[int], question_types: list[str], difficulty: str, count: int
) -> JobView:
    """Accepts a generation over several contents: reserves ``count`` per content now (QuotaExceeded
    if that would pass the quota) and queues the work. Any content that is not the user's: NotFound."""
    limit = ensure_ai_allowed(user)
    params = GenerationParams.of(question_types=question_types, difficulty=difficulty, count=count)
    ids = list(dict.fromkeys(content_ids))
    if not ids:
        raise ValidationFailed("Give at least one content id.")
    if len(contents_for_user(user=user, ids=ids)) != len(ids):
        raise NotFound("Content not found.")
    total = params.count * len(ids)
    usage_id = reserve(user=user, limit=limit, count=total)
    with released_on_failure(usage_id=usage_id, amount=total):
        job = AIJob.objects.create(
            user=user, params=params.as_json(), content_ids=ids, usage_id=usage_id, reserved=total
        )
    transaction.on_commit(lambda: _enqueue_job(job.pk))
    return _job_view(job, questions=[])


def _enqueue_job(job_id: int) -> None:
    from django_q.tasks import async_task

    async_task("modules.ai.tasks.run_generation_job", job_id, task_name=f"ai-job-{job_id}")


def job_detail(*, user: User, job_id: int) -> JobView:
    job = selectors.job_of(user_id=user.pk, job_id=job_id)
    if job is None:
        raise NotFound("Job not found.")
    return _job_view(job, questions=list(selectors.job_questions(job_id=job.pk)))


def _job_view(job: AIJob, *, questions: list[AIQuestion]) -> JobView:
    return JobView(
        id=job.pk,
        status=job.status,
        questions=questions,
        error=job.error,
        content_ids=list(job.content_ids),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _claim(job_id: int) -> AIJob | None:
    """Marks a queued job running. A job that already ran is left alone (the queue may deliver a task
    twice); a running one is resumed where it stopped (the worker died and the task came back)."""
    with transaction.atomic():
        job = AIJob.objects.select_for_update().select_related("user").filter(pk=job_id).first()
        if job is None or job.status in {JobStatus.DONE, JobStatus.FAILED}:
            return None
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at", "updated_at"])
        return job


def run_job(*, job_id: int) -> str | None:
    """Generates the job's questions content by content; returns the final status."""
    job = _claim(job_id)
    if job is None:
        return None
    user = job.user
    params = GenerationParams.of(
        question_types=job.params["question_types"],
        difficulty=job.params["difficulty_level"],
        count=int(job.params["count"]),
    )
    pending = [cid for cid in job.content_ids if cid not in set(job.completed_content_ids)]
    refs = {ref.id: ref for ref in contents_for_user(user=user, ids=pending)}
    notes: list[str] = []
    try:
        provider = get_provider()
        for content_id in pending:
            ref = refs.get(content_id)
            if ref is None:  # deleted since the job was accepted
                _finish_content(
                    job_id=job.pk, content_id=content_id, questions=[], stats=None, reserved=params.count
                )
                notes.append(f"Content {content_id} no longer exists; skipped.")
                continue
            request = request_for(user=user, ref=ref, params=params, provider=provider)
            try:
                drafts, stats = call_generate(user=user, provider=provider, request=request)
            except NotEnoughMaterial as exc:
                _finish_content(
                    job_id=job.pk, content_id=content_id, questions=[], stats=None, reserved=params.count
                )
                notes.append(f"“{ref.title}”: {exc}")
                continue
            kept = _finish_content(
                job_id=job.pk,
                content_id=content_id,
                questions=drafts,
                stats=stats,
                reserved=params.count,
                user=user,
            )
            if not kept:
                notes.append(f"Content {content_id} was deleted during generation; skipped.")
    except ProviderError as exc:
        _fail_job(job_id=job.pk, error=f"Generation stopped: {exc.message} The unused quota was released.")
        return JobStatus.FAILED
    except Exception:
        logger.exception("AI job %s crashed", job.pk)
        _fail_job(job_id=job.pk, error="The job stopped on an internal error. The unused quota was released.")
        raise
    made = AIQuestion.objects.filter(job_id=job.pk).exists()
    with transaction.atomic():
        job = AIJob.objects.select_for_update().get(pk=job.pk)
        job.status = JobStatus.DONE if made or not notes else JobStatus.FAILED
        job.error = " ".join(notes)
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "finished_at", "updated_at"])
    return job.status


def _finish_content(
    *,
    job_id: int,
    content_id: int,
    questions: list[QuestionDraft],
    stats: CallStats | None,
    reserved: int,
    user: User | None = None,
) -> bool:
    """Stores one content's questions and settles its share of the job's reservation, atomically.
    False when the content was deleted while its questions were generated (nothing is stored)."""
    with transaction.atomic():
        job = AIJob.objects.select_for_update().get(pk=job_id)
        if content_id in job.completed_content_ids:
            return True
        kept = True
        if questions and stats is not None and user is not None:
            kept = hold_content(user=user, content_id=content_id)
            if kept:
                store_questions(user=user, content_id=content_id, drafts=questions, stats=stats, job=job)
            else:  # deleted while the provider worked: the call is logged and paid, nothing stored
                questions = []
            log_call(user=user, task="generate_questions", stats=stats)
        if job.usage_id is not None:
            settle(usage_id=job.usage_id, reserved=reserved, used=len(questions), stats=stats)
        job.completed_content_ids = [*job.completed_content_ids, content_id]
        job.reserved = max(0, job.reserved - reserved)
        job.save(update_fields=["completed_content_ids", "reserved", "updated_at"])
    return kept


def _fail_job(*, job_id: int, error: str) -> None:
    with transaction.atomic():
        job = AIJob.objects.select_for_update().get(pk=job_id)
        if job.status in {JobStatus.DONE, JobStatus.FAILED}:
            return
        if job.usage_id is not None and job.reserved:
            settle(usage_id=job.usage_id, reserved=job.reserved, used=0, stats=None)
        job.status = JobStatus.FAILED
        job.error = error
        job.reserved = 0
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "reserved", "finished_at", "updated_at"])


def fail_stale_jobs(*, now: datetime | None = None) -> int:
    """Fails jobs stuck queued or running (their worker died past the queue's retries) and releases
    their quota. Scheduled every ten minutes."""
    now = now or timezone.now()
    before = now - timedelta(minutes=int(getattr(settings, "AI_JOB_STALE_MINUTES", 30)))
    stale = selectors.stale_job_ids(before=before)
    for job_id in stale:
        _fail_job(
            job_id=job_id,
            error="The job did not finish in time (the worker may have stopped). The unused quota was released.",
        )
    return len(stale)
