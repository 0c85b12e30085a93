"""The ops module's facade: health checks, metric collection, alert rules, the alert sweep and its
notifications."""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from modules.common.db import lag_tolerant, replica_reads
from modules.common.errors import Conflict, NotFound, ValidationFailed
from modules.identity import services as identity
from modules.ops import selectors
from modules.ops.alerting.evaluator import Decision, RuleSpec, Sample, evaluate
from modules.ops.alerting.slack import AlertMessage, NotificationFailed, SlackNotifier
from modules.ops.catalog import BY_NAME
from modules.ops.collectors import collect_all
from modules.ops.models import (
    AlertEvent,
    AlertNotification,
    AlertRule,
    Channel,
    DeliveryStatus,
    MetricSample,
    NotificationKind,
)
from modules.ops.validation import rule_validation_errors, webhook_error

logger = logging.getLogger(__name__)

__all__ = [
    "collect_metrics",
    "create_rule",
    "delete_rule",
    "deliver_due_notifications",
    "monitoring_health",
    "prune_metric_samples",
    "readiness",
    "run_alert_sweep",
    "update_rule",
]


# --- Health ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    latency_ms: float
    error: str = ""


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, CheckResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks.values())


def check_database() -> CheckResult:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"; the reason is logged, not returned
        logger.warning("readiness: database check failed", extra={"error": type(exc).__name__})
        return CheckResult(ok=False, latency_ms=_ms(started), error="database unreachable")
    return CheckResult(ok=True, latency_ms=_ms(started))


def check_cache() -> CheckResult:
    started = time.perf_counter()
    key = f"ops:ready:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=5)
        ok = cache.get(key) == "1"
        cache.delete(key)
    except Exception as exc:  # a cache client error means "not ready"
        logger.warning("readiness: cache check failed", extra={"error": type(exc).__name__})
        return CheckResult(ok=False, latency_ms=_ms(started), error="cache unreachable")
    return CheckResult(ok=ok, latency_ms=_ms(started), error="" if ok else "cache unreachable or lost a value")


def check_queue() -> CheckResult:
    """The broker answers (for the ORM broker: its table is readable)."""
    from django_q.brokers import get_broker

    started = time.perf_counter()
    try:
        broker = get_broker()
        broker.ping()
        broker.queue_size()
    except Exception as exc:  # a broker error is reported as a failing check
        logger.warning("health: queue check failed", extra={"error": type(exc).__name__})
        return CheckResult(ok=False, latency_ms=_ms(started), error="queue broker unreachable")
    return CheckResult(ok=True, latency_ms=_ms(started))


DISK_FULL_PERCENT = 90.0


def check_disk() -> CheckResult:
    started = time.perf_counter()
    usage = shutil.disk_usage(settings.OPS_DISK_PATH)
    percent = 100.0 * usage.used / usage.total if usage.total else 0.0
    if percent >= DISK_FULL_PERCENT:
        return CheckResult(ok=False, latency_ms=_ms(started), error=f"disk {percent:.0f}% full")
    return CheckResult(ok=True, latency_ms=_ms(started))


def readiness() -> Readiness:
    return Readiness(checks={"database": check_database(), "cache": check_cache()})


@dataclass(frozen=True)
class LatestValue:
    value: float
    unit: str
    at: datetime


@dataclass(frozen=True)
class MonitoringHealth:
    status: str  # "ok" or "degraded"
    checks: dict[str, CheckResult]
    metrics: dict[str, LatestValue]


def monitoring_health(*, now: datetime | None = None) -> MonitoringHealth:
    checks = {
        "database": check_database(),
        "cache": check_cache(),
        "queue": check_queue(),
        "disk": check_disk(),
    }
    metrics = latest_metrics(now=now) if checks["database"].ok else {}
    status = "ok" if all(check.ok for check in checks.values()) else "degraded"
    return MonitoringHealth(status=status, checks=checks, metrics=metrics)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


# --- Metrics --------------------------------------------------------------------------------------


@replica_reads()
def latest_metrics(*, now: datetime | None = None) -> dict[str, LatestValue]:
    """The newest value of every metric recorded in the last hour, by name."""
    samples = selectors.latest_samples(now=now or timezone.now())
    return {
        s.name: LatestValue(value=s.value, unit=s.unit, at=s.at)
        for s in sorted(samples, key=lambda s: s.name)
    }


@dataclass(frozen=True)
class CollectionResult:
    at: datetime
    recorded: dict[str, float]


def collect_metrics(*, now: datetime | None = None) -> CollectionResult:
    """One collection round: read every source, store one sample per metric at the round's minute.
    Running twice in a minute stores nothing new (unique (name, at))."""
    moment = now or timezone.now()
    at = moment.replace(second=0, microsecond=0)
    readings = collect_all(moment)
    MetricSample.objects.bulk_create(
        [MetricSample(name=r.name, value=r.value, unit=r.unit, at=at) for r in readings],
        ignore_conflicts=True,
    )
    return CollectionResult(at=at, recorded={r.name: r.value for r in readings})


