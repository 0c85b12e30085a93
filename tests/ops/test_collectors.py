"""Metric collection against the real PostgreSQL and Redis: values present and plausible; absent
(never zero) where a source cannot be read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from modules.ai.testing import make_request_log
from modules.identity.testing import make_user
from modules.learning import services as learning_services
from modules.learning.testing import make_content, make_due_content, record_review
from modules.ops import collectors, services
from modules.ops.catalog import METRIC_NAMES
from modules.ops.models import MetricSample
from modules.ops.testing import record_samples

pytestmark = pytest.mark.django_db

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ops-test"}}


def test_the_catalog_names_at_least_24_distinct_metrics() -> None:
    assert len(METRIC_NAMES) >= 24
    assert len(set(METRIC_NAMES)) == len(METRIC_NAMES)


def test_a_round_on_postgres_and_redis_records_plausible_values(mid_minute: datetime) -> None:
    users = [make_user() for _ in range(3)]
    content = make_content(user=users[0])
    make_due_content(user=users[1], overdue_days=2)
    record_review(content=content)
    client = Client()  # the three requests below land in one minute bucket (mid_minute)
    client.get("/api/health/live/")
    client.get("/api/health/live/")
    client.get("/api/no-such-route/")  # a 404

    result = services.collect_metrics(now=timezone.now() + timedelta(minutes=1))  # that minute is complete
    values = result.recorded

    for name in ("cpu_usage", "memory_usage", "disk_usage"):
        assert 0 <= values[name] <= 100, name
    assert values["memory_usage"] > 0
    assert values["load_average_1m"] >= 0
    assert values["api_requests_per_minute"] == 3
    assert values["api_throttled_requests"] == 0
    assert values["api_response_time"] > 0
    assert values["api_response_time_p95"] >= values["api_response_time"] * 0.5
    assert values["api_error_rate"] == 0
    assert values["api_client_error_rate"] == pytest.approx(100 / 3)
    assert values["db_connection_count"] >= 1
    assert values["db_size"] > 1_000_000  # a migrated PostgreSQL database is megabytes
    assert 0 < values["db_query_avg_time"] < 1000
    assert 0 <= values["cache_hit_rate"] <= 100
    assert values["cache_memory_used"] > 0
    assert values["cache_connected_clients"] >= 1
    assert values["queue_queued_tasks"] >= 0
    assert values["queue_failed_tasks"] == 0
    assert values["queue_active_workers"] >= 0  # read from the clusters' published status (none in CI)
    assert values["total_users"] == 3
    assert values["signups"] == 3
    assert values["reviews_completed"] == 1
    assert values["user_activity_rate"] == pytest.approx(100 / 3)
    assert values["overdue_reviews"] == learning_services.count_overdue(now=timezone.now())
    assert values["overdue_reviews"] >= 1
    assert values["email_failed_sends"] == 0
    assert values["ai_requests"] == 0
    assert values["ai_cost_daily"] == 0

    stored = dict(MetricSample.objects.filter(at=result.at).values_list("name", "value"))
    assert stored == pytest.approx(values)
    assert MetricSample.objects.get(at=result.at, name="db_size").unit == "bytes"


def test_a_round_twice_in_the_same_minute_stores_nothing_new() -> None:
    now = timezone.now()
    services.collect_metrics(now=now)
    count = MetricSample.objects.count()
    services.collect_metrics(now=now.replace(second=59))
    assert MetricSample.objects.count() == count


def test_without_redis_unreadable_metrics_are_absent_not_zero(settings) -> None:
    settings.CACHES = LOCMEM
    try:
        values = services.collect_metrics().recorded
    finally:
        del caches["default"]
    absent = {
        "api_requests_per_minute",
        "api_response_time",
        "api_response_time_p95",
        "api_error_rate",
        "api_client_error_rate",
        "api_throttled_requests",
        "cache_hit_rate",
        "cache_memory_used",
        "cache_connected_clients",
        "queue_active_workers",
    }
    assert absent.isdisjoint(values)
    assert not MetricSample.objects.filter(name__in=absent).exists()
    # What can still be read is there.
    assert {"cpu_usage", "memory_usage", "db_size", "queue_queued_tasks", "total_users"} <= set(values)


def test_with_no_api_traffic_latency_and_rates_are_absent_but_the_count_is_zero() -> None:
    values = services.collect_metrics(now=timezone.now() + timedelta(minutes=5)).recorded
    assert values["api_requests_per_minute"] == 0
    for name in ("api_response_time", "api_response_time_p95", "api_error_rate", "api_client_error_rate"):
        assert name not in values


@pytest.mark.parametrize("hour", [0, 12])  # 00:03 UTC: the 5-minute-old call was yesterday's
def test_ai_metrics_come_from_the_ai_facade(time_machine, hour: int) -> None:
    """The hour's totals and today's cost (since 00:00 UTC). Pinned to two times of day: at real time
    it failed in the first minutes after midnight, the one where "today" began 3 minutes ago."""
    time_machine.move_to(datetime(2026, 6, 1, hour, 3, tzinfo=UTC), tick=False)
    now = timezone.now()
    make_request_log(tokens_in=1000, tokens_out=500, cost_usd="0.0105", created_at=now - timedelta(minutes=5))
    make_request_log(
        tokens_in=200, tokens_out=0, cost_usd="0.0006", outcome="error", created_at=now - timedelta(minutes=2)
    )
    make_request_log(cost_usd="1.0", created_at=now - timedelta(hours=3))  # outside the hour

    values = services.collect_metrics(now=now).recorded

    assert values["ai_requests"] == 2
    assert values["ai_tokens"] == 1700
    assert values["ai_error_rate"] == pytest.approx(50.0)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = [
        cost for cost, at in ((0.0105, 5), (0.0006, 2), (1.0, 180)) if now - timedelta(minutes=at) >= midnight
    ]
    assert values["ai_cost_daily"] == pytest.approx(sum(today))


def test_without_ai_requests_the_ai_error_rate_is_absent_not_zero() -> None:
    values = services.collect_metrics().recorded
    assert values["ai_requests"] == 0
    assert values["ai_cost_daily"] == 0
    assert "ai_error_rate" not in values


def test_user_activity_rate_is_absent_without_users() -> None:
    values = services.collect_metrics().recorded
    assert values["total_users"] == 0
    assert "user_activity_rate" not in values


def test_a_failing_collector_does_not_cost_the_others(caplog) -> None:
    def broken(now):
        raise RuntimeError("source down")
        yield  # pragma: no cover

    readings = collectors.collect_all(timezone.now(), collectors=(broken, collectors.collect_database))
    assert {r.name for r in readings} >= {"db_size", "db_connection_count"}
    assert "metric collector failed" in caplog.text


def test_a_collector_producing_an_uncatalogued_name_is_a_bug() -> None:
    def rogue(now):
        yield collectors.Reading("made_up_metric", 1.0)

    with pytest.raises(ValueError, match="made_up_metric"):
        collectors.collect_all(timezone.now(), collectors=(rogue,))


def test_cpu_usage_is_the_busy_share_since_the_previous_round() -> None:
    first = collectors.cpu_percent()  # no baseline: a short sample
    sum(i * i for i in range(300_000))  # burn a little CPU between rounds
    second = collectors.cpu_percent()
    assert 0 <= first <= 100
    assert 0 <= second <= 100


def test_samples_older_than_the_retention_are_pruned() -> None:
    now = timezone.now()
    record_samples("cpu_usage", [1.0], end=now - timedelta(days=31))
    record_samples("cpu_usage", [2.0], end=now - timedelta(days=29))
    assert services.prune_metric_samples(now=now) == 1
    assert list(MetricSample.objects.values_list("value", flat=True)) == [2.0]


def test_collect_metrics_command_prints_every_metric_and_what_is_absent() -> None:
    out = StringIO()
    call_command("collect_metrics", stdout=out)
    text = out.getvalue()
    for name in METRIC_NAMES:
        assert name in text
    assert f"of {len(METRIC_NAMES)} metrics recorded" in text
