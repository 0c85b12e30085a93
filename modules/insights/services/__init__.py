"""Insights' facade, the one door its router, tasks and commands use.

One sub-module per sub-domain: ``learner`` (a learner's dashboard and retention calibration),
``subscriptions`` (the admins' subscription analytics), ``snapshots`` (the daily ``LearningMetrics``
behind the dashboard's series) and ``success`` (what counts as a success, shared by all three).
"""

from __future__ import annotations

from modules.insights.services.learner import (
    SERIES_DAYS,
    CategoryStats,
    Dashboard,
    DayReviews,
    ForecastDay,
    Retention,
    RetentionBucketStats,
    dashboard,
    retention,
    review_series,
)
from modules.insights.services.snapshots import is_final, snapshot_learning_metrics
from modules.insights.services.subscriptions import (
    SubscriptionAnalytics,
    SubscriptionTotals,
    TierChanges,
    TierStats,
    TierTransition,
    subscription_analytics,
)
from modules.insights.services.success import success_rate

__all__ = [
    "SERIES_DAYS",
    "CategoryStats",
    "Dashboard",
    "DayReviews",
    "ForecastDay",
    "Retention",
    "RetentionBucketStats",
    "SubscriptionAnalytics",
    "SubscriptionTotals",
    "TierChanges",
    "TierStats",
    "TierTransition",
    "dashboard",
    "is_final",
    "retention",
    "review_series",
    "snapshot_learning_metrics",
    "subscription_analytics",
    "success_rate",
]
