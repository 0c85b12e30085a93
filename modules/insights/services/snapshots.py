"""The daily ``LearningMetrics`` snapshots behind the dashboard's series: each user's counts per
complete local day, so the dashboard counts live only the days a snapshot cannot answer yet."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta

from django.utils import timezone

from modules.common.time import local_date, local_day_bounds
from modules.identity import services as identity
from modules.insights import selectors
from modules.insights.models import LearningMetrics
from modules.insights.services.learner import SERIES_DAYS
from modules.insights.services.success import rate_of
from modules.learning import services as learning

logger = logging.getLogger(__name__)

# A day is final (no review can land in it any more) once the longest a review may be back-dated
# (learning's limit for offline clients) has passed since its end; the margin covers a review whose
# transaction was still open at that moment.
FINALITY_MARGIN = timedelta(hours=1)
SNAPSHOT_BATCH = 1_000  # users per query of the snapshot job


def is_final(*, day: date, tz_name: str, at: datetime) -> bool:
    """True when no review can be recorded for ``day`` (local in ``tz_name``) after ``at``."""
    end_of_day = local_day_bounds(day, tz_name)[1]
    return at >= end_of_day + learning.MAX_REVIEWED_AT_AGE + FINALITY_MARGIN


def snapshot_learning_metrics(
    *, now: datetime | None = None, days: int = SERIES_DAYS, refresh: bool = False
) -> int:
    """One round of the snapshot job; returns how many snapshots it wrote.

    For every user who reviewed in the last ``days`` days, each complete local day among the last
    ``days`` gets a ``LearningMetrics`` row (days without reviews too, with zeros, so the dashboard
    never has to count them). A day is counted when it first appears (a provisional snapshot) and
    once more when it becomes final; days already final are left alone unless ``refresh``. A user
    whose time zone changed gets their days recounted in the new zone. Idempotent (an upsert on
    (user, date)), so a retried or doubled run writes the same rows. Queries: one for the active
    users, one for their zones, then three per zone and batch of ``SNAPSHOT_BATCH`` users.
    """
    now = now or timezone.now()
    active = learning.reviewer_ids(since=now - timedelta(days=days + 1))
    by_zone: dict[str, list[int]] = defaultdict(list)
    for user_id, tz_name in identity.timezones_for_user_ids(active).items():
        by_zone[tz_name].append(user_id)
    written = 0
    for tz_name, user_ids in sorted(by_zone.items()):
        user_ids.sort()
        for start in range(0, len(user_ids), SNAPSHOT_BATCH):
            written += _snapshot_batch(
                user_ids=user_ids[start : start + SNAPSHOT_BATCH],
                tz_name=tz_name,
                now=now,
                days=days,
                refresh=refresh,
            )
    logger.info(
        "learning metrics snapshots written",
        extra={"written": written, "active_users": len(active), "zones": len(by_zone)},
    )
    return written


def _snapshot_batch(*, user_ids: list[int], tz_name: str, now: datetime, days: int, refresh: bool) -> int:
    today = local_date(now, tz_name)
    complete_days = [today - timedelta(days=offset) for offset in range(days - 1, 0, -1)]
    if not complete_days:
        return 0
    final_by_day = {day: is_final(day=day, tz_name=tz_name, at=now) for day in complete_days}
    existing = selectors.snapshot_states(user_ids=user_ids, start=complete_days[0], end=complete_days[-1])
    todo: list[tuple[int, date]] = []
    for user_id in user_ids:
        for day in complete_days:
            state = existing.get((user_id, day))
            if (
                refresh
                or state is None
                or state[0] != tz_name
                or (not state[1] and final_by_day[day])  # provisional, now final: recount once
            ):
                todo.append((user_id, day))
    if not todo:
        return 0
    counts = learning.review_counts_by_local_day(
        user_ids={user_id for user_id, _ in todo}, tz_name=tz_name, days={day for _, day in todo}
    )
    rows = []
    for user_id, day in todo:
        found = counts.get((user_id, day), learning.DayReviewCounts())
        rows.append(
            LearningMetrics(
                user_id=user_id,
                date=day,
                timezone=tz_name,
                reviews=found.total,
                remembered=found.remembered,
                partial=found.partial,
                forgot=found.forgot,
                success_rate=rate_of([found]),
                time_spent_seconds=found.time_spent_seconds,
                is_final=final_by_day[day],
                computed_at=now,
            )
        )
    LearningMetrics.objects.bulk_create(
        rows,
        batch_size=SNAPSHOT_BATCH,
        update_conflicts=True,
        unique_fields=["user", "date"],
        update_fields=[
            "timezone",
            "reviews",
            "remembered",
            "partial",
            "forgot",
            "success_rate",
            "time_spent_seconds",
            "is_final",
            "computed_at",
        ],
    )
    return len(rows)
