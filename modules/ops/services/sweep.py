"""The alert sweep, every minute: evaluate each active rule over its window, open or resolve its
alert, queue the notifications that brings, then deliver every notification that is due.

A rule is evaluated under its row lock, so concurrent sweeps (``tick`` and a worker, two workers) fire
an alert once. The decision itself is pure (``alerting/evaluator.py``). On PostgreSQL a sweep also
holds a session advisory lock while it runs: one that finds another sweep still running skips its
turn at once instead of holding a second worker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import Error, connection, transaction
from django.utils import timezone

from modules.ops import selectors
from modules.ops.alerting.evaluator import Decision, RuleSpec, Sample, evaluate
from modules.ops.models import AlertEvent, AlertRule, NotificationKind
from modules.ops.services.notifications import deliver_due_notifications, queue_notifications

logger = logging.getLogger(__name__)

_SWEEP_LOCK = (0x5253_4F50, 1)  # pg_try_advisory_lock(namespace, key): one alert sweep at a time


@dataclass
class SweepResult:
    evaluated: int = 0
    fired: list[int] = field(default_factory=list)  # event ids
    resolved: list[int] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0
    skipped: bool = False  # another sweep was still running


def run_alert_sweep(*, now: datetime | None = None) -> SweepResult:
    """Evaluate every active rule once, then deliver the due notifications (new ones and retries);
    nothing if another sweep is still running."""
    with _one_sweep_at_a_time() as ours:
        if not ours:
            logger.warning("alert sweep skipped: the previous sweep is still running")
            return SweepResult(skipped=True)
        return _sweep(now=now or timezone.now())


@contextmanager
def _one_sweep_at_a_time() -> Iterator[bool]:
    """Whether this sweep may run: PostgreSQL's session advisory lock, taken without waiting and
    released at the end (or with the connection, if the process dies). SQLite (``make run``) runs
    sweeps unguarded; overlapping sweeps are still safe there (rule row locks, claimed notifications),
    only slower."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", list(_SWEEP_LOCK))
        (held,) = cursor.fetchone()
    try:
        yield bool(held)
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", list(_SWEEP_LOCK))
            except Error:  # the connection went down: its session locks went with it
                logger.warning("alert sweep lock not released: the database connection was lost")


def _sweep(*, now: datetime) -> SweepResult:
    moment = now
    result = SweepResult()
    for rule_id in selectors.active_rule_ids():
        decision, event_id = _evaluate_rule(rule_id=rule_id, now=moment)
        result.evaluated += 1
        if decision is Decision.FIRE and event_id is not None:
            result.fired.append(event_id)
        elif decision is Decision.RESOLVE and event_id is not None:
            result.resolved.append(event_id)
    delivery = deliver_due_notifications(now=moment)
    result.delivered, result.failed = delivery.delivered, delivery.failed
    return result


def _window(
    *, metric: str, window_minutes: int, now: datetime
) -> tuple[datetime, list[tuple[datetime, float]]]:
    """The window a rule is evaluated over at ``now``, and its samples: the ``window_minutes`` minutes
    ending at this minute if this minute's sample of ``metric`` is already stored, else ending at the
    previous minute.

    Samples carry their collection round's minute, and the collection and the sweep are both scheduled
    at the start of every minute, so the sweep often runs before this minute's round commits. A window
    ending at ``now`` would then hold one sample too few (none for a 1-minute rule). Ending it at the
    last collected minute keeps it ``window_minutes`` samples long in either order."""
    minute = now.replace(second=0, microsecond=0)
    previous = minute - timedelta(minutes=1)
    points = selectors.window_points(
        metric=metric, start=previous - timedelta(minutes=window_minutes), end=minute
    )
    end = minute if points and points[-1][0] == minute else previous
    start = end - timedelta(minutes=window_minutes)
    return end, [(at, value) for at, value in points if start < at <= end]


def _evaluate_rule(*, rule_id: int, now: datetime) -> tuple[Decision | None, int | None]:
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id, is_active=True).first()
        if rule is None:
            return None, None
        spec = RuleSpec(
            operator=rule.operator,
            threshold=rule.threshold,
            window_minutes=rule.window_minutes,
            aggregation=rule.aggregation,
            cooldown_minutes=rule.cooldown_minutes,
        )
        end, points = _window(metric=rule.metric, window_minutes=rule.window_minutes, now=now)
        current = selectors.open_event(rule.pk)
        outcome = evaluate(
            spec,
            [Sample(at=at, value=value) for at, value in points],
            now=now,
            has_open_event=current is not None,
            last_fired_at=rule.last_fired_at,
            window_end=end,
        )
        if outcome.decision is Decision.FIRE and outcome.value is not None:
            event = AlertEvent.objects.create(
                rule=rule, value=outcome.value, fired_at=now, fired_rule=rule.snapshot()
            )
            rule.last_fired_at = now
            rule.save(update_fields=["last_fired_at"])
            queue_notifications(rule=rule, event=event, kind=NotificationKind.FIRED, now=now)
            logger.warning(
                "alert fired",
                extra={
                    "rule": rule.name,
                    "metric": rule.metric,
                    "value": outcome.value,
                    "event_id": event.pk,
                },
            )
            return outcome.decision, event.pk
        if outcome.decision is Decision.RESOLVE and current is not None:
            current.resolved_at = now
            current.resolved_value = outcome.value
            current.save(update_fields=["resolved_at", "resolved_value"])
            queue_notifications(rule=rule, event=current, kind=NotificationKind.RESOLVED, now=now)
            logger.info("alert resolved", extra={"rule": rule.name, "event_id": current.pk})
            return outcome.decision, current.pk
        return outcome.decision, None
