"""Read queries of the learning module (QuerySets stay inside the module; the facade returns DTOs).

Every list here is one query whatever its length: joins instead of per-row lookups, ``values()`` of
the columns the answer needs (no model instances on the hot paths), and an index behind each filter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import numpy as np
from django.db import connections, router
from django.db.models import (
    Case,
    Count,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import OrderBy, RawSQL
from django.db.models.functions import Coalesce

from modules.common.compiled import fetch_rows
from modules.learning.models import (
    CONTENT_SAMPLE_ORDER,
    Category,
    CategoryTotal,
    Content,
    ContentTotal,
    FitStatus,
    LearnerMemoryModel,
    MemoryModelFit,
    ReviewHistory,
    ReviewSchedule,
)

T = TypeVar("T")

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
    "memory_curve",  # the learner's recall curves (services/memory.py), the same on every row
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
    "memory_curve",
)


def memory_curve(user_id: int | OuterRef) -> Subquery:
    """The learner's ``LearnerMemoryModel.recall_curve`` as a column of another query (NULL: no model).

    With a plain ``user_id`` it is an uncorrelated scalar subquery: PostgreSQL runs it once per query
    (an InitPlan), so a list carries the learner's model without a query of its own."""
    return Subquery(LearnerMemoryModel.objects.filter(user_id=user_id).values("recall_curve")[:1])


def memory_weights(user_id: int | OuterRef) -> Subquery:
    """The learner's fitted FSRS weights (a JSON list; NULL: the defaults) as a column of another query."""
    return Subquery(
        LearnerMemoryModel.objects.filter(user_id=user_id).values("fsrs_weights")[:1],
        output_field=LearnerMemoryModel._meta.get_field("fsrs_weights"),
    )


class RowPage(Generic[T]):
    """A ``values()`` QuerySet whose rows are mapped when a page is read: slice it for a page (the
    mapped rows), ``len()`` for the total (a COUNT query). Ninja's offset paginator does both."""

    def __init__(self, rows: QuerySet, mapper: Callable[[dict[str, Any]], T]) -> None:
        self.rows = rows
        self.mapper = mapper

    def __getitem__(self, page: slice) -> list[T]:
        return [self.mapper(row) for row in self.rows[page]]

    def __len__(self) -> int:
        return self.rows.count()


class ContentPage(Generic[T]):
    """The user's content list, filtered and ordered: slice it for a page, ``count()`` for the total.

    Both the page and the count go through the compiled-query shortcut (modules/common/compiled.py).
    The count stays a separate query: a window count would make PostgreSQL read and sort every one of
    the user's rows, where the page alone walks an index and stops after ``limit`` rows.
    """

    def __init__(
        self,
        *,
        user_id: int,
        category_id: int | None,
        search: str,
        ordering: str,
        mapper: Callable[[dict[str, Any]], T],
    ) -> None:
        self.ordering = ordering
        self.mapper = mapper
        self.args: dict[str, Any] = {"user_id": user_id}
        if category_id is not None:
            self.args["category_id"] = category_id
        if search:
            self.args["search"] = search
        self.shape = ("learning.content", category_id is not None, bool(search))
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            if "search" not in self.args and content_totals_kept():  # the kept totals
                self._count = (
                    category_total(user_id=self.args["user_id"], category_id=self.args["category_id"])
                    if "category_id" in self.args
                    else content_total(user_id=self.args["user_id"])
                )
                return self._count
            rows = fetch_rows(_content_count, shape=(*self.shape, "count"), args=self.args)
            self._count = rows[0][0] if rows else 0
        return self._count

    def __getitem__(self, page: slice) -> list[T]:
        offset = page.start or 0
        ordering = self.ordering
        # A search with few matches sorts them; with many, walking the contents in order meets a page
        # of matches soon (the count is asked for anyway: one query either way).
        sort_matches = "search" in self.args and self.count() < SORT_MATCHES_BELOW

        def build(**kwargs: Any) -> QuerySet:
            return content_rows(ordering=ordering, sort_matches=sort_matches, **kwargs)

        rows = fetch_rows(
            build,
            shape=(*self.shape, ordering, sort_matches),
            args=self.args,
            limit=None if page.stop is None else page.stop - offset,
            offset=offset,
        )
        return [self.mapper(dict(zip(CONTENT_COLUMNS, row, strict=True))) for row in rows]


