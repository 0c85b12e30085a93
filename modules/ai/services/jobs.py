"""Generation jobs over several contents: the whole quota is reserved when the job is accepted, the
queue's worker generates content by content and settles each content's share, and a sweeper fails
jobs whose worker died and releases what they still hold.

A job may take longer than one task may run (``Q_TIMEOUT``, 120 s: twenty contents at 10-20 s a call).
A task works for ``AI_JOB_SLICE_SECONDS`` (half of ``Q_TIMEOUT``), then queues the job's continuation
and ends; the next task resumes after the last settled content. A call that would run past
``Q_TIMEOUT`` is ended first by its deadline (``task_budget_seconds``: ``Q_TIMEOUT`` less a margin): the
job is continued in a new task if this one settled a content, else failed with Claude's timeout. Should
the task reach ``Q_TIMEOUT`` all the same, Django-Q2 raises its ``TimeoutException`` (a ``SystemExit``) inside
it, handled the same way — never left running until the stale sweep (the task itself is acknowledged
as failed and not retried by the queue)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from modules.ai import selectors
from modules.ai.models import AIJob, AIQuestion, AIRequestKey, JobStatus
from modules.ai.providers.base import (
    CallStats,
    NotEnoughMaterial,
    ProviderError,
    QuestionDraft,
    call_deadline,
)
from modules.ai.providers.registry import get_provider
from modules.ai.services.calls import log_call
from modules.ai.services.generation import GenerationParams, call_generate, request_for, store_questions
from modules.ai.services.quota import ensure_ai_allowed, released_on_failure, reserve, settle
from modules.common import idempotency
from modules.common.errors import Conflict, NotFound, ValidationFailed
from modules.common.task_timeout import TaskTimeout, after_task_timeout
from modules.identity import services as identity
from modules.identity.services import User
from modules.learning.services import contents_for_user, hold_content

logger = logging.getLogger(__name__)

ACCOUNT_CLOSED = "The account was closed; the job stopped. The unused quota was released."


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
    *,
    user: User,
    content_ids: list[int],
    question_types: list[str],
    difficulty: str,
    count: int,
    idempotency_key: str | None = None,
) -> JobView:
    """Accepts a generation over several contents: reserves ``count`` per content now (QuotaExceeded
    if that would pass the quota) and queues the work. Any content that is not the user's: NotFound.

    With an ``idempotency_key`` the job is created (and the quota reserved) once: the same key and
    request later answer that job as it is now; the key with another request is a Conflict."""
    limit = ensure_ai_allowed(user)
    params = GenerationParams.of(question_types=question_types, difficulty=difficulty, count=count)
    ids = list(dict.fromkeys(content_ids))
    if not ids:
        raise ValidationFailed("Give at least one content id.")

    def queue_job() -> JobView:
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

    return idempotency.once(
        model=AIRequestKey,
        user_id=user.pk,
        operation="job.create",
        key=idempotency_key,
        request={"content_ids": ids, **params.as_json()},
        run=queue_job,
        stored=lambda view: {"job_id": view.id},
        replay=lambda stored: job_detail(user=user, job_id=stored["job_id"]),
    )


@transaction.atomic
def retry_job(*, job_id: int) -> JobView:
    """A failed job's contents not generated yet, as a new job of the same user and parameters, for an
    admin (the failed job keeps its record and points at the new one). The quota is reserved anew as
    ``create_job`` does for the user, with its refusals (QuotaExceeded, a tier without AI...); contents
    deleted since are left out. Once per failed job: the job is locked, and a second retry answers
    Conflict with the first's new job."""
    job = AIJob.objects.select_for_update().select_related("user").filter(pk=job_id).first()
    if job is None:
        raise NotFound("Job not found.")
    if job.status != JobStatus.FAILED:
        raise ValidationFailed(f"Only a failed job can be retried; this one is {job.status}.")
    if job.retried_as_id is not None:
        raise Conflict(f"Already retried as job {job.retried_as_id}.")
    done = set(job.completed_content_ids)
    left = [content_id for content_id in job.content_ids if content_id not in done]
    remaining = [ref.id for ref in contents_for_user(user=job.user, ids=left)]
    if not remaining:
        raise ValidationFailed("Nothing is left to generate: every content was done or has been deleted.")
    retry = create_job(
        user=job.user,
        content_ids=remaining,
        question_types=job.params["question_types"],
        difficulty=job.params["difficulty_level"],
        count=job.params["count"],
    )
    job.retried_as_id = retry.id
    job.save(update_fields=["retried_as", "updated_at"])
    logger.info("ai job retried", extra={"job_id": job.pk, "retry_id": retry.id, "contents": len(remaining)})
    return retry


