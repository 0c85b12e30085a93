"""The import of a learner's learning data in bulk: ``import_learning_data`` and the steps of one run
(categories, contents, then reviews and schedules, as recorded or replayed). The records, their checks
and what the import guarantees are described in ``portability``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from modules.common.time import local_date, local_day_bounds
from modules.identity.services import User
from modules.learning import readcache
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import CardState, ReviewResult, Scheduler, SchedulerKind
from modules.learning.services import tallies
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
    check_import,
    invalid_file,
)
from modules.learning.services.schedulers import rounded, scheduler_for_user

_LOCK_NAMESPACE = 0x5253_4545  # pg_advisory_xact_lock(namespace, user id): one import per learner at a time


def _lock_learner(user_id: int) -> None:
    """Two imports of one learner run one after the other (their keys would race otherwise)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, user_id])


class _Run:
    """One import: the state shared by its steps."""

    def __init__(self, *, user: User, data: LearningImport, progress: Progress | None) -> None:
        self.user = user
        self.data = data
        self.progress = progress
        self.total = len(data.contents) + len(data.reviews)
        self.done = 0
        self.scheduler: Scheduler = scheduler_for_user(user)
        self.now = timezone.now()
        self.counts: dict[str, int] = defaultdict(int)
        self.category_ids: dict[str, int] = {}
        self.content_ids: dict[str, int] = {}
        self.existing: dict[str, datetime] = {}  # refs of contents that were already there: created_at
        self.schedules: dict[int, dict[str, Any]] = {}  # content id -> its current schedule row
        self._day_ends: dict[Any, datetime] = {}

    def advance(self, amount: int) -> None:
        self.done += amount
        if self.progress is not None:
            self.progress(self.done, self.total)

    # --- categories ----------------------------------------------------------------------------------
    def categories(self) -> None:
        names: dict[str, CategoryRecord] = {}
        for record in self.data.categories:
            names.setdefault(record.name.strip().lower(), record)
        for content in self.data.contents:
            if content.category:
                names.setdefault(
                    content.category.strip().lower(), CategoryRecord(name=content.category.strip())
                )
        names.pop("", None)
        existing = dict(
            Category.objects.filter(user=self.user)
            .annotate(lowered=Lower("name"))
            .values_list("lowered", "id")
        )
        new = [
            Category(
                user=self.user,
                name=record.name.strip(),
                slug=category_slug(record.name.strip()),
                description=record.description,
                created_at=record.created_at or self.now,
            )
            for lowered, record in names.items()
            if lowered not in existing
        ]
        for category in Category.objects.bulk_create(new, batch_size=CHUNK):
            existing[category.name.lower()] = category.pk
        self.counts["categories_created"] += len(new)
        self.category_ids = existing

    def category_id(self, name: str | None) -> int | None:
        return self.category_ids.get(name.strip().lower()) if name and name.strip() else None

    # --- contents ------------------------------------------------------------------------------------
    def contents(self) -> None:
        contents = self.data.contents
        found = self._found_contents(contents)
        new: list[tuple[ImportedContent, Content]] = []
        changed: list[Content] = []
        for record in contents:
            row = found.get(record.ref)
            category_id = self.category_id(record.category)
            if row is None:
                new.append(
                    (
                        record,
                        Content(
                            user=self.user,
                            category_id=category_id,
                            title=record.title,
                            body=record.body,
                            created_at=record.created_at,
                            external_source=record.key.source,
                            external_id=record.key.id,
                        ),
                    )
                )
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
        for start in range(0, len(new), CHUNK):
            batch = new[start : start + CHUNK]
            Content.objects.bulk_create([content for _, content in batch])
            # bulk_create stamps ``updated_at`` (auto_now) with now: put back the record's own
            for record, content in batch:
                self.content_ids[record.ref] = content.pk
                content.updated_at = record.updated_at or record.created_at
            Content.objects.bulk_update([content for _, content in batch], ["updated_at"], batch_size=500)
            self.advance(len(batch))
        if changed:
            Content.objects.bulk_update(
                changed, ["title", "body", "category_id", "updated_at"], batch_size=500
            )
        self.counts["contents_created"] += len(new)
        self.counts["contents_updated"] += len(changed)
        self.advance(len(contents) - len(new))
        self.schedules = {
            row["content_id"]: row
            for ids in _chunks([self.content_ids[ref] for ref in self.existing])
            for row in ReviewSchedule.objects.filter(content_id__in=ids).values()
        }

    def _found_contents(self, contents: Sequence[ImportedContent]) -> dict[str, dict[str, Any]]:
        """The records' contents that already exist, by ref: the learner's own ids, then external keys."""
        columns = ("id", "title", "body", "category_id", "created_at", "external_source", "external_id")
        found: dict[str, dict[str, Any]] = {}
        local = {record.local_id: record.ref for record in contents if record.local_id is not None}
        for ids in _chunks(list(local)):
            for row in Content.objects.filter(user=self.user, pk__in=ids).values(*columns):
                found[local[row["id"]]] = row
        by_source: dict[str, dict[str, str]] = defaultdict(dict)
        for record in contents:
            if record.ref not in found:
                by_source[record.key.source][record.key.id] = record.ref
        for source, keys in by_source.items():
            for ids in _chunks(list(keys)):
                rows = Content.objects.filter(user=self.user, external_source=source, external_id__in=ids)
                for row in rows.values(*columns):
                    found.setdefault(keys[row["external_id"]], row)
        return found

    # --- reviews and schedules -----------------------------------------------------------------------
    def reviews(self) -> None:
        by_content: dict[str, list[ImportedReview]] = defaultdict(list)
        for review in self.data.reviews:
            by_content[review.content_ref].append(review)
        known = self._known_reviews()
        history: list[ReviewHistory] = []
        new_schedules: list[ReviewSchedule] = []
        changed_schedules: list[ReviewSchedule] = []
        for record in self.data.contents:
            content_id = self.content_ids[record.ref]
            reviews = sorted(by_content.get(record.ref, ()), key=lambda review: review.reviewed_at)
            fresh = [review for review in reviews if not self._is_known(review, known)]
            self.counts["reviews_skipped"] += len(reviews) - len(fresh)
            current = self.schedules.get(content_id)
            if record.ref in self.existing:
                created_at = self.existing[record.ref]
                record = replace(record, created_at=created_at)
                if current is not None:
                    anchor = current["last_reviewed_at"] or created_at
                    later = [review for review in fresh if review.reviewed_at > anchor]
                    self.counts["reviews_skipped"] += len(fresh) - len(later)
                    fresh = later
            rows, schedule = (
                self._as_recorded(record, fresh, current)
                if record.schedule is not None
                else self._replayed(record, fresh, current)
            )
            history.extend(ReviewHistory(user_id=self.user.pk, content_id=content_id, **row) for row in rows)
            if schedule is not None:
                target = new_schedules if current is None else changed_schedules
                target.append(ReviewSchedule(content_id=content_id, user_id=self.user.pk, **schedule))
            if len(history) >= CHUNK:
                self._write_history(history)
                history = []
        self._write_history(history)
        for start in range(0, len(new_schedules), CHUNK):
            ReviewSchedule.objects.bulk_create(new_schedules[start : start + CHUNK])
        if changed_schedules:
            ids = {
                schedule.content_id: self.schedules[schedule.content_id]["id"]
                for schedule in changed_schedules
            }
            for schedule in changed_schedules:
                schedule.pk = ids[schedule.content_id]
            ReviewSchedule.objects.bulk_update(changed_schedules, list(_SCHEDULE_FIELDS), batch_size=500)

    def _write_history(self, history: list[ReviewHistory]) -> None:
        if history:
            ReviewHistory.objects.bulk_create(history)
            self.counts["reviews_imported"] += len(history)
            self.advance(len(history))

    def _known_reviews(self) -> tuple[set[int], set[tuple[str, str]]]:
        """The learner's reviews among the import's, by id (their own export) and by external key."""
        local_ids = [review.local_id for review in self.data.reviews if review.local_id is not None]
        ids = {
            pk
            for chunk in _chunks(local_ids)
            for pk in ReviewHistory.objects.filter(user=self.user, pk__in=chunk).values_list("pk", flat=True)
        }
        by_source: dict[str, list[str]] = defaultdict(list)
        for review in self.data.reviews:
            by_source[review.key.source].append(review.key.id)
        keys = {
            (source, external_id)
            for source, external_ids in by_source.items()
            for chunk in _chunks(external_ids)
            for external_id in ReviewHistory.objects.filter(
                user=self.user, external_source=source, external_id__in=chunk
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

    def _as_recorded(
        self, record: ImportedContent, reviews: list[ImportedReview], current: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """A Resee export: the rows and the schedule as they were written."""
        rows = []
        for review in reviews:
            recorded = review.recorded
            if recorded is None:
                raise invalid_file("A review of a scheduled content lacks its recorded fields.")
            rows.append(
                {
                    **_review_keys(review),
                    "stage_before": recorded.stage_before,
                    "stage_after": recorded.stage_after,
                    "interval_days": recorded.interval_days,
                    "early": recorded.early,
                    "retrievability_before": recorded.retrievability_before,
                    "scheduler": recorded.scheduler,
                    "recorded_at": recorded.recorded_at,
                }
            )
        schedule = record.schedule
        assert schedule is not None
        if current is not None:
            current_last = current["last_reviewed_at"]
            newer = schedule.last_reviewed_at is not None and (
                current_last is None or schedule.last_reviewed_at > current_last
            )
            if not newer:
                return rows, None
        return rows, {name: getattr(schedule, name) for name in _SCHEDULE_FIELDS}

    def _replayed(
        self, record: ImportedContent, reviews: list[ImportedReview], current: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Anki, CSV: each review as ``complete_review`` records it, from the card's current state."""
        scheduler = self.scheduler
        if current is None:
            created_at = record.created_at
            card = CardState(introduced_at=created_at)
            due = created_at + timedelta(days=scheduler.first_interval_days())
            interval = scheduler.first_interval_days()
        else:
            if not reviews:
                return [], None
            card = CardState(
                introduced_at=record.created_at,
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


@readcache.learning_write
def import_learning_data(
    *, user: User, data: LearningImport, progress: Progress | None = None
) -> ImportOutcome:
    """Writes ``data`` into the learner's account in one transaction; what a previous import of the same
    data created is found again (updated when it changed, else skipped). ``progress(done, total)`` is
    called as contents and reviews are written (inside the transaction: report it elsewhere than in
    the database)."""
    check_import(data)
    with transaction.atomic():
        _lock_learner(user.pk)
        run = _Run(user=user, data=data, progress=progress)
        run.categories()
        run.contents()
        run.reviews()
        if run.counts["reviews_imported"]:
            tallies.recount_if_ready(user_id=user.pk, tz_name=user.timezone)
    return ImportOutcome(counts=ImportCounts(**run.counts), content_ids=dict(run.content_ids))
