"""The metric collectors: each reads one source and returns readings of catalogued metrics.

A metric whose source cannot be read here (no Redis, SQLite, a facade not present, nothing to divide
by) is left out: absent, never a made-up zero. A collector that fails is logged and skipped; the
others still run.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connection, transaction

from modules.ai import services as ai
from modules.identity import services as identity
from modules.learning import services as learning
from modules.ops.catalog import BY_NAME
from modules.ops.requestmetrics import RequestMetricsStore, is_shared_cache, redis_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    name: str
    value: float

    @property
    def unit(self) -> str:
        return BY_NAME[self.name].unit


Collector = Callable[[datetime], Iterator[Reading]]


def _percent(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None


def _reading(name: str, value: float | None) -> Iterator[Reading]:
    if value is not None:
        yield Reading(name, float(value))


# --- system -------------------------------------------------------------------------------------


CPU_BASELINE_MAX_AGE = 300.0  # seconds; an older baseline (collector was down) is not used


def cpu_percent() -> float:
    """Busy share of all CPUs since the previous round on this host (its cumulative CPU times are
    kept in the cache), so the value is the average over the last minute, not a snapshot; without a
    recent baseline (first round, local-memory cache in a fresh process) a 0.5 s sample."""
    import psutil

    key = f"ops:cpu_times:{socket.gethostname()}"
    wall = time.time()
    current = psutil.cpu_times()._asdict()
    backend = caches["default"]
    previous = backend.get(key)
    backend.set(key, {"wall": wall, "times": current}, timeout=int(CPU_BASELINE_MAX_AGE))
    if previous and wall - previous["wall"] <= CPU_BASELINE_MAX_AGE:
        deltas = {name: current[name] - previous["times"].get(name, 0.0) for name in current}
        # guest time is already counted in user time on Linux
        total = sum(v for k, v in deltas.items() if k not in {"guest", "guest_nice"})
        idle = deltas.get("idle", 0.0) + deltas.get("iowait", 0.0)
        if total > 0:
            return max(0.0, min(100.0, 100.0 * (total - idle) / total))
    return psutil.cpu_percent(interval=0.5)


def collect_system(now: datetime) -> Iterator[Reading]:
    import psutil

    yield Reading("cpu_usage", cpu_percent())
    yield Reading("memory_usage", psutil.virtual_memory().percent)
    yield Reading("disk_usage", psutil.disk_usage(settings.OPS_DISK_PATH).percent)
    if hasattr(os, "getloadavg"):
        yield Reading("load_average_1m", os.getloadavg()[0])


# --- API (request metrics middleware) -----------------------------------------------------------


def collect_api(now: datetime) -> Iterator[Reading]:
    if not is_shared_cache(caches["default"]):
        return  # local memory holds one process's counters: nothing the collector can trust
    stats = RequestMetricsStore().last_complete_minute(now=now.timestamp())
    yield Reading("api_requests_per_minute", stats.count)
    yield Reading("api_throttled_requests", stats.throttled)
    yield from _reading("api_response_time", stats.avg_ms)
    yield from _reading("api_response_time_p95", stats.quantile_ms(0.95))
    yield from _reading("api_error_rate", stats.share("5xx"))
    yield from _reading("api_client_error_rate", stats.share("4xx"))


# --- database -----------------------------------------------------------------------------------


def _scalar(sql: str, params: tuple = ()) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def _pg_stat_statements_mean_ms() -> float | None:
    if not _scalar("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"):
        return None
    try:
        with transaction.atomic():  # a savepoint: the view errors when the library is not preloaded
            return _scalar(
                "SELECT sum(s.total_exec_time) / NULLIF(sum(s.calls), 0) FROM pg_stat_statements s "
                "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()"
            )
    except DatabaseError:
        logger.info("pg_stat_statements is installed but not readable; using the probe")
        return None


def _probe_ms(rounds: int = 5) -> float:
    """Mean round trip of a trivial query: network, parse, plan and execute, as every request pays."""
    with connection.cursor() as cursor:
        started = time.perf_counter()
        for _ in range(rounds):
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return (time.perf_counter() - started) * 1000 / rounds


def collect_database(now: datetime) -> Iterator[Reading]:
    vendor = connection.vendor
    if vendor == "postgresql":
        yield Reading(
            "db_connection_count",
            _scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"),
        )
        yield Reading("db_size", _scalar("SELECT pg_database_size(current_database())"))
        mean = _pg_stat_statements_mean_ms()
        yield Reading("db_query_avg_time", mean if mean is not None else _probe_ms())
    elif vendor == "sqlite":
        page_count = _scalar("PRAGMA page_count")
        page_size = _scalar("PRAGMA page_size")
        if page_count is not None and page_size is not None:
            yield Reading("db_size", page_count * page_size)
        yield Reading("db_query_avg_time", _probe_ms())
    else:
        yield Reading("db_query_avg_time", _probe_ms())


# --- cache (Redis INFO) -------------------------------------------------------------------------


def redis_info() -> dict[str, Any] | None:
    """INFO of the Django cache's Redis server, or None when the cache is not Redis."""
    client = redis_client()
    return None if client is None else client.info()


