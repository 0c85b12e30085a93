"""The demo account's sample content (``manage.py seed_demo``, run by ``make run``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from modules.identity.services import User
from modules.learning import readcache
from modules.learning.demo_notes import CATEGORIES, NOTES
from modules.learning.models import Category, Content, ReviewSchedule
from modules.learning.scheduling import ReviewResult
from modules.learning.services.categories import category_slug
from modules.learning.services.contents import schedule_new_content
from modules.learning.services.reviews import record_review

# A made-up but plausible mix of answers, cycled through the reviews of each note.
ANSWERS = (
    ReviewResult.REMEMBERED,
    ReviewResult.REMEMBERED,
    ReviewResult.REMEMBERED,
    ReviewResult.PARTIAL,
    ReviewResult.REMEMBERED,
    ReviewResult.FORGOT,
)


@readcache.learning_write
def seed_demo_content(*, user: User, now: datetime | None = None) -> int:
    """Gives the demo account categories, sample notes and a few weeks of simulated reviews.

    Idempotent: does nothing when the user already has content. The notes are created in the past
    and reviewed on schedule through the real scheduler, so the queue, the history and the analytics
    have something to show; some are due today. Returns how many notes were created.
    """
    if Content.objects.filter(user=user).exists():
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        categories = {
            name: Category.objects.get_or_create(
                user=user, name=name, defaults={"slug": category_slug(name), "description": description}
            )[0]
            for name, description in CATEGORIES.items()
        }
        for index, (category, title, body) in enumerate(NOTES):
            created_at = now - timedelta(days=3 + 2 * index, hours=index)
            content = Content.objects.create(
                user=user, category=categories[category], title=title, body=body, created_at=created_at
            )
            schedule = schedule_new_content(user=user, content=content)
            due, turn = schedule.next_review_date, index
            while due < now - timedelta(hours=2):
                outcome = record_review(
                    user=user,
                    content_id=content.pk,
                    result=ANSWERS[turn % len(ANSWERS)],
                    at=due + timedelta(minutes=30 + index),
                    time_spent_seconds=20 + (turn * 7) % 40,
                )
                due, turn = outcome.next_review_date, turn + 1
        # a handful due today (some overdue), the rest spread over the coming weeks
        for offset, content_id in enumerate(
            Content.objects.filter(user=user).order_by("created_at").values_list("id", flat=True)[:5]
        ):
            ReviewSchedule.objects.filter(content_id=content_id).update(
                next_review_date=now - timedelta(days=offset % 3, hours=1)
            )
    return len(NOTES)
