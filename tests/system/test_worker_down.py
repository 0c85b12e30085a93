"""A dead worker is visible from outside: with gunicorn and a real qcluster on PostgreSQL and Redis,
the admins' ``/api/monitoring/health/`` answers ok once the worker runs and has collected metrics, and
reports the worker down (``checks.worker``, status degraded) once the cluster is stopped, while the
broker still answers (``checks.queue`` ok, all it checked before). ``/metrics`` says when metrics were
collected. Collection going stale (3 minutes) is covered in tests/ops/test_worker_liveness.py."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.system.stack import Stack, running

pytestmark = pytest.mark.system

PASSWORD = "a-long-passphrase-1"
TOKEN = "system-scrape-token"
SETUP = f"""
from modules.identity.testing import make_admin
make_admin(email="admin@example.com", password={PASSWORD!r})
"""


def _health(stack: Stack, admin: str) -> dict[str, Any]:
    with stack.client(admin) as http:
        response = http.get("/api/monitoring/health/")
    assert response.status_code == 200, response.text
    return response.json()


def test_the_admins_health_reports_a_stopped_worker(stack_factory, record_property) -> None:
    stack = stack_factory(METRICS_BEARER_TOKEN=TOKEN, MONITORING_HEALTH_THROTTLE_RATE="100000/hour")
    stack.shell(SETUP)
    with running(stack):
        admin = stack.login("admin@example.com", PASSWORD)
        last: dict[str, Any] = {}

        def healthy() -> bool:
            last.update(_health(stack, admin))
            return last["status"] == "ok"

        # the worker's own schedule collects the first round (every minute; catch_up off)
        became = stack.wait_until(healthy, timeout=120, what="health ok", explain=lambda: str(last))
        assert last["checks"]["worker"]["ok"] and last["checks"]["collection"]["ok"]
        assert last["metrics"]["queue_active_workers"]["value"] == 2

        scraped = stack.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
        collected = families["resee_metrics_collected_timestamp_seconds"].samples[0].value
        assert 0 <= time.time() - collected < 180

        stack.stop_worker()
        stopped = time.monotonic()

        def worker_down() -> bool:
            last.update(_health(stack, admin))
            return not last["checks"]["worker"]["ok"]

        stack.wait_until(worker_down, timeout=20, what="the worker reported down", explain=lambda: str(last))
        seen = time.monotonic() - stopped
        assert last["status"] == "degraded"
        assert "no working Django-Q2 cluster" in last["checks"]["worker"]["error"]
        assert last["checks"]["queue"]["ok"] is True  # the broker alone still answers
    record_property("monitoring_health_seconds_to_ok_after_worker_start", round(became, 1))
    record_property("monitoring_health_seconds_to_worker_down_after_stop", round(seen, 1))
