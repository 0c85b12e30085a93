"""Alert notifications: one row per alert, kind (fired, resolved) and channel (Slack, each email
recipient), delivered by the sweep and retried durably.

Delivery is one attempt per notification per sweep. A failure is recorded on the row and the next try
waits ``next_attempt_at`` (1, 2, 4, ... minutes, at most 60) until ``ALERT_NOTIFY_MAX_ATTEMPTS``, then
the notification is given up (an admin may retry it). A notification is claimed with a conditional
UPDATE before it is sent, so two sweeps never send the same message twice; a crashed sender's claim
expires after ``CLAIM_LEASE``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from modules.identity import services as identity
from modules.ops import selectors
from modules.ops.alerting.slack import AlertMessage, NotificationFailed, SlackNotifier
from modules.ops.models import (
    AlertEvent,
    AlertNotification,
    AlertRule,
    Channel,
    DeliveryStatus,
    NotificationKind,
)
from modules.ops.validation import webhook_error

logger = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=2)
DELIVERY_BATCH = 200
# The sweep runs every minute (OpsConfig.schedules). Its deliveries must end well inside that period, or
# a dead webhook (its timeout on every message) holds a worker for the whole minute and sweeps pile up:
# a delivery is only started while one more webhook timeout still fits in the budget; what is left
# stays due for the next sweep.
SWEEP_PERIOD_SECONDS = 60.0
DELIVERY_TIME_BUDGET_SECONDS = 30.0
MAX_BACKOFF_MINUTES = 60
# A webhook that answers after its timeout may still have posted the message: each retry waits for
# the answer twice as long as the one before (from SLACK_TIMEOUT_SECONDS, up to this), so a slow but
# working Slack is confirmed on the second or third attempt instead of posting the alert ten times.
# The budget and the longest wait still fit in the sweep's minute.
MAX_SLACK_READ_SECONDS = 25.0
EMAIL_TEMPLATES = {
    NotificationKind.FIRED: "ops/email/alert_fired",
    NotificationKind.RESOLVED: "ops/email/alert_resolved",
}


@dataclass(frozen=True)
class DeliveryResult:
    delivered: int
    failed: int


def queue_notifications(*, rule: AlertRule, event: AlertEvent, kind: str, now: datetime) -> None:
    """The notifications ``event`` brings (Slack if the rule asks for it, one per recipient), due at
    once. An alert with nowhere to go is marked notified."""
    rows = []
    if rule.notify_slack:
        rows.append(
            AlertNotification(event=event, kind=kind, channel=Channel.SLACK, target="", next_attempt_at=now)
        )
    rows.extend(
        AlertNotification(event=event, kind=kind, channel=Channel.EMAIL, target=email, next_attempt_at=now)
        for email in rule.notify_emails
    )
    AlertNotification.objects.bulk_create(rows, ignore_conflicts=True)
    if kind == NotificationKind.FIRED and not rows:
        AlertEvent.objects.filter(pk=event.pk).update(notified=True)


def deliver_due_notifications(*, now: datetime | None = None) -> DeliveryResult:
    """Send every pending notification whose time has come (at most ``DELIVERY_BATCH``, within
    ``DELIVERY_TIME_BUDGET_SECONDS``; the rest waits for the next sweep)."""
    moment = now or timezone.now()
    delivered = failed = 0
    started = time.monotonic()
    for notification_id, channel, attempts in selectors.due_notifications(now=moment, limit=DELIVERY_BATCH):
        elapsed = time.monotonic() - started
        longest = slack_read_timeout(attempts) if channel == Channel.SLACK else settings.SLACK_TIMEOUT_SECONDS
        if delivered + failed and elapsed + longest > DELIVERY_TIME_BUDGET_SECONDS:
            logger.warning("alert delivery time budget spent; the rest waits for the next sweep")
            break
        claimed = AlertNotification.objects.filter(
            pk=notification_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=moment
        ).update(next_attempt_at=moment + CLAIM_LEASE)
        if not claimed:
            continue
        notification = AlertNotification.objects.select_related("event__rule").get(pk=notification_id)
        if _deliver(notification, now=moment):
            delivered += 1
        else:
            failed += 1
    return DeliveryResult(delivered=delivered, failed=failed)


def slack_read_timeout(attempts: int) -> float:
    """How long attempt ``attempts + 1`` waits for the webhook's answer (``MAX_SLACK_READ_SECONDS``)."""
    base = settings.SLACK_TIMEOUT_SECONDS
    return max(base, min(base * 2 ** min(attempts, 10), MAX_SLACK_READ_SECONDS))


