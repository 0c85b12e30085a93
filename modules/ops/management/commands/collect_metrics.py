"""One metric collection round (the worker runs it every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from modules.ops import services
from modules.ops.catalog import BY_NAME, METRIC_NAMES


class Command(BaseCommand):
    help = "Collect every metric once and store the samples; prints what was recorded and what is absent."

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.collect_metrics()
        for name in METRIC_NAMES:
            if name in result.recorded:
                self.stdout.write(f"{name:<26} {result.recorded[name]:>18.4f} {BY_NAME[name].unit}")
            else:
                self.stdout.write(f"{name:<26} {'absent':>18}")
        self.stdout.write(
            f"{len(result.recorded)} of {len(METRIC_NAMES)} metrics recorded at {result.at.isoformat()}"
        )
