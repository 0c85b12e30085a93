"""A prometheus-client custom collector: the newest MetricSample of every metric as gauges, and the
request counters of the metrics middleware as counters and a histogram.

A fresh registry is built per scrape (no global state, nothing registered at import). The request
counters are the running totals in the cache: shared by every web process on Redis, per process on
local memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from modules.ops.catalog import BY_NAME
from modules.ops.requestmetrics import BUCKETS_MS, RequestMetricsStore, RequestStats
from modules.ops.services import LatestValue

PREFIX = "resee"


class ReseeCollector:
    def __init__(self, latest: dict[str, LatestValue], totals: RequestStats) -> None:
        self.latest = latest
        self.totals = totals

    def collect(self) -> Iterator[Metric]:
        for name, sample in sorted(self.latest.items()):
            definition = BY_NAME.get(name)
            family = GaugeMetricFamily(
                f"{PREFIX}_{name}",
                f"{definition.source if definition else name} ({sample.unit}); newest collected sample",
                labels=[],
            )
            family.add_metric([], sample.value)
            yield family
        yield from self._requests()

    def _requests(self) -> Iterator[Metric]:
        totals = self.totals
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


def render(latest: dict[str, LatestValue]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReseeCollector(latest, RequestMetricsStore().totals()))
    return generate_latest(registry)
