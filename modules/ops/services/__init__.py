"""The ops module's facade, the one door its routers, admin, tasks and commands use.

One sub-module per sub-domain: ``health`` (readiness and the admins' health view), ``metrics``
(collection, retention and reads of metric samples), ``rules`` (alert rules and alert history),
``sweep`` (rule evaluation) and ``notifications`` (queueing and delivering alert notifications).
"""

from __future__ import annotations

from modules.ops.services.health import (
    CheckResult,
    ClusterStatus,
    MonitoringHealth,
    Readiness,
    cluster_status,
    monitoring_health,
    readiness,
)
from modules.ops.services.metrics import (
    DEFAULT_SAMPLES,
    MAX_SAMPLES,
    METRICS_STALE_AFTER,
    CollectionResult,
    LatestValue,
    SampleSeries,
    collect_metrics,
    collected_at,
    current_values,
    latest_metrics,
    metric_samples,
    prune_metric_samples,
)
from modules.ops.services.notifications import DeliveryResult, deliver_due_notifications, retry_notifications
from modules.ops.services.rules import (
    create_rule,
    delete_rule,
    list_alert_events,
    list_rules,
    update_rule,
)
from modules.ops.services.sweep import SweepResult, run_alert_sweep

__all__ = [
    "DEFAULT_SAMPLES",
    "MAX_SAMPLES",
    "METRICS_STALE_AFTER",
    "CheckResult",
    "ClusterStatus",
    "CollectionResult",
    "DeliveryResult",
    "LatestValue",
    "MonitoringHealth",
    "Readiness",
    "SampleSeries",
    "SweepResult",
    "cluster_status",
    "collect_metrics",
    "collected_at",
    "create_rule",
    "current_values",
    "delete_rule",
    "deliver_due_notifications",
    "latest_metrics",
    "list_alert_events",
    "list_rules",
    "metric_samples",
    "monitoring_health",
    "prune_metric_samples",
    "readiness",
    "retry_notifications",
    "run_alert_sweep",
    "update_rule",
]
