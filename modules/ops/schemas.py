"""The ops module's request and response shapes."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Field, Schema
from pydantic import (
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from modules.common.fields import ClientDatetime
from modules.ops.catalog import METRIC_NAMES
from modules.ops.models import MAX_COOLDOWN_MINUTES, MAX_WINDOW_MINUTES
from modules.ops.services import DEFAULT_SAMPLES, MAX_SAMPLES
from modules.ops.validation import MAX_RECIPIENTS

MetricName = Literal[METRIC_NAMES]  # type: ignore[valid-type]
OperatorLiteral = Literal[">", ">=", "<", "<=", "==", "!="]
AggregationLiteral = Literal["avg", "max", "min", "last"]
SeverityLiteral = Literal["info", "warning", "critical"]


class LiveOut(Schema):
    status: str


class CheckOut(Schema):
    ok: bool
    latency_ms: float
    error: str = ""


class ReadyOut(Schema):
    status: str
    checks: dict[str, CheckOut]


class NotReadyOut(ReadyOut):
    detail: str
    code: str


class LatestValueOut(Schema):
    value: float
    unit: str
    at: datetime


class MonitoringHealthOut(Schema):
    status: Literal["ok", "degraded"]
    checks: dict[str, CheckOut] = Field(
        description="database, cache, queue, worker (a live Django-Q2 cluster), collection (metrics under "
        "3 minutes old), disk"
    )
    metrics: dict[str, LatestValueOut] = Field(description="the newest sample of each metric (last hour)")


class MetricsQuery(Schema):
    model_config = ConfigDict(extra="forbid")

    name: MetricName
    since: ClientDatetime | None = Field(None, description="default: one hour before `until`")
    until: ClientDatetime | None = Field(None, description="default: now")
    limit: int = Field(DEFAULT_SAMPLES, ge=1, le=MAX_SAMPLES)


class SampleOut(Schema):
    value: float
    at: datetime


class SampleSeriesOut(Schema):
    name: str
    unit: str
    since: datetime
    until: datetime
    samples: list[SampleOut]
    truncated: bool = Field(description="more samples exist in the range than `limit`")


def _check_emails(emails: list[str] | None) -> list[str] | None:
    if emails is None:
        return None
    for email in emails:
        try:
            validate_email(email)
        except DjangoValidationError as exc:
            raise ValueError(f"{email!r} is not a valid email address") from exc
    return emails


def _check_finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("threshold must be a finite number")
    return value


# Stripped, then 1..100 characters: a blank name ("   ") is refused, as the admin form refuses it.
RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class AlertRuleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: RuleName
    metric: MetricName
    operator: OperatorLiteral
    threshold: StrictFloat
    window_minutes: StrictInt = Field(5, ge=1, le=MAX_WINDOW_MINUTES)
    aggregation: AggregationLiteral = "avg"
    cooldown_minutes: StrictInt = Field(30, ge=0, le=MAX_COOLDOWN_MINUTES)
    severity: SeverityLiteral = "warning"
    notify_slack: StrictBool = False
    notify_emails: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    slack_webhook_url: str = Field(
        "", max_length=500, description="optional; overrides SLACK_WEBHOOK_URL; host must be allowed"
    )
    is_active: StrictBool = True

    _emails = field_validator("notify_emails")(_check_emails)
    _finite = field_validator("threshold")(_check_finite)


class AlertRulePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: RuleName | None = None
    metric: MetricName | None = None
    operator: OperatorLiteral | None = None
    threshold: StrictFloat | None = None
    window_minutes: StrictInt | None = Field(None, ge=1, le=MAX_WINDOW_MINUTES)
    aggregation: AggregationLiteral | None = None
    cooldown_minutes: StrictInt | None = Field(None, ge=0, le=MAX_COOLDOWN_MINUTES)
    severity: SeverityLiteral | None = None
    notify_slack: StrictBool | None = None
    notify_emails: list[str] | None = Field(None, max_length=MAX_RECIPIENTS)
    slack_webhook_url: str | None = Field(None, max_length=500)
    is_active: StrictBool | None = None

    _emails = field_validator("notify_emails")(_check_emails)
    _finite = field_validator("threshold")(_check_finite)

    @model_validator(mode="after")
    def _no_explicit_nulls(self) -> AlertRulePatch:
        # Leaving a field out keeps it; sending null would try to erase a required value.
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (leave a field out to keep it)")
        return self


class AlertRuleOut(Schema):
    id: int
    name: str
    metric: str
    operator: str
    threshold: float
    window_minutes: int
    aggregation: str
    cooldown_minutes: int
    severity: str
    notify_slack: bool
    notify_emails: list[str]
    has_slack_webhook_url: bool = Field(
        description="a per-rule webhook is set (the URL itself is a secret and never echoed)"
    )
    is_active: bool
    last_fired_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_has_slack_webhook_url(obj: object) -> bool:
        return bool(getattr(obj, "slack_webhook_url", ""))


class AlertsQuery(Schema):
    model_config = ConfigDict(extra="forbid")

    rule: int | None = Field(None, ge=1, description="only this rule's events")
    open: bool | None = Field(None, description="true: still firing; false: resolved")


class AlertEventOut(Schema):
    id: int
    rule: int = Field(description="the rule's id")
    rule_name: str
    metric: str
    severity: str
    condition: str = Field(
        description="the rule's condition when it fired, e.g. max(queue_queued_tasks, 5m) > 100"
    )
    value: float
    fired_at: datetime
    resolved_at: datetime | None
    resolved_value: float | None
    notified: bool
    notify_attempts: int
    notify_error: str

    @staticmethod
    def resolve_rule(obj: object) -> int:
        return obj.rule_id  # type: ignore[attr-defined]

    # the rule as it fired (AlertEvent.fired_as), not as it was edited since

    @staticmethod
    def resolve_rule_name(obj: object) -> str:
        return obj.fired_as["name"]  # type: ignore[attr-defined]

    @staticmethod
    def resolve_metric(obj: object) -> str:
        return obj.fired_as["metric"]  # type: ignore[attr-defined]

    @staticmethod
    def resolve_severity(obj: object) -> str:
        return obj.fired_as["severity"]  # type: ignore[attr-defined]
