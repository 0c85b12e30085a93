"""Content: what a user saves to learn, created with its first review scheduled, and the read-only
``ContentRef`` other modules (ai) use."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from modules.common import idempotency
from modules.common.errors import NotFound, ValidationFailed
from modules.identity import services as identity
from modules.identity.services import User
from modules.learning import readcache, selectors
from modules.learning.models import (
    Category,
    Content,
    IdempotencyRecord,
    RequestKey,
    ReviewHistory,
    ReviewSchedule,
)
from modules.learning.scheduling.base import SECONDS_PER_DAY
from modules.learning.services import tallies
from modules.learning.services.categories import owned_category
from modules.learning.services.memory import RecallCurves
from modules.learning.services.schedulers import ladder_for, rounded, scheduler_for_user


@dataclass(frozen=True, slots=True)
class CategoryRef:
    id: int
    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class ReviewState:
    stage: int
    next_review_date: datetime
    last_reviewed_at: datetime | None
    review_count: int
    retrievability: float


@dataclass(frozen=True, slots=True)
class ContentView:
    id: int
    title: str
    body: str
    category: CategoryRef | None
    created_at: datetime
    updated_at: datetime
    review: ReviewState | None


class _ContentMapper:
    """Turns a content row (``selectors.CONTENT_COLUMNS``) into a ``ContentView``.

    Built once per request: the user's ladder and "now" are fixed, so each row costs one recall
    estimate, never a query. The learner's recall curves (calibrated ladder, fitted FSRS decay) come
    with the row (``memory_curve``, see services/memory.py).
    """

    def __init__(self, *, user: User, now: datetime | None = None) -> None:
        self.intervals = ladder_for(user)
        self.now_ts = (now or timezone.now()).timestamp()

    def __call__(self, row: dict[str, Any]) -> ContentView:
        category_id = row["category_id"]
        next_review = row["schedule__next_review_date"]
        review = None
        if next_review is not None:
            last_reviewed_at = row["schedule__last_reviewed_at"]
            anchor = last_reviewed_at or row["created_at"]
            review = ReviewState(
                stage=row["schedule__stage"],
                next_review_date=next_review,
                last_reviewed_at=last_reviewed_at,
                review_count=row["schedule__review_count"],
                retrievability=rounded(
                    RecallCurves.parse(row.get("memory_curve")).estimate(
                        scheduler=row["schedule__scheduler"],
                        stage=row["schedule__stage"],
                        stability=row["schedule__stability"],
                        elapsed_days=(self.now_ts - anchor.timestamp()) / SECONDS_PER_DAY,
                        intervals=self.intervals,
                    )
                ),
            )
        return ContentView(
            id=row["id"],
            title=row["title"],
            body=row["body"],
            category=(
                CategoryRef(id=category_id, name=row["category__name"], slug=row["category__slug"])
                if category_id is not None
                else None
            ),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            review=review,
        )


def content_list(
    *, user: User, category_id: int | None = None, search: str = "", ordering: str = "-created_at"
) -> selectors.ContentPage[ContentView]:
    """The user's content, filtered and ordered: slice it for a page, ``count()`` for the total."""
    if ordering not in selectors.CONTENT_ORDERINGS:
        raise ValidationFailed.field(
            "ordering", f"Unknown ordering {ordering!r}.", source="query", kind="enum"
        )
    return selectors.ContentPage(
        user_id=user.pk,
        category_id=category_id,
        search=search.strip(),
        ordering=ordering,
        mapper=_ContentMapper(user=user),
    )


def content_detail(*, user: User, content_id: int) -> ContentView:
    row = selectors.content_row(user_id=user.pk, content_id=content_id)
    if row is None:
        raise NotFound("Content not found.")
    return _ContentMapper(user=user)(row)


