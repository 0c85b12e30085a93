"""The alert sweep on the real database: firing, cooldown, auto-resolve, Slack and email
notifications, retries of failed deliveries."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from modules.identity.models import EmailLog
from modules.ops import services
from modules.ops.models import AlertEvent, AlertNotification, DeliveryStatus
from modules.ops.services import notifications
from modules.ops.testing import make_rule, record_samples
from tests.ops.conftest import WebhookServer

pytestmark = pytest.mark.django_db

LOCMEM_EMAIL = "django.core.mail.backends.locmem.EmailBackend"


def minute(offset: int = 0):
    return timezone.now().replace(second=30, microsecond=0) + timedelta(minutes=offset)


def test_a_rule_whose_condition_holds_fires_one_event() -> None:
    rule = make_rule(metric="cpu_usage", operator=">", threshold=80, window_minutes=3)
    now = minute()
    record_samples("cpu_usage", [85, 90, 95], end=now)

    first = services.run_alert_sweep(now=now)
    second = services.run_alert_sweep(now=now + timedelta(seconds=10))

    event = AlertEvent.objects.get(rule=rule)
    assert first.fired == [event.pk]
    assert second.fired == []  # still firing: no second event
    assert event.value == pytest.approx(90.0)
    assert event.resolved_at is None
    assert event.notified is True  # nothing to notify: nothing left undelivered
    rule.refresh_from_db()
    assert rule.last_fired_at == now


def test_a_rule_below_its_threshold_does_not_fire() -> None:
    make_rule(metric="memory_usage", operator=">=", threshold=90, aggregation="max")
    now = minute()
    record_samples("memory_usage", [50, 89.9], end=now)
    assert services.run_alert_sweep(now=now).fired == []
    assert not AlertEvent.objects.exists()


def test_inactive_rules_are_not_evaluated() -> None:
    make_rule(is_active=False, threshold=0)
    now = minute()
    record_samples("cpu_usage", [50], end=now)
    result = services.run_alert_sweep(now=now)
    assert result.evaluated == 0
    assert not AlertEvent.objects.exists()


def test_the_event_resolves_by_itself_when_the_condition_clears() -> None:
    rule = make_rule(metric="api_error_rate", operator=">", threshold=5, window_minutes=2, aggregation="avg")
    now = minute()
    record_samples("api_error_rate", [10, 12], end=now)
    services.run_alert_sweep(now=now)

    later = now + timedelta(minutes=3)
    record_samples("api_error_rate", [1, 0], end=later)
    result = services.run_alert_sweep(now=later)

    event = AlertEvent.objects.get(rule=rule)
    assert result.resolved == [event.pk]
    assert event.resolved_at == later
    assert event.resolved_value == pytest.approx(0.5)


def test_missing_data_neither_fires_nor_resolves() -> None:
    rule = make_rule(threshold=80, window_minutes=2)
    now = minute()
    record_samples("cpu_usage", [90, 90], end=now)
    services.run_alert_sweep(now=now)
    result = services.run_alert_sweep(now=now + timedelta(minutes=30))  # no samples since
    assert result.resolved == []
    assert AlertEvent.objects.get(rule=rule).resolved_at is None


def test_cooldown_suppresses_a_new_event_then_lets_it_fire() -> None:
    rule = make_rule(threshold=80, window_minutes=1, cooldown_minutes=30, aggregation="last")
    start = minute()
    record_samples("cpu_usage", [95], end=start)
    services.run_alert_sweep(now=start)  # fires
    record_samples("cpu_usage", [10], end=start + timedelta(minutes=1))
    services.run_alert_sweep(now=start + timedelta(minutes=1))  # resolves

    record_samples("cpu_usage", [95], end=start + timedelta(minutes=10))
    inside = services.run_alert_sweep(now=start + timedelta(minutes=10))
    assert inside.fired == []  # 10 minutes after the firing: inside the 30-minute cooldown

    record_samples("cpu_usage", [95], end=start + timedelta(minutes=31))
    after = services.run_alert_sweep(now=start + timedelta(minutes=31))
    assert len(after.fired) == 1
    assert AlertEvent.objects.filter(rule=rule).count() == 2


def test_switching_a_rule_off_closes_its_open_event() -> None:
    rule = make_rule(threshold=0)
    now = minute()
    record_samples("cpu_usage", [5], end=now)
    services.run_alert_sweep(now=now)
    services.update_rule(rule_id=rule.pk, changes={"is_active": False})
    assert AlertEvent.objects.get(rule=rule).resolved_at is not None


def test_slack_receives_the_firing_and_the_resolution(local_slack: WebhookServer) -> None:
    rule = make_rule(
        name="DB slow", metric="db_query_avg_time", threshold=100, window_minutes=1, notify_slack=True
    )
    now = minute()
    record_samples("db_query_avg_time", [250.0], end=now)

    result = services.run_alert_sweep(now=now)

    assert result.delivered == 1
    event = AlertEvent.objects.get(rule=rule)
    assert event.notified is True
    assert event.notify_attempts == 1
    body = local_slack.received[0].json
    assert body["text"].startswith(":rotating_light: FIRING [warning] DB slow: db_query_avg_time = 250")
    assert f"/admin/ops/alertevent/{event.pk}/change/" in body["attachments"][0]["title_link"]

    later = now + timedelta(minutes=2)
    record_samples("db_query_avg_time", [3.0], end=later)
    services.run_alert_sweep(now=later)

    assert len(local_slack.received) == 2
    assert local_slack.received[1].json["text"].startswith(":white_check_mark: RESOLVED [warning] DB slow")


def test_a_per_rule_webhook_url_is_used_instead_of_the_global_one(local_slack: WebhookServer) -> None:
    make_rule(
        threshold=0, window_minutes=1, notify_slack=True, slack_webhook_url=local_slack.url("/team/hook")
    )
    now = minute()
    record_samples("cpu_usage", [5], end=now)
    services.run_alert_sweep(now=now)
    assert local_slack.paths() == ["/team/hook"]


def test_a_per_rule_url_whose_host_was_removed_from_the_allow_list_is_refused_at_send_time(
    local_slack: WebhookServer, settings
) -> None:
    rule = make_rule(
        threshold=0, window_minutes=1, notify_slack=True, slack_webhook_url=local_slack.url("/x")
    )
    settings.SLACK_WEBHOOK_ALLOWED_HOSTS = ["hooks.slack.com"]
    now = minute()
    record_samples("cpu_usage", [5], end=now)
    services.run_alert_sweep(now=now)

    assert local_slack.received == []
    notification = AlertNotification.objects.get(event__rule=rule)
    assert notification.status == DeliveryStatus.PENDING
    assert "not in SLACK_WEBHOOK_ALLOWED_HOSTS" in notification.last_error
    assert AlertEvent.objects.get(rule=rule).notified is False


def test_the_rule_recipients_get_an_email_for_firing_and_resolution(
    settings, django_capture_on_commit_callbacks
) -> None:
    settings.EMAIL_BACKEND = LOCMEM_EMAIL
    rule = make_rule(
        name="Overdue pile",
        metric="overdue_reviews",
        operator=">",
        threshold=100,
        window_minutes=1,
        severity="critical",
        notify_emails=["oncall@example.com", "lead@example.com"],
    )
    now = minute()
    record_samples("overdue_reviews", [150], end=now)

    with django_capture_on_commit_callbacks(execute=True):
        services.run_alert_sweep(now=now)

    assert sorted(m.to[0] for m in mail.outbox) == ["lead@example.com", "oncall@example.com"]
    message = mail.outbox[0]
    assert message.subject == "[Resee CRITICAL] Overdue pile is firing"
    assert "overdue_reviews" in message.body and "150" in message.body
    assert "Overdue pile" in message.alternatives[0][0]
    logs = EmailLog.objects.filter(template="ops/email/alert_fired")
    assert sorted(logs.values_list("to", flat=True)) == ["lead@example.com", "oncall@example.com"]
    assert AlertEvent.objects.get(rule=rule).notified is True

    mail.outbox.clear()
    later = now + timedelta(minutes=2)
    record_samples("overdue_reviews", [20], end=later)
    with django_capture_on_commit_callbacks(execute=True):
        services.run_alert_sweep(now=later)
    assert sorted(m.to[0] for m in mail.outbox) == ["lead@example.com", "oncall@example.com"]
    assert mail.outbox[0].subject == "[Resee resolved] Overdue pile"
    assert EmailLog.objects.filter(template="ops/email/alert_resolved").count() == 2


def test_a_failing_webhook_leaves_a_retriable_record_that_a_later_sweep_delivers(
    local_slack: WebhookServer, settings
) -> None:
    rule = make_rule(threshold=50, window_minutes=1, notify_slack=True)
    now = minute()
    record_samples("cpu_usage", [99], end=now)
    local_slack.replies = [(500, {})]

    first = services.run_alert_sweep(now=now)

    assert first.failed == 1
    notification = AlertNotification.objects.get(event__rule=rule)
    assert notification.status == DeliveryStatus.PENDING
    assert notification.attempts == 1
    assert "HTTP 500" in notification.last_error
    assert notification.next_attempt_at == now + timedelta(minutes=1)
    event = AlertEvent.objects.get(rule=rule)
    assert event.notified is False
    assert "HTTP 500" in event.notify_error

    # Too early: the backoff has not passed, nothing is sent.
    assert services.run_alert_sweep(now=now + timedelta(seconds=20)).delivered == 0

    later = now + timedelta(minutes=1, seconds=1)
    record_samples("cpu_usage", [99], end=later)
    second = services.run_alert_sweep(now=later)

    assert second.delivered == 1
    notification.refresh_from_db()
    assert notification.status == DeliveryStatus.SENT
    assert notification.attempts == 2
    event.refresh_from_db()
    assert event.notified is True
    assert event.notify_attempts == 2
    assert len(local_slack.received) == 2
    assert local_slack.received[1].json["text"].startswith(":rotating_light: FIRING")


def test_a_missing_slack_webhook_is_recorded_not_silently_skipped(settings) -> None:
    settings.SLACK_WEBHOOK_URL = ""
    rule = make_rule(threshold=0, window_minutes=1, notify_slack=True)
    now = minute()
    record_samples("cpu_usage", [5], end=now)
    services.run_alert_sweep(now=now)
    notification = AlertNotification.objects.get(event__rule=rule)
    assert "No Slack webhook" in notification.last_error
    assert notification.status == DeliveryStatus.PENDING


def test_delivery_gives_up_after_the_maximum_attempts_and_keeps_the_error(local_slack, settings) -> None:
    settings.ALERT_NOTIFY_MAX_ATTEMPTS = 2
    local_slack.replies = [(500, {}), (500, {})]
    rule = make_rule(threshold=0, window_minutes=1, notify_slack=True)
    now = minute()
    record_samples("cpu_usage", [5], end=now)
    services.run_alert_sweep(now=now)
    services.deliver_due_notifications(now=now + timedelta(hours=1))

    notification = AlertNotification.objects.get(event__rule=rule)
    assert notification.status == DeliveryStatus.FAILED
    assert notification.attempts == 2
    assert "HTTP 500" in notification.last_error

    # An admin can put it back in the queue; the next sweep delivers it.
    assert services.retry_notifications(event_ids=[notification.event_id]) == 1
    assert services.deliver_due_notifications().delivered == 1


def test_a_notification_claimed_by_another_sweep_is_not_sent_twice(local_slack: WebhookServer) -> None:
    rule = make_rule(threshold=0, window_minutes=1, notify_slack=True)
    now = minute()
    record_samples("cpu_usage", [5], end=now)
    services.run_alert_sweep(now=now)
    notification = AlertNotification.objects.get(event__rule=rule)
    # Put it back as if another sweep had just claimed it (lease in the future).
    AlertNotification.objects.filter(pk=notification.pk).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now + timedelta(minutes=2)
    )
    assert services.deliver_due_notifications(now=now).delivered == 0
    assert len(local_slack.received) == 1


def test_run_alert_sweep_command_runs_one_round() -> None:
    make_rule(threshold=0, window_minutes=1)
    record_samples("cpu_usage", [5])
    out = StringIO()
    call_command("run_alert_sweep", stdout=out)
    assert "evaluated 1 rules: 1 fired" in out.getvalue()


def test_a_sweep_stops_delivering_when_its_time_budget_is_spent(
    local_slack: WebhookServer, monkeypatch
) -> None:
    monkeypatch.setattr(notifications, "DELIVERY_TIME_BUDGET_SECONDS", -1.0)
    make_rule(threshold=0, window_minutes=1, notify_slack=True)
    make_rule(metric="memory_usage", threshold=0, window_minutes=1, notify_slack=True)
    now = minute()
    record_samples("cpu_usage", [5], end=now)
    record_samples("memory_usage", [5], end=now)
    result = services.run_alert_sweep(now=now)
    # One delivery always starts (so a SLACK_TIMEOUT_SECONDS longer than the budget still delivers).
    assert (result.delivered, result.failed) == (1, 0)
    assert len(local_slack.received) == 1
    waiting = AlertNotification.objects.get(status=DeliveryStatus.PENDING)
    assert waiting.attempts == 0  # still due, for the next sweep


# The collection and the sweep are both scheduled at the start of every minute; samples carry their
# round's minute. These run the sweep a few milliseconds into minute M, before or after M's round.


def _start_of_minute(offset: int = 0):
    return timezone.now().replace(second=0, microsecond=5000) + timedelta(minutes=offset)


def test_a_one_minute_rule_fires_and_resolves_when_the_sweep_runs_before_the_collection() -> None:
    rule = make_rule(metric="disk_usage", operator=">", threshold=90, window_minutes=1, cooldown_minutes=0)
    now = _start_of_minute()
    record_samples("disk_usage", [50, 95], end=now - timedelta(minutes=1))  # minute M's round not in yet

    fired = services.run_alert_sweep(now=now)

    event = AlertEvent.objects.get(rule=rule)
    assert fired.fired == [event.pk]
    assert event.value == pytest.approx(95.0)  # the last collected minute, not the one before

    record_samples("disk_usage", [40], end=now)  # M's round commits after the sweep
    later = now + timedelta(minutes=1)  # the sweep of M+1, before M+1's round
    resolved = services.run_alert_sweep(now=later)

    event.refresh_from_db()
    assert resolved.resolved == [event.pk]
    assert event.resolved_value == pytest.approx(40.0)


def test_a_window_holds_its_number_of_samples_whichever_task_runs_first() -> None:
    rule = make_rule(metric="cpu_usage", operator=">", threshold=30, window_minutes=3, aggregation="min")
    now = _start_of_minute()
    record_samples("cpu_usage", [10, 40, 50, 60], end=now - timedelta(minutes=1))

    # Before M's round: M-3..M-1 (40, 50, 60); M-4's 10 is outside.
    assert services.run_alert_sweep(now=now).fired == [AlertEvent.objects.get(rule=rule).pk]
    assert AlertEvent.objects.get(rule=rule).value == pytest.approx(40.0)

    # After M's round (20): M-2..M, whose min 20 clears the condition.
    record_samples("cpu_usage", [20], end=now)
    result = services.run_alert_sweep(now=now + timedelta(seconds=1))
    assert result.resolved == [AlertEvent.objects.get(rule=rule).pk]
    assert AlertEvent.objects.get(rule=rule).resolved_value == pytest.approx(20.0)


def test_a_metric_the_collection_stopped_recording_ages_out_of_the_window() -> None:
    make_rule(metric="cpu_usage", operator=">", threshold=30, window_minutes=1)
    now = _start_of_minute()
    record_samples("cpu_usage", [99], end=now - timedelta(minutes=2))  # nothing since M-2

    result = services.run_alert_sweep(now=now)

    assert result.fired == []
    assert not AlertEvent.objects.exists()


def test_a_sweep_that_finds_another_still_running_skips_its_turn(local_slack: WebhookServer) -> None:
    import psycopg
    from django.db import connection

    from modules.ops.services.sweep import _SWEEP_LOCK

    rule = make_rule(threshold=0, window_minutes=1, notify_slack=True)
    now = minute()
    record_samples("cpu_usage", [5], end=now)
    params = connection.get_connection_params()
    other = psycopg.connect(
        **{key: params[key] for key in ("dbname", "user", "password", "host", "port") if params.get(key)},
        autocommit=True,
    )
    try:  # another worker's sweep, in its own session
        other.execute("SELECT pg_advisory_lock(%s, %s)", list(_SWEEP_LOCK))
        skipped = services.run_alert_sweep(now=now)
        assert skipped.skipped is True
        assert (skipped.evaluated, skipped.delivered) == (0, 0)
        assert not AlertEvent.objects.exists()
        assert local_slack.received == []
        other.execute("SELECT pg_advisory_unlock(%s, %s)", list(_SWEEP_LOCK))
    finally:
        other.close()

    result = services.run_alert_sweep(now=now)  # the lock was released: the next sweep runs

    assert (result.skipped, result.fired, result.delivered) == (
        False,
        [AlertEvent.objects.get(rule=rule).pk],
        1,
    )
    after = services.run_alert_sweep(now=now)  # and this one released it in turn
    assert after.skipped is False


@pytest.fixture
def hanging_webhook(settings):
    """A webhook whose host accepts the connection and never answers (the kernel's backlog)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    settings.SLACK_WEBHOOK_REQUIRE_HTTPS = False
    settings.SLACK_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.SLACK_WEBHOOK_URL = f"http://127.0.0.1:{server.getsockname()[1]}/services/T/B/X"
    yield
    server.close()


def test_a_hanging_webhook_cannot_hold_a_sweep_past_its_delivery_budget(
    hanging_webhook, settings, monkeypatch
) -> None:
    import time

    settings.SLACK_TIMEOUT_SECONDS = 1.0
    monkeypatch.setattr(notifications, "DELIVERY_TIME_BUDGET_SECONDS", 2.5)
    for metric in ("cpu_usage", "memory_usage", "disk_usage", "db_size"):
        make_rule(metric=metric, threshold=-1, window_minutes=1, notify_slack=True)
        record_samples(metric, [5], end=minute())

    started = time.monotonic()
    result = services.run_alert_sweep(now=minute())
    took = time.monotonic() - started

    # Deliveries start at ~0 s and ~1 s; a third (at ~2 s) could not end within 2.5 s, so it waits.
    assert len(result.fired) == 4
    assert (result.delivered, result.failed) == (0, 2)
    assert took < 2.5
    assert AlertNotification.objects.filter(attempts=0, status=DeliveryStatus.PENDING).count() == 2


def test_the_delivery_budget_and_one_webhook_timeout_fit_in_the_sweep_period() -> None:
    from django.conf import settings as live

    from modules.ops.apps import OpsConfig

    sweep = next(spec for spec in OpsConfig.schedules if spec.name == "ops.alert_sweep")
    assert sweep.cron == "* * * * *"
    assert notifications.SWEEP_PERIOD_SECONDS == 60
    longest_wait = max(live.SLACK_TIMEOUT_SECONDS, notifications.MAX_SLACK_READ_SECONDS)
    assert notifications.DELIVERY_TIME_BUDGET_SECONDS + longest_wait < 60


def test_a_slow_but_working_webhook_is_confirmed_by_a_longer_wait_not_posted_at_every_attempt(
    local_slack: WebhookServer, settings
) -> None:
    settings.SLACK_TIMEOUT_SECONDS = 0.5
    local_slack.delay = 0.8  # posts the message, answers after the first wait, within the second
    rule = make_rule(threshold=50, window_minutes=1, notify_slack=True)
    now = minute()
    record_samples("cpu_usage", [99], end=now)

    assert services.run_alert_sweep(now=now).failed == 1
    notification = AlertNotification.objects.get(event__rule=rule)
    assert "no answer within 0.5 s (the message may have been posted)" in notification.last_error

    second = services.deliver_due_notifications(now=now + timedelta(minutes=1, seconds=1))

    assert second.delivered == 1
    notification.refresh_from_db()
    assert notification.status == DeliveryStatus.SENT
    assert len(local_slack.received) == 2


def test_the_wait_for_slack_doubles_with_each_attempt_up_to_its_cap(settings) -> None:
    settings.SLACK_TIMEOUT_SECONDS = 5.0
    assert [notifications.slack_read_timeout(attempts) for attempts in range(5)] == [5, 10, 20, 25, 25]
    settings.SLACK_TIMEOUT_SECONDS = 40.0  # an operator's longer wait is kept as it is
    assert notifications.slack_read_timeout(3) == 40


def test_an_event_keeps_its_rule_as_it_fired_when_the_rule_is_edited(
    local_slack: WebhookServer, client_for
) -> None:
    from modules.identity.testing import make_admin

    rule = make_rule(name="CPU hot", metric="cpu_usage", threshold=80, window_minutes=1, notify_slack=True)
    now = minute()
    record_samples("cpu_usage", [95], end=now)
    local_slack.replies = [(500, {})]  # the firing's message waits for a retry
    services.run_alert_sweep(now=now)
    event = AlertEvent.objects.get(rule=rule)

    rule.name, rule.threshold, rule.severity = "CPU very hot", 99, "critical"
    rule.save()

    later = now + timedelta(minutes=1, seconds=1)
    services.run_alert_sweep(now=later)  # the retry after the edit; 95 is below 99 now: it resolves

    texts = [received.json["text"] for received in local_slack.received[1:]]
    assert texts == [
        ":rotating_light: FIRING [warning] CPU hot: cpu_usage = 95 (avg(cpu_usage, 1m) > 80)",
        ":white_check_mark: RESOLVED [warning] CPU hot: cpu_usage = 95",
    ]
    history = client_for(make_admin()).get("/api/monitoring/alerts/").json()["items"]
    assert [(item["id"], item["rule_name"], item["severity"], item["condition"]) for item in history] == [
        (event.pk, "CPU hot", "warning", "avg(cpu_usage, 1m) > 80")
    ]


def test_an_event_fired_before_the_rule_was_kept_shows_the_rule_as_it_is() -> None:
    rule = make_rule(name="Old", metric="cpu_usage", threshold=70)
    event = AlertEvent.objects.create(rule=rule, value=75)  # no fired_rule: an older row

    assert event.fired_as["name"] == "Old"
    assert event.condition == "avg(cpu_usage, 5m) > 70"
