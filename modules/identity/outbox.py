"""Delivery of queued emails: send the stored message through Django's email backend, log every try.

Retries: Django-Q2 does not retry a task that raised when ``ack_failures`` is on, so a failed send
does not raise. It records the attempt (``attempts``, ``error``, ``last_attempt_at``) and, while
``settings.EMAIL_MAX_ATTEMPTS`` is not reached, schedules one more delivery of the same row with
exponential backoff (``EMAIL_RETRY_BACKOFF_SECONDS`` x 4^(attempt-1): 1, 4, 16, 64 minutes by default)
as a one-off Django-Q2 schedule; after the last attempt the row is marked ``failed``.

A delivery is idempotent: the row is locked while it is sent and only a ``queued`` row is sent, so a
task the broker hands out twice sends once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from modules.identity.models import EmailLog, EmailStatus

logger = logging.getLogger(__name__)

DELIVER_TASK = "modules.identity.tasks.deliver_email"


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=settings.EMAIL_RETRY_BACKOFF_SECONDS * 4 ** max(attempts - 1, 0))


@transaction.atomic
def deliver(*, log_id: int) -> str:
    log = EmailLog.objects.select_for_update(skip_locked=True).filter(pk=log_id).first()
    if log is None:
        return "missing-or-busy"
    if log.status != EmailStatus.QUEUED:  # sent (or given up) already: a duplicate task does nothing
        return f"already-{log.status}"
    message = EmailMultiAlternatives(
        subject=log.subject, body=log.body_text, from_email=settings.DEFAULT_FROM_EMAIL, to=[log.to]
    )
    if log.body_html:
        message.attach_alternative(log.body_html, "text/html")
    now = timezone.now()
    log.attempts += 1
    log.last_attempt_at = now
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # whatever the backend raises (SMTP, SES, network), the row records it
        log.error = f"{type(exc).__name__}: {exc}"[:2000]
        return _after_failure(log, now=now)
    log.status = EmailStatus.SENT
    log.sent_at = now
    log.error = ""
    log.next_attempt_at = None
    log.body_text = log.body_html = ""  # the message may hold a one-time link; it is not needed anymore
    log.save()
    return "sent"


def _after_failure(log: EmailLog, *, now: datetime) -> str:
    if log.attempts >= settings.EMAIL_MAX_ATTEMPTS:
        log.status = EmailStatus.FAILED
        log.next_attempt_at = None
        log.body_text = log.body_html = ""
        log.save()
        logger.error(
            "email delivery failed for good",
            extra={"email_log_id": log.pk, "template": log.template, "attempts": log.attempts},
        )
        return "failed"
    from django_q.models import Schedule
    from django_q.tasks import schedule

    log.next_attempt_at = now + retry_delay(log.attempts)
    log.save()
    schedule(
        DELIVER_TASK,
        log.pk,
        name=f"email-retry-{log.pk}-{log.attempts}",
        schedule_type=Schedule.ONCE,
        next_run=log.next_attempt_at,
    )
    logger.warning(
        "email delivery failed; retry scheduled",
        extra={"email_log_id": log.pk, "template": log.template, "attempts": log.attempts},
    )
    return "retry"


STUCK_AFTER = timedelta(minutes=2)


def requeue_stuck(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue again the deliveries of emails that should have gone by now: queued more than two
    minutes ago and not waiting for a retry. Their task was lost between the commit and the broker
    (the process died, the broker refused), so the row alone remembers them. A delivery is
    idempotent, so a row whose task is merely slow is sent once all the same."""
    from django_q.tasks import async_task

    moment = now or timezone.now()
    cutoff = moment - STUCK_AFTER
    stuck = list(
        EmailLog.objects.filter(status=EmailStatus.QUEUED, created_at__lt=cutoff)
        .exclude(next_attempt_at__gt=cutoff)
        .exclude(last_attempt_at__gt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for log_id in stuck:
        async_task(DELIVER_TASK, log_id, task_name=f"email-{log_id}-requeued")
    if stuck:
        logger.warning("requeued stuck email deliveries", extra={"count": len(stuck)})
    return len(stuck)
