"""Read queries of the insights module (QuerySets stay inside the module; the facade returns DTOs)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from modules.insights.models import LearningMetrics

# (remembered, partial, forgot)
Counts = tuple[int, int, int]


def final_snapshot_counts(*, user_id: int, tz_name: str, start: date, end: date) -> dict[date, Counts]:
    """{day: counts} of the user's final snapshots cut in ``tz_name``, for days in [start, end]
    (one range scan of the (user, date) unique index)."""
    rows = LearningMetrics.objects.filter(
        user_id=user_id, date__gte=start, date__lte=end, timezone=tz_name, is_final=True
    ).values_list("date", "remembered", "partial", "forgot")
    return {day: (remembered, partial, forgot) for day, remembered, partial, forgot in rows}


def snapshot_states(
    *, user_ids: Collection[int], start: date, end: date
) -> dict[tuple[int, date], tuple[str, bool]]:
    """{(user id, day): (timezone, is_final)} of the existing snapshots of ``user_ids`` in [start, end]."""
    rows = LearningMetrics.objects.filter(
        user_id__in=list(user_ids), date__gte=start, date__lte=end
    ).values_list("user_id", "date", "timezone", "is_final")
    return {(user_id, day): (tz_name, is_final) for user_id, day, tz_name, is_final in rows}
