"""Read queries of the learning module (QuerySets stay inside the module; the facade returns DTOs).

Every list here is one query whatever its length: joins instead of per-row lookups, ``values()`` of
the columns the answer needs (no model instances on the hot paths), and an index behind each filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDate

from modules.common.time import zone
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule

CONTENT_COLUMNS = (
    "id",
    "title",
    "body",
    "created_at",
    "updated_at",
    "category_id",
    "category__name",
    "category__slug",
    "schedule__stage",
    "schedule__next_review_date",
    "schedule__last_reviewed_at",
    "schedule__review_count",
    "schedule__scheduler",
    "schedule__stability",
)

# ordering parameter -> ORDER BY (a unique tie-breaker keeps offset pages stable)
CONTENT_ORDERINGS: dict[str, tuple[str, ...]] = {
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
    "next_review": ("schedule__next_review_date", "id"),
    "-next_review": ("-schedule__next_review_date", "-id"),
}

QUEUE_COLUMNS = (
    "content_id",
    "content__title",
    "content__body",
    "content__category_id",
    "content__category__name",
    "content__category__slug",
    "stage",
    "next_review_date",
    "anchor",  # when the memory was last refreshed: the last review, else the creation
    "scheduler",
    "stability",
)


class MappedRows:
    """A lazily sliced QuerySet whose rows are mapped on the way out.

    Ninja's ``LimitOffsetPagination`` slices what a view returns and counts it with
    ``.all().count()``; this keeps both on the database and maps only the page's rows.
    """

    def __init__(
        self,
        queryset: QuerySet,
        mapper: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        count_queryset: QuerySet | None = None,
    ) -> None:
        self.queryset = queryset
        self.mapper = mapper
        # counting needs the filters, not the joins the page needs for its columns
        self.count_queryset = count_queryset if count_queryset is not None else queryset

    def all(self) -> MappedRows:
        return self

    def count(self) -> int:
        return self.count_queryset.count()

    def __getitem__(self, page: slice) -> list[dict[str, Any]]:
        return [self.mapper(row) for row in self.queryset[page]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self.mapper(row) for row in self.queryset)


# --- Categories ----------------------------------------------------------------------------------


def category_rows(*, user_id: int) -> QuerySet:
    return (
        Category.objects.filter(user_id=user_id)
        .annotate(content_count=Count("contents"))
        .order_by("name", "id")
        .values("id", "name", "slug", "description", "content_count")
    )


def category_row(*, user_id: int, category_id: int) -> dict[str, Any] | None:
    return category_rows(user_id=user_id).filter(pk=category_id).first()


# --- Content -------------------------------------------------------------------------------------


def filtered_contents(*, user_id: int, category_id: int | None = None, search: str = "") -> QuerySet:
    queryset = Content.objects.filter(user_id=user_id)
    if category_id is not None:
        queryset = queryset.filter(category_id=category_id)
    if search:
        queryset = queryset.filter(Q(title__icontains=search) | Q(body__icontains=search))
    return queryset


def content_rows(
    *, user_id: int, category_id: int | None = None, search: str = "", ordering: str = "-created_at"
) -> QuerySet:
    queryset = filtered_contents(user_id=user_id, category_id=category_id, search=search)
    if ordering.lstrip("-") == "next_review":
        # Filtering on the schedule's own user column lets PostgreSQL walk the queue index
        # (user, next_review_date) in order and stop at the page, instead of sorting every row.
        queryset = queryset.filter(schedule__user_id=user_id)
    return queryset.order_by(*CONTENT_ORDERINGS[ordering]).values(*CONTENT_COLUMNS)


def content_row(*, user_id: int, content_id: int) -> dict[str, Any] | None:
    return Content.objects.filter(user_id=user_id, pk=content_id).values(*CONTENT_COLUMNS).first()


def content_refs(*, user_id: int, ids: list[int] | None = None, exclude_id: int | None = None) -> QuerySet:
    queryset = Content.objects.filter(user_id=user_id)
    if ids is not None:
        queryset = queryset.filter(pk__in=ids)
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return queryset.order_by("-created_at", "-id").values(
        "id", "user_id", "title", "body", "category_id", "category__name"
    )


# --- Reviews -------------------------------------------------------------------------------------


def due_rows(*, user_id: int, before: datetime, limit: int | None = None) -> list[tuple]:
    """Today's queue: one range scan of (user, next_review_date), most overdue first."""
    queryset = (
        ReviewSchedule.objects.filter(user_id=user_id, next_review_date__lt=before)
        .annotate(anchor=Coalesce("last_reviewed_at", "content__created_at"))
        .order_by("next_review_date", "content_id")
        .values_list(*QUEUE_COLUMNS)
    )
    if limit is not None:
        queryset = queryset[:limit]
    return list(queryset)


def due_counts(*, user_id: int, before: datetime, overdue_before: datetime) -> tuple[int, int]:
    totals = ReviewSchedule.objects.filter(user_id=user_id, next_review_date__lt=before).aggregate(
        due=Count("id"), overdue=Count("id", filter=Q(next_review_date__lt=overdue_before))
    )
    return totals["due"], totals["overdue"]


def due_counts_by_local_date(*, user_id: int, before: datetime, tz_name: str) -> dict[date, int]:
    """{local date: schedules due that day} for everything due before ``before`` (one grouped query)."""
    rows = (
        ReviewSchedule.objects.filter(user_id=user_id, next_review_date__lt=before)
        .annotate(day=TruncDate("next_review_date", tzinfo=zone(tz_name)))
        .values("day")
        .annotate(due=Count("id"))
        .values_list("day", "due")
    )
    return dict(rows)


def history_queryset(*, user_id: int, content_id: int | None = None) -> QuerySet:
    queryset = ReviewHistory.objects.filter(user_id=user_id)
    if content_id is not None:
        queryset = queryset.filter(content_id=content_id)
    return queryset.only(
        "id",
        "content_id",
        "result",
        "reviewed_at",
        "stage_before",
        "stage_after",
        "interval_days",
        "time_spent_seconds",
        "early",
        "retrievability_before",
    )


def content_history_events(*, content_id: int) -> list[tuple[str, datetime]]:
    return list(
        ReviewHistory.objects.filter(content_id=content_id)
        .order_by("reviewed_at", "id")
        .values_list("result", "reviewed_at")
    )