def prune_metric_samples(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.METRICS_RETENTION_DAYS)
    deleted, _ = MetricSample.objects.filter(at__lt=cutoff).delete()
    logger.info("pruned metric samples", extra={"deleted": deleted, "cutoff": cutoff.isoformat()})
    return deleted


MAX_SAMPLES = 10_000
DEFAULT_SAMPLES = 1_440


@dataclass(frozen=True)
class SampleSeries:
    name: str
    unit: str
    since: datetime
    until: datetime
    samples: list[MetricSample]
    truncated: bool


@replica_reads()
def metric_samples(
    *, name: str, since: datetime | None = None, until: datetime | None = None, limit: int = DEFAULT_SAMPLES
) -> SampleSeries:
    if name not in BY_NAME:
        raise ValidationFailed(_field_error("name", f"Unknown metric {name!r}."))
    end = until or timezone.now()
    start = since or end - timedelta(hours=1)
    if start > end:
        raise ValidationFailed(_field_error("since", "since must not be after until."))
    limit = max(1, min(limit, MAX_SAMPLES))
    rows = selectors.samples_between(name=name, since=start, until=end, limit=limit + 1)
    return SampleSeries(
        name=name,
        unit=BY_NAME[name].unit,
        since=start,
        until=end,
        samples=rows[:limit],
        truncated=len(rows) > limit,
    )


def _field_error(field_name: str, message: str, *, where: str = "query") -> list[dict[str, Any]]:
    """The same shape as a schema error, so clients read every 422 alike."""
    return [{"type": "value_error", "loc": [where, field_name], "msg": message}]


# --- Alert rules ----------------------------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "metric",
    "operator",
    "threshold",
    "window_minutes",
    "aggregation",
    "cooldown_minutes",
    "severity",
    "notify_slack",
    "notify_emails",
    "slack_webhook_url",
    "is_active",
)


def list_rules() -> QuerySet[AlertRule]:
    return selectors.rules()


def _validate(values: dict[str, Any]) -> None:
    errors = rule_validation_errors(
        metric=values.get("metric"),
        slack_webhook_url=values.get("slack_webhook_url"),
        notify_emails=values.get("notify_emails"),
    )
    if errors:
        raise ValidationFailed(
            [
                {"type": "value_error", "loc": ["body", "payload", key], "msg": msg}
                for key, msg in errors.items()
            ]
        )


def create_rule(*, values: dict[str, Any]) -> AlertRule:
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise ValidationFailed(_field_error(sorted(unknown)[0], "Unknown field.", where="body"))
    _validate(values)
    rule = AlertRule(**values)
    rule.notify_emails = _normalised_emails(rule.notify_emails)
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:
        _raise_if_name_taken(name=rule.name, exclude_id=None, cause=exc)
        raise
    return rule


def _raise_if_name_taken(*, name: str, exclude_id: int | None, cause: IntegrityError) -> None:
    """Turns a unique-name violation into 409; any other integrity error stays a bug (re-raised)."""
    if AlertRule.objects.filter(name=name).exclude(pk=exclude_id).exists():
        raise Conflict(f"An alert rule named {name!r} already exists.") from cause


def update_rule(*, rule_id: int, changes: dict[str, Any]) -> AlertRule:
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise ValidationFailed(_field_error(sorted(unknown)[0], "Unknown field.", where="body"))
    _validate(changes)
    try:
        with transaction.atomic():
            rule = AlertRule.objects.select_for_update().filter(pk=rule_id).first()
            if rule is None:
                raise NotFound()
            for name, value in changes.items():
                setattr(rule, name, value)
            rule.notify_emails = _normalised_emails(rule.notify_emails)
            rule.save()
            if changes.get("is_active") is False:
                # A rule switched off cannot resolve its open event any more: close it now (no
                # notification; the admin who switched it off knows).
                AlertEvent.objects.filter(rule=rule, resolved_at__isnull=True).update(
                    resolved_at=timezone.now()
                )
    except IntegrityError as exc:
        if "name" in changes:
            _raise_if_name_taken(name=changes["name"], exclude_id=rule_id, cause=exc)
        raise
    return rule


def delete_rule(*, rule_id: int) -> None:
    deleted, _ = AlertRule.objects.filter(pk=rule_id).delete()
    if not deleted:
        raise NotFound()


def _normalised_emails(emails: Iterable[str] | None) -> list[str]:
    seen: dict[str, None] = {}
    for email in emails or []:
        seen.setdefault(email.strip().lower(), None)
    return list(seen)


def list_alert_events(*, rule_id: int | None = None, open_only: bool | None = None) -> QuerySet[AlertEvent]:
    return lag_tolerant(selectors.events(rule_id=rule_id, open_only=open_only))


# --- The alert sweep ------------------------------------------------------------------------------


@dataclass
class SweepResult:
    evaluated: int = 0
    fired: list[int] = field(default_factory=list)  # event ids
    resolved: list[int] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0


