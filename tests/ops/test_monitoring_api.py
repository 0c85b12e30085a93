"""The admin monitoring API: health, metrics, alert rules and alert history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from modules.ops.models import AlertEvent, AlertRule
from modules.ops.testing import make_rule, publish_cluster_status, record_samples, withdraw_cluster_status

pytestmark = pytest.mark.django_db

RULE = {
    "name": "API slow",
    "metric": "api_response_time_p95",
    "operator": ">=",
    "threshold": 500,
    "window_minutes": 5,
    "aggregation": "avg",
    "cooldown_minutes": 15,
    "severity": "critical",
    "notify_slack": True,
    "notify_emails": ["Oncall@Example.com"],
    "is_active": True,
}


def post(client: Client, path: str, body: dict):
    return client.post(path, data=body, content_type="application/json")


def patch(client: Client, path: str, body: dict):
    return client.patch(path, data=body, content_type="application/json")


def test_health_reports_the_six_checks_and_the_newest_metric_values(staff_api_client: Client) -> None:
    now = timezone.now()
    record_samples("cpu_usage", [10, 20, 30], end=now)
    record_samples("db_size", [1234], end=now - timedelta(hours=2))  # too old to count as current
    cluster = publish_cluster_status()  # a running worker (tests/ops/test_worker_liveness.py: without)

    try:
        response = staff_api_client.get("/api/monitoring/health/")
    finally:
        withdraw_cluster_status(cluster)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "queue", "worker", "collection", "disk"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["metrics"]["cpu_usage"]["value"] == 30
    assert body["metrics"]["cpu_usage"]["unit"] == "percent"
    assert "at" in body["metrics"]["cpu_usage"]
    assert "db_size" not in body["metrics"]


def test_health_is_degraded_when_the_disk_is_nearly_full(staff_api_client: Client, monkeypatch) -> None:
    from modules.ops.services import health

    monkeypatch.setattr(health, "DISK_FULL_PERCENT", 0.0)
    body = staff_api_client.get("/api/monitoring/health/").json()
    assert body["status"] == "degraded"
    assert body["checks"]["disk"]["ok"] is False
    assert "full" in body["checks"]["disk"]["error"]


def test_health_is_throttled_per_admin(staff_api_client: Client, settings) -> None:
    settings.MONITORING_HEALTH_THROTTLE_RATE = "2/hour"
    assert staff_api_client.get("/api/monitoring/health/").status_code == 200
    assert staff_api_client.get("/api/monitoring/health/").status_code == 200
    response = staff_api_client.get("/api/monitoring/health/")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) >= 1


def test_the_default_health_rate_is_the_contract_s_1000_per_hour(settings) -> None:
    assert settings.MONITORING_HEALTH_THROTTLE_RATE == "1000/hour"


def test_metrics_returns_the_samples_of_one_metric_since_a_moment(staff_api_client: Client) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    record_samples("memory_usage", [40, 41, 42, 43], end=now)
    since = (now - timedelta(minutes=2)).isoformat()

    response = staff_api_client.get("/api/monitoring/metrics/", {"name": "memory_usage", "since": since})

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "memory_usage"
    assert body["unit"] == "percent"
    assert [s["value"] for s in body["samples"]] == [41, 42, 43]
    assert body["truncated"] is False


def test_metrics_marks_a_cut_series_as_truncated(staff_api_client: Client) -> None:
    record_samples("memory_usage", [1, 2, 3])
    body = staff_api_client.get("/api/monitoring/metrics/", {"name": "memory_usage", "limit": 2}).json()
    assert [s["value"] for s in body["samples"]] == [1, 2]
    assert body["truncated"] is True


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"name": "no_such_metric"},
        {"name": "cpu_usage", "since": "yesterday"},
        {"name": "cpu_usage", "limit": 0},
        {"name": "cpu_usage", "limit": 100_001},
    ],
)
def test_metrics_validates_its_query(staff_api_client: Client, params: dict) -> None:
    response = staff_api_client.get("/api/monitoring/metrics/", params)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_metrics_refuses_a_since_after_until(staff_api_client: Client) -> None:
    now = timezone.now()
    response = staff_api_client.get(
        "/api/monitoring/metrics/",
        {"name": "cpu_usage", "since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()},
    )
    assert response.status_code == 422


def test_an_admin_creates_lists_changes_and_deletes_a_rule(staff_api_client: Client) -> None:
    created = post(staff_api_client, "/api/monitoring/alert-rules/", RULE)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert {k: body[k] for k in RULE if k != "notify_emails"} == {
        k: v for k, v in RULE.items() if k != "notify_emails"
    }
    assert body["notify_emails"] == ["oncall@example.com"]
    assert body["has_slack_webhook_url"] is False
    rule_id = body["id"]

    listed = staff_api_client.get("/api/monitoring/alert-rules/").json()
    assert listed["count"] == 1
    assert listed["items"][0]["id"] == rule_id

    changed = patch(
        staff_api_client, f"/api/monitoring/alert-rules/{rule_id}/", {"threshold": 750, "operator": ">"}
    )
    assert changed.status_code == 200
    assert (changed.json()["threshold"], changed.json()["operator"]) == (750, ">")
    assert changed.json()["severity"] == "critical"  # untouched fields stay

    assert staff_api_client.delete(f"/api/monitoring/alert-rules/{rule_id}/").status_code == 204
    assert not AlertRule.objects.exists()
    assert staff_api_client.delete(f"/api/monitoring/alert-rules/{rule_id}/").status_code == 404


def test_a_rule_id_that_is_not_a_number_is_a_validation_error_like_every_other_route(
    staff_api_client: Client,
) -> None:
    """Every other route's path ids parse as integers in the operation (422 with the field); a URL
    converter made these two a 404 for the same mistake."""
    for response in (
        patch(staff_api_client, "/api/monitoring/alert-rules/abc/", {"threshold": 1}),
        staff_api_client.delete("/api/monitoring/alert-rules/abc/"),
    ):
        assert response.status_code == 422, response.content
        assert response.json()["code"] == "validation_error"
        assert response.json()["detail"][0]["loc"] == ["path", "rule_id"]


def test_a_rule_takes_defaults_for_what_it_leaves_out(staff_api_client: Client) -> None:
    response = post(
        staff_api_client,
        "/api/monitoring/alert-rules/",
        {"name": "x", "metric": "cpu_usage", "operator": ">", "threshold": 90},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["window_minutes"], body["aggregation"], body["cooldown_minutes"], body["severity"]) == (
        5,
        "avg",
        30,
        "warning",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"operator": "=>"},
        {"aggregation": "median"},
        {"metric": "not_a_metric"},
        {"window_minutes": 0},
        {"window_minutes": 100_000},
        {"cooldown_minutes": -1},
        {"severity": "apocalyptic"},
        {"notify_emails": ["not-an-email"]},
        {"threshold": "NaN"},
        {"unknown_field": 1},
        {"name": ""},
        {"name": "   "},
        {"name": "\t\n"},
    ],
)
def test_a_malformed_rule_is_422(staff_api_client: Client, change: dict) -> None:
    response = post(staff_api_client, "/api/monitoring/alert-rules/", {**RULE, **change})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_a_webhook_on_a_host_outside_the_allow_list_is_422(staff_api_client: Client) -> None:
    body = {**RULE, "slack_webhook_url": "https://attacker.example/collect"}
    response = post(staff_api_client, "/api/monitoring/alert-rules/", body)
    assert response.status_code == 422
    assert "SLACK_WEBHOOK_ALLOWED_HOSTS" in str(response.json()["detail"])

    rule = make_rule()
    response = patch(
        staff_api_client,
        f"/api/monitoring/alert-rules/{rule.pk}/",
        {"slack_webhook_url": "http://hooks.slack.com/x"},
    )
    assert response.status_code == 422
    assert "https" in str(response.json()["detail"])


def test_a_webhook_on_an_allowed_host_is_kept_and_never_echoed(staff_api_client: Client) -> None:
    url = "https://hooks.slack.com/services/T0/B0/secret"
    response = post(staff_api_client, "/api/monitoring/alert-rules/", {**RULE, "slack_webhook_url": url})
    assert response.status_code == 201
    assert response.json()["has_slack_webhook_url"] is True
    assert "secret" not in response.content.decode()
    assert AlertRule.objects.get().slack_webhook_url == url


def test_a_blank_name_is_refused_on_change_and_a_name_is_stored_stripped(staff_api_client: Client) -> None:
    response = post(staff_api_client, "/api/monitoring/alert-rules/", {**RULE, "name": "  API slow  "})
    assert response.status_code == 201
    rule = AlertRule.objects.get()
    assert rule.name == response.json()["name"] == "API slow"

    response = patch(staff_api_client, f"/api/monitoring/alert-rules/{rule.pk}/", {"name": "   "})

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert "name" in str(response.json()["detail"])
    rule.refresh_from_db()
    assert rule.name == "API slow"


def test_a_duplicate_rule_name_is_409(staff_api_client: Client) -> None:
    make_rule(name="API slow")
    response = post(staff_api_client, "/api/monitoring/alert-rules/", RULE)
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


def test_renaming_onto_an_existing_name_is_409(staff_api_client: Client) -> None:
    make_rule(name="taken")
    other = make_rule(name="other")
    response = patch(staff_api_client, f"/api/monitoring/alert-rules/{other.pk}/", {"name": "taken"})
    assert response.status_code == 409


def test_changing_a_missing_rule_is_404(staff_api_client: Client) -> None:
    response = patch(staff_api_client, "/api/monitoring/alert-rules/424242/", {"threshold": 1})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_alert_history_lists_events_newest_first_with_their_rule(staff_api_client: Client) -> None:
    rule = make_rule(name="CPU")
    now = timezone.now()
    old = AlertEvent.objects.create(
        rule=rule, value=91, fired_at=now - timedelta(hours=2), resolved_at=now - timedelta(hours=1)
    )
    new = AlertEvent.objects.create(rule=rule, value=97, fired_at=now, notified=True)

    body = staff_api_client.get("/api/monitoring/alerts/").json()

    assert body["count"] == 2
    first = body["items"][0]
    assert first["id"] == new.pk
    assert first["rule"] == rule.pk
    assert first["rule_name"] == "CPU"
    assert first["value"] == 97
    assert first["notified"] is True
    assert first["resolved_at"] is None
    assert body["items"][1]["id"] == old.pk
    assert body["items"][1]["resolved_at"] is not None

    only_open = staff_api_client.get("/api/monitoring/alerts/", {"open": "true"}).json()
    assert [e["id"] for e in only_open["items"]] == [new.pk]
    by_rule = staff_api_client.get("/api/monitoring/alerts/", {"rule": make_rule().pk}).json()
    assert by_rule["count"] == 0


def test_alert_history_answers_in_constant_queries(
    staff_api_client: Client, django_assert_max_num_queries
) -> None:
    rules = [make_rule() for _ in range(5)]
    for rule in rules:
        for hours in range(4):
            AlertEvent.objects.create(
                rule=rule,
                value=1,
                fired_at=timezone.now() - timedelta(hours=hours),
                resolved_at=timezone.now(),
            )
    staff_api_client.get("/api/monitoring/alerts/")  # warm the auth path
    with django_assert_max_num_queries(3):  # the user, the count, the page (rules joined)
        response = staff_api_client.get("/api/monitoring/alerts/?limit=100")
    assert len(response.json()["items"]) == 20


def test_rule_list_answers_in_constant_queries(
    staff_api_client: Client, django_assert_max_num_queries
) -> None:
    for _ in range(15):
        make_rule()
    with django_assert_max_num_queries(3):
        response = staff_api_client.get("/api/monitoring/alert-rules/?limit=100")
    assert response.json()["count"] == 15


def test_patching_a_required_field_to_null_is_422_not_a_conflict(staff_api_client: Client) -> None:
    rule = make_rule()
    response = patch(staff_api_client, f"/api/monitoring/alert-rules/{rule.pk}/", {"threshold": None})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    rule.refresh_from_db()
    assert rule.threshold == 80.0
