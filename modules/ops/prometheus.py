"""A prometheus-client custom collector: the newest MetricSample of every metric as gauges, and the
request counters of the metrics middleware as counters and a histogram.

A fresh registry is built per scrape (no global state, nothing registered at import). The request
counters are the running totals in the cache: shared by every web process on Redis, per process on
local memory.

Staleness: ``resee_metrics_collected_timestamp_seconds`` is when the newest sample was collected, and
a metric whose newest sample is older than ``METRICS_STALE_AFTER`` is left out (a Prometheus sample
carries no age, so a stopped collection's last values would look current). While the cache is
unreachable the request counters are left out and ``resee_request_metrics_up`` is 0; the gauges,
which come from the database, are still served.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from modules.common.cache import CacheUnavailable
from modules.ops.catalog import BY_NAME
from modules.ops.requestmetrics import BUCKETS_MS, RequestMetricsStore, RequestStats
from modules.ops.services import LatestValue, collected_at, current_values

logger = logging.getLogger(__name__)

PREFIX = "resee"


class ReseeCollector:
    def __init__(
        self, latest: dict[str, LatestValue], totals: RequestStats | None, *, now: datetime | None = None
    ) -> None:
        self.latest = latest
        self.totals = totals
        self.now = now

    def collect(self) -> Iterator[Metric]:
        newest = collected_at(self.latest)
        if newest is not None:
            collected = GaugeMetricFamily(
                f"{PREFIX}_metrics_collected_timestamp_seconds",
                "When the newest metric sample was collected (its round's minute, Unix time); "
                "absent when none was in the last hour",
            )
            collected.add_metric([], newest.timestamp())
            yield collected
        for name, sample in sorted(current_values(self.latest, now=self.now).items()):
            definition = BY_NAME.get(name)
            family = GaugeMetricFamily(
                f"{PREFIX}_{name}",
                f"{definition.source if definition else name} ({sample.unit}); newest collected sample",
                labels=[],
            )
            family.add_metric([], sample.value)
            yield family
        up = GaugeMetricFamily(
            f"{PREFIX}_request_metrics_up", "1 when the request counters could be read from the cache, else 0"
        )
        up.add_metric([], 0 if self.totals is None else 1)
        yield up
        if self.totals is not None:
            yield from self._requests(self.totals)

    def _requests(self, totals: RequestStats) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            f"{PREFIX}_http_requests",
            "API requests by method, route template and status class",
            labels=["method", "route", "status_class"],
        )
        for (method, route, status_class), count in sorted(totals.routes.items()):
            requests.add_metric([method, route, status_class], count)
        yield requests
        throttled = CounterMetricFamily(f"{PREFIX}_http_throttled_requests", "API requests answered 429")
        throttled.add_metric([], totals.throttled)
        yield throttled
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        counts = totals.buckets or (0,) * (len(BUCKETS_MS) + 1)
        for bound, count in zip((*BUCKETS_MS, float("inf")), counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound / 1000), cumulative))
        histogram = HistogramMetricFamily(
            f"{PREFIX}_http_request_duration_seconds", "API request latency (whole middleware stack)"
        )
        histogram.add_metric([], buckets=buckets, sum_value=totals.duration_us / 1_000_000)
        yield histogram


def render(latest: dict[str, LatestValue], *, now: datetime | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReseeCollector(latest, _request_totals(), now=now))
    return generate_latest(registry)


def _request_totals() -> RequestStats | None:
    """The middleware's running totals, or None while the cache cannot be read (logged)."""
    try:
        return RequestMetricsStore().totals()
    except (redis.RedisError, CacheUnavailable, OSError) as exc:
        logger.warning(
            "metrics: request counters unreadable, served without them", extra={"error": type(exc).__name__}
        )
        return None
