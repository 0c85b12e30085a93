"""Factories other modules' tests may use (the only other public door of learning).

They go through the services where a real user would (content creation schedules the first review)
and set state directly only to arrange time: a card due in the past, a history of past reviews.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from modules.identity.services import User
from modules.learning import services
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import ReviewResult, ladder_stage_after


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
    """Content due ``overdue_days`` of the learner's local days ago (0: earlier today, an hour ago,
    or at the day's start when it began less than an hour ago: "an hour ago" just after midnight
    was yesterday, and tests counting overdue items failed in that hour)."""
    now = timezone.now()
    day_start = now.astimezone(ZoneInfo(user.timezone)).replace(hour=0, minute=0, second=0, microsecond=0)
    due_at = max(now - timedelta(hours=1), day_start) - timedelta(days=overdue_days)
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


def make_ladder_history(
    *,
    user: User,
    cards: int,
    reviews_per_card: int,
    recall_at_due: float = 0.75,
    intervals: tuple[int, ...] | None = None,
    end: datetime | None = None,
    seed: int = 0,
) -> list[Content]:
    """A ladder learner's past: ``cards`` contents, each reviewed on the ladder's rule up to
    ``reviews_per_card`` times (never after ``end``, default today's midnight UTC, so that the same
    seed lands on the same learner days whatever the hour the test runs at), recalling a card with probability
    ``recall_at_due ** (t / interval)`` after ``t`` days of a stage meant for ``interval`` days (so
    ``recall_at_due`` when reviewed on time). ``intervals``: the user's tier ladder by default.
    History rows in bulk, the schedules where the reviews leave them. Deterministic for a ``seed``."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    intervals = intervals or services.ladder_for(user)
    end = end or timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    span = sum(intervals[min(step, len(intervals) - 1)] for step in range(reviews_per_card)) + 2
    made, rows = [], []
    for index in range(cards):
        created = end - timedelta(days=span, hours=rng.uniform(0, 48)) + timedelta(hours=index % 7)
        content = make_content(
            user=user, title=f"Card {index}", body=f"Fact number {index}.", created_at=created
        )
        stage, last, count = 0, created, 0
        for _ in range(reviews_per_card):
            interval = intervals[stage]
            at = last + timedelta(days=interval * rng.uniform(0.9, 1.3), hours=rng.uniform(-3, 3))
            if at > end:
                break
            elapsed = (at - last).total_seconds() / 86_400
            recalled = rng.random() < recall_at_due ** (elapsed / interval)
            result = ReviewResult.REMEMBERED if recalled else ReviewResult.FORGOT
            after = ladder_stage_after(stage, result, last_stage=len(intervals) - 1)
            rows.append(
                ReviewHistory(
                    user_id=user.pk,
                    content=content,
                    result=result.value,
                    reviewed_at=at,
                    recorded_at=at,
                    stage_before=stage,
                    stage_after=after,
                    interval_days=intervals[after],
                    time_spent_seconds=rng.randint(4, 30),
                    retrievability_before=round(math.exp(-elapsed / (interval / -math.log(0.9))), 4),
                    scheduler="ladder",
                )
            )
            stage, last, count = after, at, count + 1
        ReviewSchedule.objects.filter(content=content).update(
            stage=stage,
            last_reviewed_at=last if count else None,
            review_count=count,
            interval_days=intervals[stage],
            next_review_date=last + timedelta(days=intervals[stage]),
        )
        made.append(content)
    ReviewHistory.objects.bulk_create(rows, batch_size=2_000)
    return made
