"""The request metrics middleware and its per-minute store (Redis, and the local-memory fallback)."""

from __future__ import annotations

import time

import pytest
from django.core.cache import caches
from django.test import Client

from modules.identity.testing import auth_headers, make_admin
from modules.ops import requestmetrics
from modules.ops.requestmetrics import (
    BUCKETS_MS,
    Observation,
    RequestMetricsStore,
    RequestStats,
    bucket_index,
    current_minute,
    histogram_quantile,
    redis_client,
)

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ops-rm"}}
BROKEN_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}

T0 = 1_800_000_000.0  # a fixed instant: minute buckets never straddle a boundary in these tests


def test_bucket_index_puts_each_latency_under_its_upper_bound() -> None:
    assert bucket_index(0.1) == 0
    assert bucket_index(5) == 0
    assert bucket_index(5.01) == 1
    assert bucket_index(10_000) == len(BUCKETS_MS) - 1
    assert bucket_index(60_000) == len(BUCKETS_MS)


def test_p95_interpolates_inside_its_bucket() -> None:
    counts = [0] * (len(BUCKETS_MS) + 1)
    counts[BUCKETS_MS.index(100)] = 100  # 100 requests in (50, 100] ms
    assert histogram_quantile(0.95, tuple(counts)) == pytest.approx(50 + 50 * 0.95)
    assert histogram_quantile(0.5, tuple(counts)) == pytest.approx(75)


def test_p95_in_the_overflow_bucket_answers_the_highest_bound() -> None:
    counts = [0] * (len(BUCKETS_MS) + 1)
    counts[-1] = 3
    assert histogram_quantile(0.95, tuple(counts)) == BUCKETS_MS[-1]
    assert histogram_quantile(0.95, tuple([0] * len(counts))) is None


@pytest.mark.django_db
def test_the_store_aggregates_a_minute_in_redis() -> None:
    store = RequestMetricsStore()
    for status, ms in [(200, 12.0), (200, 30.0), (404, 4.0), (429, 2.0), (503, 900.0)]:
        store.record(Observation("GET", "/api/content/", status, ms), now=T0)
    store.record(Observation("POST", "/api/content/", 201, 40.0), now=T0 + 60)  # the next minute

    stats = store.minute(current_minute(T0))

    assert stats.count == 5
    assert stats.throttled == 1
    assert dict(stats.by_class) == {"2xx": 2, "4xx": 2, "5xx": 1}
    assert stats.avg_ms == pytest.approx((12 + 30 + 4 + 2 + 900) / 5)
    assert stats.share("5xx") == pytest.approx(20.0)
    assert stats.routes[("GET", "/api/content/", "4xx")] == 2
    assert sum(stats.buckets) == 5
    assert store.last_complete_minute(now=T0 + 60).count == 5
    assert store.totals().count == 6


def test_the_redis_client_is_one_client_on_the_caches_own_redis_with_its_timeouts(settings) -> None:
    client = redis_client()
    assert client is not None
    assert redis_client() is client  # one per process: its connection pool is shared
    caches["default"].set("ops-probe", "1")
    assert client.exists(caches["default"].make_key("ops-probe")) == 1
    connection = client.connection_pool.connection_kwargs
    assert connection["socket_timeout"] == settings.CACHES["default"]["OPTIONS"]["socket_timeout"]
    assert (
        connection["socket_connect_timeout"]
        == settings.CACHES["default"]["OPTIONS"]["socket_connect_timeout"]
    )


def test_a_local_memory_cache_has_no_redis_client(settings) -> None:
    settings.CACHES = LOCMEM
    try:
        assert redis_client() is None
    finally:
        del caches["default"]


def test_the_local_memory_fallback_keeps_the_same_counters(settings) -> None:
    settings.CACHES = LOCMEM
    try:
        store = RequestMetricsStore()
        store.record(Observation("GET", "/api/x/", 200, 10.0), now=T0)
        store.record(Observation("GET", "/api/x/", 500, 30.0), now=T0)
        stats = store.minute(current_minute(T0))
        totals = store.totals()
    finally:
        del caches["default"]
    assert stats.count == 2
    assert stats.avg_ms == pytest.approx(20.0)
    assert dict(stats.by_class) == {"2xx": 1, "5xx": 1}
    assert totals.routes[("GET", "/api/x/", "5xx")] == 1


def test_empty_minutes_have_no_latency() -> None:
    stats = RequestStats()
    assert stats.avg_ms is None
    assert stats.share("5xx") is None
    assert stats.quantile_ms(0.95) is None


@pytest.mark.django_db
def test_every_api_request_is_counted_with_its_route_template_and_status(
    api_client: Client, mid_minute
) -> None:
    admin = make_admin()
    minute = current_minute()  # mid_minute: the requests below share it
    api_client.get("/api/monitoring/alert-rules/", headers=auth_headers(admin))
    api_client.patch(
        "/api/monitoring/alert-rules/999/",
        data={},
        content_type="application/json",
        headers=auth_headers(admin),
    )
    api_client.get("/api/nothing-here/")
    api_client.get("/admin/login/")  # not an API request

    stats = RequestMetricsStore().minute(minute)

    assert stats.count == 3
    assert stats.routes[("GET", "/api/monitoring/alert-rules/", "2xx")] == 1
    assert stats.routes[("PATCH", "/api/monitoring/alert-rules/<rule_id>/", "4xx")] == 1
    assert stats.routes[("GET", "unmatched", "4xx")] == 1
    assert stats.avg_ms is not None and stats.avg_ms > 0


