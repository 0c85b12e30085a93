"""The email outbox: render a templated email, keep it on an ``EmailLog``, deliver it from the queue.

``send_email`` renders the message at once (so the context may hold any object the templates read),
stores it and its extra headers (``List-Unsubscribe``, ...) on its ``EmailLog`` and enqueues
``deliver_email`` after the surrounding transaction commits; every attempt, retries included, sends
the stored headers. A delivery is idempotent: the row is locked while it is sent and only a
``queued`` row is sent, so a task the broker hands out twice sends once.

Retries: Django-Q2 does not retry a task that raised when ``ack_failures`` is on, so a failed send
does not raise. It records the attempt (``attempts``, ``error``, ``last_attempt_at``) and, while
``settings.EMAIL_MAX_ATTEMPTS`` is not reached, schedules one more delivery of the same row with
exponential backoff (``EMAIL_RETRY_BACKOFF_SECONDS`` x 4^(attempt-1): 1, 4, 16, 64 minutes by default)
as a one-off Django-Q2 schedule; after the last attempt the row is marked ``failed``. A row whose
delivery task never reached the broker is queued again by ``requeue_stuck_emails`` (every 5 minutes).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from modules.identity.models import EmailLog, EmailStatus

logger = logging.getLogger(__name__)

DELIVER_TASK = "modules.identity.tasks.deliver_email"
# A queued row older than this, not waiting for a retry, lost its delivery task.
STUCK_AFTER = timedelta(minutes=2)
# An RFC 5322 field name: printable ASCII but the colon.
_HEADER_NAME = re.compile(r"[!-9;-~]+")


@dataclass(frozen=True)
class _Rendered:
    subject: str
    text: str
    html: str


def _render(*, template: str, context: dict[str, Any]) -> _Rendered:
    """The message from the templates ``<template>_subject.txt``, ``<template>_body.txt`` and
    ``<template>_body.html``; a template name is a path under an app's ``templates/`` folder, such as
    ``identity/email/verify_email`` or ``learning/email/review_reminder``."""
    ctx = {"site_url": settings.SITE_URL, "frontend_url": settings.FRONTEND_URL, **context}
    return _Rendered(
        subject=" ".join(render_to_string(f"{template}_subject.txt", ctx).split()),
        text=render_to_string(f"{template}_body.txt", ctx),
        html=render_to_string(f"{template}_body.html", ctx),
    )


def _checked_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The extra headers as stored, refused at once (ValueError) when one could never be sent: the
    worker would otherwise fail on it at every attempt."""
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not _HEADER_NAME.fullmatch(name) or not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ValueError(f"Invalid email header: {name!r}")
        checked[name] = value
    return checked


def send_email(
    *, to: str, template: str, context: dict[str, Any], headers: Mapping[str, str] | None = None
) -> int:
    """Queue a templated email; returns the EmailLog id. The worker sends it after the surrounding
    transaction commits, and retries it with backoff when the email backend fails. ``headers`` are
    extra message headers (one line each), sent with every attempt."""
    extra_headers = _checked_headers(headers)
    message = _render(template=template, context=context)
    log = EmailLog.objects.create(
        to=to,
        template=template[:120],
        subject=message.subject[:255],
        body_text=message.text,
        body_html=message.html,
        headers=extra_headers,
    )
    transaction.on_commit(lambda: _enqueue_delivery(log.pk))
    return log.pk


def _enqueue_delivery(log_id: int, *, suffix: str = "") -> None:
    from django_q.tasks import async_task

    async_task(DELIVER_TASK, log_id, task_name=f"email-{log_id}{suffix}")


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failed try an email is tried again."""
    return timedelta(seconds=settings.EMAIL_RETRY_BACKOFF_SECONDS * 4 ** max(attempts - 1, 0))


@transaction.atomic
def deliver_email(*, log_id: int) -> str:
    """Send a queued email once: ``sent``, ``retry``, ``failed``, ``already-<status>`` or
    ``missing-or-busy`` (no such row, or another worker holds it)."""
    log = EmailLog.objects.select_for_update(skip_locked=True).filter(pk=log_id).first()
    if log is None:
        return "missing-or-busy"
    if log.status != EmailStatus.QUEUED:  # sent (or given up) already: a duplicate task does nothing
        return f"already-{log.status}"
    message = EmailMultiAlternatives(
        subject=log.subject,
        body=log.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[log.to],
        headers=dict(log.headers or {}),
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
    log.headers = {}
    log.save()
    return "sent"


def _after_failure(log: EmailLog, *, now: datetime) -> str:
    if log.attempts >= settings.EMAIL_MAX_ATTEMPTS:
        log.status = EmailStatus.FAILED
        log.next_attempt_at = None
        log.body_text = log.body_html = ""
        log.headers = {}
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


def requeue_stuck_emails(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue again the deliveries of emails that should have gone by now: queued more than two
    minutes ago and not waiting for a retry. Their task was lost between the commit and the broker
    (the process died, the broker refused), so the row alone remembers them. A delivery is
    idempotent, so a row whose task is merely slow is sent once all the same."""
    cutoff = (now or timezone.now()) - STUCK_AFTER
    stuck = list(
        EmailLog.objects.filter(status=EmailStatus.QUEUED, created_at__lt=cutoff)
        .exclude(next_attempt_at__gt=cutoff)
        .exclude(last_attempt_at__gt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for log_id in stuck:
        _enqueue_delivery(log_id, suffix="-requeued")
    if stuck:
        logger.warning("requeued stuck email deliveries", extra={"count": len(stuck)})
    return len(stuck)
