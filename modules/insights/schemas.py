"""The insights module's request and response shapes."""

from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import ConfigDict, Field

from modules.ai.schemas import UsageOut

Rate = float | None  # 0..1; null when nothing was reviewed


class DayReviewsOut(Schema):
    date: dt.date
    remembered: int
    partial: int
    forgot: int


class CategoryStatsOut(Schema):
    id: int
    name: str
    content_count: int
    success_rate: Rate = Field(
        ..., description="Success rate of the category's reviews over the last 30 days"
    )


class ForecastDayOut(Schema):
    date: dt.date
    due: int


class DashboardOut(Schema):
    total_content: int
    total_reviews: int
    due_today: int = Field(
        ..., description="Everything to review by the end of your local today, overdue included"
    )
    overdue: int = Field(..., description="The part of due_today that was due before today")
    success_rate_7d: Rate = Field(..., description="(remembered + partial/2) / reviews, last 7 local days")
    success_rate_30d: Rate = Field(..., description="(remembered + partial/2) / reviews, last 30 local days")
    reviews_per_day: list[DayReviewsOut] = Field(..., description="30 local days, oldest first, today last")
    predicted_retention_now: Rate = Field(..., description="Mean recall probability of your cards now")
    predicted_retention_in_7d: Rate = Field(
        ..., description="Mean recall probability of your cards in 7 days without reviewing"
    )
    categories: list[CategoryStatsOut]
    forecast_7d: list[ForecastDayOut] = Field(..., description="Today first; today includes overdue reviews")
    ai_usage_today: UsageOut


class RetentionFilters(Schema):
    model_config = ConfigDict(extra="forbid")

    days: int | None = Field(
        None, ge=1, le=3650, description="Only reviews of the last `days` local days (default: all)"
    )


class RetentionBucketOut(Schema):
    label: str
    min_days: int
    max_days: int | None
    reviews: int
    remembered: int
    partial: int
    forgot: int
    observed_recall: Rate
    predicted_recall: Rate = Field(..., description="Mean recall probability the scheduler predicted")
    predicted_reviews: int = Field(..., description="Reviews that carried a prediction")


class RetentionOut(Schema):
    scheduler: str
    days: int | None
    total_reviews: int
    observed_recall: Rate
    predicted_recall: Rate
    buckets: list[RetentionBucketOut]


class TierStatsOut(Schema):
    tier: str
    users: int
    active_7d: int
    active_30d: int
    reviews_30d: int
    ai_questions_30d: int
    ai_cost_usd_30d: float


class TotalsOut(Schema):
    users: int
    active_7d: int
    active_30d: int
    reviews_30d: int
    ai_questions_30d: int
    ai_cost_usd_30d: float


class TierTransitionOut(Schema):
    from_tier: str | None = Field(..., description="null: the account's first tier")
    to_tier: str
    count: int


class TierChangesOut(Schema):
    total: int = Field(..., description="Changes of existing accounts")
    new_accounts: int
    upgrades: int
    downgrades: int
    transitions: list[TierTransitionOut]


class SubscriptionAnalyticsOut(Schema):
    generated_at: dt.datetime
    window_days: int
    tiers: list[TierStatsOut]
    totals: TotalsOut
    tier_changes_30d: TierChangesOut