def content_totals_kept() -> bool:
    """Whether the database keeps ``ContentTotal``, ``CategoryTotal`` and ``ReviewDayTally`` (their
    triggers are PostgreSQL's; migrations 0006 and 0007)."""
    return connections[router.db_for_read(ContentTotal)].vendor == "postgresql"


def _content_total(*, user_id: int) -> QuerySet:
    return ContentTotal.objects.filter(user_id=user_id).values_list("contents")


def content_total(*, user_id: int) -> int:
    """The user's contents, as kept by the triggers: one primary-key read, whatever their number."""
    rows = fetch_rows(
        _content_total,
        shape="learning.content_total",
        args={"user_id": user_id},
        using=router.db_for_read(ContentTotal),  # the replica inside a lag-tolerant read
    )
    return rows[0][0] if rows else 0


def category_total(*, user_id: int, category_id: int) -> int:
    """The user's contents in one category, as kept by the triggers (0 for another user's category):
    one index read, where counting reads every content of the category (heavy bench learner, 2,000
    in a category: its filtered list took 1.34 times the light learner's). Not a compiled query: the
    compiler's negative sentinels are out of range for the unsigned ``category_id`` column."""
    total = (
        CategoryTotal.objects.using(router.db_for_read(CategoryTotal))
        .filter(user_id=user_id, category_id=category_id)
        .values_list("contents", flat=True)
        .first()
    )
    return total or 0


def _content_count(**filters: Any) -> QuerySet:
    return filtered_contents(**filters).values("user_id").annotate(total=Count("id")).values_list("total")


# --- Categories ----------------------------------------------------------------------------------


def category_rows(*, user_id: int) -> QuerySet:
    # On PostgreSQL each category's count is its kept ``CategoryTotal`` (one index lookup per category,
    # migration 0007): counting, even index-only on (user, category, ...), reads every content of the
    # category (heavy bench learner: 4 categories of 2,000, 4.4 ms execution; kept: 0.1 ms). Elsewhere
    # an index-only count (a join to the contents read every content row of the user: 5.7 vs 2.8 ms).
    contents: QuerySet
    if content_totals_kept():
        contents = CategoryTotal.objects.filter(user_id=user_id, category_id=OuterRef("pk")).values(
            "contents"
        )
    else:
        contents = (
            Content.objects.filter(user_id=user_id, category_id=OuterRef("pk"))
            .order_by()
            .values("category_id")
            .annotate(n=Count("id"))
            .values("n")
        )
    return (
        Category.objects.filter(user_id=user_id)
        .annotate(content_count=Coalesce(Subquery(contents), 0))
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


# Below this many matches a search's page sorts its matches (see ``content_rows``).
SORT_MATCHES_BELOW = 200


def content_rows(
    *,
    user_id: int,
    category_id: int | None = None,
    search: str = "",
    ordering: str = "-created_at",
    sort_matches: bool = False,
) -> QuerySet:
    queryset = filtered_contents(user_id=user_id, category_id=category_id, search=search)
    order_by: list[Any] = list(CONTENT_ORDERINGS[ordering])
    if sort_matches:
        # The search's matches, found through the trigram indexes, then sorted. Ordered by a plain
        # column, PostgreSQL may instead walk the user's contents in that order expecting to meet a
        # page of matches soon: a rare word then reads every content (40-70 ms for 10,000; measured
        # with bench/shapes.sh). The same order, as expressions no index provides, rules that out.
        # With many matches that walk is the better plan (a page is met after a few hundred rows).
        order_by = [_unindexed(field) for field in order_by]
    if ordering.lstrip("-") == "next_review":
        # Filtering on the schedule's own user column lets PostgreSQL walk the queue index
        # (user, next_review_date) in order and stop at the page, instead of sorting every row.
        queryset = queryset.filter(schedule__user_id=user_id)
    return (
        queryset.annotate(memory_curve=memory_curve(user_id))
        .order_by(*order_by)
        .values_list(*CONTENT_COLUMNS)
    )


def _unindexed(field: str) -> OrderBy:
    """``field`` ("-name" descending) as an ordering expression that matches no index."""
    name = field.lstrip("-")
    expression = Coalesce(F(name), F(name))
    return expression.desc() if field.startswith("-") else expression.asc()


def content_row(*, user_id: int, content_id: int) -> dict[str, Any] | None:
    return (
        Content.objects.filter(user_id=user_id, pk=content_id)
        .annotate(memory_curve=memory_curve(user_id))
        .values(*CONTENT_COLUMNS)
        .first()
    )


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


def _due_count(user_id: int, before: datetime) -> Subquery:
    """How many of the user's cards are due before ``before``: a scalar subquery on the schedule
    alone (the ``(user, next_review_date)`` index), which PostgreSQL runs once per query."""
    # COUNT as a plain function, not Django's aggregate: no GROUP BY (grouping by the user made
    # PostgreSQL walk the user's whole index for its order), and of rows, not of a column: an
    # index-only count over the (user, next_review_date) range
    count = Func(template="COUNT(*)", output_field=IntegerField())
    return Subquery(
        ReviewSchedule.objects.filter(user_id=user_id, next_review_date__lt=before)
        .order_by()
        .annotate(due=count)
        .values("due")
    )


def _due_page_columns(*, user_id: int, before: datetime, overdue_before: datetime) -> QuerySet:
    # The totals are two counts of their own, not window counts over the page's query: a window
    # counts the joined rows, so every due card's content (its body too) and category was read to
    # count it (400 due: 1.0 ms); this way only the page's rows are joined (0.2 ms).
    return (
        ReviewSchedule.objects.filter(user_id=user_id, next_review_date__lt=before)
        .annotate(
            anchor=Coalesce("last_reviewed_at", "content__created_at"),
            memory_curve=memory_curve(user_id),
            total=Coalesce(_due_count(user_id, before), 0),
            overdue=Coalesce(_due_count(user_id, overdue_before), 0),
        )
        .order_by("next_review_date", "content_id")
        .values_list(*QUEUE_COLUMNS, "total", "overdue")
    )


def due_page(
    *, user_id: int, before: datetime, overdue_before: datetime, limit: int, offset: int = 0
) -> tuple[list[tuple], int, int]:
    """One page of today's queue with the queue's totals (due, overdue) in the same query: window
    counts over the filtered rows, computed before LIMIT. An empty page past the end counts apart."""
    rows = fetch_rows(
        _due_page_columns,
        shape="learning.due_page",
        args={"user_id": user_id, "before": before, "overdue_before": overdue_before},
        limit=limit,
        offset=offset,
    )
    if rows:
        return [row[:-2] for row in rows], rows[0][-2], rows[0][-1]
    due, overdue = (
        due_counts(user_id=user_id, before=before, overdue_before=overdue_before) if offset else (0, 0)
    )
    return [], due, overdue


def due_counts(*, user_id: int, before: datetime, overdue_before: datetime) -> tuple[int, int]:
    totals = ReviewSchedule.objects.filter(user_id=user_id, next_review_date__lt=before).aggregate(
        due=Count("id"), overdue=Count("id", filter=Q(next_review_date__lt=overdue_before))
    )
    return totals["due"], totals["overdue"]


_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)  # before any schedule: the overdue span's start


