"""``manage.py worker_health`` when the broker's cache cannot show cluster status (a per-process
cache, as in ``make run``): the process table decides. The cache-backed path runs against the real
cluster in tests/system/test_worker_health.py."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from modules.ops.services import health as worker_health

# A stand-in whose command line reads like ``python manage.py qcluster`` and that has a child, as a
# started cluster has; `sleep` keeps both alive until the test ends them.
STAND_IN = "import subprocess, sys; subprocess.Popen(['sleep', '60']).wait()"


def _pids() -> set[int]:
    return {process.pid for process in worker_health._cluster_processes()}


def test_a_qcluster_process_with_children_counts_as_running() -> None:
    process = subprocess.Popen([sys.executable, "-c", STAND_IN, "manage.py", "qcluster"])  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while process.pid not in _pids():
            assert time.monotonic() < deadline, "the stand-in cluster was not found"
            time.sleep(0.05)
    finally:
        for child in psutil.Process(process.pid).children():
            child.kill()
        process.kill()
        process.wait()
    assert process.pid not in _pids()


@pytest.mark.django_db
def test_with_a_per_process_cache_the_process_table_decides(settings, monkeypatch, capsys) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    monkeypatch.setattr(worker_health, "_cluster_processes", lambda: [])
    with pytest.raises(CommandError, match="no qcluster process"):
        call_command("worker_health")

    class Found:
        pid = 4242

    monkeypatch.setattr(worker_health, "_cluster_processes", lambda: [Found()])
    call_command("worker_health")
    out = capsys.readouterr().out
    assert "process check only" in out and "qcluster pid 4242" in out