def run_alert_sweep(*, now: datetime | None = None) -> SweepResult:
    """Evaluate every active rule once, then deliver the due notifications (new ones and retries)."""
    moment = now or timezone.now()
    result = SweepResult()
    for rule_id in selectors.active_rule_ids():
        decision, event_id = _evaluate_rule(rule_id=rule_id, now=moment)
        result.evaluated += 1
        if decision is Decision.FIRE and event_id is not None:
            result.fired.append(event_id)
        elif decision is Decision.RESOLVE and event_id is not None:
            result.resolved.append(event_id)
    delivery = deliver_due_notifications(now=moment)
    result.delivered, result.failed = delivery.delivered, delivery.failed
    return result


def _evaluate_rule(*, rule_id: int, now: datetime) -> tuple[Decision | None, int | None]:
    with transaction.atomic():
        # The row lock serialises concurrent sweeps per rule (tick and a worker, two workers).
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id, is_active=True).first()
        if rule is None:
            return None, None
        spec = RuleSpec(
            operator=rule.operator,
            threshold=rule.threshold,
            window_minutes=rule.window_minutes,
            aggregation=rule.aggregation,
            cooldown_minutes=rule.cooldown_minutes,
        )
        points = selectors.window_points(
            metric=rule.metric, start=now - timedelta(minutes=rule.window_minutes), end=now
        )
        current = selectors.open_event(rule.pk)
        outcome = evaluate(
            spec,
            [Sample(at=at, value=value) for at, value in points],
            now=now,
            has_open_event=current is not None,
            last_fired_at=rule.last_fired_at,
        )
        if outcome.decision is Decision.FIRE and outcome.value is not None:
            event = AlertEvent.objects.create(rule=rule, value=outcome.value, fired_at=now)
            rule.last_fired_at = now
            rule.save(update_fields=["last_fired_at"])
            _queue_notifications(rule=rule, event=event, kind=NotificationKind.FIRED, now=now)
            logger.warning(
                "alert fired",
                extra={
                    "rule": rule.name,
                    "metric": rule.metric,
                    "value": outcome.value,
                    "event_id": event.pk,
                },
            )
            return outcome.decision, event.pk
        if outcome.decision is Decision.RESOLVE and current is not None:
            current.resolved_at = now
            current.resolved_value = outcome.value
            current.save(update_fields=["resolved_at", "resolved_value"])
            _queue_notifications(rule=rule, event=current, kind=NotificationKind.RESOLVED, now=now)
            logger.info("alert resolved", extra={"rule": rule.name, "event_id": current.pk})
            return outcome.decision, current.pk
        return outcome.decision, None


def _queue_notifications(*, rule: AlertRule, event: AlertEvent, kind: str, now: datetime) -> None:
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
        AlertEvent.objects.filter(pk=event.pk).update(notified=True)  # nothing to deliver


@dataclass(frozen=True)
class DeliveryResult:
    delivered: int
    failed: int


CLAIM_LEASE = timedelta(minutes=2)  # a crashed sender's claim expires and the next sweep retries
DELIVERY_BATCH = 200
# A sweep stops claiming new notifications after this long (a dead webhook costs its timeout on each
# message); what is left stays due for the next sweep, well inside the queue's task timeout.
DELIVERY_TIME_BUDGET_SECONDS = 60.0


def deliver_due_notifications(*, now: datetime | None = None) -> DeliveryResult:
    """Send every pending notification whose time has come. A notification is claimed with a
    conditional UPDATE first, so two sweeps never send the same message twice."""
    moment = now or timezone.now()
    delivered = failed = 0
    started = time.monotonic()
    for notification_id in selectors.due_notification_ids(now=moment, limit=DELIVERY_BATCH):
        if time.monotonic() - started > DELIVERY_TIME_BUDGET_SECONDS:
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
            backoff_minutes = min(2 ** (notification.attempts - 1), 60)
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
    rule = event.rule
    resolved = notification.kind == NotificationKind.RESOLVED
    return AlertMessage(
        kind=notification.kind,
        rule_name=rule.name,
        metric=rule.metric,
        severity=rule.severity,
        operator=rule.operator,
        threshold=rule.threshold,
        aggregation=rule.aggregation,
        window_minutes=rule.window_minutes,
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
        attempts=settings.SLACK_ATTEMPTS,
        backoff_seconds=settings.SLACK_BACKOFF_SECONDS,
    )
    notifier.send(url=url, message=_message(notification))


EMAIL_TEMPLATES = {
    NotificationKind.FIRED: "ops/email/alert_fired",
    NotificationKind.RESOLVED: "ops/email/alert_resolved",
}


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


def retry_notifications(*, event_ids: Iterable[int]) -> int:
    """Make given-up and waiting notifications of these events due now (admin action)."""
    return (
        AlertNotification.objects.filter(event_id__in=list(event_ids))
        .exclude(status=DeliveryStatus.SENT)
        .update(status=DeliveryStatus.PENDING, next_attempt_at=timezone.now())
    )
