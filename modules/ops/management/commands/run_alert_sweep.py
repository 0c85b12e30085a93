"""One alert sweep (the worker runs it every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from modules.ops import services


class Command(BaseCommand):
    help = "Evaluate every active alert rule once and deliver due notifications."

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.run_alert_sweep()
        self.stdout.write(
            f"evaluated {result.evaluated} rules: {len(result.fired)} fired, {len(result.resolved)} resolved; "
            f"notifications {result.delivered} delivered, {result.failed} failed"
        )
