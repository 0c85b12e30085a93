from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from modules.common.schedules import ScheduleSpec
from modules.identity.models import User

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_the_demo_account_once_and_prints_its_password() -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "demo@resee.local / password: " in out.getvalue()
    password = out.getvalue().split("password: ")[1].split()[0]
    demo = User.objects.get(email="demo@resee.local")
    assert demo.check_password(password)
    assert demo.is_email_verified

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "exists" in again.getvalue()
    assert User.objects.filter(email="demo@resee.local").count() == 1


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
