"""The learning module's facade: the functions other modules and the module's routers call.

Other modules use the functions at the bottom: ``get_content``, ``contents_for_user``,
``hold_content`` and ``sibling_contents`` (ai), ``count_*`` (ops metrics) and the aggregate reads
of ``stats.py`` re-exported at the end (insights). The routers use the rest. Every write is one transaction; the
review completion locks the card's schedule row. Every write of a user's learning data is declared
``@readcache.learning_write``: the user's cached reads are dropped when it ends.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.text import slugify

from modules.common.errors import Conflict, NotFound, ValidationFailed
from modules.common.pagination import DEFAULT_LIMIT
from modules.common.time import local_date, local_day_bounds, zone
from modules.identity import services as identity
from modules.learning import readcache, selectors
from modules.learning.models import (
    Category,
    Content,
    IdempotencyRecord,
    ReminderLog,
    ReviewHistory,
    ReviewSchedule,
)
from modules.learning.scheduling import (
    CardState,
    FsrsScheduler,
    ReviewResult,
    Scheduler,
    SchedulerKind,
    recall_estimate,
    scheduler_for,
)
from modules.learning.scheduling.base import SECONDS_PER_DAY

logger = logging.getLogger(__name__)

T = TypeVar("T")

User = identity.User

MAX_REVIEWED_AT_AGE = timedelta(days=7)
# A client clock slightly ahead of ours is not "the future"; anything beyond this is.
CLOCK_SKEW_TOLERANCE = timedelta(seconds=60)
IDEMPOTENCY_RETENTION = timedelta(hours=24)


# --- Schedulers for a user -------------------------------------------------------------------------


def ladder_for(user: User) -> tuple[int, ...]:
    """The user's tier ladder (an expired subscription counts as FREE)."""
    return tuple(identity.tier_spec_for(user).review_intervals)


def scheduler_for_user(user: User) -> Scheduler:
    return scheduler_for(
        kind=user.scheduler, intervals=ladder_for(user), desired_retention=float(user.desired_retention)
    )


def _rounded(probability: float) -> float:
    return round(min(max(probability, 0.0), 1.0), 4)


# --- Categories ------------------------------------------------------------------------------------


def category_slug(name: str) -> str:
    return slugify(name, allow_unicode=True)[:120] or "category"


def _name_taken(*, user: User, name: str, exclude_id: int | None = None) -> bool:
    queryset = Category.objects.filter(user=user, name__iexact=name)
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return queryset.exists()


def forget_cached_reads(*, user_id: int) -> None:
    """For writes that do not go through this facade (Django admin): the next read recomputes."""
    readcache.invalidate(user_id)


def category_list(*, user: User) -> Any:
    """The user's categories with their content counts (one query per page), by name."""
    return selectors.category_rows(user_id=user.pk)


@readcache.learning_write
def create_category(*, user: User, name: str, description: str = "") -> dict[str, Any]:
    name = name.strip()
    if _name_taken(user=user, name=name):
        raise Conflict("You already have a category with this name.")
    try:
        with transaction.atomic():
            category = Category.objects.create(
                user=user, name=name, slug=category_slug(name), description=description
            )
    except IntegrityError as exc:  # a concurrent request created the same name first
        raise Conflict("You already have a category with this name.") from exc
    return {
        "id": category.pk,
        "name": category.name,
        "slug": category.slug,
        "description": category.description,
        "content_count": 0,
    }