def _enqueue_job(job_id: int, *, done: int = 0) -> None:
    """Queues the job's task; ``done``: how many of its contents are settled (a continuation)."""
    from django_q.tasks import async_task

    name = f"ai-job-{job_id}" if not done else f"ai-job-{job_id}-after-{done}"
    async_task("modules.ai.tasks.run_generation_job", job_id, task_name=name)


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
    """Generates the job's questions content by content; returns its status: ``done`` or ``failed``
    when it ended, ``running`` when this task's slice ran out and the job's continuation is queued."""
    job = _claim(job_id)
    if job is None:
        return None
    user = job.user
    if identity.is_closed(user):  # closed after the job was queued: its erasure is under way
        _fail_job(job_id=job.pk, error=ACCOUNT_CLOSED)
        return JobStatus.FAILED
    params = GenerationParams.of(
        question_types=job.params["question_types"],
        difficulty=job.params["difficulty_level"],
        count=int(job.params["count"]),
    )
    pending = [cid for cid in job.content_ids if cid not in set(job.completed_content_ids)]
    refs = {ref.id: ref for ref in contents_for_user(user=user, ids=pending)}
    started = time.monotonic()
    deadline = started + float(settings.AI_JOB_SLICE_SECONDS)
    # every call ends before the worker's alarm at Q_TIMEOUT, with a margin to store what it made
    task_ends = started + task_budget_seconds()
    settled = 0  # contents this task settled

    def finish(
        content_id: int, *, drafts: list[QuestionDraft], stats: CallStats | None = None, note: str = ""
    ) -> None:
        nonlocal settled
        _finish_content(
            job_id=job.pk,
            content_id=content_id,
            questions=drafts,
            stats=stats,
            reserved=params.count,
            user=user,
            note=note,
        )
        settled += 1

    def continue_later() -> str:
        _enqueue_job(job.pk, done=len(job.content_ids) - len(pending) + settled)
        return JobStatus.RUNNING

    try:
        provider = get_provider()
        for content_id in pending:
            if settled and time.monotonic() >= deadline:
                return continue_later()
            if not identity.account_is_open(user_id=user.pk):  # closed while the job ran: stop paying
                _fail_job(job_id=job.pk, error=ACCOUNT_CLOSED)
                return JobStatus.FAILED
            ref = refs.get(content_id)
            if ref is None:  # deleted since the job was accepted
                finish(content_id, drafts=[], note=f"Content {content_id} no longer exists; skipped.")
                continue
            request = request_for(user=user, ref=ref, params=params, provider=provider)
            try:
                with call_deadline(task_ends - time.monotonic(), "left to the worker's task"):
                    drafts, stats = call_generate(user=user, provider=provider, request=request)
            except NotEnoughMaterial as exc:
                finish(content_id, drafts=[], note=f"“{ref.title}”: {exc}")
                continue
            except ProviderError as exc:
                if exc.kind == "timeout" and settled:  # out of this task's time: a new task has all of it
                    return continue_later()
                raise
            finish(content_id, drafts=drafts, stats=stats)
    except ProviderError as exc:
        # The task itself ends well (Django-Q2 records a success), so this line is what tells the
        # operator's log that a learner's job failed on the provider.
        logger.warning(
            "AI job %s failed: the provider answered %s", job.pk, exc.kind, extra={"job_id": job.pk}
        )
        _fail_job(job_id=job.pk, error=f"Generation stopped: {exc.message} The unused quota was released.")
        return JobStatus.FAILED
    except TaskTimeout:  # Django-Q2's alarm at Q_TIMEOUT (modules/common/task_timeout.py)
        after_task_timeout()
        if settled:
            logger.warning("AI job %s reached the task timeout; continued in a new task", job.pk)
            return continue_later()
        logger.error("AI job %s: one content took longer than a task may run (Q_TIMEOUT)", job.pk)
        _fail_job(
            job_id=job.pk,
            error="Generating one content took longer than the worker allows. The unused quota was released.",
        )
        return JobStatus.FAILED
    except Exception:
        logger.exception("AI job %s crashed", job.pk)
        _fail_job(job_id=job.pk, error="The job stopped on an internal error. The unused quota was released.")
        raise
    made = AIQuestion.objects.filter(job_id=job.pk).exists()
    with transaction.atomic():
        job = _locked_job(job.pk)
        if job is None:
            return None
        job.status = JobStatus.DONE if made or not job.error else JobStatus.FAILED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at", "updated_at"])
    return job.status


