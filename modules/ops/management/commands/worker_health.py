"""``manage.py worker_health``: is a Django-Q2 cluster working on this host? Exit 0 if so, 1 if not.

The worker container's healthcheck (docker-compose.yml). ``qmonitor --run-once`` exits 0 whether a
cluster runs or not, so it could not tell. A running cluster's sentinel publishes its status every
half second in the broker's cache with a 3-second expiry (Django-Q2's ``Stat``); this command looks
for a fresh one from this host whose status is starting, idle or working and that has live workers.

When the cache cannot tell (Redis unreachable, or a per-process cache as in ``make run``), it falls
back to the process table: a ``qcluster`` process with children counts as running, and says so.
"""

from __future__ import annotations

import socket
from typing import Any

import psutil
from django.core.management.base import BaseCommand, CommandError

from modules.ops.collectors import publishes_stats_across_processes


class Command(BaseCommand):
    help = "Exit 0 when a Django-Q2 cluster is working on this host (the worker's healthcheck), else 1."

    def handle(self, *args: Any, **options: Any) -> None:
        from django_q.brokers import get_broker
        from django_q.conf import Conf
        from django_q.status import Stat

        broker = get_broker()
        host = socket.gethostname()
        cache_available = (
            bool(getattr(broker.cache, "available", True)) if broker.cache is not None else False
        )
        if publishes_stats_across_processes(broker) and cache_available:
            alive = {str(Conf.IDLE), str(Conf.WORKING), str(Conf.STARTING)}
            stats = [stat for stat in Stat.get_all(broker=broker) if stat.host == host]
            for stat in stats:
                if str(stat.status) in alive and stat.workers:
                    self.stdout.write(
                        f"worker healthy: cluster {stat.cluster_id} on {host}, {str(stat.status).lower()}, "
                        f"{len(stat.workers)} workers"
                    )
                    return
            states = ", ".join(sorted({str(stat.status) for stat in stats})) or "none published"
            raise CommandError(f"no working Django-Q2 cluster on {host} (cluster status: {states})")
        clusters = _cluster_processes()
        if clusters:
            self.stdout.write(
                f"worker running (process check only: the broker's cache cannot show cluster status): "
                f"qcluster pid {', '.join(str(p.pid) for p in clusters)} on {host}"
            )
            return
        raise CommandError(f"no qcluster process on {host}")


def _cluster_processes() -> list[psutil.Process]:
    """``manage.py qcluster`` processes that have started their cluster (they have children)."""
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
