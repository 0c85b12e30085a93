"""Health: the readiness probe (database and cache) and the admins' wider view (queue, worker,
collection and disk too, with the newest value of every metric).

``cluster_status`` is the one test of "is a Django-Q2 cluster working": the admins' ``worker`` check
and ``manage.py worker_health`` (the worker container's healthcheck) both use it.

A check never raises: a failing dependency is a failed ``CheckResult`` whose ``error`` says which,
never why (the reason goes to the log, not to the client).
"""

from __future__ import annotations

import logging
import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import psutil
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from modules.ops.collectors import publishes_stats_across_processes
from modules.ops.services.metrics import METRICS_STALE_AFTER, LatestValue, collected_at, latest_metrics

logger = logging.getLogger(__name__)

DISK_FULL_PERCENT = 90.0


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


@dataclass(frozen=True)
class MonitoringHealth:
    status: str  # "ok" or "degraded"
    checks: dict[str, CheckResult]
    metrics: dict[str, LatestValue]


def readiness() -> Readiness:
    """Whether this process can serve requests: the database and the cache answer."""
    return Readiness(checks={"database": check_database(), "cache": check_cache()})


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    detail: str  # what was seen, for a log line or a command's output


def monitoring_health(*, now: datetime | None = None) -> MonitoringHealth:
    """Database, cache, queue, worker, collection and disk, and the newest value of every metric
    (none while the database is down: they live there)."""
    moment = now or timezone.now()
    checks = {
        "database": check_database(),
        "cache": check_cache(),
        "queue": check_queue(),
        "worker": check_worker(),
    }
    metrics = latest_metrics(now=moment) if checks["database"].ok else {}
    checks["collection"] = check_collection(metrics, now=moment, database_ok=checks["database"].ok)
    checks["disk"] = check_disk()
    status = "ok" if all(check.ok for check in checks.values()) else "degraded"
    return MonitoringHealth(status=status, checks=checks, metrics=metrics)


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
    """A value written, read back and deleted (the cache degrades to misses while Redis is down, so
    a lost value is how an outage shows)."""
    started = time.perf_counter()
    key = f"ops:ready:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=5)
        ok = cache.get(key) == "1"
        cache.delete(key)
    except Exception as exc:  # a cache client error means "not ready"
        logger.warning("readiness: cache check failed", extra={"error": type(exc).__name__})
        return CheckResult(ok=False, latency_ms=_ms(started), error="cache unreachable")
    return CheckResult(
        ok=ok, latency_ms=_ms(started), error="" if ok else "cache unreachable or lost a value"
    )


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


def check_worker() -> CheckResult:
    """A Django-Q2 cluster is registered and working, on any host (``cluster_status``): the broker
    answering says nothing about whether anything takes tasks from it."""
    started = time.perf_counter()
    try:
        status = cluster_status()
    except Exception as exc:  # a broker or cache error is reported as a failing check
        logger.warning("health: worker check failed", extra={"error": type(exc).__name__})
        return CheckResult(ok=False, latency_ms=_ms(started), error="worker status unreadable")
    if not status.running:
        logger.warning("health: no working cluster", extra={"detail": status.detail})
        return CheckResult(ok=False, latency_ms=_ms(started), error=status.detail)
    return CheckResult(ok=True, latency_ms=_ms(started))


def check_collection(metrics: dict[str, LatestValue], *, now: datetime, database_ok: bool) -> CheckResult:
    """The newest metric sample is at most ``METRICS_STALE_AFTER`` (3 minutes) old: collection runs
    on the worker every minute, so an older one means it stopped (and the alert sweep with it)."""
    started = time.perf_counter()
    if not database_ok:
        return CheckResult(
            ok=False, latency_ms=_ms(started), error="metrics unreadable (database unreachable)"
        )
    newest = collected_at(metrics)
    if newest is None:
        return CheckResult(ok=False, latency_ms=_ms(started), error="no metric collected in the last hour")
    age = now - newest
    if age > METRICS_STALE_AFTER:
        minutes = int(age.total_seconds() // 60)
        return CheckResult(
            ok=False,
            latency_ms=_ms(started),
            error=f"metrics collection stopped: newest sample {minutes} min old",
        )
    return CheckResult(ok=True, latency_ms=_ms(started))


def cluster_status(*, host: str | None = None) -> ClusterStatus:
    """Whether a Django-Q2 cluster is working: on ``host``, or on any host when None.

    A running cluster's sentinel publishes its status every half second in the broker's cache with a
    3-second expiry (Django-Q2's ``Stat``); a fresh one whose status is starting, idle or working and
    that has live workers counts. When the cache cannot show it (a per-process cache, as in ``make
    run``), the process table of this machine decides: a ``qcluster`` process with children counts.
    When a shared cache is unreachable, only a question about this host (``worker_health`` in the
    worker's container) can fall back to the process table; any host's status is then unknown."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.status import Stat

    broker = get_broker()
    this_host = socket.gethostname()
    where = f"on {host}" if host else "on any host"
    shared = publishes_stats_across_processes(broker)
    cache_available = bool(getattr(broker.cache, "available", True)) if broker.cache is not None else False
    if shared and cache_available:
        alive = {str(Conf.IDLE), str(Conf.WORKING), str(Conf.STARTING)}
        stats = [stat for stat in Stat.get_all(broker=broker) if host is None or stat.host == host]
        for stat in stats:
            if str(stat.status) in alive and stat.workers:
                return ClusterStatus(
                    running=True,
                    detail=f"worker healthy: cluster {stat.cluster_id} on {stat.host}, "
                    f"{str(stat.status).lower()}, {len(stat.workers)} workers",
                )
        states = ", ".join(sorted({str(stat.status) for stat in stats})) or "none published"
        return ClusterStatus(
            running=False, detail=f"no working Django-Q2 cluster {where} (cluster status: {states})"
        )
    if shared and host is None:
        return ClusterStatus(
            running=False, detail="cluster status unknown: the broker's cache is unreachable"
        )
    clusters = _cluster_processes()
    if clusters:
        return ClusterStatus(
            running=True,
            detail=f"worker running (process check only: the broker's cache cannot show cluster status): "
            f"qcluster pid {', '.join(str(p.pid) for p in clusters)} on {this_host}",
        )
    return ClusterStatus(running=False, detail=f"no qcluster process on {this_host}")


def _cluster_processes() -> list[psutil.Process]:
    """``manage.py qcluster`` processes of this machine that have started their cluster (they have
    children)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if "qcluster" in cmdline and any(part.endswith("manage.py") for part in cmdline):
            try:
                if process.children():
                    found.append(process)
            except psutil.Error:
                continue
    return found


def check_disk() -> CheckResult:
    started = time.perf_counter()
    usage = shutil.disk_usage(settings.OPS_DISK_PATH)
    percent = 100.0 * usage.used / usage.total if usage.total else 0.0
    if percent >= DISK_FULL_PERCENT:
        return CheckResult(ok=False, latency_ms=_ms(started), error=f"disk {percent:.0f}% full")
    return CheckResult(ok=True, latency_ms=_ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