def test_methods_a_client_makes_up_count_as_one_other_method(api_client: Client, mid_minute) -> None:
    """Any token is a method to gunicorn: counted by name, made-up ones would add fields to the
    totals (which never expire) and series to /metrics without limit."""
    minute = current_minute()  # mid_minute: the requests below share it
    for made_up in ("QAXA", "QAXB", "BREW", "PROPFIND"):
        assert api_client.generic(made_up, "/api/health/live/").status_code == 405
    api_client.generic("OPTIONS", "/api/health/live/")

    stats = RequestMetricsStore().minute(minute)

    methods = {method for method, _route, _status in stats.routes}
    assert methods == {"OTHER", "OPTIONS"}
    assert stats.routes[("OTHER", "/api/health/live/", "4xx")] == 4


@pytest.mark.django_db
def test_throttled_answers_are_counted(api_client: Client, settings, mid_minute) -> None:
    settings.MONITORING_HEALTH_THROTTLE_RATE = "1/hour"
    admin = make_admin()
    minute = current_minute()  # mid_minute: the requests below share it
    api_client.get("/api/monitoring/health/", headers=auth_headers(admin))
    response = api_client.get("/api/monitoring/health/", headers=auth_headers(admin))
    assert response.status_code == 429
    assert RequestMetricsStore().minute(minute).throttled == 1


@pytest.mark.django_db
def test_nothing_is_recorded_when_request_metrics_are_disabled(
    api_client: Client, settings, mid_minute
) -> None:
    settings.REQUEST_METRICS_ENABLED = False
    minute = current_minute()  # mid_minute: the requests below share it
    api_client.get("/api/health/live/")
    assert RequestMetricsStore().minute(minute).count == 0


def test_a_broken_metrics_store_never_breaks_the_request(settings, caplog) -> None:
    # Liveness touches neither database nor cache; only the middleware talks to the dead Redis.
    settings.CACHES = BROKEN_REDIS
    try:
        client = Client()
        first = client.get("/api/health/live/")
        second = client.get("/api/health/live/")
    finally:
        del caches["default"]
    assert first.status_code == 200
    assert second.status_code == 200
    assert "request metrics could not be recorded" in caplog.text


# --- Pending counts: written about once a second, not once per request --------------------------------


def _stored_count(minute: int) -> int:
    """The minute's count as Redis holds it (what other processes read), without flushing this one's."""
    client = redis_client()
    assert client is not None
    raw = client.hget(caches["default"].make_key(f"ops:req:m:{minute}"), "n")
    return int(raw) if raw is not None else 0


def test_requests_are_written_together_once_a_flush_is_due(settings, monkeypatch) -> None:
    settings.REQUEST_METRICS_FLUSH_SECONDS = 1.0
    clock = [1000.0]
    monkeypatch.setattr(requestmetrics.time, "monotonic", lambda: clock[0])
    store = RequestMetricsStore()
    minute = current_minute(T0)

    store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0)  # a process's first request: at once
    assert _stored_count(minute) == 1
    clock[0] += 0.4
    store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0)
    clock[0] += 0.4
    store.record(Observation("GET", "/api/x/", 500, 3.0), now=T0)
    assert _stored_count(minute) == 1  # held in the process
    clock[0] += 0.3  # a second since the last write
    store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0)

    assert _stored_count(minute) == 4
    stats = store.minute(minute)
    assert dict(stats.by_class) == {"2xx": 3, "5xx": 1}
    assert store.totals().count == 4


def test_a_read_in_the_process_includes_its_pending_requests(settings) -> None:
    settings.REQUEST_METRICS_FLUSH_SECONDS = 3600.0
    store = RequestMetricsStore()
    minute = current_minute(T0)
    for _ in range(3):
        store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0)
    assert _stored_count(minute) == 1

    assert store.minute(minute).count == 3
    assert _stored_count(minute) == 3


def test_pending_requests_keep_the_minute_they_happened_in(settings) -> None:
    settings.REQUEST_METRICS_FLUSH_SECONDS = 3600.0
    store = RequestMetricsStore()
    store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0)
    store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0 + 59)
    store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0 + 61)  # the next minute, same flush

    store.flush()

    assert _stored_count(current_minute(T0)) == 2
    assert _stored_count(current_minute(T0) + 1) == 1


def test_every_request_is_written_at_once_with_a_zero_interval(settings) -> None:
    settings.REQUEST_METRICS_FLUSH_SECONDS = 0
    store = RequestMetricsStore()
    for expected in (1, 2, 3):
        store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0)
        assert _stored_count(current_minute(T0)) == expected


def test_pending_requests_are_written_at_exit_and_a_forked_child_starts_empty(settings) -> None:
    settings.REQUEST_METRICS_FLUSH_SECONDS = 3600.0
    store = RequestMetricsStore()
    store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0)
    store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0)

    requestmetrics._flush_at_exit()
    assert _stored_count(current_minute(T0)) == 2

    store.record(Observation("GET", "/api/x/", 200, 3.0), now=T0)
    requestmetrics._pending.pid = -1  # as a child process sees its parent's memory after fork
    requestmetrics._flush_at_exit()
    assert _stored_count(current_minute(T0)) == 2  # the parent's pending request is the parent's


@pytest.mark.django_db
def test_requests_of_an_idle_process_are_written_by_its_next_request(
    api_client: Client, settings, mid_minute
) -> None:
    settings.REQUEST_METRICS_FLUSH_SECONDS = 0.2
    minute = current_minute()  # mid_minute: the requests below share it
    api_client.get("/api/health/live/")  # written at once: the first of the process
    api_client.get("/api/health/live/")  # pending
    time.sleep(0.25)
    api_client.get("/api/health/live/")  # due: writes itself and the one before

    assert _stored_count(minute) == 3
