"""A learner's whole learning data in and out, in bulk (for the portability module: exports, Anki and
CSV imports, re-imports of an export). This file holds the records both directions carry, their
checks and the export; the import's steps are in ``portability_import``.

Export: ``learning_data_counts`` then ``export_categories``, ``export_contents`` and ``export_reviews``
(iterators over plain records, in id order, a few thousand rows per query).

Import: ``import_learning_data`` writes a ``LearningImport`` in one transaction (all or nothing),
reading its contents, then its reviews, once and in batches (they may be iterators over a file: a
million reviews are never held at once), idempotently: a content is found again by its external key (``external_source``, ``external_id``,
unique per user) or, for a learner's own export, by its id; a review by its key. What exists is
updated (content fields) or skipped; reviews are only ever appended after a card's last review, so the
history stays append-only and in order.

A content comes either with its schedule (a Resee export: schedule and review rows are written as they
were, losslessly) or without (Anki, CSV): then its reviews are replayed through the learner's
scheduler (ladder or FSRS), exactly as ``complete_review`` would have recorded them one by one — the
same fields, the same results, the original timestamps — and the card's schedule is where the replay
leaves it. Imported history is therefore indistinguishable from native history for everything that
reads it (the queue, analytics, the FSRS fitting).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from modules.common.errors import ValidationFailed
from modules.identity.services import User
from modules.learning.models import Category, Content, ReviewHistory
from modules.learning.scheduling import ReviewResult, SchedulerKind

CHUNK = 2_000  # rows per query of an export, per INSERT of an import
_RESULTS = frozenset(ReviewResult)
_SCHEDULERS = frozenset(SchedulerKind)

Progress = Callable[[int, int], None]


# --- Records -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    stage: int
    next_review_date: datetime
    last_reviewed_at: datetime | None
    review_count: int
    interval_days: int
    scheduler: str
    stability: float | None
    difficulty: float | None
    fsrs_state: int | None
    fsrs_step: int | None


@dataclass(frozen=True, slots=True)
class RecordedReview:
    """What the scheduler wrote down with a review (``ReviewHistory``'s own columns)."""

    recorded_at: datetime
    stage_before: int
    stage_after: int
    interval_days: int
    early: bool
    retrievability_before: float | None
    scheduler: str


@dataclass(frozen=True, slots=True)
class CategoryRecord:
    name: str
    description: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ContentRecord:
    id: int
    title: str
    body: str
    category: str | None
    created_at: datetime
    updated_at: datetime
    external_source: str | None
    external_id: str | None
    schedule: ScheduleRecord | None


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    id: int
    content_id: int
    result: str
    reviewed_at: datetime
    time_spent_seconds: int | None
    external_source: str | None
    external_id: str | None
    recorded: RecordedReview


@dataclass(frozen=True, slots=True)
class LearningDataCounts:
    categories: int
    contents: int
    reviews: int


@dataclass(frozen=True, slots=True)
class ExternalKey:
    source: str
    id: str


@dataclass(frozen=True, slots=True)
class ImportedContent:
    """One content to import. ``ref`` names it inside the import (its reviews point at it)."""

    ref: str
    key: ExternalKey
    title: str
    body: str
    created_at: datetime
    category: str | None = None
    updated_at: datetime | None = None
    # Given: written as it is (and the reviews' ``recorded``). None: the scheduler replays the reviews.
    schedule: ScheduleRecord | None = None
    # The learner's own content this record was exported from (a re-import of their own export).
    local_id: int | None = None


@dataclass(frozen=True, slots=True)
class ImportedReview:
    content_ref: str
    key: ExternalKey
    result: str
    reviewed_at: datetime
    time_spent_seconds: int | None = None
    recorded: RecordedReview | None = None
    local_id: int | None = None


@dataclass(frozen=True)
class LearningImport:
    """What to import. ``contents`` and ``reviews`` are read once, contents first, in batches: they may be
    iterators reading a file as the import goes (a lazy ``reviews`` is first read once every content
    has been written)."""

    categories: Sequence[CategoryRecord] = ()
    contents: Iterable[ImportedContent] = ()
    reviews: Iterable[ImportedReview] = ()
    # True: the reviews of each content without a schedule come together, no other content's between
    # them (an Anki log read card by card). Each such content is then replayed as soon as its reviews
    # end, so none are held, nor their keys; a content whose reviews come back later is refused
    # (``invalid_file``), and a key repeated in two such contents by the history's unique key.
    reviews_grouped: bool = False


@dataclass(frozen=True, slots=True)
class ImportCounts:
    categories_created: int = 0
    contents_created: int = 0
    contents_updated: int = 0
    contents_skipped: int = 0
    reviews_imported: int = 0
    reviews_skipped: int = 0


@dataclass(frozen=True)
class ImportOutcome:
    counts: ImportCounts
    content_ids: dict[str, int] = field(default_factory=dict)  # ref -> the learner's content id


# --- Checks ------------------------------------------------------------------------------------------


def invalid_file(message: str) -> ValidationFailed:
    return ValidationFailed.field("file", message, source="file")


def check_content(content: ImportedContent, refs: Collection[str]) -> None:
    """One content to import, given the refs of the contents before it."""
    if content.ref in refs:
        raise invalid_file(f"Content {content.ref!r} appears twice.")
    if content.schedule is not None and content.schedule.scheduler not in _SCHEDULERS:
        raise invalid_file(f"Unknown scheduler {content.schedule.scheduler!r}.")


def check_review(review: ImportedReview, refs: Collection[str], keys: set[tuple[str, str]]) -> None:
    """One review to import, given every content's ref and the keys of the reviews before it (to which
    its own is added)."""
    key = (review.key.source, review.key.id)
    if key in keys:
        raise invalid_file(f"Review {review.key.id!r} appears twice.")
    keys.add(key)
    if review.content_ref not in refs:
        raise invalid_file(f"A review points at a content that is not in the file ({review.content_ref!r}).")
    if review.result not in _RESULTS:
        raise invalid_file(f"Unknown review result {review.result!r}.")
    if review.recorded is not None and review.recorded.scheduler not in _SCHEDULERS:
        raise invalid_file(f"Unknown scheduler {review.recorded.scheduler!r}.")


# --- Export ------------------------------------------------------------------------------------------

_CONTENT_COLUMNS = (
    "id",
    "title",
    "body",
    "category__name",
    "created_at",
    "updated_at",
    "external_source",
    "external_id",
    "schedule__stage",
    "schedule__next_review_date",
    "schedule__last_reviewed_at",
    "schedule__review_count",
    "schedule__interval_days",
    "schedule__scheduler",
    "schedule__stability",
    "schedule__difficulty",
    "schedule__fsrs_state",
    "schedule__fsrs_step",
)
_REVIEW_COLUMNS = (
    "id",
    "content_id",
    "result",
    "reviewed_at",
    "time_spent_seconds",
    "external_source",
    "external_id",
    "recorded_at",
    "stage_before",
    "stage_after",
    "interval_days",
    "early",
    "retrievability_before",
    "scheduler",
)


def learning_data_counts(*, user: User) -> LearningDataCounts:
    """How many categories, contents and reviews an export of the learner holds."""
    return LearningDataCounts(
        categories=Category.objects.filter(user=user).count(),
        contents=Content.objects.filter(user=user).count(),
        reviews=ReviewHistory.objects.filter(user=user).count(),
    )


def export_categories(*, user: User) -> list[CategoryRecord]:
    rows = Category.objects.filter(user=user).order_by("id").values_list("name", "description", "created_at")
    return [
        CategoryRecord(name=name, description=description, created_at=at) for name, description, at in rows
    ]


def export_contents(*, user: User) -> Iterator[ContentRecord]:
    """The learner's contents with their schedules, by id."""
    rows = Content.objects.filter(user=user).order_by("id").values(*_CONTENT_COLUMNS)
    for row in rows.iterator(chunk_size=CHUNK):
        schedule = None
        if row["schedule__next_review_date"] is not None:
            schedule = ScheduleRecord(
                stage=row["schedule__stage"],
                next_review_date=row["schedule__next_review_date"],
                last_reviewed_at=row["schedule__last_reviewed_at"],
                review_count=row["schedule__review_count"],
                interval_days=row["schedule__interval_days"],
                scheduler=row["schedule__scheduler"],
                stability=row["schedule__stability"],
                difficulty=row["schedule__difficulty"],
                fsrs_state=row["schedule__fsrs_state"],
                fsrs_step=row["schedule__fsrs_step"],
            )
        yield ContentRecord(
            id=row["id"],
            title=row["title"],
            body=row["body"],
            category=row["category__name"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            external_source=row["external_source"],
            external_id=row["external_id"],
            schedule=schedule,
        )


def export_reviews(*, user: User) -> Iterator[ReviewRecord]:
    """The learner's review history, by id (which is the order it was recorded in)."""
    rows = ReviewHistory.objects.filter(user=user).order_by("id").values_list(*_REVIEW_COLUMNS)
    for row in rows.iterator(chunk_size=CHUNK):
        (id_, content_id, result, reviewed_at, spent, source, external_id, *recorded) = row
        yield ReviewRecord(
            id=id_,
            content_id=content_id,
            result=result,
            reviewed_at=reviewed_at,
            time_spent_seconds=spent,
            external_source=source,
            external_id=external_id,
            recorded=RecordedReview(*recorded),
        )
