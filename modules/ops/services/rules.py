"""Alert rules (what to watch, when to fire, whom to tell) and the history of the alerts they fired.

The API and the admin form refuse the same rules (``validation.py``): an unknown metric, a Slack
webhook outside the allow-list, a malformed recipient. Recipients are stored lower-cased and without
duplicates. A rule's name is unique (``Conflict`` on a clash).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from modules.common.db import lag_tolerant
from modules.common.errors import Conflict, FieldError, NotFound, ValidationFailed
from modules.ops import selectors
from modules.ops.models import AlertEvent, AlertRule
from modules.ops.validation import rule_validation_errors

RULE_FIELDS = (
    "name",
    "metric",
    "operator",
    "threshold",
    "window_minutes",
    "aggregation",
    "cooldown_minutes",
    "severity",
    "notify_slack",
    "notify_emails",
    "slack_webhook_url",
    "is_active",
)


def list_rules() -> QuerySet[AlertRule]:
    """Every rule, by name."""
    return selectors.rules()


def create_rule(*, values: dict[str, Any]) -> AlertRule:
    """A new rule from ``values`` (keys among ``RULE_FIELDS``; ValidationFailed names the first
    unknown key, or every field that breaks a rule). Conflict when the name is taken."""
    _reject_unknown(values)
    _validate(values)
    rule = AlertRule(**values)
    rule.notify_emails = _normalised_emails(rule.notify_emails)
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:
        _raise_if_name_taken(name=rule.name, exclude_id=None, cause=exc)
        raise
    return rule


def update_rule(*, rule_id: int, changes: dict[str, Any]) -> AlertRule:
    """Applies ``changes`` (only the keys given, validated as in ``create_rule``) under a row lock.
    Switching a rule off resolves its open alert, without a notification. NotFound for an unknown
    rule; Conflict when the new name is taken."""
    _reject_unknown(changes)
    _validate(changes)
    try:
        with transaction.atomic():
            rule = AlertRule.objects.select_for_update().filter(pk=rule_id).first()
            if rule is None:
                raise NotFound()
            for name, value in changes.items():
                setattr(rule, name, value)
            rule.notify_emails = _normalised_emails(rule.notify_emails)
            rule.save()
            if changes.get("is_active") is False:
                # A rule switched off cannot resolve its open event any more: close it now (the admin
                # who switched it off knows).
                AlertEvent.objects.filter(rule=rule, resolved_at__isnull=True).update(
                    resolved_at=timezone.now()
                )
    except IntegrityError as exc:
        if "name" in changes:
            _raise_if_name_taken(name=changes["name"], exclude_id=rule_id, cause=exc)
        raise
    return rule


def delete_rule(*, rule_id: int) -> None:
    """Deletes the rule with its alerts and their notifications; NotFound for an unknown rule."""
    deleted, _ = AlertRule.objects.filter(pk=rule_id).delete()
    if not deleted:
        raise NotFound()


def list_alert_events(*, rule_id: int | None = None, open_only: bool | None = None) -> QuerySet[AlertEvent]:
    """Alert history, newest first; of one rule with ``rule_id``, only open (True) or only resolved
    (False) alerts with ``open_only``. Tolerates replica lag."""
    return lag_tolerant(selectors.events(rule_id=rule_id, open_only=open_only))


def _reject_unknown(values: dict[str, Any]) -> None:
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise ValidationFailed.field(sorted(unknown)[0], "Unknown field.")


def _validate(values: dict[str, Any]) -> None:
    errors = rule_validation_errors(
        metric=values.get("metric"),
        slack_webhook_url=values.get("slack_webhook_url"),
        notify_emails=values.get("notify_emails"),
    )
    if errors:
        raise ValidationFailed(fields=[FieldError(("body", key), msg) for key, msg in errors.items()])


def _raise_if_name_taken(*, name: str, exclude_id: int | None, cause: IntegrityError) -> None:
    """Turns a unique-name violation into Conflict; any other integrity error stays a bug (re-raised)."""
    if AlertRule.objects.filter(name=name).exclude(pk=exclude_id).exists():
        raise Conflict(f"An alert rule named {name!r} already exists.") from cause


def _normalised_emails(emails: Iterable[str] | None) -> list[str]:
    seen: dict[str, None] = {}
    for email in emails or []:
        seen.setdefault(email.strip().lower(), None)
    return list(seen)
