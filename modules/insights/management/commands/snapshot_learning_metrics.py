"""Run one round of the daily learning-metrics snapshot job by hand (the worker runs it hourly)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from modules.insights import services


class Command(BaseCommand):
    help = "Snapshot every active user's complete local days into LearningMetrics (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=services.SERIES_DAYS, help="how many local days back (default 30)"
        )
        parser.add_argument(
            "--refresh", action="store_true", help="recount days already snapshotted as final"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if not 2 <= days <= 366:
            raise CommandError("--days must be between 2 and 366")
        written = services.snapshot_learning_metrics(days=days, refresh=options["refresh"])
        self.stdout.write(self.style.SUCCESS(f"snapshot_learning_metrics: {written} snapshots written"))
