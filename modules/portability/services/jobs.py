"""What export and import jobs share: the deployment's name in exports, and claiming, failing and
queueing a job."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from modules.common.task_timeout import after_task_timeout
from modules.portability.models import ExportJob, ImportJob, JobStatus


def instance_id() -> str:
    """This deployment's name in exports (derived from SECRET_KEY): a re-import of a learner's own export
    is recognised by it and by their id."""
    return salted_hmac("portability.instance", "origin").hexdigest()[:16]


def claim_job(model: type[ExportJob] | type[ImportJob], job_id: int) -> Any:
    """Marks a queued job running. A finished job is left alone (the queue may deliver a task twice); a
    running one runs again (its worker died, and what it wrote was rolled back)."""
    with transaction.atomic():
        job = model.objects.select_for_update().select_related("user").filter(pk=job_id).first()
        if job is None or job.status in {JobStatus.DONE, JobStatus.FAILED}:
            return None
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at"])
        return job


def fail_job(job: ExportJob | ImportJob, *, code: str, message: str) -> None:
    type(job).objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error_code=code, error=message[:2000], finished_at=timezone.now()
    )


def fail_after_timeout(job: ExportJob | ImportJob, *, what: str) -> None:
    """The task was stopped at ``Q_TIMEOUT`` (modules/common/task_timeout.py): the queue never runs it
    again, so the job is failed here, or it would read ``running`` until the prune's ``stale`` hours
    later."""
    after_task_timeout()
    seconds = settings.Q_CLUSTER["timeout"]
    fail_job(
        job,
        code="timeout",
        message=f"The {what} took longer than the worker allows ({seconds} s) and was stopped; nothing was "
        "kept. A smaller file, or a longer Q_TIMEOUT (and Q_RETRY) on the worker, lets it finish.",
    )


def enqueue_job(task: str, job_id: int) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(task, job_id, task_name=f"{task.rsplit('.', 1)[-1]}-{job_id}"))
