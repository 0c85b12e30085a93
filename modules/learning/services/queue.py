"""Today's review queue, the review history and the forecast of reviews due per local day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from modules.common.pagination import DEFAULT_LIMIT
from modules.common.time import local_date, local_day_bounds, zone
from modules.identity.services import User
from modules.learning import readcache, selectors
from modules.learning.models import ReviewHistory
from modules.learning.scheduling.base import SECONDS_PER_DAY
from modules.learning.services.contents import CategoryRef
from modules.learning.services.memory import RecallCurves
from modules.learning.services.schedulers import ladder_for, rounded


@dataclass(frozen=True, slots=True)
class QueueContent:
    id: int
    title: str
    body: str
    category: CategoryRef | None


@dataclass(frozen=True, slots=True)
class QueueItem:
    content: QueueContent
    stage: int
    next_review_date: datetime
    overdue_days: int  # local days since the due date (0: due today)
    retrievability: float


@dataclass(frozen=True)
class Queue:
    items: list[QueueItem]
    count: int  # the whole queue, not only this page
    overdue_count: int  # of those, the ones due on an earlier local day


@dataclass(frozen=True)
class ForecastDay:
    date: date
    due: int


def review_queue(
    *, user: User, now: datetime | None = None, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> Queue:
    """Everything due before the end of the user's local today, most overdue first, a page at a time.
    One query."""
    now = now or timezone.now()
    today = local_date(now, user.timezone)
    intervals = ladder_for(user)
    tz_name = user.timezone
    start_of_today, end_of_today = local_day_bounds(today, tz_name)
    tz = zone(tz_name)
    rows, count, overdue = selectors.due_page(
        user_id=user.pk, before=end_of_today, overdue_before=start_of_today, limit=limit, offset=offset
    )
    # The hot path of the app: plain tuples in, one small object per value out, no ORM instance.
    now_ts = now.timestamp()
    # the learner's recall curves ride along every row (the same value): parsed once per process
    curves = RecallCurves.parse(rows[0][-1] if rows else None)
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
        _curve,
    ) in rows:
        items.append(
            QueueItem(
                content=QueueContent(
                    id=content_id,
                    title=title,
                    body=body,
                    category=(
                        CategoryRef(id=category_id, name=category_name, slug=slug)
                        if category_id is not None
                        else None
                    ),
                ),
                stage=stage,
                next_review_date=due,
                overdue_days=(today - due.astimezone(tz).date()).days if due < start_of_today else 0,
                retrievability=rounded(
                    curves.estimate(
                        scheduler=scheduler,
                        stage=stage,
                        stability=stability,
                        elapsed_days=(now_ts - anchor.timestamp()) / SECONDS_PER_DAY,
                        intervals=intervals,
                    )
                ),
            )
        )
    return Queue(items=items, count=count, overdue_count=overdue)


# --- What a review did to today's queue (the read cache applies it to its window: readcache.Change) ----

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def order_key(due: datetime, content_id: int) -> str:
    """A queue item's place as a string that sorts as the queue does (due date, then content id): the
    key of the item in the read cache's window of the first page, and of a change to it."""
    micros = (due - _EPOCH) // timedelta(microseconds=1)
    return f"{micros:020d}:{content_id:020d}"


def review_change(
    *, user: User, content_id: int, old_due: datetime, new_due: datetime, now: datetime
) -> readcache.Change | None:
    """What a review of ``content_id`` did to the learner's queue of the local ``today`` of ``now``:
    its item left (``left``: its order key; ``subtotal``: it was overdue) when the card was due today
    and no longer is, nothing (``left`` None) when it was not due today and still is not; None when it
    stays in today's queue (its place and values change: the queue is recomputed)."""
    today = local_date(now, user.timezone)
    start_of_today, end_of_today = local_day_bounds(today, user.timezone)
    if new_due < end_of_today:
        return None
    if old_due >= end_of_today:
        return readcache.Change(scope=today.isoformat())
    return readcache.Change(
        scope=today.isoformat(), left=order_key(old_due, content_id), subtotal=old_due < start_of_today
    )


def note_review_change(
    *, user: User, content_id: int, old_due: datetime, new_due: datetime, now: datetime
) -> None:
    """``review_change``, declared to the read cache for the user's next invalidation."""
    change = review_change(user=user, content_id=content_id, old_due=old_due, new_due=new_due, now=now)
    if change is not None:
        readcache.note_change(user_id=user.pk, change=change)


def review_history(*, user: User, content_id: int | None = None) -> QuerySet[ReviewHistory]:
    """The user's reviews, for the router's cursor paginator (it orders and cuts the QuerySet; the
    rows are read-only: no route writes history)."""
    return selectors.history_queryset(user_id=user.pk, content_id=content_id)


def forecast(*, user: User, days: int = 30, now: datetime | None = None) -> list[ForecastDay]:
    """Reviews due on each of the next ``days`` local dates, today first; overdue reviews count today."""
    now = now or timezone.now()
    today = local_date(now, user.timezone)
    overdue, counts = due_by_local_day(
        user_id=user.pk,
        tz_name=user.timezone,
        days=[today + timedelta(days=offset) for offset in range(days)],
    )
    return [
        ForecastDay(date=day, due=due + (overdue if offset == 0 else 0))
        for offset, (day, due) in enumerate(counts.items())
    ]


def due_by_local_day(*, user_id: int, tz_name: str, days: list[date]) -> tuple[int, dict[date, int]]:
    """(schedules due before the first of ``days``, {day: schedules due that local day}) for
    consecutive local ``days``. One grouped query."""
    bounds = [local_day_bounds(days[0], tz_name)[0], *(local_day_bounds(day, tz_name)[1] for day in days)]
    counts = selectors.due_counts_between(user_id=user_id, bounds=bounds)
    return counts[0], dict(zip(days, counts[1:], strict=True))