@readcache.learning_write
def update_category(*, user: User, category_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    category = Category.objects.filter(user=user, pk=category_id).first()
    if category is None:
        raise NotFound("Category not found.")
    if "name" in changes and changes["name"] is not None:
        name = changes["name"].strip()
        if _name_taken(user=user, name=name, exclude_id=category.pk):
            raise Conflict("You already have a category with this name.")
        category.name, category.slug = name, category_slug(name)
    if "description" in changes and changes["description"] is not None:
        category.description = changes["description"]
    try:
        with transaction.atomic():
            category.save(update_fields=["name", "slug", "description"])
    except IntegrityError as exc:
        raise Conflict("You already have a category with this name.") from exc
    row = selectors.category_row(user_id=user.pk, category_id=category.pk)
    assert row is not None
    return row


@readcache.learning_write
@transaction.atomic
def delete_category(*, user: User, category_id: int) -> None:
    """Deletes the category; its content stays, uncategorised (the foreign key is SET_NULL).

    The row is locked before Django collects the content to uncategorise: a content write that holds
    the category (``_owned_category``) finishes first, so its content is collected too; one that comes
    later finds no category (404) instead of failing on the foreign key at commit (a 500).
    """
    locked = (
        Category.objects.select_for_update().filter(user=user, pk=category_id).values_list("pk", flat=True)
    )
    if not list(locked):
        raise NotFound("Category not found.")
    Category.objects.filter(pk=category_id).delete()


def _owned_category(*, user: User, category_id: int) -> Category:
    """The user's category, held until the caller's transaction ends (call it inside one).

    ``FOR NO KEY UPDATE`` conflicts with a delete's lock, so a category cannot vanish between this
    check and the content row that points at it (see ``delete_category``).
    """
    category = (
        Category.objects.select_for_update(no_key=True)
        .filter(user=user, pk=category_id)
        .only("id", "name", "slug")
        .first()
    )
    if category is None:
        raise NotFound("Category not found.")
    return category


# --- Content ---------------------------------------------------------------------------------------


class ContentMapper:
    """Turns a content row (selectors.CONTENT_COLUMNS) into the API's content shape.

    Built once per request: the user's ladder and "now" are fixed, so each row costs a dict and one
    recall estimate, never a query.
    """

    def __init__(self, *, user: User, now: datetime | None = None) -> None:
        self.intervals = ladder_for(user)
        self.now_ts = (now or timezone.now()).timestamp()

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        category_id = row["category_id"]
        next_review = row["schedule__next_review_date"]
        review = None
        if next_review is not None:
            last_reviewed_at = row["schedule__last_reviewed_at"]
            anchor = last_reviewed_at or row["created_at"]
            review = {
                "stage": row["schedule__stage"],
                "next_review_date": next_review,
                "last_reviewed_at": last_reviewed_at,
                "review_count": row["schedule__review_count"],
                "retrievability": _rounded(
                    recall_estimate(
                        scheduler=row["schedule__scheduler"],
                        stage=row["schedule__stage"],
                        stability=row["schedule__stability"],
                        elapsed_days=(self.now_ts - anchor.timestamp()) / SECONDS_PER_DAY,
                        intervals=self.intervals,
                    )
                ),
            }
        return {
            "id": row["id"],
            "title": row["title"],
            "body": row["body"],
            "category": (
                {"id": category_id, "name": row["category__name"], "slug": row["category__slug"]}
                if category_id is not None
                else None
            ),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "review": review,
        }


def content_list(
    *, user: User, category_id: int | None = None, search: str = "", ordering: str = "-created_at"
) -> selectors.ContentPage:
    """The user's content, filtered and ordered; sliced and counted by the caller."""
    if ordering not in selectors.CONTENT_ORDERINGS:
        raise ValidationFailed(
            [{"loc": ["query", "ordering"], "msg": f"Unknown ordering {ordering!r}.", "type": "enum"}]
        )
    search = search.strip()
    page = selectors.ContentPage(
        user_id=user.pk,
        category_id=category_id,
        search=search,
        ordering=ordering,
        mapper=ContentMapper(user=user),
    )
    return page


def cached_read(*, user: User, name: str, variant: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """A read of the user's learning data through the per-user read cache (``readcache``).

    The key holds what changes an answer without a write: the user's local date and zone, scheduler
    and tier ladder, plus the caller's ``variant`` (page, filters). Every write here invalidates it:
    the write functions are decorated ``@readcache.learning_write`` (tests/learning/test_read_cache.py
    calls every public function and fails on a write that does not).
    """
    return readcache.cached(
        user_id=user.pk,
        name=name,
        variant=(
            local_date(timezone.now(), user.timezone),
            user.timezone,
            user.scheduler,
            ladder_for(user),
            *variant,
        ),
        compute=compute,
    )


def content_detail(*, user: User, content_id: int) -> dict[str, Any]:
    row = selectors.content_row(user_id=user.pk, content_id=content_id)
    if row is None:
        raise NotFound("Content not found.")
    return ContentMapper(user=user)(row)


@readcache.learning_write
def create_content(
    *, user: User, title: str, body: str, category_id: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Creates the content and schedules its first review (``intervals[0]`` days later) atomically."""
    identity.ensure_email_verified(user)
    now = now or timezone.now()
    with transaction.atomic():
        category = _owned_category(user=user, category_id=category_id) if category_id is not None else None
        content = Content.objects.create(user=user, category=category, title=title, body=body, created_at=now)
        schedule = _schedule_new_content(user=user, content=content)
    return ContentMapper(user=user, now=now)(_row_of(content, category, schedule))


def _schedule_new_content(*, user: User, content: Content) -> ReviewSchedule:
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
            _schedule_new_content(user=content.user, content=content)


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
def update_content(*, user: User, content_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Applies ``changes`` (title, body, category_id; a None category_id uncategorises)."""
    fields: dict[str, Any] = {key: changes[key] for key in ("title", "body") if key in changes}
    with transaction.atomic():
        if "category_id" in changes:
            category_id = changes["category_id"]
            fields["category"] = (
                _owned_category(user=user, category_id=category_id) if category_id is not None else None
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

    The schedule is locked first, as ``_record_review`` does: a review being recorded finishes before
    the cascade collects the history (its new row is deleted too, not left pointing at no content,
    which failed the foreign key at commit: a 500); a review that comes later finds no card (404).
    The same holds for rows other modules attach to a content under ``hold_content``.
    """
    list(
        ReviewSchedule.objects.select_for_update().filter(user=user, content_id=content_id).values_list("pk")
    )
    # Then the content itself, for writers that hold it rather than its card (``hold_content``).
    if not Content.objects.select_for_update().filter(user=user, pk=content_id).values_list("pk").first():
        raise NotFound("Content not found.")
    Content.objects.filter(pk=content_id).delete()


# --- Reviews: completion -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewOutcome:
    content_id: int
    result: ReviewResult
    previous_stage: int
    stage: int
    interval_days: int
    next_review_date: datetime
    retrievability_before: float
    reviewed_at: datetime
    early: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "content_id": self.content_id,
            "result": self.result.value,
            "previous_stage": self.previous_stage,
            "stage": self.stage,
            "interval_days": self.interval_days,
            "next_review_date": self.next_review_date.isoformat(),
            "retrievability_before": self.retrievability_before,
            "reviewed_at": self.reviewed_at.isoformat(),
            "early": self.early,
        }


def _request_hash(
    *, content_id: int, result: str, time_spent_seconds: int | None, reviewed_at: datetime | None
) -> str:
    canonical = json.dumps(
        {
            "content_id": content_id,
            "result": result,
            "time_spent_seconds": time_spent_seconds,
            "reviewed_at": reviewed_at.isoformat() if reviewed_at else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored_response(*, user: User, key: str, request_hash: str) -> dict[str, Any] | None:
    """The first answer given for ``key``; 409 when the key was used for a different request."""
    stored = (
        IdempotencyRecord.objects.filter(user=user, key=key).values_list("request_hash", "response").first()
    )
    if stored is None:
        return None
    if stored[0] != request_hash:
        raise Conflict("This Idempotency-Key was already used for a different request.")
    return stored[1]


def _validated_reviewed_at(reviewed_at: datetime | None, now: datetime) -> datetime | None:
    if reviewed_at is None:
        return None
    if reviewed_at.tzinfo is None:
        reviewed_at = timezone.make_aware(reviewed_at, zone("UTC"))
    if reviewed_at > now + CLOCK_SKEW_TOLERANCE:
        raise ValidationFailed(
            [
                {
                    "loc": ["body", "reviewed_at"],
                    "msg": "reviewed_at may not be in the future.",
                    "type": "value_error",
                }
            ]
        )
    if reviewed_at < now - MAX_REVIEWED_AT_AGE:
        raise ValidationFailed(
            [
                {
                    "loc": ["body", "reviewed_at"],
                    "msg": "reviewed_at may not be more than 7 days old.",
                    "type": "value_error",
                }
            ]
        )
    return min(reviewed_at, now)


@readcache.learning_write
def complete_review(
    *,
    user: User,
    content_id: int,
    result: ReviewResult | str,
    time_spent_seconds: int | None = None,
    reviewed_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Records one review and reschedules the card; returns the answer body (JSON-ready).

    With an ``idempotency_key``, the first answer is stored with the review in the same transaction;
    the same key and body later answer that stored body and change nothing; the same key with another
    body is a 409. Two racing requests with one key: the loser's transaction fails on the key's unique
    constraint, is rolled back whole, and answers the winner's body.
    """
    result = ReviewResult(result)
    now = timezone.now()
    at = _validated_reviewed_at(reviewed_at, now)
    request_hash = ""
    if idempotency_key:
        request_hash = _request_hash(
            content_id=content_id,
            result=result.value,
            time_spent_seconds=time_spent_seconds,
            reviewed_at=reviewed_at,
        )
        stored = _stored_response(user=user, key=idempotency_key, request_hash=request_hash)
        if stored is not None:
            return stored
    try:
        with transaction.atomic():
            outcome = _record_review(
                user=user, content_id=content_id, result=result, at=at, time_spent_seconds=time_spent_seconds
            ).as_json()
            if idempotency_key:
                IdempotencyRecord.objects.create(
                    user=user,
                    key=idempotency_key,
                    request_hash=request_hash,
                    response=outcome,
                    created_at=now,
                )
    except IntegrityError:
        if not idempotency_key:
            raise
        stored = _stored_response(user=user, key=idempotency_key, request_hash=request_hash)
        if stored is None:
            raise
        return stored
    return outcome


_SCHEDULE_COLUMNS = (
    "id",
    "content_id",
    "user_id",
    "stage",
    "next_review_date",
    "last_reviewed_at",
    "review_count",
    "interval_days",
    "scheduler",
    "stability",
    "difficulty",
    "fsrs_state",
    "fsrs_step",
    "content__created_at",
)


def _record_review(
    *, user: User, content_id: int, result: ReviewResult, at: datetime | None, time_spent_seconds: int | None
) -> ReviewOutcome:
    """Inside a transaction: lock the schedule, apply the scheduler, append history, save the state."""
    schedule = (
        ReviewSchedule.objects.select_for_update(of=("self",))
        .select_related("content")
        .only(*_SCHEDULE_COLUMNS)
        .filter(user=user, content_id=content_id)
        .first()
    )
    if schedule is None:
        raise NotFound("Content not found.")
    # Without a client time, the review happens now: read after the lock, so reviews of one card
    # are in the order they were recorded.
    at = at or timezone.now()
    card = CardState(
        introduced_at=schedule.content.created_at,
        stage=schedule.stage,
        last_reviewed_at=schedule.last_reviewed_at,
        review_count=schedule.review_count,
        scheduler=SchedulerKind(schedule.scheduler),
        stability=schedule.stability,
        difficulty=schedule.difficulty,
        fsrs_state=schedule.fsrs_state,
        fsrs_step=schedule.fsrs_step,
    )
    if at < card.anchor:
        raise ValidationFailed(
            [
                {
                    "loc": ["body", "reviewed_at"],
                    "msg": "reviewed_at is before this content's last review (or its creation).",
                    "type": "value_error",
                }
            ]
        )
    scheduler = scheduler_for_user(user)
    if isinstance(scheduler, FsrsScheduler) and card.review_count and not scheduler.has_memory(card):
        # Switched to FSRS (or never had its memory): rebuild it from the card's own history.
        events = selectors.content_history_events(content_id=content_id)
        card = scheduler.replay(card, [(ReviewResult(result_), when) for result_, when in events])
    step = scheduler.review(card, result, at)
    early = schedule.next_review_date >= local_day_bounds(local_date(at, user.timezone), user.timezone)[1]
    new = step.state
    ReviewHistory.objects.create(
        user_id=schedule.user_id,
        content_id=content_id,
        result=result.value,
        reviewed_at=at,
        stage_before=schedule.stage,
        stage_after=new.stage,
        interval_days=step.interval_days,
        time_spent_seconds=time_spent_seconds,
        early=early,
        retrievability_before=_rounded(step.retrievability_before),
        scheduler=scheduler.kind.value,
    )
    ReviewSchedule.objects.filter(pk=schedule.pk).update(
        stage=new.stage,
        next_review_date=step.due_at,
        last_reviewed_at=at,
        review_count=new.review_count,
        interval_days=step.interval_days,
        scheduler=scheduler.kind.value,
        stability=new.stability,
        difficulty=new.difficulty,
        fsrs_state=new.fsrs_state,
        fsrs_step=new.fsrs_step,
    )
    return ReviewOutcome(
        content_id=content_id,
        result=result,
        previous_stage=schedule.stage,
        stage=new.stage,
        interval_days=step.interval_days,
        next_review_date=step.due_at,
        retrievability_before=_rounded(step.retrievability_before),
        reviewed_at=at,
        early=early,
    )


def prune_idempotency_records(*, now: datetime | None = None) -> int:
    """Deletes idempotency records older than 24 hours; returns how many."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    logger.info("pruned idempotency records", extra={"deleted": deleted})
    return deleted


# --- Reviews: queue, history, forecast ---------------------------------------------------------------


def review_queue(
    *, user: User, now: datetime | None = None, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> dict[str, Any]:
    """Everything due before the end of the user's local today, most overdue first, a page at a time.

    ``count`` is the whole queue, ``overdue_count`` the part due on an earlier local day;
    ``overdue_days`` counts local days since the due date (0: due today). One query.
    """
    now = now or timezone.now()
    today = local_date(now, user.timezone)
    intervals = ladder_for(user)
    tz_name = user.timezone
    start_of_today, end_of_today = local_day_bounds(today, tz_name)
    tz = zone(tz_name)
    rows, count, overdue = selectors.due_page(
        user_id=user.pk, before=end_of_today, overdue_before=start_of_today, limit=limit, offset=offset
    )
    # The hot path of the app: plain tuples in, plain dicts out, no object per row.
    now_ts = now.timestamp()
    items = []
    for (
        content_id,
        title,
        body,
        category_id,
        category_name,
        slug,
        stage,
        due,
        anchor,
        scheduler,
        stability,
    ) in rows:
        overdue_days = (today - due.astimezone(tz).date()).days if due < start_of_today else 0
        items.append(
            {
                "content": {
                    "id": content_id,
                    "title": title,
                    "body": body,
                    "category": (
                        {"id": category_id, "name": category_name, "slug": slug}
                        if category_id is not None
                        else None
                    ),
                },
                "stage": stage,
                "next_review_date": due,
                "overdue_days": overdue_days,
                "retrievability": _rounded(
                    recall_estimate(
                        scheduler=scheduler,
                        stage=stage,
                        stability=stability,
                        elapsed_days=(now_ts - anchor.timestamp()) / SECONDS_PER_DAY,
                        intervals=intervals,
                    )
                ),
            }
        )
    return {"items": items, "count": count, "overdue_count": overdue}


def review_history(*, user: User, content_id: int | None = None) -> Any:
    """The user's reviews, for the cursor paginator (newest first)."""
    return selectors.history_queryset(user_id=user.pk, content_id=content_id)


def forecast(*, user: User, days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
    """Reviews due on each of the next ``days`` local dates, today first; overdue reviews count today."""
    now = now or timezone.now()
    today = local_date(now, user.timezone)
    last_day = today + timedelta(days=days - 1)
    end = local_day_bounds(last_day, user.timezone)[1]
    counts = selectors.due_counts_by_local_date(user_id=user.pk, before=end, tz_name=user.timezone)
    overdue = sum(due for day, due in counts.items() if day < today)
    answer = []
    for offset in range(days):
        day: date = today + timedelta(days=offset)
        answer.append({"date": day, "due": counts.get(day, 0) + (overdue if offset == 0 else 0)})
    return answer


# --- Seeding ------------------------------------------------------------------------------------------


@readcache.learning_write
def seed_demo_content(*, user: User, now: datetime | None = None) -> int:
    """Gives the demo account categories, sample notes and a few weeks of simulated reviews.

    Idempotent: does nothing when the user already has content. The notes are created in the past
    and reviewed on schedule through the real scheduler (a made-up but plausible mix of answers), so
    the queue, the history and the analytics have something to show; some are due today.
    Returns how many notes were created.
    """
    from modules.learning.demo_notes import CATEGORIES, NOTES

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
        answers = [ReviewResult.REMEMBERED] * 3 + [
            ReviewResult.PARTIAL,
            ReviewResult.REMEMBERED,
            ReviewResult.FORGOT,
        ]
        for index, (category, title, body) in enumerate(NOTES):
            created_at = now - timedelta(days=3 + 2 * index, hours=index)
            content = Content.objects.create(
                user=user, category=categories[category], title=title, body=body, created_at=created_at
            )
            schedule = _schedule_new_content(user=user, content=content)
            due, turn = schedule.next_review_date, index
            while due < now - timedelta(hours=2):
                outcome = _record_review(
                    user=user,
                    content_id=content.pk,
                    result=answers[turn % len(answers)],
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


# --- Review reminders ---------------------------------------------------------------------------------

REMINDER_TEMPLATE = "learning/email/review_reminder"
REMINDER_TITLES = 5


def send_review_reminders(*, now: datetime | None = None) -> int:
    """One round: email everyone whose local reminder hour is now and who has reviews due today.

    Identity picks the recipients (verified, active, notifications on, local hour == their
    ``daily_reminder_hour``); a ``ReminderLog`` row per (user, local date) makes a second run in the
    same day (a retried task, a second worker) send nothing. Returns how many emails were queued.
    """
    now = now or timezone.now()
    sent = 0
    for recipient in identity.users_due_for_reminder(utc_now=now):
        if _remind(recipient=recipient, now=now):
            sent += 1
    logger.info("review reminders sent", extra={"sent": sent})
    return sent


def _remind(*, recipient: identity.ReminderRecipient, now: datetime) -> bool:
    tz_name = recipient.timezone
    today = local_date(now, tz_name)
    start_of_today, end_of_today = local_day_bounds(today, tz_name)
    if ReminderLog.objects.filter(user_id=recipient.id, local_date=today).exists():
        return False
    due, due_count, overdue_count = selectors.due_page(
        user_id=recipient.id, before=end_of_today, overdue_before=start_of_today, limit=REMINDER_TITLES
    )
    if not due:
        return False
    titles = [row[1] for row in due]
    try:
        with transaction.atomic():
            ReminderLog.objects.create(
                user_id=recipient.id, local_date=today, due_count=due_count, sent_at=now
            )
            identity.send_email(
                to=recipient.email,
                template=REMINDER_TEMPLATE,
                context={
                    "first_name": recipient.first_name,
                    "due_count": due_count,
                    "overdue_count": overdue_count,
                    "titles": titles,
                    "more_count": max(due_count - len(titles), 0),
                    "reminder_hour": now.astimezone(zone(tz_name)).hour,
                    "review_url": f"{settings.FRONTEND_URL}/review",
                    "settings_url": f"{settings.FRONTEND_URL}/settings",
                },
            )
    except IntegrityError:  # another worker reminded this user today, a moment ago
        return False
    return True


# --- Facade for other modules ------------------------------------------------------------------------


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

    For other modules that attach rows to a content after a slow step (an AI call): without it, a
    content deleted meanwhile failed their insert's foreign key at commit, or the delete's (a 500).
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


def count_reviews(*, since: datetime) -> int:
    return ReviewHistory.objects.filter(reviewed_at__gte=since).count()


def count_active_reviewers(*, since: datetime) -> int:
    """Distinct users with at least one review since ``since``."""
    return ReviewHistory.objects.filter(reviewed_at__gte=since).aggregate(n=Count("user_id", distinct=True))[
        "n"
    ]


def count_overdue(*, now: datetime) -> int:
    """Schedules past due, all users."""
    return ReviewSchedule.objects.filter(next_review_date__lt=now).count()


def count_contents() -> int:
    return Content.objects.count()


# --- Aggregate reads for analytics (the insights module; the queries live in stats.py) ----------------

from modules.learning.stats import (  # noqa: E402, F401 (re-exported at the end: an extension of the facade)
    CategoryReviewStats,
    DayReviewCounts,
    ElapsedBucketStats,
    LearningTotals,
    ResultCounts,
    category_review_counts,
    due_counts_by_local_day,
    learning_totals,
    mean_recall,
    review_activity_by_user,
    review_counts_by_elapsed,
    review_counts_by_local_day,
    reviewer_ids,
)
