"""Delivery of queued emails: render, send through Django's email backend, log every attempt."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from modules.identity.models import EmailLog, EmailStatus
from modules.identity.services import render_email

logger = logging.getLogger(__name__)


def deliver(*, log_id: int, template: str, context: dict[str, Any]) -> str:
    log = EmailLog.objects.filter(pk=log_id).first()
    if log is None:
        return "missing"
    if log.status == EmailStatus.SENT:  # idempotent: a retried task does not send twice
        return "already-sent"
    subject, text, html = render_email(template, context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[log.to]
    )
    message.attach_alternative(html, "text/html")
    log.attempts += 1
    try:
        message.send(fail_silently=False)
    except Exception as exc:
        log.status = EmailStatus.FAILED
        log.error = f"{type(exc).__name__}: {exc}"[:2000]
        log.save(update_fields=["attempts", "status", "error"])
        logger.warning("email delivery failed", extra={"email_log_id": log.pk, "template": template})
        raise
    log.status = EmailStatus.SENT
    log.sent_at = timezone.now()
    log.error = ""
    log.save(update_fields=["attempts", "status", "error", "sent_at"])
    return "sent"
