"""Small builders of the insights tests' data.

Learning's rows are arranged through learning's ``testing`` factories; history rows with a chosen
time (and time spent) and schedule states are set through the models, by app label, only to arrange
time, as learning's own factories do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.apps import apps


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def history_model() -> Any:
    return apps.get_model("learning", "ReviewHistory")


def schedule_model() -> Any:
    return apps.get_model("learning", "ReviewSchedule")


def review(
    content: Any,
    result: str,
    at: datetime,
    *,
    predicted: float | None = 0.9,
    seconds: int | None = None,
    recorded_at: datetime | None = None,
) -> Any:
    """One past review of ``content`` at ``at`` (history only; the schedule is left as it is)."""
    return history_model().objects.create(
        user_id=content.user_id,
        content=content,
        result=result,
        reviewed_at=at,
        recorded_at=recorded_at or at,
        stage_before=0,
        stage_after=1,
        interval_days=1,
        time_spent_seconds=seconds,
        retrievability_before=predicted,
    )


def set_schedule(content: Any, **fields: Any) -> None:
    schedule_model().objects.filter(content_id=content.pk).update(**fields)
