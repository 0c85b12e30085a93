"""The import of a learner's learning data in bulk: ``import_learning_data`` and the steps of one run
(categories, contents, then reviews and schedules, as recorded or replayed). The records, their checks
and what the import guarantees are described in ``portability``.

Contents and reviews are read once, in batches of ``CHUNK`` (a batch of contents also ends at
``BATCH_CHARS`` of text): what a run keeps between batches is one small entry per content (its ref,
its id, the schedule it had) and the key of each review (to refuse one given twice), never the rows
themselves, except the reviews of contents whose schedule is replayed (Anki, CSV), which must be
sorted by card before they are replayed: all of them until the end, or, when the reviews come grouped
by content (``LearningImport.reviews_grouped``: Anki), one content's at a time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence, Sized
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

from django.db import OperationalError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from modules.common.bulk import insert_rows
from modules.common.locks import lock_until_commit
from modules.common.time import local_date, local_day_bounds
from modules.identity.services import User
from modules.learning import readcache
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import CardState, ReviewResult, Scheduler, SchedulerKind
from modules.learning.services import card_memory, tallies
from modules.learning.services.categories import category_slug
from modules.learning.services.portability import (
    CHUNK,
    CategoryRecord,
    ImportCounts,
    ImportedContent,
    ImportedReview,
    ImportOutcome,
    LearningImport,
    Progress,
    check_content,
    check_review,
    invalid_file,
)
from modules.learning.services.schedulers import rounded, scheduler_for_user

logger = logging.getLogger(__name__)

_LOCK_NAMESPACE = 0x5253_4545  # lock_until_commit(namespace, user id): one import per learner at a time
BATCH_CHARS = 4_000_000  # the text of one batch of contents (bodies may be 50,000 characters each)
ANALYZE_AFTER_ROWS = 10_000  # an import writing this many contents or reviews refreshes their statistics
ANALYZE_LOCK_TIMEOUT = "3s"  # how long that refresh waits for a vacuum holding a table

T = TypeVar("T")


class _Run:
    """One import: the state shared by its steps and kept between batches."""

    def __init__(
        self,
        *,
        user: User,
        categories: Sequence[CategoryRecord],
        progress: Progress | None,
        grouped: bool = False,
    ) -> None:
        self.user = user
        self.category_records = categories
        self.progress = progress
        self.total = 0  # rows to import, when the records are sized (else progress says 0)
        self.done = 0
        self.scheduler: Scheduler = scheduler_for_user(user)
        self.now = timezone.now()
        self.counts: dict[str, int] = defaultdict(int)
        self.category_ids: dict[str, int] = {}
        self.content_ids: dict[str, int] = {}  # every content's ref -> its id
        self.existing: dict[str, datetime] = {}  # refs of contents that were already there: created_at
        self.schedules: dict[int, dict[str, Any]] = {}  # content id -> its schedule before the import
        self.replayed: dict[str, datetime] = {}  # contents whose reviews are replayed: created_at
        self.to_replay: dict[str, list[ImportedReview]] = defaultdict(list)
        self.grouped = grouped  # replayed contents' reviews come one content at a time
        self.group: tuple[str, list[ImportedReview]] | None = None  # the content whose reviews are coming
        self.closed: set[str] = set()  # replayed contents whose grouped reviews have ended
        self.group_keys: tuple[str | None, set[tuple[str, str]]] = (None, set())  # that content's keys
        self.new_schedules: list[ReviewSchedule] = []
        self.changed_schedules: list[ReviewSchedule] = []
        self.review_keys: set[tuple[str, str]] = set()
        # A learner with nothing yet has nothing to find again: no lookups (a first import of an export)
        self.had_contents = Content.objects.filter(user=user).exists()
        self.had_reviews = ReviewHistory.objects.filter(user=user).exists()
        self._day_ends: dict[Any, datetime] = {}

    def advance(self, amount: int) -> None:
        self.done += amount
        if self.progress is not None:
            self.progress(self.done, self.total)

    # --- categories ----------------------------------------------------------------------------------
    def categories(self) -> None:
        """The file's categories; those its contents name are added as the contents come."""
        self.category_ids = dict(
            Category.objects.filter(user=self.user)
            .annotate(lowered=Lower("name"))
            .values_list("lowered", "id")
        )
        self._ensure_categories(self.category_records)

    def _ensure_categories(self, records: Iterable[CategoryRecord]) -> None:
        names: dict[str, CategoryRecord] = {}
        for record in records:
            lowered = record.name.strip().lower()
            if lowered and lowered not in self.category_ids:
                names.setdefault(lowered, record)
        new = [
            Category(
                user=self.user,
                name=record.name.strip(),
                slug=category_slug(record.name.strip()),
                description=record.description,
                created_at=record.created_at or self.now,
            )
            for record in names.values()
        ]
        for category in Category.objects.bulk_create(new, batch_size=CHUNK):
            self.category_ids[category.name.lower()] = category.pk
        self.counts["categories_created"] += len(new)

    def category_id(self, name: str | None) -> int | None:
        return self.category_ids.get(name.strip().lower()) if name and name.strip() else None

    # --- contents ------------------------------------------------------------------------------------
    def contents(self, records: Iterable[ImportedContent]) -> None:
        for batch in _batches(records, size=CHUNK, chars=lambda record: len(record.body) + len(record.title)):
            for record in batch:
                check_content(record, self.content_ids)
                self.content_ids[record.ref] = 0  # known from here on; its id once written
            self._ensure_categories(
                CategoryRecord(name=record.category.strip()) for record in batch if record.category
            )
            self._content_batch(batch)

    def _content_batch(self, batch: list[ImportedContent]) -> None:
        found = self._found_contents(batch) if self.had_contents else {}
        new: list[ImportedContent] = []
        changed: list[Content] = []
        for record in batch:
            row = found.get(record.ref)
            category_id = self.category_id(record.category)
            if row is None:
                new.append(record)
                continue
            self.existing[record.ref] = row["created_at"]
            self.content_ids[record.ref] = row["id"]
            if (row["title"], row["body"], row["category_id"]) == (record.title, record.body, category_id):
                self.counts["contents_skipped"] += 1
                continue
            changed.append(
                Content(
                    pk=row["id"],
                    title=record.title,
                    body=record.body,
                    category_id=category_id,
                    updated_at=record.updated_at or self.now,
                )
            )
        if new:
            # Written as they were, ``updated_at`` included (no auto_now), then found again by their keys
            insert_rows(
                Content,
                _CONTENT_COLUMNS,
                (
                    (
                        self.user.pk,
                        self.category_id(record.category),
                        record.title,
                        record.body,
                        record.created_at,
                        record.updated_at or record.created_at,
                        record.key.source,
                        record.key.id,
                    )
                    for record in new
                ),
            )
            self._new_content_ids(new)
        if changed:
            Content.objects.bulk_update(
                changed, ["title", "body", "category_id", "updated_at"], batch_size=500
            )
        self.counts["contents_created"] += len(new)
        self.counts["contents_updated"] += len(changed)
        existing_ids = [row["id"] for row in found.values()]
        for row in (
            ReviewSchedule.objects.filter(content_id__in=existing_ids).values() if existing_ids else ()
        ):
            self.schedules[row["content_id"]] = row
        self._recorded_schedules(batch)
        self.advance(len(batch))

    def _new_content_ids(self, new: list[ImportedContent]) -> None:
        by_source: dict[str, dict[str, str]] = defaultdict(dict)
        for record in new:
            by_source[record.key.source][record.key.id] = record.ref
        for source, keys in by_source.items():
            rows = Content.objects.filter(user=self.user, external_source=source, external_id__in=list(keys))
            for pk, external_id in rows.values_list("id", "external_id"):
                self.content_ids[keys[external_id]] = pk

    def _found_contents(self, contents: Sequence[ImportedContent]) -> dict[str, dict[str, Any]]:
        """The records' contents that already exist, by ref: the learner's own ids, then external keys."""
        columns = ("id", "title", "body", "category_id", "created_at", "external_source", "external_id")
        found: dict[str, dict[str, Any]] = {}
        local = {record.local_id: record.ref for record in contents if record.local_id is not None}
        if local:
            for row in Content.objects.filter(user=self.user, pk__in=list(local)).values(*columns):
                found[local[row["id"]]] = row
        by_source: dict[str, dict[str, str]] = defaultdict(dict)
        for record in contents:
            if record.ref not in found:
                by_source[record.key.source][record.key.id] = record.ref
        for source, keys in by_source.items():
            rows = Content.objects.filter(user=self.user, external_source=source, external_id__in=list(keys))
            for row in rows.values(*columns):
                found.setdefault(keys[row["external_id"]], row)
        return found

    def _recorded_schedules(self, batch: list[ImportedContent]) -> None:
        """A Resee export's schedules, written as they were (a content's own, when the file's is newer);
        the contents without one have theirs replayed from their reviews at the end."""
        new: list[ReviewSchedule] = []
        changed: list[ReviewSchedule] = []
        for record in batch:
            schedule = record.schedule
            if schedule is None:
                self.replayed[record.ref] = record.created_at
                continue
            content_id = self.content_ids[record.ref]
            current = self.schedules.get(content_id)
            fields = {name: getattr(schedule, name) for name in _SCHEDULE_FIELDS}
            if current is None:
                new.append(ReviewSchedule(content_id=content_id, user_id=self.user.pk, **fields))
                continue
            last = current["last_reviewed_at"]
            if schedule.last_reviewed_at is not None and (last is None or schedule.last_reviewed_at > last):
                changed.append(ReviewSchedule(pk=current["id"], content_id=content_id, **fields))
        ReviewSchedule.objects.bulk_create(new)
        if changed:
            ReviewSchedule.objects.bulk_update(changed, list(_SCHEDULE_FIELDS), batch_size=500)

    # --- reviews and schedules -----------------------------------------------------------------------
    def reviews(self, records: Iterable[ImportedReview]) -> None:
        """Checks each review and writes the new ones as recorded (the others wait for ``finish``). A
        learner with no history yet has nothing to look up between batches: then every batch goes
        into one ``COPY``, which PostgreSQL works through while the next batches are read."""
        batches = (self._history_of(batch) for batch in _batches(records, size=CHUNK))
        if self.had_reviews:
            for history in batches:
                self._write_history(history)
        else:
            self._write_history(row for history in batches for row in history)

    def _history_of(self, batch: list[ImportedReview]) -> list[tuple[Any, ...]]:
        """A batch's rows to write; the reviews already there, or before a card's last one, are
        skipped, and those of replayed contents kept for ``finish`` (grouped: until their content's
        reviews end, then replayed into this batch's rows)."""
        for review in batch:
            check_review(review, self.content_ids, self._keys_for(review))
        known = self._known_reviews(batch) if self.had_reviews else (set(), set())
        history: list[tuple[Any, ...]] = []
        deferred = 0
        for review in batch:
            if self._is_known(review, known):
                self.counts["reviews_skipped"] += 1
            elif review.content_ref in self.replayed:
                deferred += 1
                if not self.grouped:
                    self.to_replay[review.content_ref].append(review)
                    continue
                if self.group is None or self.group[0] != review.content_ref:
                    history.extend(self._close_group())
                    if review.content_ref in self.closed:  # its reviews came before: not grouped
                        raise invalid_file("The reviews of a content are not together.")
                    self.group = (review.content_ref, [])
                self.group[1].append(review)
            elif self._after_last_review(review):
                history.append(self._as_recorded(review))
            else:
                self.counts["reviews_skipped"] += 1
        self.advance(len(batch) - deferred)  # a replayed review counts once it is written
        return history

    def _close_group(self) -> list[tuple[Any, ...]]:
        """The rows of the content whose grouped reviews just ended (and its schedule, kept to write)."""
        if self.group is None:
            return []
        ref, reviews = self.group
        self.group = None
        self.closed.add(ref)
        return list(self._replay(ref, self.replayed[ref], reviews))

    def _keys_for(self, review: ImportedReview) -> set[tuple[str, str]]:
        """The keys a review's own must not repeat: those of every review before it, or with grouped
        reviews of a replayed content those of its content's reviews only (one repeated in another
        content is refused by the history's unique key when written, or skipped as already there)."""
        if not (self.grouped and review.content_ref in self.replayed):
            return self.review_keys
        if self.group_keys[0] != review.content_ref:
            self.group_keys = (review.content_ref, set())
        return self.group_keys[1]

    def _after_last_review(self, review: ImportedReview) -> bool:
        """History is appended only: a review of a content that was already there counts when it is later
        than the card's last review before the import."""
        created_at = self.existing.get(review.content_ref)
        if created_at is None:
            return True
        current = self.schedules.get(self.content_ids[review.content_ref])
        return current is None or review.reviewed_at > (current["last_reviewed_at"] or created_at)

    def finish(self) -> None:
        """Replays the reviews of the contents without a recorded schedule (Anki, CSV) that are left —
        all of them, or with grouped reviews the last content's and those without reviews — writes them
        (one ``COPY``: nothing is looked up meanwhile) and every replayed card's schedule."""

        def replayed_history() -> Iterator[tuple[Any, ...]]:
            yield from self._close_group()
            for ref, created_at in self.replayed.items():
                if ref not in self.closed:
                    yield from self._replay(ref, created_at, self.to_replay.pop(ref, []))

        self._write_history(replayed_history())
        new_schedules, changed_schedules = self.new_schedules, self.changed_schedules
        for start in range(0, len(new_schedules), CHUNK):
            ReviewSchedule.objects.bulk_create(new_schedules[start : start + CHUNK])
        if changed_schedules:
            for schedule in changed_schedules:
                schedule.pk = self.schedules[schedule.content_id]["id"]
            ReviewSchedule.objects.bulk_update(changed_schedules, list(_SCHEDULE_FIELDS), batch_size=500)

    def _replay(
        self, ref: str, created_at: datetime, reviews: list[ImportedReview]
    ) -> Iterator[tuple[Any, ...]]:
        """One content's reviews replayed in time order from its card's state: its history rows; its
        schedule is kept for ``finish`` to write."""
        content_id = self.content_ids[ref]
        reviews = sorted(reviews, key=lambda review: review.reviewed_at)
        self.advance(len(reviews))
        current = self.schedules.get(content_id)
        if ref in self.existing:
            created_at = self.existing[ref]
            if current is not None:
                anchor = current["last_reviewed_at"] or created_at
                later = [review for review in reviews if review.reviewed_at > anchor]
                self.counts["reviews_skipped"] += len(reviews) - len(later)
                reviews = later
        rows, schedule = self._replayed(created_at, reviews, current)
        yield from (self._history_row(content_id, row) for row in rows)
        if schedule is not None:
            target = self.new_schedules if current is None else self.changed_schedules
            target.append(ReviewSchedule(content_id=content_id, user_id=self.user.pk, **schedule))

    def _write_history(self, history: Iterable[tuple[Any, ...]]) -> None:
        self.counts["reviews_imported"] += insert_rows(ReviewHistory, _HISTORY_COLUMNS, history)

    def _history_row(self, content_id: int, row: dict[str, Any]) -> tuple[Any, ...]:
        return (self.user.pk, content_id, *(row[name] for name in _HISTORY_COLUMNS[2:]))

    def _known_reviews(self, reviews: Sequence[ImportedReview]) -> tuple[set[int], set[tuple[str, str]]]:
        """The learner's reviews among ``reviews``, by id (their own export) and by external key."""
        local_ids = [review.local_id for review in reviews if review.local_id is not None]
        ids = (
            set(ReviewHistory.objects.filter(user=self.user, pk__in=local_ids).values_list("pk", flat=True))
            if local_ids
            else set()
        )
        by_source: dict[str, list[str]] = defaultdict(list)
        for review in reviews:
            by_source[review.key.source].append(review.key.id)
        keys = {
            (source, external_id)
            for source, external_ids in by_source.items()
            for external_id in ReviewHistory.objects.filter(
                user=self.user, external_source=source, external_id__in=external_ids
            ).values_list("external_id", flat=True)
        }
        return ids, keys

    @staticmethod
    def _is_known(review: ImportedReview, known: tuple[set[int], set[tuple[str, str]]]) -> bool:
        ids, keys = known
        return (review.local_id is not None and review.local_id in ids) or (
            review.key.source,
            review.key.id,
        ) in keys

    def _as_recorded(self, review: ImportedReview) -> tuple[Any, ...]:
        """A review of a content with its schedule (a Resee export): the row as it was written."""
        recorded = review.recorded
        if recorded is None:
            raise invalid_file("A review of a scheduled content lacks its recorded fields.")
        return (  # _HISTORY_COLUMNS
            self.user.pk,
            self.content_ids[review.content_ref],
            review.result,
            review.reviewed_at,
            review.time_spent_seconds,
            review.key.source,
            review.key.id,
            recorded.stage_before,
            recorded.stage_after,
            recorded.interval_days,
            recorded.early,
            recorded.retrievability_before,
            recorded.scheduler,
            recorded.recorded_at,
        )

    def _replayed(
        self, created_at: datetime, reviews: list[ImportedReview], current: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Anki, CSV: each review as ``complete_review`` records it, from the card's current state."""
        scheduler = self.scheduler
        if current is None:
            card = CardState(introduced_at=created_at)
            due = created_at + timedelta(days=scheduler.first_interval_days())
            interval = scheduler.first_interval_days()
        else:
            if not reviews:
                return [], None
            card = CardState(
                introduced_at=created_at,
                stage=current["stage"],
                last_reviewed_at=current["last_reviewed_at"],
                review_count=current["review_count"],
                scheduler=SchedulerKind(current["scheduler"]),
                stability=current["stability"],
                difficulty=current["difficulty"],
                fsrs_state=current["fsrs_state"],
                fsrs_step=current["fsrs_step"],
            )
            due, interval = current["next_review_date"], current["interval_days"]
        rows = []
        for review in reviews:
            at = max(review.reviewed_at, card.anchor)
            step = scheduler.review(card, ReviewResult(review.result), at)
            rows.append(
                {
                    **_review_keys(review),
                    "reviewed_at": at,
                    "stage_before": card.stage,
                    "stage_after": step.state.stage,
                    "interval_days": step.interval_days,
                    "early": due >= self._local_day_end(at),
                    "retrievability_before": rounded(step.retrievability_before),
                    "scheduler": scheduler.kind.value,
                    "recorded_at": self.now,
                }
            )
            card, due, interval = step.state, step.due_at, step.interval_days
        schedule = {
            "stage": card.stage,
            "next_review_date": due,
            "last_reviewed_at": card.last_reviewed_at,
            "review_count": card.review_count,
            "interval_days": interval,
            "scheduler": scheduler.kind.value
            if reviews
            else (current or {}).get("scheduler", scheduler.kind.value),
            "stability": card.stability,
            "difficulty": card.difficulty,
            "fsrs_state": card.fsrs_state,
            "fsrs_step": card.fsrs_step,
        }
        return rows, schedule

    def _local_day_end(self, at: datetime) -> datetime:
        """The end of the learner's local day of ``at`` (a review is early when the card was due later)."""
        day = local_date(at, self.user.timezone)
        end = self._day_ends.get(day)
        if end is None:
            end = self._day_ends[day] = local_day_bounds(day, self.user.timezone)[1]
        return end


# A new content as _Run writes it (every column but the id)
_CONTENT_COLUMNS = (
    "user_id",
    "category_id",
    "title",
    "body",
    "created_at",
    "updated_at",
    "external_source",
    "external_id",
)
# A history row as _Run writes it (every column but the id and elapsed_days, which tallies fill)
_HISTORY_COLUMNS = (
    "user_id",
    "content_id",
    "result",
    "reviewed_at",
    "time_spent_seconds",
    "external_source",
    "external_id",
    "stage_before",
    "stage_after",
    "interval_days",
    "early",
    "retrievability_before",
    "scheduler",
    "recorded_at",
)
_SCHEDULE_FIELDS = (
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
)


def _review_keys(review: ImportedReview) -> dict[str, Any]:
    return {
        "result": review.result,
        "reviewed_at": review.reviewed_at,
        "time_spent_seconds": review.time_spent_seconds,
        "external_source": review.key.source,
        "external_id": review.key.id,
    }


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _batches(records: Iterable[T], *, size: int, chars: Any = None) -> Iterator[list[T]]:
    """``records`` a list at a time: ``size`` of them, or fewer once ``chars(record)`` add up to
    ``BATCH_CHARS``."""
    iterator = iter(records)
    if chars is None:
        while batch := list(islice(iterator, size)):
            yield batch
        return
    batch, text = [], 0
    for record in iterator:
        batch.append(record)
        text += chars(record)
        if len(batch) >= size or text >= BATCH_CHARS:
            yield batch
            batch, text = [], 0
    if batch:
        yield batch


def _sized(records: Iterable[Any]) -> int:
    return len(records) if isinstance(records, Sized) else 0


def _refresh_statistics(counts: dict[str, int]) -> None:
    """``ANALYZE`` of the tables a large import wrote to. The planner's statistics otherwise describe the
    tables before it until autovacuum's next analyze (a minute at best; never where it is off), and with
    a learner it has not seen it looks their rows up by scanning them all: re-importing a million-review
    Anki file right after the first import checked each batch of 2,000 keys against every one of the
    learner's reviews (300 ms a batch; 4 ms after ``ANALYZE``) and ran past the worker's 120 s. In the
    import's transaction, so it counts the rows being written; it reads a sample of 30,000 rows (about
    0.4 s for a million-row table, bounded whatever the size). A vacuum or analyze holding the table
    (an anti-wraparound vacuum is not cancelled for us) makes it give up after ``ANALYZE_LOCK_TIMEOUT``
    rather than hold the import: the statistics then wait for autovacuum, as before."""
    if connection.vendor != "postgresql":
        return
    tables = []
    if counts["contents_created"] >= ANALYZE_AFTER_ROWS:
        tables += [Content._meta.db_table, ReviewSchedule._meta.db_table]
    if counts["reviews_imported"] >= ANALYZE_AFTER_ROWS:
        tables.append(ReviewHistory._meta.db_table)
    if not tables:
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: a lock timeout ends here
            cursor.execute(f"SET LOCAL lock_timeout = '{ANALYZE_LOCK_TIMEOUT}'")
            cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(table) for table in tables))
            cursor.execute("SET LOCAL lock_timeout TO DEFAULT")
    except OperationalError:
        logger.warning("statistics not refreshed after an import: a table was held", extra={"tables": tables})


