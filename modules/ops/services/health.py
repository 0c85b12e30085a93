"""Health: the readiness probe (database and cache) and the admins' wider view (queue and disk too,
with the newest value of every metric).

A check never raises: a failing dependency is a failed ``CheckResult`` whose ``error`` says which,
never why (the reason goes to the log, not to the client).
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from modules.ops.services.metrics import LatestValue, latest_metrics

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


def monitoring_health(*, now: datetime | None = None) -> MonitoringHealth:
    """Database, cache, queue and disk, and the newest value of every metric (none while the
    database is down: they live there)."""
    checks = {
        "database": check_database(),
        "cache": check_cache(),
        "queue": check_queue(),
        "disk": check_disk(),
    }
    metrics = latest_metrics(now=now) if checks["database"].ok else {}
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


def check_disk() -> CheckResult:
    started = time.perf_counter()
    usage = shutil.disk_usage(settings.OPS_DISK_PATH)
    percent = 100.0 * usage.used / usage.total if usage.total else 0.0
    if percent >= DISK_FULL_PERCENT:
        return CheckResult(ok=False, latency_ms=_ms(started), error=f"disk {percent:.0f}% full")
    return CheckResult(ok=True, latency_ms=_ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