@readcache.learning_write
def create_content(
    *,
    user: User,
    title: str,
    body: str,
    category_id: int | None = None,
    now: datetime | None = None,
    idempotency_key: str | None = None,
) -> ContentView:
    """Creates the content and schedules its first review (``intervals[0]`` days later) atomically.

    With an ``idempotency_key`` the content is created once: the same key and request later answer
    that content as it is now (NotFound once deleted); the key with another request is a Conflict."""
    identity.ensure_email_verified(user)
    now = now or timezone.now()

    def create() -> ContentView:
        with transaction.atomic():
            category = owned_category(user=user, category_id=category_id) if category_id is not None else None
            content = Content.objects.create(
                user=user, category=category, title=title, body=body, created_at=now
            )
            schedule = schedule_new_content(user=user, content=content)
        return _ContentMapper(user=user, now=now)(_row_of(content, category, schedule))

    return idempotency.once(
        model=RequestKey,
        user_id=user.pk,
        operation="content.create",
        key=idempotency_key,
        request={"title": title, "body": body, "category_id": category_id},
        run=create,
        stored=lambda view: {"content_id": view.id},
        replay=lambda stored: content_detail(user=user, content_id=stored["content_id"]),
    )


def schedule_new_content(*, user: User, content: Content) -> ReviewSchedule:
    """The first review of new content, ``first_interval_days()`` after its creation."""
    scheduler = scheduler_for_user(user)
    days = scheduler.first_interval_days()
    return ReviewSchedule.objects.create(
        content=content,
        user_id=content.user_id,
        stage=0,
        next_review_date=content.created_at + timedelta(days=days),
        interval_days=days,
        scheduler=scheduler.kind.value,
    )


def ensure_schedule(*, content_id: int) -> None:
    """Gives content created outside the API (Django admin) its first review, once."""
    content = Content.objects.select_related("user__subscription").get(pk=content_id)
    with readcache.writing(user_id=content.user_id):
        if not ReviewSchedule.objects.filter(content_id=content_id).exists():
            schedule_new_content(user=content.user, content=content)


def _row_of(content: Content, category: Category | None, schedule: ReviewSchedule) -> dict[str, Any]:
    return {
        "id": content.pk,
        "title": content.title,
        "body": content.body,
        "created_at": content.created_at,
        "updated_at": content.updated_at,
        "category_id": category.pk if category else None,
        "category__name": category.name if category else None,
        "category__slug": category.slug if category else None,
        "schedule__stage": schedule.stage,
        "schedule__next_review_date": schedule.next_review_date,
        "schedule__last_reviewed_at": schedule.last_reviewed_at,
        "schedule__review_count": schedule.review_count,
        "schedule__scheduler": schedule.scheduler,
        "schedule__stability": schedule.stability,
    }


@readcache.learning_write
def update_content(*, user: User, content_id: int, changes: dict[str, Any]) -> ContentView:
    """Applies ``changes`` (title, body, category_id; a None category_id uncategorises)."""
    fields: dict[str, Any] = {key: changes[key] for key in ("title", "body") if key in changes}
    with transaction.atomic():
        if "category_id" in changes:
            category_id = changes["category_id"]
            fields["category"] = (
                owned_category(user=user, category_id=category_id) if category_id is not None else None
            )
            # the content's reviews change category in the tallies too (its row locked first)
            if Content.objects.select_for_update().filter(user=user, pk=content_id).values_list("pk").first():
                tallies.move_content(
                    user_id=user.pk, tz_name=user.timezone, content_id=content_id, to_category_id=category_id
                )
        if fields:
            fields["updated_at"] = timezone.now()
            updated = Content.objects.filter(user=user, pk=content_id).update(**fields)
            if not updated:
                raise NotFound("Content not found.")
    return content_detail(user=user, content_id=content_id)


@readcache.learning_write
@transaction.atomic
def delete_content(*, user: User, content_id: int) -> None:
    """Deletes the content with its schedule and review history.

    The schedule is locked first, as the review completion does: a review being recorded finishes
    before the cascade collects the history (its new row goes with the content); a review that comes
    later finds no card (404). The same holds for rows other modules attach to a content under
    ``hold_content``.
    """
    list(
        ReviewSchedule.objects.select_for_update().filter(user=user, content_id=content_id).values_list("pk")
    )
    # Then the content itself, for writers that hold it rather than its card (``hold_content``).
    if not Content.objects.select_for_update().filter(user=user, pk=content_id).values_list("pk").first():
        raise NotFound("Content not found.")
    tallies.remove_contents(user_id=user.pk, tz_name=user.timezone, content_ids=[content_id])
    Content.objects.filter(pk=content_id).delete()