def collect_cache(now: datetime) -> Iterator[Reading]:
    info = redis_info()
    if info is None:
        return
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    yield from _reading("cache_hit_rate", _percent(hits, hits + misses))
    yield Reading("cache_memory_used", int(info["used_memory"]))
    yield Reading("cache_connected_clients", int(info["connected_clients"]))


# --- queue (Django-Q2) --------------------------------------------------------------------------


def collect_queue(now: datetime) -> Iterator[Reading]:
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.models import Failure
    from django_q.status import Stat

    broker = get_broker()
    yield Reading("queue_queued_tasks", broker.queue_size())
    yield Reading("queue_failed_tasks", Failure.objects.filter(stopped__gte=now - timedelta(hours=1)).count())
    # Clusters publish their status in the broker's cache (Redis or the Django cache), refreshed
    # every few seconds; a per-process cache cannot show another process's cluster.
    if publishes_stats_across_processes(broker):
        stats = Stat.get_all(broker=broker)
        alive = {str(Conf.IDLE), str(Conf.WORKING), str(Conf.STARTING)}
        yield Reading(
            "queue_active_workers", sum(len(stat.workers) for stat in stats if str(stat.status) in alive)
        )


def publishes_stats_across_processes(broker: Any) -> bool:
    from django_q.brokers.redis_broker import Redis as RedisBroker

    if isinstance(broker, RedisBroker):
        return True
    return broker.cache is not None and is_shared_cache(broker.cache)


# --- other modules (their facades only) ---------------------------------------------------------


def collect_ai(now: datetime) -> Iterator[Reading]:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    yield Reading("ai_cost_daily", ai.cost_since(since=midnight))
    totals = ai.usage_totals(since=now - timedelta(hours=1))
    yield Reading("ai_requests", totals.requests)
    yield Reading("ai_tokens", totals.tokens)
    yield from _reading("ai_error_rate", _percent(totals.errors, totals.requests))


def collect_users(now: datetime) -> Iterator[Reading]:
    day_ago = now - timedelta(hours=24)
    total = identity.count_users()
    yield Reading("total_users", total)
    yield Reading("signups", identity.count_signups(since=day_ago))
    yield Reading("email_failed_sends", identity.count_failed_emails(since=day_ago))
    yield Reading("reviews_completed", learning.count_reviews(since=day_ago))
    yield Reading("overdue_reviews", learning.count_overdue(now=now))
    # No users: an activity rate would be a made-up number.
    yield from _reading("user_activity_rate", _percent(learning.count_active_reviewers(since=day_ago), total))


COLLECTORS: tuple[Collector, ...] = (
    collect_system,
    collect_api,
    collect_database,
    collect_cache,
    collect_queue,
    collect_ai,
    collect_users,
)


def collect_all(now: datetime, collectors: tuple[Collector, ...] = COLLECTORS) -> list[Reading]:
    readings: list[Reading] = []
    for collector in collectors:
        try:
            readings.extend(collector(now))
        except Exception:  # one broken source must not cost the other metrics; logged with traceback
            logger.exception("metric collector failed", extra={"collector": collector.__name__})
    unknown = [r.name for r in readings if r.name not in BY_NAME]
    if unknown:
        raise ValueError(f"collectors produced uncatalogued metrics: {unknown}")
    return readings