def due_counts_between(*, user_id: int, bounds: list[datetime]) -> list[int]:
    """Schedules due in each span of ``bounds`` (ascending): ``[0]`` before ``bounds[0]`` (overdue),
    ``[i]`` in [``bounds[i-1]``, ``bounds[i]``); nothing from ``bounds[-1]`` on. One grouped query.

    With the local days' bounds computed in Python (their time zone and daylight saving included),
    PostgreSQL only compares timestamps. Converting each schedule's time to a local date (``TruncDate``
    in a zone, ``AT TIME ZONE`` per row) cost 7-11 ms for the 3,300 cards the heavy bench learner has
    due in 30 days; ``width_bucket`` over the index-only scan 1.4-1.9 ms (EXPLAIN ANALYZE); now one
    index-only count per span (a subquery per bound, the spans from ``unnest``): a count touches no
    expression per row — heavy 2.0 -> 1.4 ms, light 0.46 -> 0.67 ms, median of 200 from Python."""
    counts = [0] * len(bounds)
    connection = connections[router.db_for_read(ReviewSchedule)]
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(ReviewSchedule._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT span.i - 1, (SELECT COUNT(*) FROM {table} s WHERE s.user_id = %s
                                         AND s.next_review_date >= span.low AND s.next_review_date < span.high)
                      FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS span(low, high, i)""",  # noqa: S608
                [user_id, [_EARLIEST, *bounds[:-1]], list(bounds)],
            )
            rows = cursor.fetchall()
    else:
        span = Case(
            *[When(next_review_date__lt=bound, then=Value(index)) for index, bound in enumerate(bounds)],
            output_field=IntegerField(),
        )
        rows = list(
            ReviewSchedule.objects.filter(user_id=user_id, next_review_date__lt=bounds[-1])
            .annotate(span=span)
            .values("span")
            .annotate(due=Count("id"))
            .values_list("span", "due")
        )
    for index, due in rows:
        counts[index] = due
    return counts


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


# --- Memory models -------------------------------------------------------------------------------


# A review's result in ``ReviewLog.results``: its index in this tuple.
LOGGED_RESULTS: tuple[str, ...] = ("forgot", "partial", "remembered")


@dataclass(frozen=True)
class ReviewLog:
    """Every review of a learner, oldest first (ties by id), as numpy columns: content ids, POSIX
    seconds, results (indexes into ``LOGGED_RESULTS``) and answer times in seconds (NaN when not given)."""

    content_ids: np.ndarray
    epochs: np.ndarray
    results: np.ndarray
    seconds: np.ndarray

    def __len__(self) -> int:
        return len(self.content_ids)


# The review time as POSIX seconds, computed by the database: psycopg parses a float several times
# faster than a timestamptz (113,220 reviews: 2.4 s of parsing for datetimes).
_EPOCH_SQL = {
    "postgresql": 'EXTRACT(EPOCH FROM "learning_reviewhistory"."reviewed_at")::float8',
    "sqlite": '(julianday("learning_reviewhistory"."reviewed_at") - 2440587.5) * 86400.0',
}
# PostgreSQL's binary COPY of _LOG_COPY's five columns, none of them NULL: every row has the same size
# (a field count, then each field's length and big-endian value).
_LOG_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("id_length", ">i4"),
        ("id", ">i8"),
        ("content_length", ">i4"),
        ("content_id", ">i8"),
        ("epoch_length", ">i4"),
        ("epoch", ">f8"),
        ("result_length", ">i4"),
        ("result", ">i2"),
        ("seconds_length", ">i4"),
        ("seconds", ">i4"),
    ]
)
_LOG_FIELD_LENGTHS = {
    "id_length": 8,
    "content_length": 8,
    "epoch_length": 8,
    "result_length": 2,
    "seconds_length": 4,
}
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# unsorted: PostgreSQL would sort a heavy learner's million rows on disk (work_mem), numpy sorts them
# in memory (docs/benchmarks.md, "Session 28")
_LOG_COPY = (
    "COPY (SELECT id, content_id, {epoch}, "
    "(CASE result WHEN 'forgot' THEN 0 WHEN 'partial' THEN 1 ELSE 2 END)::int2, "
    "COALESCE(time_spent_seconds, -1)::int4 FROM learning_reviewhistory WHERE user_id = {user_id}{among}) "
    "TO STDOUT (FORMAT BINARY)"
)


def review_log(*, user_id: int, content_ids: list[int] | None = None) -> ReviewLog:
    """Every review of the user (of ``content_ids`` only, when given), oldest first (ties by id), as
    columns. On PostgreSQL one binary COPY read straight into numpy (a million reviews: 1.0 s where
    the ORM's rows took 3.3 s and the server's sort of them 0.9 s more); elsewhere the ORM's rows."""
    alias = router.db_for_read(ReviewHistory)
    connection = connections[alias]
    if content_ids is not None and not content_ids:
        return ReviewLog(*(np.zeros(0, dtype=dtype) for dtype in (np.int64, np.float64, np.int8, np.float64)))
    if connection.vendor == "postgresql":
        ids, content_ids_read, epochs, results, seconds = _copied_log(
            connection, user_id=int(user_id), content_ids=content_ids
        )
    else:
        queryset = ReviewHistory.objects.using(alias).filter(user_id=user_id)
        if content_ids is not None:
            queryset = queryset.filter(content_id__in=content_ids)
        rows = list(
            queryset.annotate(epoch=RawSQL(_EPOCH_SQL[connection.vendor], ())).values_list(  # noqa: S611 - constant SQL
                "id", "content_id", "epoch", "result", "time_spent_seconds"
            )
        )
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        content_ids_read = np.array([row[1] for row in rows], dtype=np.int64)
        epochs = np.array([row[2] for row in rows], dtype=np.float64)
        results = np.array([LOGGED_RESULTS.index(row[3]) for row in rows], dtype=np.int8)
        seconds = np.array([-1 if row[4] is None else row[4] for row in rows], dtype=np.float64)
    order = np.lexsort((ids, epochs))  # oldest first, ties by id
    given = seconds[order] >= 0
    return ReviewLog(
        content_ids=content_ids_read[order],
        epochs=epochs[order],
        results=results[order].astype(np.int8),
        seconds=np.where(given, seconds[order], np.nan).astype(np.float64),
    )


def _copied_log(
    connection: Any, *, user_id: int, content_ids: list[int] | None = None
) -> tuple[np.ndarray, ...]:
    """The user's reviews (of ``content_ids`` only, when given) by binary COPY: (ids, content ids,
    epochs, result indexes, seconds or -1). COPY takes no parameters: the ids are formatted as integers."""
    connection.ensure_connection()
    among = (
        ""
        if content_ids is None
        else " AND content_id IN (" + ",".join(str(int(i)) for i in content_ids) + ")"
    )
    sql = _LOG_COPY.format(epoch=_EPOCH_SQL["postgresql"], user_id=int(user_id), among=among)
    data = bytearray()
    with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
        for block in copy:
            data += block
    # header: signature, flags (no OIDs), an empty extension; trailer: a field count of -1
    if data[:11] != _COPY_SIGNATURE or data[11:19] != bytes(8) or data[-2:] != b"\xff\xff":
        raise ValueError("unexpected COPY format from PostgreSQL")
    rows = np.frombuffer(memoryview(data)[19:-2], dtype=_LOG_ROW)
    if (rows["fields"] != 5).any() or any(
        (rows[name] != size).any() for name, size in _LOG_FIELD_LENGTHS.items()
    ):
        raise ValueError("unexpected COPY row layout from PostgreSQL")
    return (
        rows["id"].astype(np.int64),
        rows["content_id"].astype(np.int64),
        rows["epoch"].astype(np.float64),
        rows["result"].astype(np.int8),
        rows["seconds"].astype(np.float64),
    )


def review_count(*, user_id: int) -> int:
    return ReviewHistory.objects.filter(user_id=user_id).count()


def memory_fit_candidates(*, active_since: datetime) -> list[tuple[int, int, int | None, datetime | None]]:
    """Learners who reviewed since ``active_since``: (user id, reviews, reviews read by their last
    finished fit or None, when that fit was requested or None). Two queries."""
    active = list(
        ReviewHistory.objects.filter(reviewed_at__gte=active_since)
        .values_list("user_id", flat=True)
        .distinct()
    )
    if not active:
        return []
    last_fit = MemoryModelFit.objects.filter(user_id=OuterRef("user_id"), status=FitStatus.DONE).order_by(
        "-requested_at", "-id"
    )
    rows = (
        ReviewHistory.objects.filter(user_id__in=active)
        .values("user_id")
        .annotate(
            total=Count("id"),
            last_count=Subquery(last_fit.values("review_count")[:1]),
            last_at=Subquery(last_fit.values("requested_at")[:1]),
        )
        .order_by("user_id")
        .values_list("user_id", "total", "last_count", "last_at")
    )
    return list(rows)


@dataclass(frozen=True)
class CardMemories:
    """Scheduled cards of a learner with their kept memory (``ReviewSchedule.memory_*``), as numpy
    columns ordered by content id (NaN / -1 where a memory column is NULL), and how many cards the
    learner has in all (``total``: more than the rows when they are a sample)."""

    content_ids: np.ndarray
    created_epochs: np.ndarray
    stages: np.ndarray
    review_counts: np.ndarray
    stability: np.ndarray
    difficulty: np.ndarray
    days: np.ndarray
    bases: np.ndarray
    total: int


def card_memories(*, user_id: int, limit: int, basis: int) -> CardMemories:
    """One query: up to ``limit`` of the user's scheduled cards (all of them, or the first in a fixed
    pseudo-random order of their contents, read from ``learning_content_sample_idx``: a few hundred
    index entries and rows whatever the deck's size) with their kept memory; their content's creation
    where the memory does not give the last review's day (never reviewed, or not kept under ``basis``;
    NaN elsewhere); and how many cards the user has in all (the kept content total on PostgreSQL)."""
    if content_totals_kept():
        total: Any = Subquery(ContentTotal.objects.filter(user_id=user_id).values("contents")[:1])
    else:
        total = Subquery(
            ReviewSchedule.objects.filter(user_id=user_id)
            .order_by()
            .values("user_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
    unkept = Q(schedule__review_count=0) | ~Q(schedule__memory_basis=basis)
    # the contents in the index's order, each joined to its schedule: a nested loop that stops at
    # ``limit``; sorted by id here, not by the server
    rows = sorted(
        Content.objects.filter(user_id=user_id, schedule__user_id=user_id)
        .annotate(created=Case(When(unkept, then=F("created_at")), default=None), total=total)
        .order_by(CONTENT_SAMPLE_ORDER, "id")
        .values_list(
            "id",
            "created",
            "schedule__stage",
            "schedule__review_count",
            "schedule__memory_stability",
            "schedule__memory_difficulty",
            "schedule__memory_day",
            "schedule__memory_basis",
            "total",
        )[:limit]
    )
    columns = list(zip(*rows, strict=True)) if rows else [()] * 9

    def floats(values: tuple) -> np.ndarray:
        return np.array([np.nan if value is None else value for value in values], dtype=np.float64)

    def ints(values: tuple) -> np.ndarray:
        return np.array([-1 if value is None else value for value in values], dtype=np.int64)

    return CardMemories(
        content_ids=np.array(columns[0], dtype=np.int64),
        created_epochs=np.array(
            [np.nan if moment is None else moment.timestamp() for moment in columns[1]], dtype=np.float64
        ),
        stages=np.array(columns[2], dtype=np.int64),
        review_counts=np.array(columns[3], dtype=np.int64),
        stability=floats(columns[4]),
        difficulty=floats(columns[5]),
        days=ints(columns[6]),
        bases=ints(columns[7]),
        total=max(int(columns[8][0] or 0), len(rows)) if rows else 0,
    )


def memory_guards(*, user_id: int) -> list[tuple[int, int, datetime | None]]:
    """(content id, review count, last review) of each of the user's schedules: what a rebuild of
    their card memory requires unchanged when it writes."""
    return list(
        ReviewSchedule.objects.filter(user_id=user_id).values_list(
            "content_id", "review_count", "last_reviewed_at"
        )
    )


def recent_answers(*, user_id: int, limit: int) -> list[tuple[str, int | None]]:
    """(result, seconds) of the user's latest ``limit`` reviews (index (user, reviewed_at), backwards)."""
    return list(
        ReviewHistory.objects.filter(user_id=user_id)
        .order_by("-reviewed_at")
        .values_list("result", "time_spent_seconds")[:limit]
    )


def first_answers(*, user_id: int, limit: int) -> list[str]:
    """The first result of each of the user's ``limit`` newest reviewed contents: one index probe per
    content (content, reviewed_at), whatever the length of its history."""
    first = (
        ReviewHistory.objects.filter(content_id=OuterRef("pk"))
        .order_by("reviewed_at", "id")
        .values("result")[:1]
    )
    return [
        result
        for result in Content.objects.filter(user_id=user_id, schedule__review_count__gt=0)
        .order_by("-created_at", "-id")
        .annotate(first=Subquery(first))
        .values_list("first", flat=True)[:limit]
        if result is not None
    ]


def contents_created_since(*, user_id: int, since: datetime) -> int:
    return Content.objects.filter(user_id=user_id, created_at__gte=since).count()


# The state a review starts from (services/reviews.py), in this order, with the learner's memory model.
REVIEW_STATE_COLUMNS = (
    "id",
    "user_id",
    "stage",
    "next_review_date",
    "last_reviewed_at",
    "review_count",
    "scheduler",
    "stability",
    "difficulty",
    "fsrs_state",
    "fsrs_step",
    "memory_stability",
    "memory_difficulty",
    "memory_day",
    "memory_basis",
    "content__created_at",
    "content__category_id",
    "memory_weights",
    "memory_curve",
)


def _review_state(*, user_id: int, content_id: int) -> QuerySet:
    return (
        ReviewSchedule.objects.filter(user_id=user_id, content_id=content_id)
        .annotate(memory_weights=memory_weights(user_id), memory_curve=memory_curve(user_id))
        .values_list(*REVIEW_STATE_COLUMNS)
    )


def locked_review_state(*, user_id: int, content_id: int) -> tuple | None:
    """``review_state`` with the schedule's row locked until the transaction ends (the review's slow
    path, after a concurrent change). None: not one of the user's contents."""
    return _review_state(user_id=user_id, content_id=content_id).select_for_update(of=("self",)).first()


def review_state(*, user_id: int, content_id: int) -> tuple | None:
    """The card's schedule as a review reads it (``REVIEW_STATE_COLUMNS``), unlocked; one query
    (compiled once, modules/common/compiled.py). None: not one of the user's contents."""
    rows = fetch_rows(
        _review_state, shape="learning.review_state", args={"user_id": user_id, "content_id": content_id}
    )
    return rows[0] if rows else None
