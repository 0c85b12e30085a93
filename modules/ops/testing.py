"""Factories other modules' tests may use (the only other public door of ops)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from modules.ops.catalog import unit_of
from modules.ops.models import AlertRule, MetricSample


def make_rule(**fields: Any) -> AlertRule:
    values: dict[str, Any] = {
        "name": f"rule-{AlertRule.objects.count() + 1}-{timezone.now().timestamp():.6f}",
        "metric": "cpu_usage",
        "operator": ">",
        "threshold": 80.0,
        "window_minutes": 5,
        "aggregation": "avg",
        "cooldown_minutes": 30,
        "severity": "warning",
    }
    values.update(fields)
    return AlertRule.objects.create(**values)


def record_samples(
    name: str, values: Iterable[float], *, end: datetime | None = None, step: timedelta = timedelta(minutes=1)
) -> list[MetricSample]:
    """Samples of ``name`` one ``step`` apart, the last one at ``end`` (default: this minute)."""
    values = list(values)
    last = (end or timezone.now()).replace(second=0, microsecond=0)
    unit = unit_of(name)
    return MetricSample.objects.bulk_create(
        MetricSample(name=name, value=value, unit=unit, at=last - step * (len(values) - 1 - index))
        for index, value in enumerate(values)
    )


def publish_cluster_status(
    *, cluster_id: str = "test-cluster", status: str | None = None, workers: int = 2, host: str | None = None
) -> str:
    """Publishes a Django-Q2 cluster status in the broker's cache, as a running cluster's sentinel does
    (3-second expiry); returns its key for ``withdraw_cluster_status``. ``status`` defaults to idle."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.signing import SignedPackage
    from django_q.status import Stat, Status

    stat = Status(pid=4242, cluster_id=cluster_id)
    stat.status = Conf.IDLE if status is None else status
    stat.workers = [10_000 + index for index in range(workers)]
    if host is not None:
        stat.host = host
    key = Stat.get_key(cluster_id)
    get_broker().set_stat(key, SignedPackage.dumps(stat, True), 3)
    return key


def withdraw_cluster_status(key: str) -> None:
    from django_q.brokers import get_broker

    get_broker().cache.delete(key)
