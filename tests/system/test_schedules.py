"""Scheduled work done by the real worker: metric collection, the alert sweep into Slack and email
(firing, then resolving), and a review reminder sent once at the learner's local hour, whose one-click
unsubscribe header works against the web server."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest

from tests.system.peers import WebhookServer
from tests.system.stack import Stack, running

pytestmark = pytest.mark.system

PASSWORD = "a-long-passphrase-1"
SETUP = """
import datetime as dt
from django.utils import timezone
from modules.identity.testing import make_admin, make_user
from modules.learning.models import ReviewSchedule
from modules.ops.models import MetricSample
make_admin(email="admin@example.com", password={password!r})
make_user(email="learner@example.com", password={password!r}, timezone={zone!r}, daily_reminder_hour={hour})
minute = timezone.now().replace(second=0, microsecond=0)
MetricSample.objects.create(name="memory_usage", value=42.0, unit="percent", at=minute - dt.timedelta(minutes=1))
"""
MAKE_DUE = """
from django.utils import timezone
from modules.learning.models import ReviewSchedule
ReviewSchedule.objects.update(next_review_date=timezone.now() - timezone.timedelta(hours=1))
"""
RUN_NOW = """
from django.utils import timezone
from django_q.models import Schedule
Schedule.objects.filter(name__in={names!r}).update(next_run=timezone.now() - timezone.timedelta(seconds=1))
"""
COLLECT, SWEEP, REMIND = (
    "resee:ops.collect_metrics",
    "resee:ops.alert_sweep",
    "resee:learning.review_reminders",
)


LAST_TASK = """
from django_q.models import Schedule, Task
schedule = Schedule.objects.get(name={name!r})
print("last-task", schedule.task if Task.objects.filter(id=schedule.task).exists() else "-")
"""


def _last_task(stack: Stack, name: str) -> str:
    """The id of the schedule's last task once its result is saved, else "-"."""
    lines = [
        line for line in stack.shell(LAST_TASK.format(name=name)).splitlines() if line.startswith("last-task")
    ]
    return lines[-1].split()[1] if lines else "-"


def _run_now(stack: Stack, *names: str) -> None:
    """Makes these schedules due: the worker's scheduler (every 30 s) queues them on its next pass."""
    stack.shell(RUN_NOW.format(names=list(names)))


def test_the_worker_collects_alerts_into_slack_and_email_and_reminds_once(
    stack_factory, record_property
) -> None:
    now = dt.datetime.now(dt.UTC)
    if now.minute >= 58:  # the reminder hour must not roll over during the test
        time.sleep((60 - now.minute) * 60 - now.second + 2)
        now = dt.datetime.now(dt.UTC)
    with WebhookServer() as slack:
        stack = stack_factory(
            SLACK_WEBHOOK_URL=slack.url,
            SLACK_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
            SLACK_WEBHOOK_REQUIRE_HTTPS="0",
        )
        stack.shell(SETUP.format(password=PASSWORD, zone="UTC", hour=now.hour))
        with running(stack, worker=False):
            admin = stack.login("admin@example.com", PASSWORD)
            learner = stack.login("learner@example.com", PASSWORD)
            with stack.client(learner) as http:
                assert (
                    http.post("/api/content/", json={"title": "Due", "body": "Review me."}).status_code == 201
                )
            stack.shell(MAKE_DUE)
            rule = {
                "name": "Memory high",
                "metric": "memory_usage",
                "operator": ">",
                "threshold": 1,
                "window_minutes": 5,
                "aggregation": "max",
                "cooldown_minutes": 0,
                "severity": "critical",
                "notify_slack": True,
                "notify_emails": ["ops@example.com"],
            }
            created = stack.post("/api/monitoring/alert-rules/", rule, token=admin)
            assert created.status_code == 201, created.text
            rule_id = created.json()["id"]

            _run_now(stack, COLLECT, SWEEP, REMIND)
            started = time.monotonic()
            stack.start_worker()
            stack.wait_until(
                lambda: any("FIRING" in t for t in slack.texts()),
                timeout=60,
                what="Slack",
                explain=stack.worker_events,
            )
            record_property(
                "seconds from worker start to the Slack alert", round(time.monotonic() - started, 1)
            )
            stack.wait_for_mail("ops@example.com", subject="is firing", timeout=30)
            reminder = stack.wait_for_mail("learner@example.com", subject="waiting for you", timeout=30)
            assert "Due" in reminder.get_body(preferencelist=("plain",)).get_content()

            with stack.client(admin) as http:
                collected = http.get("/api/monitoring/metrics/", params={"name": "cpu_usage"}).json()
                assert collected["samples"], collected  # recorded by the worker's collection round
                patched = http.patch(f"/api/monitoring/alert-rules/{rule_id}/", json={"threshold": 1000})
                assert patched.status_code == 200, patched.text
            first_round = _last_task(stack, REMIND)
            _run_now(stack, SWEEP, REMIND)  # a second round in the same local hour
            stack.wait_until(
                lambda: any("RESOLVED" in t for t in slack.texts()),
                timeout=60,
                what="resolve",
                explain=stack.worker_events,
            )
            stack.wait_for_mail("ops@example.com", subject="resolved", timeout=30)
            with stack.client(admin) as http:
                events = http.get("/api/monitoring/alerts/").json()["items"]
            stack.wait_until(
                lambda: _last_task(stack, REMIND) not in {"-", first_round},
                timeout=60,
                what="the second reminder round to finish",
                explain=stack.worker_events,
            )
            # The reminder's one-click unsubscribe (RFC 8058), as a mailbox provider sends it: the header
            # the worker's outbox sent, posted to the web server, turns the learner's reminders off.
            assert reminder["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            link = httpx.URL(reminder["List-Unsubscribe"].strip().strip("<>"))
            with stack.client() as http:
                one_click = http.post(
                    link.raw_path.decode(),
                    content=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            assert one_click.status_code == 200, one_click.text
            with stack.client(learner) as http:
                assert http.get("/api/accounts/users/me/").json()["notifications_enabled"] is False
        texts = slack.texts()
    assert [e["resolved_at"] is not None for e in events] == [True]
    assert sum("FIRING" in t for t in texts) == 1 and sum("RESOLVED" in t for t in texts) == 1
    assert len(stack.mails_to("learner@example.com")) == 1  # the second round reminded nobody again
    assert stack.broker_errors() == []
