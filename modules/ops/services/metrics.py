"""Metrics: one collection round a minute into ``MetricSample`` (one value per metric and minute),
their retention, and the reads behind the monitoring endpoints and Prometheus.

A metric whose source cannot be read is absent from a round, never zero (``collectors.py``). Reads
tolerate lag, so they may use the read replica.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from modules.common.db import replica_reads
from modules.common.errors import ValidationFailed
from modules.ops import selectors
from modules.ops.catalog import BY_NAME
from modules.ops.collectors import collect_all
from modules.ops.models import MetricSample

logger = logging.getLogger(__name__)

MAX_SAMPLES = 10_000
DEFAULT_SAMPLES = 1_440
# Collection runs every minute (``at`` is the round's minute): a newest sample older than this means
# at least two rounds were missed, i.e. the worker (or its schedule) stopped. Its values are then not
# current: /metrics omits them and the admins' health reports collection stopped.
METRICS_STALE_AFTER = timedelta(minutes=3)


@dataclass(frozen=True)
class LatestValue:
    value: float
    unit: str
    at: datetime


@dataclass(frozen=True)
class CollectionResult:
    at: datetime
    recorded: dict[str, float]


@dataclass(frozen=True)
class SampleSeries:
    name: str
    unit: str
    since: datetime
    until: datetime
    samples: list[MetricSample]
    truncated: bool


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
    """Deletes the samples older than ``METRICS_RETENTION_DAYS``; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.METRICS_RETENTION_DAYS)
    deleted, _ = MetricSample.objects.filter(at__lt=cutoff).delete()
    logger.info("pruned metric samples", extra={"deleted": deleted, "cutoff": cutoff.isoformat()})
    return deleted


@replica_reads()
def latest_metrics(*, now: datetime | None = None) -> dict[str, LatestValue]:
    """The newest value of every metric recorded in the last hour, by name."""
    samples = selectors.latest_samples(now=now or timezone.now())
    return {
        s.name: LatestValue(value=s.value, unit=s.unit, at=s.at)
        for s in sorted(samples, key=lambda s: s.name)
    }


def collected_at(latest: dict[str, LatestValue]) -> datetime | None:
    """When the newest of these values was collected (its round's minute), None without any."""
    return max((value.at for value in latest.values()), default=None)


def current_values(latest: dict[str, LatestValue], *, now: datetime | None = None) -> dict[str, LatestValue]:
    """The values of ``latest`` at most ``METRICS_STALE_AFTER`` old: the ones that may be presented
    as current."""
    cutoff = (now or timezone.now()) - METRICS_STALE_AFTER
    return {name: value for name, value in latest.items() if value.at >= cutoff}


@replica_reads()
def metric_samples(
    *, name: str, since: datetime | None = None, until: datetime | None = None, limit: int = DEFAULT_SAMPLES
) -> SampleSeries:
    """The samples of one catalogued metric in [since, until] (default: the last hour), oldest
    first, at most ``limit`` (clamped to 1..``MAX_SAMPLES``); ``truncated`` when more were there.
    ValidationFailed for an unknown metric or ``since`` after ``until``."""
    if name not in BY_NAME:
        raise ValidationFailed.field("name", f"Unknown metric {name!r}.", source="query")
    end = until or timezone.now()
    start = since or end - timedelta(hours=1)
    if start > end:
        raise ValidationFailed.field("since", "since must not be after until.", source="query")
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
