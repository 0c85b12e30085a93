"""Declaring recurring work. Each module lists its schedules on its AppConfig (``schedules``);
``manage.py setup_schedules`` (ops) creates or updates them in Django-Q2 by name and deletes the
ones no longer declared. Cron expressions are read in UTC (settings.TIME_ZONE)."""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULE_PREFIX = "resee:"


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str  # dotted path of the task function
    cron: str  # five-field cron expression, UTC

    @property
    def full_name(self) -> str:
        return f"{SCHEDULE_PREFIX}{self.name}"
