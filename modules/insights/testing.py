"""Factories other modules' tests may use (the only other public door of insights)."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from modules.identity.services import User
from modules.insights import services
from modules.insights.models import LearningMetrics


def make_snapshot(
    *,
    user: User,
    day: date,
    remembered: int = 0,
    partial: int = 0,
    forgot: int = 0,
    is_final: bool = True,
    tz_name: str | None = None,
) -> LearningMetrics:
    """A snapshot of one local day (final by default), as the snapshot job would write it."""
    return LearningMetrics.objects.create(
        user=user,
        date=day,
        timezone=tz_name or user.timezone,
        reviews=remembered + partial + forgot,
        remembered=remembered,
        partial=partial,
        forgot=forgot,
        success_rate=services.success_rate(remembered=remembered, partial=partial, forgot=forgot),
        is_final=is_final,
        computed_at=timezone.now(),
    )
