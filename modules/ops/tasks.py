"""The ops module's Django-Q2 task functions (thin: call a service). Each is idempotent: a round run
twice in a minute stores nothing new, a notification is claimed before it is sent."""

from __future__ import annotations

from modules.ops import services


def collect_metrics() -> int:
    return len(services.collect_metrics().recorded)


def run_alert_sweep() -> dict[str, int]:
    result = services.run_alert_sweep()
    return {
        "evaluated": result.evaluated,
        "fired": len(result.fired),
        "resolved": len(result.resolved),
        "delivered": result.delivered,
        "failed": result.failed,
    }


def prune_metric_samples() -> int:
    return services.prune_metric_samples()
