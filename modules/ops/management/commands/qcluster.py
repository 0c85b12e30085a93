"""``manage.py qcluster``: Django-Q2's cluster, with a bounded stop.

Django-Q2 stops on SIGTERM/SIGINT by letting every worker finish its task, however long it takes (an
AI call, a stuck SMTP server): a deploy or ``docker stop`` then waits, and the container runtime
finally SIGKILLs the whole cluster, monitor included. Here the master gives the cluster
``Q_STOP_GRACE_SECONDS`` (default 12) to stop on its own, then SIGKILLs only the workers still busy;
the sentinel's normal stop goes on (the monitor saves the results of finished tasks) and the cluster
exits. A killed task was never acknowledged, so the broker hands it out again after ``Q_RETRY``
seconds; tasks are idempotent (docs/ops.md, "The worker").
"""

from __future__ import annotations

import logging
from typing import Any

import psutil
from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as DjangoQCommand

from modules.common.warmup import warm_up

logger = logging.getLogger(__name__)

KILL_WAIT_SECONDS = 5.0


def _busy_workers(sentinel_pid: int) -> list[psutil.Process]:
    """The sentinel's children still running a task (Django-Q2 titles them ``qcluster <name>
    processing <task>`` through setproctitle); every child but the monitor when titles are missing."""
    try:
        children = psutil.Process(sentinel_pid).children()
    except psutil.NoSuchProcess:
        return []
    busy = []
    for child in children:
        try:
            title = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "processing" in title or ("qcluster" not in title and "monitor" not in title):
            busy.append(child)
    return busy


class GracefulCluster(Cluster):
    def stop(self) -> bool:
        if self.sentinel is None or not self.sentinel.is_alive():
            return False
        grace = float(getattr(settings, "Q_STOP_GRACE_SECONDS", 12))
        logger.info("Q Cluster %s stopping (grace %.0f s).", self.name, grace)
        self.stop_event.set()
        self.sentinel.join(grace)
        if self.sentinel.is_alive():
            busy = _busy_workers(self.sentinel.pid)
            logger.warning(
                "stopping: %d worker(s) still busy after %.0f s are killed; their tasks return to the queue",
                len(busy),
                grace,
                extra={"pids": [p.pid for p in busy]},
            )
            for process in busy:
                process.kill()
            self.sentinel.join(KILL_WAIT_SECONDS)
        if self.sentinel.is_alive():  # the sentinel itself is stuck: end the whole cluster
            logger.error("the sentinel did not stop; killing the cluster")
            for process in [*_children(self.sentinel.pid), psutil.Process(self.sentinel.pid)]:
                process.kill()
            self.sentinel.join(KILL_WAIT_SECONDS)
        logger.info("Q Cluster %s has stopped.", self.name)
        self.start_event = None
        self.stop_event = None
        return True


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


class Command(DjangoQCommand):
    help = "Starts the Django-Q2 cluster; SIGTERM stops it within Q_STOP_GRACE_SECONDS plus a few."

    def handle(self, *args: Any, **options: Any) -> None:
        settings.SECRET_KEY  # noqa: B018 - the cluster signs tasks: fail now if it is missing
        warm_up()  # before the fork: every worker process, recycled ones too, starts with it loaded
        cluster = GracefulCluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
