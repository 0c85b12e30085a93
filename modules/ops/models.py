"""The ops module's tables. Nobody outside the module imports them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from modules.ops.alerting.evaluator import condition_text
from modules.ops.validation import rule_validation_errors


class MetricSample(models.Model):
    """One value of one metric, recorded by a collection round (``at`` is the round's minute)."""

    name = models.CharField(max_length=64)
    value = models.FloatField()
    unit = models.CharField(max_length=16)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "name"]
        constraints = [
            # One value per metric and minute: a round that runs twice in a minute (tick and worker
            # both up, a retried task) adds nothing. The constraint's index also serves (name, at) reads.
            models.UniqueConstraint(fields=["name", "at"], name="ops_sample_name_at_unique"),
        ]
        indexes = [models.Index(fields=["at"], name="ops_sample_at_idx")]

    def __str__(self) -> str:
        return f"{self.name}={self.value:g} {self.unit} @ {self.at:%Y-%m-%d %H:%M}"


class Operator(models.TextChoices):
    GT = ">", "greater than"
    GE = ">=", "greater than or equal"
    LT = "<", "less than"
    LE = "<=", "less than or equal"
    EQ = "==", "equal"
    NE = "!=", "not equal"


class Aggregation(models.TextChoices):
    AVG = "avg", "average"
    MAX = "max", "maximum"
    MIN = "min", "minimum"
    LAST = "last", "last value"


class Severity(models.TextChoices):
    INFO = "info", "info"
    WARNING = "warning", "warning"
    CRITICAL = "critical", "critical"


MAX_WINDOW_MINUTES = 24 * 60
MAX_COOLDOWN_MINUTES = 7 * 24 * 60


class AlertRule(models.Model):
    name = models.CharField(max_length=100, unique=True)
    metric = models.CharField(max_length=64, db_index=True)
    operator = models.CharField(max_length=2, choices=Operator.choices)
    threshold = models.FloatField()
    window_minutes = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_MINUTES)]
    )
    aggregation = models.CharField(max_length=4, choices=Aggregation.choices, default=Aggregation.AVG)
    cooldown_minutes = models.PositiveIntegerField(
        default=30, validators=[MaxValueValidator(MAX_COOLDOWN_MINUTES)]
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    notify_slack = models.BooleanField(default=False)
    notify_emails = models.JSONField(default=list, blank=True, help_text="Recipients of the alert emails.")
    slack_webhook_url = models.URLField(
        max_length=500, blank=True, help_text="Overrides SLACK_WEBHOOK_URL; its host must be allowed."
    )
    is_active = models.BooleanField(default=True)
    last_fired_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["is_active", "metric"], name="ops_rule_active_metric_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_minutes__gte=1) & Q(window_minutes__lte=MAX_WINDOW_MINUTES),
                name="ops_rule_window_range",
            ),
            models.CheckConstraint(
                condition=Q(cooldown_minutes__lte=MAX_COOLDOWN_MINUTES), name="ops_rule_cooldown_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.condition_text()}"

    # What an event keeps of its rule when it fires (``AlertEvent.fired_as``).
    SNAPSHOT_FIELDS = ("name", "metric", "severity", "operator", "threshold", "aggregation", "window_minutes")

    def snapshot(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.SNAPSHOT_FIELDS}

    def condition_text(self) -> str:
        return condition_text(self.snapshot())

    def clean(self) -> None:
        # Admin forms land here; the API validates the same rules in the service.
        errors = rule_validation_errors(
            metric=self.metric, slack_webhook_url=self.slack_webhook_url, notify_emails=self.notify_emails
        )
        if errors:
            raise ValidationError(errors)


class AlertEvent(models.Model):
    """One firing of a rule, open until the condition clears (``resolved_at``)."""

    # no index of its own: the index (rule, fired_at) below leads with it (one less to write)
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events", db_index=False)
    value = models.FloatField(help_text="The aggregated value that fired the rule.")
    fired_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_value = models.FloatField(null=True, blank=True)
    notified = models.BooleanField(default=False, help_text="Every firing notification was delivered.")
    notify_attempts = models.PositiveIntegerField(default=0)
    notify_error = models.TextField(blank=True, help_text="The last notification failure, if any.")
    # The rule as it was when it fired (AlertRule.snapshot): editing the rule later does not rewrite
    # the history or the messages still to send. Empty for events fired before it was kept.
    fired_rule = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-fired_at", "-id"]
        indexes = [
            models.Index(fields=["-fired_at", "-id"], name="ops_event_fired_idx"),
            models.Index(fields=["rule", "-fired_at"], name="ops_event_rule_fired_idx"),
        ]
        constraints = [
            # At most one open event per rule, even if two sweeps race.
            models.UniqueConstraint(
                fields=["rule"], condition=Q(resolved_at__isnull=True), name="ops_event_one_open_per_rule"
            ),
        ]

    def __str__(self) -> str:
        state = "resolved" if self.resolved_at else "firing"
        return f"{self.rule.name} {state} ({self.value:g}) at {self.fired_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def fired_as(self) -> dict[str, Any]:
        """The rule's name, metric, severity and condition when this event fired."""
        return {**self.rule.snapshot(), **self.fired_rule}

    @property
    def condition(self) -> str:
        return condition_text(self.fired_as)


class NotificationKind(models.TextChoices):
    FIRED = "fired", "fired"
    RESOLVED = "resolved", "resolved"


class Channel(models.TextChoices):
    SLACK = "slack", "Slack"
    EMAIL = "email", "email"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENT = "sent", "sent"
    FAILED = "failed", "failed (gave up)"


class AlertNotification(models.Model):
    """One message to deliver (a channel and recipient, for a firing or a resolution). Failures stay
    here, pending with a later ``next_attempt_at``, until a sweep delivers them or the attempts run out."""

    # no index of its own: the unique constraint below leads with it (one less to write)
    event = models.ForeignKey(
        AlertEvent, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    kind = models.CharField(max_length=10, choices=NotificationKind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=254, blank=True, help_text="Email address; empty for Slack.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="ops_notif_due_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "kind", "channel", "target"], name="ops_notif_once_per_target"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} via {self.channel} {self.target} ({self.status})"