def task_budget_seconds() -> float:
    """How long a task's provider calls may take in all: ``Q_TIMEOUT`` less a tenth (at least a
    second) to store the last content's questions before Django-Q2's alarm."""
    timeout = float(settings.Q_CLUSTER["timeout"])
    return timeout - max(1.0, timeout / 10)


def _finish_content(
    *,
    job_id: int,
    content_id: int,
    questions: list[QuestionDraft],
    stats: CallStats | None,
    reserved: int,
    user: User | None = None,
    note: str = "",
) -> None:
    """Stores one content's questions and settles its share of the job's reservation, atomically,
    with the job's progress and what the learner should know about it (``note``, added to the job's
    error text: it outlives the task, which a continuation may not share)."""
    with transaction.atomic():
        job = _locked_job(job_id)
        if job is None or content_id in job.completed_content_ids:
            return
        if questions and stats is not None and user is not None:
            if hold_content(user=user, content_id=content_id):
                store_questions(user=user, content_id=content_id, drafts=questions, stats=stats, job=job)
            else:  # deleted while the provider worked: the call is logged and paid, nothing stored
                questions = []
                note = f"Content {content_id} was deleted during generation; skipped."
            log_call(user=user, task="generate_questions", stats=stats)
        if job.usage_id is not None:
            settle(usage_id=job.usage_id, reserved=reserved, used=len(questions), stats=stats)
        job.completed_content_ids = [*job.completed_content_ids, content_id]
        job.reserved = max(0, job.reserved - reserved)
        job.error = f"{job.error} {note}".strip() if note else job.error
        job.save(update_fields=["completed_content_ids", "reserved", "error", "updated_at"])


def _locked_job(job_id: int) -> AIJob | None:
    """The job, locked until the transaction ends; None once it is gone (its account was erased while
    the job ran: nothing is left to record)."""
    job = AIJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        logger.info("AI job %s is gone with its account", job_id, extra={"job_id": job_id})
    return job


def _fail_job(*, job_id: int, error: str) -> None:
    with transaction.atomic():
        job = _locked_job(job_id)
        if job is None or job.status in {JobStatus.DONE, JobStatus.FAILED}:
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


def prune_request_keys(*, now: datetime | None = None) -> int:
    """Daily: forgets the Idempotency-Keys of generations and jobs older than a day."""
    deleted = idempotency.prune(AIRequestKey, now=now)
    logger.info("pruned AI idempotency keys", extra={"deleted": deleted})
    return deleted
