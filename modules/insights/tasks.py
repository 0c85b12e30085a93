"""The insights module's Django-Q2 task functions (thin: call a service; safe to run twice)."""

from __future__ import annotations

from modules.insights import services


def snapshot_learning_metrics() -> int:
    """Hourly: snapshot every active user's complete local days (an upsert; idempotent)."""
    return services.snapshot_learning_metrics()
