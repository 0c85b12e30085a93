"""Create or update every declared Django-Q2 schedule by name; delete the ones no longer declared."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from django_q.models import Schedule

from modules.common.schedules import SCHEDULE_PREFIX, ScheduleSpec


def declared_schedules() -> list[ScheduleSpec]:
    specs: list[ScheduleSpec] = []
    for config in apps.get_app_configs():
        specs.extend(getattr(config, "schedules", ()))
    return specs


class Command(BaseCommand):
    help = "Create or update the Django-Q2 schedules every module declares (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        specs = declared_schedules()
        for spec in specs:
            _, created = Schedule.objects.update_or_create(
                name=spec.full_name,
                defaults={
                    "func": spec.func,
                    "schedule_type": Schedule.CRON,
                    "cron": spec.cron,
                    "repeats": -1,
                },
            )
            self.stdout.write(f"{'created' if created else 'updated'} {spec.full_name} ({spec.cron})")
        stale = Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX).exclude(
            name__in=[spec.full_name for spec in specs]
        )
        for name in stale.values_list("name", flat=True):
            self.stdout.write(f"deleted {name}")
        stale.delete()
