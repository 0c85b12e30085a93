"""Sentry with PII off: an error in a logged-in user's request reaches Sentry without the user's
email, IP address or cookies."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.test import Client

from modules.identity.testing import make_user


class CapturingTransport:
    """Stands in for the network: keeps the envelopes the SDK would send."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def capture_envelope(self, envelope) -> None:
        for item in envelope.items:
            if item.type == "event":
                self.events.append(json.loads(item.payload.get_bytes()))

    def flush(self, *args, **kwargs) -> None:
        return None

    def kill(self) -> None:
        return None

    def is_healthy(self) -> bool:
        return True

    def record_lost_event(self, *args, **kwargs) -> None:
        return None


@pytest.fixture
def sentry_events() -> Iterator[list[dict]]:
    import sentry_sdk

    from config.observability import init_sentry

    init_sentry(
        dsn="https://public@sentry.invalid/1",
        environment="test",
        traces_sample_rate=0.0,
        user_info=False,
    )
    transport = CapturingTransport()
    sentry_sdk.get_client().transport = transport
    try:
        yield transport.events
    finally:
        sentry_sdk.get_client().close(timeout=0)
        sentry_sdk.init(dsn=None)


@pytest.mark.django_db
@pytest.mark.urls("tests.ops.sentry_urls")
def test_a_crash_reaches_sentry_without_personal_data(sentry_events: list[dict]) -> None:
    user = make_user(email="private.person@example.com")
    client = Client(raise_request_exception=False, REMOTE_ADDR="203.0.113.9")
    client.force_login(user)

    response = client.get("/crash/?q=1", headers={"User-Agent": "pytest"})

    assert response.status_code == 500
    assert sentry_events, "the crash was not reported"
    event = next(e for e in sentry_events if e.get("exception"))
    assert event["exception"]["values"][-1]["value"] == "boom for sentry"
    serialized = json.dumps(event)
    assert "private.person@example.com" not in serialized
    assert "203.0.113.9" not in serialized
    assert "sessionid" not in serialized
    assert "email" not in event.get("user", {})
