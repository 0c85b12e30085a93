"""Read queries of the ops module (QuerySets stay inside the module; the facade returns DTOs)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import QuerySet

from modules.ops.models import AlertEvent, AlertNotification, AlertRule, DeliveryStatus, MetricSample

LATEST_LOOKBACK = timedelta(hours=1)


def latest_samples(*, now: datetime, lookback: timedelta = LATEST_LOOKBACK) -> list[MetricSample]:
    """The newest sample of every metric recorded within ``lookback`` (one query; the (name, at)
    index bounds the scan to the last hour's rows)."""
    recent = MetricSample.objects.filter(at__gt=now - lookback, at__lte=now)
    if connection.vendor == "postgresql":
        return list(recent.order_by("name", "-at").distinct("name"))
    newest: dict[str, MetricSample] = {}
    for sample in recent.order_by("name", "-at"):
        newest.setdefault(sample.name, sample)
    return list(newest.values())


def samples_between(*, name: str, since: datetime, until: datetime, limit: int) -> list[MetricSample]:
    """Oldest first, at most ``limit`` (one more is fetched by the caller to know it was cut)."""
    return list(MetricSample.objects.filter(name=name, at__gte=since, at__lte=until).order_by("at")[:limit])


def window_points(*, metric: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    return list(
        MetricSample.objects.filter(name=metric, at__gt=start, at__lte=end)
        .order_by("at")
        .values_list("at", "value")
    )


def rules() -> QuerySet[AlertRule]:
    return AlertRule.objects.order_by("name", "id")


def active_rule_ids() -> list[int]:
    return list(AlertRule.objects.filter(is_active=True).order_by("id").values_list("id", flat=True))


def events(*, rule_id: int | None = None, open_only: bool | None = None) -> QuerySet[AlertEvent]:
    qs = AlertEvent.objects.select_related("rule").order_by("-fired_at", "-id")
    if rule_id is not None:
        qs = qs.filter(rule_id=rule_id)
    if open_only is True:
        qs = qs.filter(resolved_at__isnull=True)
    elif open_only is False:
        qs = qs.filter(resolved_at__isnull=False)
    return qs


def open_event(rule_id: int) -> AlertEvent | None:
    return AlertEvent.objects.filter(rule_id=rule_id, resolved_at__isnull=True).first()


def due_notifications(*, now: datetime, limit: int) -> list[tuple[int, str, int]]:
    """(id, channel, attempts so far) of the pending notifications due at ``now``, oldest first."""
    return list(
        AlertNotification.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("id", "channel", "attempts")[:limit]
    )
