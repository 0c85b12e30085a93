"""``manage.py setup_schedules``: every schedule the apps declare, created or updated by name."""

from __future__ import annotations

from io import StringIO

import pytest
from croniter import croniter
from django.apps import apps
from django.core.management import call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule

from modules.common.schedules import ScheduleSpec

pytestmark = pytest.mark.django_db


def test_setup_schedules_creates_updates_and_prunes(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.apps import apps

    config = apps.get_app_config("ops")
    spec = ScheduleSpec(name="probe", func="modules.ops.services.readiness", cron="*/5 * * * *")
    monkeypatch.setattr(config, "schedules", (spec,), raising=False)
    Schedule.objects.create(name="resee:gone", func="x.y", schedule_type=Schedule.CRON, cron="* * * * *")
    Schedule.objects.create(name="someone-elses", func="x.y", schedule_type=Schedule.HOURLY)

    call_command("setup_schedules", stdout=StringIO())
    call_command("setup_schedules", stdout=StringIO())  # idempotent

    probe = Schedule.objects.get(name="resee:probe")
    assert (probe.func, probe.cron, probe.schedule_type) == (spec.func, "*/5 * * * *", Schedule.CRON)
    assert not Schedule.objects.filter(name="resee:gone").exists()
    assert Schedule.objects.filter(name="someone-elses").exists()


def test_every_declared_schedule_runs_a_real_task_on_a_valid_cron_and_is_created() -> None:
    specs = [spec for config in apps.get_app_configs() for spec in getattr(config, "schedules", ())]
    assert specs, "no app declares a schedule"

    call_command("setup_schedules", stdout=StringIO())

    for spec in specs:
        assert callable(import_string(spec.func)), spec.func  # a typo in a dotted path fails here
        assert croniter.is_valid(spec.cron), spec.cron
        stored = Schedule.objects.get(name=spec.full_name)
        assert (stored.func, stored.cron, stored.schedule_type) == (spec.func, spec.cron, Schedule.CRON)
