from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from croniter import croniter
from django.apps import apps
from django.core import mail
from django.core.management import call_command

from modules.identity.models import User
from modules.identity.testing import make_user
from modules.learning import services, tasks
from modules.learning.models import ReminderLog
from modules.learning.testing import make_content

pytestmark = pytest.mark.django_db

# 07:00 UTC is 09:00 in Berlin (summer time) and 16:00 in Tokyo.
SUMMER_MORNING = datetime(2025, 7, 1, 7, 0, tzinfo=UTC)


def due_card(user, **fields):
    """A card due an hour before SUMMER_MORNING."""
    return make_content(
        user=user,
        due_at=SUMMER_MORNING - timedelta(hours=1),
        created_at=SUMMER_MORNING - timedelta(days=3),
        **fields,
    )


def berliner(**fields):
    defaults = {"timezone": "Europe/Berlin", "daily_reminder_hour": 9, "first_name": "Ada"}
    return make_user(**{**defaults, **fields})


def test_a_user_at_their_local_reminder_hour_with_reviews_due_gets_one_email(
    django_capture_on_commit_callbacks,
) -> None:
    user = berliner()
    for index in range(7):
        due_card(user, title=f"Card {index}")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        sent = services.send_review_reminders(now=SUMMER_MORNING)

    assert sent == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    assert "7 reviews" in message.subject
    assert "Hi Ada" in message.body
    assert "Card 0" in message.body and "... and 2 more" in message.body
    html = message.alternatives[0][0]
    assert "<li>Card 0</li>" in html
    assert ReminderLog.objects.get(user=user).local_date.isoformat() == "2025-07-01"


def test_reminders_go_out_at_most_once_per_local_day(django_capture_on_commit_callbacks) -> None:
    user = berliner()
    due_card(user)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        first = services.send_review_reminders(now=SUMMER_MORNING)
        again = services.send_review_reminders(now=SUMMER_MORNING + timedelta(minutes=30))
    assert (first, again) == (1, 0)
    assert len(mail.outbox) == 1


def test_no_reminder_without_reviews_due_or_outside_the_hour_or_when_opted_out() -> None:
    nothing_due = berliner(email="nothing-due@example.com")
    make_content(user=nothing_due, due_at=SUMMER_MORNING + timedelta(days=2))
    wrong_hour = berliner(email="wrong-hour@example.com", daily_reminder_hour=18)
    due_card(wrong_hour)
    opted_out = berliner(email="opted-out@example.com", notifications_enabled=False)
    due_card(opted_out)
    unverified = berliner(email="unverified@example.com")
    due_card(unverified)  # saved while verified (saving content needs it), then the address bounces
    User.objects.filter(pk=unverified.pk).update(is_email_verified=False)

    assert services.send_review_reminders(now=SUMMER_MORNING) == 0
    assert not ReminderLog.objects.exists()


def test_due_today_means_before_the_end_of_the_users_local_day() -> None:
    user = berliner()
    # 23:30 Berlin time on the same day is still today
    make_content(user=user, title="tonight", due_at=datetime(2025, 7, 1, 21, 30, tzinfo=UTC))
    assert services.send_review_reminders(now=SUMMER_MORNING) == 1


def test_the_hourly_task_and_the_command_run_one_round(time_machine) -> None:
    user = berliner()
    due_card(user)
    time_machine.move_to(SUMMER_MORNING, tick=False)  # the task and the command read the clock

    assert tasks.send_review_reminders() == 1
    out = StringIO()
    call_command("send_review_reminders", stdout=out)
    assert "Review reminders queued: 0" in out.getvalue()


def test_a_reminder_round_runs_once_in_every_hour_of_the_day() -> None:
    """Recipients are chosen by their local reminder hour, so every UTC hour needs exactly one round."""
    (spec,) = [
        spec
        for spec in apps.get_app_config("learning").schedules
        if spec.func == "modules.learning.tasks.send_review_reminders"
    ]
    runs = croniter(spec.cron, SUMMER_MORNING - timedelta(microseconds=1))
    day = [runs.get_next(datetime) for _ in range(24)]

    assert sorted({run.hour for run in day}) == list(range(24))
    assert day[-1] - day[0] < timedelta(days=1)
