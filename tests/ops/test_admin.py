"""Django admin: rules, events and samples, and Django-Q2's own pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from modules.ops.models import AlertEvent, AlertNotification, AlertRule, DeliveryStatus
from modules.ops.testing import make_rule, record_samples

pytestmark = pytest.mark.django_db


FORM = {
    "name": "Queue backlog",
    "is_active": "on",
    "severity": "warning",
    "metric": "queue_queued_tasks",
    "aggregation": "max",
    "operator": ">",
    "threshold": "100",
    "window_minutes": "5",
    "cooldown_minutes": "30",
    "slack_webhook_url": "",
    "notify_emails": "ops@example.com, lead@example.com",
}


def test_an_admin_creates_a_rule_through_the_admin_form(admin_client: Client) -> None:
    response = admin_client.post("/admin/ops/alertrule/add/", FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = AlertRule.objects.get(name="Queue backlog")
    assert rule.notify_emails == ["ops@example.com", "lead@example.com"]
    assert (rule.metric, rule.operator, rule.threshold) == ("queue_queued_tasks", ">", 100.0)


def test_the_admin_form_refuses_a_webhook_outside_the_allow_list(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/ops/alertrule/add/", {**FORM, "slack_webhook_url": "https://attacker.example/x"}
    )
    assert response.status_code == 200
    assert "SLACK_WEBHOOK_ALLOWED_HOSTS" in response.content.decode()
    assert not AlertRule.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/ops/alertrule/",
        "/admin/ops/alertevent/",
        "/admin/ops/metricsample/",
        "/admin/django_q/schedule/",
        "/admin/django_q/ormq/",
        "/admin/django_q/failure/",
        "/admin/django_q/success/",
    ],
)
def test_ops_and_django_q_admin_pages_open(admin_client: Client, url: str) -> None:
    rule = make_rule()
    AlertEvent.objects.create(rule=rule, value=1.0)
    record_samples("cpu_usage", [1.0, 2.0])
    assert admin_client.get(url).status_code == 200


def test_an_event_page_shows_its_notifications(admin_client: Client) -> None:
    event = AlertEvent.objects.create(rule=make_rule(), value=1.0)
    AlertNotification.objects.create(event=event, kind="fired", channel="slack", last_error="HTTP 500")
    response = admin_client.get(f"/admin/ops/alertevent/{event.pk}/change/")
    assert response.status_code == 200
    assert "HTTP 500" in response.content.decode()


def test_the_retry_action_makes_given_up_notifications_due(admin_client: Client) -> None:
    event = AlertEvent.objects.create(rule=make_rule(), value=1.0)
    notification = AlertNotification.objects.create(
        event=event, kind="fired", channel="email", target="a@example.com", status=DeliveryStatus.FAILED
    )
    response = admin_client.post(
        "/admin/ops/alertevent/", {"action": "retry_notifications", "_selected_action": [event.pk]}
    )
    assert response.status_code == 302
    notification.refresh_from_db()
    assert notification.status == DeliveryStatus.PENDING
    assert notification.next_attempt_at <= timezone.now()
