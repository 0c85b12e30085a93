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


def test_the_delivery_filter_finds_an_event_whose_resolution_was_not_delivered(admin_client: Client) -> None:
    rule = make_rule()
    now = timezone.now()
    delivered = AlertEvent.objects.create(rule=rule, value=1.0, notified=True, resolved_at=now)
    unsent = AlertEvent.objects.create(rule=rule, value=2.0, notified=True, resolved_at=now)
    given_up = AlertEvent.objects.create(rule=rule, value=3.0, notified=True)
    for event in (delivered, unsent, given_up):
        AlertNotification.objects.create(
            event=event, kind="fired", channel="slack", status=DeliveryStatus.SENT
        )
    AlertNotification.objects.create(
        event=delivered, kind="resolved", channel="slack", status=DeliveryStatus.SENT
    )
    AlertNotification.objects.create(event=unsent, kind="resolved", channel="slack", last_error="HTTP 500")
    AlertNotification.objects.create(
        event=given_up, kind="fired", channel="email", target="a@example.com", status=DeliveryStatus.FAILED
    )

    def listed(query: str) -> set[int]:
        response = admin_client.get(f"/admin/ops/alertevent/?{query}")
        assert response.status_code == 200
        return {event.pk for event in response.context["cl"].result_list}

    # "notified" speaks for the firing only: all three say so
    assert listed("notified__exact=1") == {delivered.pk, unsent.pk, given_up.pk}
    assert listed("delivery=undelivered") == {unsent.pk, given_up.pk}
    assert listed("delivery=failed") == {given_up.pk}
    assert listed("delivery=delivered") == {delivered.pk}


SECRET_URL = "https://hooks.slack.com/services/T0/B0/secret-token"


def _change(admin_client: Client, rule: AlertRule, **changes: str):
    form = {**FORM, "name": rule.name, "slack_webhook_url": "", **changes}
    return admin_client.post(f"/admin/ops/alertrule/{rule.pk}/change/", form)


def test_the_rule_form_never_shows_the_stored_webhook_url(admin_client: Client) -> None:
    rule = make_rule(slack_webhook_url=SECRET_URL)
    page = admin_client.get(f"/admin/ops/alertrule/{rule.pk}/change/").content.decode()
    assert "secret-token" not in page
    assert "A URL is set (not shown)" in page

    bad = _change(admin_client, rule, notify_emails="not-an-email")  # a form shown again with errors
    assert bad.status_code == 200
    assert "secret-token" not in bad.content.decode()


def test_a_view_only_staff_user_sees_whether_a_webhook_is_set_not_the_url() -> None:
    from django.contrib.auth.models import Permission

    from modules.identity.testing import make_admin

    rule = make_rule(slack_webhook_url=SECRET_URL)
    viewer = make_admin()
    viewer.user_permissions.add(Permission.objects.get(codename="view_alertrule"))
    client = Client()
    client.force_login(viewer)

    response = client.get(f"/admin/ops/alertrule/{rule.pk}/change/")

    assert response.status_code == 200
    assert rule.name in response.content.decode()
    assert "secret-token" not in response.content.decode()


def test_a_blank_webhook_field_keeps_the_url_a_new_one_replaces_it_and_clear_removes_it(
    admin_client: Client,
) -> None:
    rule = make_rule(slack_webhook_url=SECRET_URL)

    assert _change(admin_client, rule, threshold="42").status_code == 302
    rule.refresh_from_db()
    assert (rule.threshold, rule.slack_webhook_url) == (42.0, SECRET_URL)

    assert (
        _change(admin_client, rule, slack_webhook_url="https://hooks.slack.com/services/new").status_code
        == 302
    )
    rule.refresh_from_db()
    assert rule.slack_webhook_url == "https://hooks.slack.com/services/new"

    both = _change(
        admin_client, rule, slack_webhook_url="https://hooks.slack.com/x", clear_slack_webhook_url="on"
    )
    assert both.status_code == 200
    assert "not both" in both.content.decode()

    assert _change(admin_client, rule, clear_slack_webhook_url="on").status_code == 302
    rule.refresh_from_db()
    assert rule.slack_webhook_url == ""


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?name=cpu_usage",
        "?at__gte=2026-01-01+00%3A00%3A00%2B00%3A00&at__lt=2026-01-02+00%3A00%3A00%2B00%3A00",
    ],
)
def test_the_metric_sample_changelist_runs_no_distinct_scan(admin_client: Client, query: str) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from modules.ops.catalog import METRIC_NAMES

    record_samples("cpu_usage", [1.0, 2.0])
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(f"/admin/ops/metricsample/{query}")

    assert response.status_code == 200
    sql = [q["sql"].upper() for q in queries.captured_queries]
    assert not [s for s in sql if "DISTINCT" in s]  # no SELECT DISTINCT name, no date hierarchy
    assert len(sql) <= 6, sql
    page = response.content.decode()
    assert all(f"name={name}" in page for name in METRIC_NAMES)  # every catalog metric, sampled or not
