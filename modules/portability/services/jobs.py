"""What export and import jobs share: the deployment's name in exports, the limit on a learner's
unfinished jobs, and claiming, failing and queueing a job."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from modules.common.errors import Throttled
from modules.common.locks import lock_until_commit
from modules.common.task_timeout import after_task_timeout
from modules.identity import services as identity
from modules.portability import selectors
from modules.portability.models import ExportJob, ImportJob, JobStatus

# lock_until_commit(namespace, user id): a learner's requests for jobs are counted one at a time
# (not learning's import lock: that one is held for a whole import)
_REQUEST_LOCK = 0x5254_4A42


ACCOUNT_CLOSED_CODE = "account_closed"
ACCOUNT_CLOSED = "The account was closed; the job stopped and kept nothing."


class AccountClosed(Exception):
    """The learner's account was closed while the job ran (``ensure_account_open``): the job stops,
    keeping nothing, and its account's erasure deletes it."""


def ensure_account_open(*, user_id: int) -> None:
    """Raises ``AccountClosed`` once the job's learner has closed the account (one query; a job asks
    between its steps, not per row)."""
    if not identity.account_is_open(user_id=user_id):
        raise AccountClosed()


def instance_id() -> str:
    """This deployment's name in exports (derived from SECRET_KEY): a re-import of a learner's own export
    is recognised by it and by their id."""
    return salted_hmac("portability.instance", "origin").hexdigest()[:16]


def active_window() -> timedelta:
    """How long an unfinished job counts against its learner's limit after it last started (or, still
    queued, was created): the longest Django-Q2 lets its task live. A task is delivered at most
    ``Q_MAX_ATTEMPTS`` times, ``Q_RETRY`` apart (a dead worker's task comes back after ``Q_RETRY``), and
    each run is stopped at ``Q_TIMEOUT`` (the job is then failed, ``fail_after_timeout``); one more
    ``Q_RETRY`` covers a queued task's wait for a free worker. A job still unfinished past that lost its
    task (the prune fails it as ``stale`` hours later) and no longer blocks its learner."""
    cluster = settings.Q_CLUSTER
    attempts = max(int(cluster.get("max_attempts") or 1), 1)  # 0 (unlimited) counts as one
    return timedelta(seconds=int(cluster["timeout"]) + attempts * int(cluster["retry"]))


def max_active_jobs() -> int:
    return max(int(settings.PORTABILITY_MAX_ACTIVE_JOBS), 1)


def ensure_room(
    model: type[ExportJob] | type[ImportJob], *, user_id: int, what: str, now: datetime | None = None
) -> None:
    """Throttled when the learner already has ``PORTABILITY_MAX_ACTIVE_JOBS`` unfinished jobs of this
    kind (``what``: "export" or "import") that still count (``active_window``). ``Retry-After`` is the
    moment the limit has room even if none of them ever finishes; one that finishes frees its place at
    once. Counted without a lock, it is a cheap early refusal; ``hold_room`` is the one that holds."""
    now = now or timezone.now()
    window = active_window()
    limit = max_active_jobs()
    counted = selectors.unfinished_jobs_seen_since(model, user_id=user_id, since=now - window)
    if len(counted) < limit:
        return
    # Room appears when len(counted) - limit + 1 of them stop counting, the oldest first.
    frees_at = counted[len(counted) - limit][1] + window
    ids = ", ".join(str(pk) for pk, _ in counted)
    raise Throttled(
        f"You already have {len(counted)} unfinished {what}s (ids {ids}) and at most {limit} may be queued "
        f"or running at a time. Try again when one has finished.",
        retry_after_seconds=max(math.ceil((frees_at - now).total_seconds()), 1),
    )


def hold_room(model: type[ExportJob] | type[ImportJob], *, user_id: int, what: str) -> None:
    """``ensure_room`` under the learner's lock, held until the transaction (which must create the job)
    commits: of two parallel requests for the last place, the second counts the first's job."""
    lock_until_commit(_REQUEST_LOCK, user_id)
    ensure_room(model, user_id=user_id, what=what)


def claim_job(model: type[ExportJob] | type[ImportJob], job_id: int) -> Any:
    """Marks a queued job running. A finished job is left alone (the queue may deliver a task twice); a
    running one runs again (its worker died, and what it wrote was rolled back). A job whose learner
    closed the account meanwhile is failed instead (its erasure is under way)."""
    with transaction.atomic():
        job = model.objects.select_for_update().select_related("user").filter(pk=job_id).first()
        if job is None or job.status in {JobStatus.DONE, JobStatus.FAILED}:
            return None
        if identity.is_closed(job.user):
            _fail(model, job.pk, code=ACCOUNT_CLOSED_CODE, message=ACCOUNT_CLOSED)
            return None
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at"])
        return job


def fail_job(job: ExportJob | ImportJob, *, code: str, message: str) -> None:
    _fail(type(job), job.pk, code=code, message=message)


def _fail(model: type[ExportJob] | type[ImportJob], job_id: int, *, code: str, message: str) -> None:
    """Fails the job unless it has finished (another delivery of its task may have ended it)."""
    model.objects.filter(pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        status=JobStatus.FAILED, error_code=code, error=message[:2000], finished_at=timezone.now()
    )


def fail_after_timeout(model: type[ExportJob] | type[ImportJob], job_id: int, *, what: str) -> None:
    """The task was stopped at ``Q_TIMEOUT`` (modules/common/task_timeout.py): the queue never runs it
    again, so the job is failed here, or it would read ``running`` until the prune's ``stale`` hours
    later. By id: the task may have been stopped before it held its job (waiting for the job's lock,
    held by another delivery that may have died); a job that finished stays so."""
    after_task_timeout()
    seconds = settings.Q_CLUSTER["timeout"]
    _fail(
        model,
        job_id,
        code="timeout",
        message=f"The {what} took longer than the worker allows ({seconds} s) and was stopped; nothing was "
        "kept. A smaller file, or a longer Q_TIMEOUT (and Q_RETRY) on the worker, lets it finish.",
    )


def enqueue_job(task: str, job_id: int) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(task, job_id, task_name=f"{task.rsplit('.', 1)[-1]}-{job_id}"))