@readcache.learning_write
def delete_learning_data(*, user_id: int) -> dict[str, int]:
    """The account's learning data, deleted set by set as the account goes (``delete_account`` runs
    this in its transaction; registered in ``LearningConfig.ready``): one DELETE by owner per table,
    the rollups following once per statement (migration 0011), where the user's cascade would collect
    every content's key in Python and first uncategorise every content it is about to delete.

    The cards go first: their DELETE locks them as ``delete_content``'s lock does, so a review being
    recorded finishes before it (its history row is deleted below) and one that comes later finds no
    card. Rows of other modules attached to the contents (AI questions) go with them by the cascade.
    Answers the rows deleted per model (``{"learning.Content": 10000, ...}``).
    """
    deleted: Counter[str] = Counter()
    for model in (ReviewSchedule, ReviewHistory, IdempotencyRecord, Content, Category):
        deleted.update(model.objects.filter(user_id=user_id).delete()[1])
    return dict(deleted)


@readcache.learning_write
def delete_review_history_batch(*, user_id: int, limit: int) -> int:
    """About ``limit`` of the account's oldest review history rows (the erasure of a closed account
    runs this in batches before ``delete_learning_data``; registered in ``LearningConfig.ready``): the
    ``limit``-th oldest review's time read from the (user, reviewed_at) index, then one DELETE of the
    range up to it (reviews at that same moment included), the rollups following once per statement;
    all the rest when fewer remain. Answers how many it deleted.

    A range, not ``id IN (the first ids)``: that probed the primary key once per row, 0.28 s a batch
    of 20,000 against 0.15 s for the range (docs/identity.md)."""
    history = ReviewHistory.objects.filter(user_id=user_id)
    boundary = list(history.order_by("reviewed_at").values_list("reviewed_at", flat=True)[limit - 1 : limit])
    if boundary:
        history = history.filter(reviewed_at__lte=boundary[0])
    deleted, _ = history.delete()
    return deleted


# --- For other modules (ai) -----------------------------------------------------------------------


@dataclass(frozen=True)
class ContentRef:
    id: int
    user_id: int
    title: str
    body: str
    category_id: int | None
    category_name: str | None


def _ref(row: dict[str, Any]) -> ContentRef:
    return ContentRef(
        id=row["id"],
        user_id=row["user_id"],
        title=row["title"],
        body=row["body"],
        category_id=row["category_id"],
        category_name=row["category__name"],
    )


def get_content(*, user: User, content_id: int) -> ContentRef:
    """The user's content; NotFound for a missing id or another user's content."""
    row = selectors.content_refs(user_id=user.pk, ids=[content_id]).first()
    if row is None:
        raise NotFound("Content not found.")
    return _ref(row)


def hold_content(*, user: User, content_id: int) -> bool:
    """Inside the caller's transaction: whether the user's content still exists, and if so it stays
    until the transaction ends (``FOR NO KEY UPDATE``; ``delete_content`` waits for it).

    For other modules that attach rows to a content after a slow step (an AI call): their insert
    and a concurrent delete of the content are ordered, never a foreign key violation at commit.
    """
    locked = Content.objects.select_for_update(no_key=True).filter(user=user, pk=content_id)
    return locked.values_list("pk").first() is not None


def contents_for_user(*, user: User, ids: list[int]) -> list[ContentRef]:
    """The user's contents among ``ids``, in the order of ``ids`` (others' and missing ids left out)."""
    if not ids:
        return []
    by_id = {row["id"]: _ref(row) for row in selectors.content_refs(user_id=user.pk, ids=list(ids))}
    seen: set[int] = set()
    refs = []
    for content_id in ids:
        if content_id in by_id and content_id not in seen:
            seen.add(content_id)
            refs.append(by_id[content_id])
    return refs


def sibling_contents(*, user: User, exclude_content_id: int | None, limit: int = 50) -> list[ContentRef]:
    """Other content of the user, newest first (for AI distractors)."""
    rows = selectors.content_refs(user_id=user.pk, exclude_id=exclude_content_id)[: max(limit, 0)]
    return [_ref(row) for row in rows]
