"""The daily LearningMetrics snapshots: the job, its command, its schedule and its task."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO

import pytest
from croniter import croniter
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from modules.identity.testing import make_user
from modules.insights import services
from modules.insights.models import LearningMetrics
from modules.learning.testing import make_content
from tests.insights.builders import review, utc

pytestmark = pytest.mark.django_db

# 23:45 in Seoul on 2026-03-10; complete local days in the window: Feb 9 .. Mar 9. A day is final
# 7 days and an hour after its end: Mar 2 ends at 15:00 UTC, final from Mar 9 16:00 UTC (before
# now); Mar 3 only from Mar 10 16:00 UTC.
NOW = utc(2026, 3, 10, 14, 45)


@pytest.fixture
def learner():
    user = make_user(timezone="Asia/Seoul")
    note = make_content(user=user, created_at=utc(2026, 1, 1))
    review(note, "remembered", utc(2026, 3, 10, 14, 30), seconds=30)  # today: never snapshotted
    review(note, "forgot", utc(2026, 3, 9, 14, 30), seconds=20)  # Mar 9 23:30
    review(note, "partial", utc(2026, 3, 9, 3), seconds=None)  # Mar 9 12:00
    review(note, "remembered", utc(2026, 3, 2, 3), seconds=10)  # Mar 2
    review(note, "remembered", utc(2026, 3, 1, 15, 10), seconds=None)  # Mar 2 00:10 (UTC: Mar 1)
    review(note, "forgot", utc(2026, 2, 9, 1))  # Feb 9 10:00
    review(note, "forgot", utc(2026, 2, 8, 14, 50))  # Feb 8 23:50: outside
    return user


def rows_of(user) -> dict[date, LearningMetrics]:
    return {row.date: row for row in LearningMetrics.objects.filter(user=user)}


def test_the_job_snapshots_every_complete_local_day_of_active_users(learner) -> None:
    idle = make_user()
    make_content(user=idle)
    long_gone = make_user()
    review(make_content(user=long_gone, created_at=utc(2025, 1, 1)), "remembered", utc(2026, 1, 1))

    written = services.snapshot_learning_metrics(now=NOW)

    assert written == 29
    rows = rows_of(learner)
    assert sorted(rows) == [date(2026, 2, 9) + timedelta(days=n) for n in range(29)]
    mar9 = rows[date(2026, 3, 9)]
    assert (mar9.reviews, mar9.remembered, mar9.partial, mar9.forgot) == (2, 0, 1, 1)
    assert mar9.success_rate == 0.25
    assert mar9.time_spent_seconds == 20
    assert mar9.timezone == "Asia/Seoul"
    assert mar9.computed_at == NOW
    assert not mar9.is_final
    mar2 = rows[date(2026, 3, 2)]
    assert (mar2.reviews, mar2.remembered, mar2.success_rate, mar2.time_spent_seconds) == (2, 2, 1.0, 10)
    assert mar2.is_final
    assert rows[date(2026, 2, 9)].forgot == 1
    quiet = rows[date(2026, 2, 20)]
    assert (quiet.reviews, quiet.success_rate, quiet.is_final) == (0, None, True)
    assert sum(row.is_final for row in rows.values()) == 22
    assert not LearningMetrics.objects.filter(user__in=[idle, long_gone]).exists()


def test_a_second_run_writes_nothing(learner) -> None:
    services.snapshot_learning_metrics(now=NOW)

    assert services.snapshot_learning_metrics(now=NOW) == 0
    assert services.snapshot_learning_metrics(now=NOW + timedelta(minutes=10)) == 0  # 23:55 in Seoul


def test_a_provisional_day_is_recounted_once_final_with_late_reviews(learner) -> None:
    services.snapshot_learning_metrics(now=NOW)
    note = make_content(user=learner, created_at=utc(2026, 1, 1))
    # Just after the first run, an offline client reports a review made at 23:50 on Mar 3, nearly
    # 7 days ago (the most a review may be back-dated).
    review(note, "partial", utc(2026, 3, 3, 14, 50), recorded_at=NOW + timedelta(minutes=1))

    written = services.snapshot_learning_metrics(now=NOW + timedelta(days=1))

    assert written == 2  # Mar 3, final now, and Mar 10, which has ended
    rows = rows_of(learner)
    assert rows[date(2026, 3, 3)].is_final
    assert rows[date(2026, 3, 3)].partial == 1
    assert rows[date(2026, 3, 3)].computed_at == NOW + timedelta(days=1)
    assert (rows[date(2026, 3, 10)].remembered, rows[date(2026, 3, 10)].is_final) == (1, False)
    assert rows[date(2026, 3, 4)].computed_at == NOW  # still provisional, left alone


def test_a_user_who_moves_gets_their_days_recounted_in_the_new_zone(learner) -> None:
    services.snapshot_learning_metrics(now=NOW)
    learner.timezone = "America/Los_Angeles"
    learner.save(update_fields=["timezone"])

    written = services.snapshot_learning_metrics(now=NOW)

    # 07:45 PDT on Mar 10: complete days Feb 9 .. Mar 9 in Los Angeles
    assert written == 29
    rows = rows_of(learner)
    assert {row.timezone for row in rows.values() if row.date >= date(2026, 2, 9)} == {"America/Los_Angeles"}
    # Seoul's "Mar 10 23:30" review is Mar 10 07:30 in Los Angeles: today there, not snapshotted;
    # Seoul's "Mar 9 23:30" is Mar 9 07:30 and "Mar 9 12:00" is Mar 8 20:00 in Los Angeles.
    assert rows[date(2026, 3, 9)].forgot == 1
    assert rows[date(2026, 3, 9)].partial == 0
    assert rows[date(2026, 3, 8)].partial == 1


def test_refresh_recounts_final_days(learner) -> None:
    services.snapshot_learning_metrics(now=NOW)

    assert services.snapshot_learning_metrics(now=NOW, refresh=True) == 29


def test_the_job_runs_a_fixed_number_of_queries_per_zone(learner) -> None:
    def queries_for_run(users: int) -> int:
        LearningMetrics.objects.all().delete()
        for _ in range(users):
            user = make_user(timezone="Asia/Seoul")
            review(make_content(user=user, created_at=utc(2026, 1, 1)), "remembered", utc(2026, 3, 5))
        with CaptureQueriesContext(connection) as queries:
            services.snapshot_learning_metrics(now=NOW)
        return len(queries)

    assert queries_for_run(2) == queries_for_run(12)


def test_is_final_starts_an_hour_after_the_back_dating_window_closes() -> None:
    end_of_mar2_seoul = utc(2026, 3, 2, 15)
    final_from = end_of_mar2_seoul + timedelta(days=7, hours=1)

    assert services.is_final(day=date(2026, 3, 2), tz_name="Asia/Seoul", at=final_from)
    assert not services.is_final(
        day=date(2026, 3, 2), tz_name="Asia/Seoul", at=final_from - timedelta(seconds=1)
    )


@pytest.fixture
def recent_learner():
    """A learner who reviewed two days ago by the real clock."""
    user = make_user()
    review(make_content(user=user), "remembered", timezone.now() - timedelta(days=2))
    return user


def test_the_command_runs_one_round(recent_learner) -> None:
    out = StringIO()

    call_command("snapshot_learning_metrics", "--days", "40", stdout=out)

    assert "39 snapshots written" in out.getvalue()
    assert LearningMetrics.objects.filter(user=recent_learner).count() == 39


def test_the_command_refuses_a_silly_window() -> None:
    with pytest.raises(CommandError):
        call_command("snapshot_learning_metrics", "--days", "1")


def test_the_schedule_is_declared_and_created_by_setup_schedules() -> None:
    specs = {spec.name: spec for spec in apps.get_app_config("insights").schedules}
    spec = specs["insights.snapshot_learning_metrics"]
    assert spec.func == "modules.insights.tasks.snapshot_learning_metrics"
    assert croniter.is_valid(spec.cron)

    call_command("setup_schedules", stdout=StringIO())

    schedule = Schedule.objects.get(name=spec.full_name)
    assert (schedule.func, schedule.cron, schedule.schedule_type) == (spec.func, spec.cron, Schedule.CRON)


def test_the_task_runs_on_the_queue(recent_learner) -> None:
    async_task("modules.insights.tasks.snapshot_learning_metrics")

    assert LearningMetrics.objects.filter(user=recent_learner).count() == services.SERIES_DAYS - 1
