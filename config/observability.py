"""Sentry, initialised only when SENTRY_DSN is set (the SDK is imported lazily here)."""

from __future__ import annotations


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float, send_default_pii: bool) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), LoggingIntegration()],
        traces_sample_rate=traces_sample_rate,
        send_default_pii=send_default_pii,  # PII (emails, IPs) stays out unless asked for
    )
