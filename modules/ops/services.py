"""The ops module's facade: health checks, metrics, alerting."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)


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
    started = time.perf_counter()
    key = f"ops:ready:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=5)
        ok = cache.get(key) == "1"
        cache.delete(key)
    except Exception as exc:  # a cache client error means "not ready"
        logger.warning("readiness: cache check failed", extra={"error": type(exc).__name__})
        return CheckResult(ok=False, latency_ms=_ms(started), error="cache unreachable")
    return CheckResult(ok=ok, latency_ms=_ms(started), error="" if ok else "cache did not keep a value")


def readiness() -> Readiness:
    return Readiness(checks={"database": check_database(), "cache": check_cache()})


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