def retry_notifications(*, event_ids: Iterable[int]) -> int:
    """Make given-up and waiting notifications of these events due now (admin action)."""
    return (
        AlertNotification.objects.filter(event_id__in=list(event_ids))
        .exclude(status=DeliveryStatus.SENT)
        .update(status=DeliveryStatus.PENDING, next_attempt_at=timezone.now())
    )


def _deliver(notification: AlertNotification, *, now: datetime) -> bool:
    event = notification.event
    error = ""
    try:
        if notification.channel == Channel.SLACK:
            _send_slack(notification)
        else:
            _send_email(notification)
    except NotificationFailed as exc:
        error = str(exc) or type(exc).__name__
    except Exception as exc:  # an unexpected notifier bug is recorded and retried like any failure
        logger.exception("alert notification crashed", extra={"notification_id": notification.pk})
        error = f"{type(exc).__name__}: {exc}"
    notification.attempts += 1
    if error:
        notification.last_error = error[:2000]
        if notification.attempts >= settings.ALERT_NOTIFY_MAX_ATTEMPTS:
            notification.status = DeliveryStatus.FAILED
            logger.error(
                "alert notification given up",
                extra={"notification_id": notification.pk, "attempts": notification.attempts, "error": error},
            )
        else:
            backoff_minutes = min(2 ** (notification.attempts - 1), MAX_BACKOFF_MINUTES)
            notification.next_attempt_at = now + timedelta(minutes=backoff_minutes)
            logger.warning(
                "alert notification failed; will retry",
                extra={"notification_id": notification.pk, "attempts": notification.attempts, "error": error},
            )
    else:
        notification.status = DeliveryStatus.SENT
        notification.sent_at = now
        notification.last_error = ""
    notification.save(update_fields=["attempts", "status", "last_error", "next_attempt_at", "sent_at"])
    _refresh_event_flags(event_id=event.pk, error=error)
    return not error


def _refresh_event_flags(*, event_id: int, error: str) -> None:
    undelivered = AlertNotification.objects.filter(
        event_id=OuterRef("pk"), kind=NotificationKind.FIRED
    ).exclude(status=DeliveryStatus.SENT)
    updates: dict[str, Any] = {"notify_attempts": F("notify_attempts") + 1}
    if error:
        updates["notify_error"] = error[:2000]
    AlertEvent.objects.filter(pk=event_id).update(**updates)
    AlertEvent.objects.filter(pk=event_id).annotate(pending=Exists(undelivered)).filter(pending=False).update(
        notified=True
    )


def _message(notification: AlertNotification) -> AlertMessage:
    event = notification.event
    rule = event.fired_as  # as it fired: a rule edited since does not change what is sent
    resolved = notification.kind == NotificationKind.RESOLVED
    return AlertMessage(
        kind=notification.kind,
        rule_name=rule["name"],
        metric=rule["metric"],
        severity=rule["severity"],
        operator=rule["operator"],
        threshold=rule["threshold"],
        aggregation=rule["aggregation"],
        window_minutes=rule["window_minutes"],
        value=event.resolved_value if resolved else event.value,
        at=(event.resolved_at if resolved and event.resolved_at else event.fired_at).isoformat(),
        link=f"{settings.SITE_URL}/admin/ops/alertevent/{event.pk}/change/",
    )


def _send_slack(notification: AlertNotification) -> None:
    rule = notification.event.rule
    url = rule.slack_webhook_url or settings.SLACK_WEBHOOK_URL
    if not url:
        raise NotificationFailed("No Slack webhook: set SLACK_WEBHOOK_URL or the rule's slack_webhook_url.")
    problem = webhook_error(url)  # again at send time: the allow-list may have changed since the save
    if problem:
        raise NotificationFailed(problem)
    notifier = SlackNotifier(
        allowed_hosts=tuple(settings.SLACK_WEBHOOK_ALLOWED_HOSTS),
        require_https=settings.SLACK_WEBHOOK_REQUIRE_HTTPS,
        timeout_seconds=settings.SLACK_TIMEOUT_SECONDS,
        read_timeout_seconds=slack_read_timeout(notification.attempts),
    )
    notifier.send(url=url, message=_message(notification))


def _send_email(notification: AlertNotification) -> None:
    """Hands the message to identity's outbox, which logs it (EmailLog) and retries its delivery on
    the queue; a failure to hand it over is this notification's failure."""
    message = _message(notification)
    identity.send_email(
        to=notification.target,
        template=EMAIL_TEMPLATES[NotificationKind(notification.kind)],
        context={
            "rule_name": message.rule_name,
            "metric": message.metric,
            "severity": message.severity,
            "operator": message.operator,
            "threshold": message.threshold,
            "aggregation": message.aggregation,
            "window_minutes": message.window_minutes,
            "value": message.value,
            "at": message.at,
            "link": message.link,
        },
    )
