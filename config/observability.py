"""Sentry, initialised only when SENTRY_DSN is set (the SDK is imported lazily here).

What Sentry sends goes through the same redaction as the logs (``config.logging``): its logging
integration takes records before any of our handlers redact them (event messages and their arguments,
breadcrumbs), and an event also carries exception values, frame variables, request headers, query
strings and bodies. ``scrub`` masks every string of an event, breadcrumb or transaction and replaces
whole any field named like a secret, so the tokens of a crash report stay out of Sentry even with
``SENTRY_SEND_PII`` on.
"""

from __future__ import annotations

from typing import Any

from config.logging import redact_value


def scrub(payload: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """``before_send``/``before_breadcrumb``/``before_send_transaction``: the payload, redacted."""
    return redact_value(payload)  # type: ignore[return-value]


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float, user_info: bool) -> None:
    """``user_info``: attach the user (id, email) and client IP to events. Request bodies are never
    collected (they carry passwords and tokens) and the rest follows the SDK's defaults.
    ``data_collection`` replaces the deprecated ``send_default_pii`` (sentry-sdk 2.7x)."""
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), LoggingIntegration()],
        traces_sample_rate=traces_sample_rate,
        data_collection={
            "user_info": user_info,
            "http_bodies": [],
            "cookies": {"mode": "off"},
            "database_query_data": False,  # query parameters hold emails and hashes
        },
        before_send=scrub,
        before_breadcrumb=scrub,
        before_send_transaction=scrub,
    )
