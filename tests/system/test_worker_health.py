"""The worker container's healthcheck (docker-compose.yml: ``manage.py worker_health``) against the
real cluster: unhealthy before the worker starts, healthy while it runs, unhealthy again once it
stopped. (``qmonitor --run-once``, used before, exited 0 in all three cases.)"""

from __future__ import annotations

import subprocess

import pytest

from tests.system.stack import PYTHON, ROOT, Stack

pytestmark = pytest.mark.system


def health(stack: Stack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", "worker_health"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_health_tells_a_working_cluster_from_none(stack_factory, record_property) -> None:
    stack = stack_factory()
    before = health(stack)
    assert before.returncode == 1, before.stdout + before.stderr
    assert "no working Django-Q2 cluster" in before.stderr

    stack.start_worker()
    became = stack.wait_until(lambda: health(stack).returncode == 0, timeout=20, what="a healthy worker")
    running = health(stack)
    assert running.returncode == 0 and "worker healthy" in running.stdout, running.stdout + running.stderr
    assert "2 workers" in running.stdout  # Q_WORKERS' default

    stack.stop_worker()
    gone = stack.wait_until(lambda: health(stack).returncode == 1, timeout=20, what="an unhealthy worker")
    record_property("worker_health_seconds_to_healthy_after_start", round(became, 1))
    record_property("worker_health_seconds_to_unhealthy_after_stop", round(gone, 1))
