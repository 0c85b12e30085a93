"""``manage.py worker_health``: is a Django-Q2 cluster working on this host? Exit 0 if so, 1 if not.

The worker container's healthcheck (docker-compose.yml). ``qmonitor --run-once`` exits 0 whether a
cluster runs or not, so it could not tell. The test itself is ``services.cluster_status`` (shared with
the admins' ``worker`` health check), asked about this host: a fresh Django-Q2 ``Stat`` from this host
whose status is starting, idle or working and that has live workers.

When the cache cannot tell (Redis unreachable, or a per-process cache as in ``make run``), it falls
back to the process table: a ``qcluster`` process with children counts as running, and says so.
"""

from __future__ import annotations

import socket
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from modules.ops import services


class Command(BaseCommand):
    help = "Exit 0 when a Django-Q2 cluster is working on this host (the worker's healthcheck), else 1."

    def handle(self, *args: Any, **options: Any) -> None:
        status = services.cluster_status(host=socket.gethostname())
        if not status.running:
            raise CommandError(status.detail)
        self.stdout.write(status.detail)
