"""The Slack notifier against a real local HTTP server: payload, one attempt per send, redirects,
allow-list."""

from __future__ import annotations

import pytest

from modules.ops.alerting.slack import (
    AlertMessage,
    NotificationFailed,
    SlackNotifier,
    WebhookRejected,
    check_webhook_url,
    slack_payload,
)
from tests.ops.conftest import WebhookServer

MESSAGE = AlertMessage(
    kind="fired",
    rule_name="CPU hot",
    metric="cpu_usage",
    severity="critical",
    operator=">",
    threshold=90.0,
    aggregation="avg",
    window_minutes=5,
    value=97.5,
    at="2026-01-05T12:00:00+00:00",
    link="http://localhost:8000/admin/ops/alertevent/1/change/",
)


def notifier(**overrides: object) -> SlackNotifier:
    values: dict = {"allowed_hosts": ("127.0.0.1",), "require_https": False}
    values.update(overrides)
    return SlackNotifier(**values)


def test_the_webhook_receives_the_alert_as_slack_json(webhook_server: WebhookServer) -> None:
    notifier().send(url=webhook_server.url(), message=MESSAGE)

    assert webhook_server.paths() == ["/services/T000/B000/XXXX"]
    request = webhook_server.received[0]
    assert request.headers["Content-Type"] == "application/json"
    body = request.json
    assert body["text"].startswith(":rotating_light: FIRING [critical] CPU hot: cpu_usage = 97.5")
    assert "avg(cpu_usage, 5m) > 90" in body["text"]
    fields = {f["title"]: f["value"] for f in body["attachments"][0]["fields"]}
    assert fields["Rule"] == "CPU hot"
    assert fields["Value"] == "97.5"
    assert body["attachments"][0]["color"] == "#d00000"


def test_a_resolution_reads_resolved() -> None:
    payload = slack_payload(AlertMessage(**{**MESSAGE.__dict__, "kind": "resolved", "value": 12.0}))
    assert payload["text"].startswith(":white_check_mark: RESOLVED [critical] CPU hot")


@pytest.mark.parametrize("status", [429, 500, 503, 404])
def test_a_refusal_fails_the_send_after_one_request(webhook_server: WebhookServer, status: int) -> None:
    # The sweep retries durably (next_attempt_at); a retry inside the send would only hold the sweep.
    webhook_server.replies = [(status, {}), (status, {})]
    with pytest.raises(NotificationFailed, match=f"HTTP {status}"):
        notifier().send(url=webhook_server.url(), message=MESSAGE)
    assert len(webhook_server.received) == 1


def test_redirects_are_not_followed(webhook_server: WebhookServer) -> None:
    target = webhook_server.url("/internal/admin")
    webhook_server.replies = [(302, {"Location": target}), (307, {"Location": target})]
    with pytest.raises(NotificationFailed, match="redirect"):
        notifier().send(url=webhook_server.url(), message=MESSAGE)
    assert webhook_server.paths() == ["/services/T000/B000/XXXX"]  # the Location was never requested


def test_a_host_outside_the_allow_list_is_refused_without_a_request(webhook_server: WebhookServer) -> None:
    with pytest.raises(NotificationFailed, match="not in SLACK_WEBHOOK_ALLOWED_HOSTS"):
        notifier(allowed_hosts=("hooks.slack.com",)).send(url=webhook_server.url(), message=MESSAGE)
    assert webhook_server.received == []


def test_an_unreachable_webhook_fails_the_send() -> None:
    with pytest.raises(NotificationFailed, match="ConnectError"):
        notifier(timeout_seconds=1.0).send(url="http://127.0.0.1:1/hook", message=MESSAGE)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.slack.com/services/x", "https"),
        ("ftp://hooks.slack.com/services/x", "https"),
        ("https://evil.example.com/services/x", "not in SLACK_WEBHOOK_ALLOWED_HOSTS"),
        ("https://hooks.slack.com.evil.example/x", "not in SLACK_WEBHOOK_ALLOWED_HOSTS"),
        ("https://user:pw@hooks.slack.com/services/x", "credentials"),
        ("https:///services/x", "no host"),
        ("https://hooks.slack.com:99999/x", "malformed"),
    ],
)
def test_webhook_urls_must_be_https_on_an_allowed_host(url: str, reason: str) -> None:
    with pytest.raises(WebhookRejected, match=reason):
        check_webhook_url(url, allowed_hosts=["hooks.slack.com"])


def test_an_allowed_https_url_passes_and_host_case_does_not_matter() -> None:
    url = "https://HOOKS.slack.com/services/T0/B0/x"
    assert check_webhook_url(url, allowed_hosts=["hooks.slack.com"]) == url