@readcache.learning_write
def import_learning_data(
    *, user: User, data: LearningImport, progress: Progress | None = None
) -> ImportOutcome:
    """Writes ``data`` into the learner's account in one transaction; what a previous import of the same
    data created is found again (updated when it changed, else skipped). Contents, then reviews, are
    read once, in batches (``LearningImport``): a record that breaks a rule (``check_content``,
    ``check_review``) raises ``ValidationFailed`` and nothing is kept. ``progress(done, total)`` is
    called as contents and reviews are written (inside the transaction: report it elsewhere than in
    the database); ``total`` is 0 when the records are iterators of unknown length."""
    with transaction.atomic():
        lock_until_commit(_LOCK_NAMESPACE, user.pk)
        if connection.vendor == "postgresql":
            # Foreign keys checked as each row is written, not all at the commit (Django declares them
            # deferred): a million reviews' checks then overlap the reading of the file instead of
            # adding 10 s at the end, when the worker's task timeout may already be near.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        run = _Run(user=user, categories=data.categories, progress=progress, grouped=data.reviews_grouped)
        run.total = _sized(data.contents) + _sized(data.reviews)
        run.categories()
        run.contents(data.contents)
        run.reviews(data.reviews)
        run.finish()
        _refresh_statistics(run.counts)
        if run.counts["reviews_imported"]:
            tallies.recount_if_ready(user_id=user.pk, tz_name=user.timezone)
            # the kept card memory holds none of the imported reviews: replayed until the job rebuilds it
            card_memory.forget_card_memory(user_id=user.pk)
            transaction.on_commit(lambda: card_memory.enqueue_rebuild(user_id=user.pk), robust=True)
    return ImportOutcome(counts=ImportCounts(**run.counts), content_ids=dict(run.content_ids))
