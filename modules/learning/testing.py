"""Factories other modules' tests may use (the only other public door of learning).

They go through the services where a real user would (content creation schedules the first review)
and set state directly only to arrange time: a card due in the past, a history of past reviews.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from modules.identity.services import User
from modules.learning import services
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule


def make_category(*, user: User, name: str | None = None, description: str = "") -> Category:
    name = name or f"Category {Category.objects.count() + 1}"
    return Category.objects.create(
        user=user, name=name, slug=services.category_slug(name), description=description
    )


def make_content(
    *,
    user: User,
    title: str = "Photosynthesis",
    body: str = "Plants turn light, water and carbon dioxide into glucose and oxygen.",
    category: Category | None = None,
    due_at: datetime | None = None,
    stage: int | None = None,
    created_at: datetime | None = None,
) -> Content:
    """Content with its schedule, as the API creates it; ``due_at``/``stage`` move the schedule."""
    view = services.create_content(
        user=user,
        title=title,
        body=body,
        category_id=category.pk if category else None,
        now=created_at,
    )
    changes: dict[str, Any] = {}
    if due_at is not None:
        changes["next_review_date"] = due_at
    if stage is not None:
        changes["stage"] = stage
    if changes:
        ReviewSchedule.objects.filter(content_id=view.id).update(**changes)
    return Content.objects.select_related("schedule", "category").get(pk=view.id)


def make_due_content(*, user: User, overdue_days: int = 0, **fields: Any) -> Content:
    """Content due ``overdue_days`` days ago (0: due an hour ago)."""
    due_at = timezone.now() - timedelta(days=overdue_days, hours=1)
    return make_content(user=user, due_at=due_at, **fields)


def record_review(
    *,
    content: Content,
    result: str = "remembered",
    reviewed_at: datetime | None = None,
    stage_before: int = 0,
    stage_after: int = 1,
    interval_days: int = 1,
    retrievability_before: float | None = 0.9,
) -> ReviewHistory:
    """A past review row (history only; the schedule is left as it is)."""
    return ReviewHistory.objects.create(
        user_id=content.user_id,
        content=content,
        result=result,
        reviewed_at=reviewed_at or timezone.now(),
        stage_before=stage_before,
        stage_after=stage_after,
        interval_days=interval_days,
        retrievability_before=retrievability_before,
    )
