"""Serverless mode: ``manage.py tick`` runs due schedules and drains the queue once."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule, Success
from django_q.tasks import async_task

from modules.ops.models import MetricSample

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks go through the ORM broker as in production (the suite otherwise runs them inline)."""
    monkeypatch.setattr(Conf, "SYNC", False)


def test_tick_runs_a_due_schedule_and_advances_its_next_run(queued_mode: None, mid_minute: datetime) -> None:
    due = mid_minute - timedelta(minutes=1)
    schedule = Schedule.objects.create(
        name="resee:ops.collect_metrics",
        func="modules.ops.tasks.collect_metrics",
        schedule_type=Schedule.CRON,
        cron="* * * * *",
        repeats=-1,
    )
    Schedule.objects.filter(pk=schedule.pk).update(next_run=due)  # save() recomputes a cron's next run
    out = StringIO()

    call_command("tick", stdout=out)

    schedule.refresh_from_db()
    assert schedule.next_run == mid_minute.replace(second=0) + timedelta(minutes=1)  # the next minute
    assert MetricSample.objects.filter(name="db_size").exists()  # the task really ran
    assert Success.objects.filter(func="modules.ops.tasks.collect_metrics").count() == 1
    assert not OrmQ.objects.exists()  # acknowledged: nothing left in the queue
    assert "1 queued tasks run" in out.getvalue()


def test_tick_leaves_schedules_that_are_not_due_alone(queued_mode: None) -> None:
    later = timezone.now() + timedelta(minutes=10)
    schedule = Schedule.objects.create(
        name="resee:later",
        func="modules.ops.tasks.collect_metrics",
        schedule_type=Schedule.CRON,
        cron="* * * * *",
    )
    Schedule.objects.filter(pk=schedule.pk).update(next_run=later)
    call_command("tick", stdout=StringIO())
    schedule.refresh_from_db()
    assert schedule.next_run == later
    assert not MetricSample.objects.exists()


def test_tick_drains_tasks_queued_by_the_application(queued_mode: None) -> None:
    async_task("modules.ops.tasks.prune_metric_samples")
    async_task("modules.ops.tasks.run_alert_sweep")
    assert OrmQ.objects.count() == 2

    out = StringIO()
    call_command("tick", stdout=out)

    assert not OrmQ.objects.exists()
    assert Success.objects.count() == 2
    assert "2 queued tasks run" in out.getvalue()


def test_a_failing_task_is_recorded_as_a_failure_not_raised(queued_mode: None) -> None:
    from django_q.models import Failure

    async_task("modules.ops.tasks.no_such_task")
    call_command("tick", stdout=StringIO())
    assert Failure.objects.count() == 1


def test_tick_stops_after_max_tasks(queued_mode: None) -> None:
    for _ in range(3):
        async_task("modules.ops.tasks.prune_metric_samples")
    call_command("tick", "--max-tasks", "2", stdout=StringIO())
    assert Success.objects.count() == 2
    assert OrmQ.objects.count() == 1
