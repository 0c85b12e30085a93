"""Review completion: one locked, idempotent write that records a review and reschedules the card."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Model
from django.utils import timezone

from modules.common import compiled, db, idempotency
from modules.common.errors import Conflict, NotFound, ValidationFailed
from modules.common.time import local_date, local_day_bounds, zone
from modules.identity.services import User
from modules.learning import readcache, selectors
from modules.learning.models import Content, IdempotencyRecord, RequestKey, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import CardState, FsrsScheduler, LadderScheduler, ReviewResult, SchedulerKind
from modules.learning.services import card_memory, queue, tallies
from modules.learning.services.memory import RecallCurves, learner_days
from modules.learning.services.schedulers import rounded, scheduler_for_user

logger = logging.getLogger(__name__)

MAX_REVIEWED_AT_AGE = timedelta(days=7)
# A client clock slightly ahead of ours is not "the future"; anything beyond this is.
CLOCK_SKEW_TOLERANCE = timedelta(seconds=60)
IDEMPOTENCY_RETENTION = timedelta(hours=24)


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
        """The form an idempotency record stores (``from_json`` reads it back unchanged)."""
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

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> ReviewOutcome:
        return cls(
            content_id=stored["content_id"],
            result=ReviewResult(stored["result"]),
            previous_stage=stored["previous_stage"],
            stage=stored["stage"],
            interval_days=stored["interval_days"],
            next_review_date=datetime.fromisoformat(stored["next_review_date"]),
            retrievability_before=stored["retrievability_before"],
            reviewed_at=datetime.fromisoformat(stored["reviewed_at"]),
            early=stored["early"],
        )


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


def _stored_outcome(*, user: User, key: str, request_hash: str) -> ReviewOutcome | None:
    """The first answer given for ``key``; Conflict when the key was used for a different request."""
    stored = (
        IdempotencyRecord.objects.filter(user=user, key=key).values_list("request_hash", "response").first()
    )
    if stored is None:
        return None
    if stored[0] != request_hash:
        raise Conflict("This Idempotency-Key was already used for a different request.")
    return ReviewOutcome.from_json(stored[1])


def _reviewed_at_error(message: str) -> ValidationFailed:
    return ValidationFailed.field("reviewed_at", message)


def _validated_reviewed_at(reviewed_at: datetime | None, now: datetime) -> datetime | None:
    if reviewed_at is None:
        return None
    if reviewed_at.tzinfo is None:
        reviewed_at = timezone.make_aware(reviewed_at, zone("UTC"))
    if reviewed_at > now + CLOCK_SKEW_TOLERANCE:
        raise _reviewed_at_error("reviewed_at may not be in the future.")
    if reviewed_at < now - MAX_REVIEWED_AT_AGE:
        raise _reviewed_at_error("reviewed_at may not be more than 7 days old.")
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
) -> ReviewOutcome:
    """Records one review and reschedules the card.

    With an ``idempotency_key``, the outcome is stored with the review in the same transaction; the
    same key and body later answer that stored outcome and change nothing; the same key with another
    body is a Conflict. Two racing requests with one key: the loser's transaction fails on the key's
    unique constraint, is rolled back whole, and answers the winner's outcome.
    """
    result = ReviewResult(result)
    now = timezone.now()
    at = _validated_reviewed_at(reviewed_at, now)
    key = None
    if idempotency_key:
        request_hash = _request_hash(
            content_id=content_id,
            result=result.value,
            time_spent_seconds=time_spent_seconds,
            reviewed_at=reviewed_at,
        )
        key = StoredKey(key=idempotency_key, request_hash=request_hash, created_at=now)
    # The key is not looked up first: a new key (nearly every request) is stored with the review, and
    # a key already used makes that insert fail, which rolls the review back; only then is the first
    # answer read (or, when this request cannot be recorded at all, before its error is raised).
    try:
        outcome = _record_unlocked(
            user=user,
            content_id=content_id,
            result=result,
            at=at,
            time_spent_seconds=time_spent_seconds,
            idempotency=key,
        )
        if outcome is not None:
            return outcome
        # another write changed the card since it was read: take its lock and review it from there
        with transaction.atomic():
            return record_review(
                user=user,
                content_id=content_id,
                result=result,
                at=at,
                time_spent_seconds=time_spent_seconds,
                idempotency=key,
            )
    except (IntegrityError, NotFound, ValidationFailed) as error:
        stored = _stored_outcome(user=user, key=key.key, request_hash=key.request_hash) if key else None
        if stored is None:
            raise
        logger.debug("answered a repeated Idempotency-Key", extra={"cause": type(error).__name__})
        return stored


@dataclass(frozen=True)
class StoredKey:
    """An ``Idempotency-Key`` to store with the review it answers."""

    key: str
    request_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class _ReviewState:
    """A card's schedule as a review starts from it (``selectors.REVIEW_STATE_COLUMNS``)."""

    id: int
    user_id: int
    stage: int
    next_review_date: datetime
    last_reviewed_at: datetime | None
    review_count: int
    scheduler: str
    stability: float | None
    difficulty: float | None
    fsrs_state: int | None
    fsrs_step: int | None
    memory_stability: float | None
    memory_difficulty: float | None
    memory_day: int | None
    memory_basis: int | None
    content_created_at: datetime
    category_id: int | None
    memory_weights: Any
    memory_curve: Any

    # the columns whose values the review's UPDATE requires unchanged (the rest are derived or fixed)
    GUARDED = (
        "stage",
        "next_review_date",
        "last_reviewed_at",
        "review_count",
        "scheduler",
        "stability",
        "difficulty",
        "fsrs_state",
        "fsrs_step",
        "memory_basis",  # a rebuild of the card's memory in between: review from what it wrote
    )


def record_review(
    *,
    user: User,
    content_id: int,
    result: ReviewResult,
    at: datetime | None,
    time_spent_seconds: int | None,
    idempotency: StoredKey | None = None,
) -> ReviewOutcome:
    """Inside a transaction: lock the schedule, apply the scheduler, append history, save the state.

    The learner's memory model (fitted FSRS weights, calibrated ladder) comes with the locked row, in
    the same statement (scalar subqueries).
    """
    row = selectors.locked_review_state(user_id=user.pk, content_id=content_id)
    if row is None:
        raise NotFound("Content not found.")
    state = _ReviewState(*row)
    # Without a client time, the review happens now: read after the lock, so reviews of one card
    # are in the order they were recorded.
    outcome, write = _planned(
        user=user,
        state=state,
        content_id=content_id,
        result=result,
        at=at or timezone.now(),
        time_spent_seconds=time_spent_seconds,
        idempotency=idempotency,
    )
    _write_review(user=user, **write)
    return outcome


def _record_unlocked(
    *,
    user: User,
    content_id: int,
    result: ReviewResult,
    at: datetime | None,
    time_spent_seconds: int | None,
    idempotency: StoredKey | None,
) -> ReviewOutcome | None:
    """``record_review`` without a transaction around it, on PostgreSQL: the schedule is read without
    a lock and the whole write (schedule, history, tallies, key) is one statement whose UPDATE applies
    only if the card still has the state the review was computed from; the other writes of the
    statement depend on that UPDATE's row. Two round trips instead of four (BEGIN, the locked read,
    the write, COMMIT).

    None when the card changed in between (a concurrent review of the same card, any other write to
    its schedule or its category): nothing was written, and the caller reviews it under the lock.
    Otherwise the same outcome, rows and errors as ``record_review``; the read comes before ``now``,
    so a review without a client time is still later than the one it follows.
    """
    if connection.vendor != "postgresql":
        return None
    row = selectors.review_state(user_id=user.pk, content_id=content_id)
    if row is None:
        raise NotFound("Content not found.")
    state = _ReviewState(*row)
    outcome, write = _planned(
        user=user,
        state=state,
        content_id=content_id,
        result=result,
        at=at or timezone.now(),
        time_spent_seconds=time_spent_seconds,
        idempotency=idempotency,
    )
    db.note_write()  # a raw statement: the router does not see it (read-your-writes on a replica)
    # inside a caller's transaction, a refused key must roll back this statement only
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        applied = _write_review(user=user, guard=state, **write)
    if not applied:
        return None
    # what the review did to today's queue, for the cached queue to be patched rather than recomputed
    queue.note_review_change(
        user=user,
        content_id=content_id,
        old_due=state.next_review_date,
        new_due=outcome.next_review_date,
        now=timezone.now(),
    )
    return outcome


def _planned(
    *,
    user: User,
    state: _ReviewState,
    content_id: int,
    result: ReviewResult,
    at: datetime,
    time_spent_seconds: int | None,
    idempotency: StoredKey | None,
) -> tuple[ReviewOutcome, dict[str, Any]]:
    """The review's outcome and the rows it writes (``_write_review``'s arguments), from the card's
    state: the scheduler applied, nothing read or written."""
    card = CardState(
        introduced_at=state.content_created_at,
        stage=state.stage,
        last_reviewed_at=state.last_reviewed_at,
        review_count=state.review_count,
        scheduler=SchedulerKind(state.scheduler),
        stability=state.stability,
        difficulty=state.difficulty,
        fsrs_state=state.fsrs_state,
        fsrs_step=state.fsrs_step,
    )
    if at < card.anchor:
        raise _reviewed_at_error("reviewed_at is before this content's last review (or its creation).")
    scheduler = scheduler_for_user(user, fsrs_weights=state.memory_weights)
    if isinstance(scheduler, FsrsScheduler) and card.review_count and not scheduler.has_memory(card):
        # Switched to FSRS (or never had its memory): rebuild it from the card's own history.
        events = selectors.content_history_events(content_id=content_id)
        card = scheduler.replay(card, [(ReviewResult(result_), when) for result_, when in events])
    step = scheduler.review(card, result, at)
    retrievability_before = step.retrievability_before
    if isinstance(scheduler, LadderScheduler):
        calibrated = RecallCurves.parse(state.memory_curve).calibrated_ladder(scheduler.intervals)
        if calibrated is not None:
            # the learner's calibrated prediction, at whole calendar days as it was fitted (and as
            # FSRS records its own): what the retention view compares with the outcome
            elapsed = learner_days(user.timezone).elapsed_days(card.anchor, at)
            retrievability_before = calibrated.recall(stage=card.stage, elapsed_days=elapsed)
    early = state.next_review_date >= local_day_bounds(local_date(at, user.timezone), user.timezone)[1]
    new = step.state
    memory = card_memory.stepped_memory(
        weights=state.memory_weights,
        tz_name=user.timezone,
        previous=card_memory.KeptMemory(
            stability=state.memory_stability,
            difficulty=state.memory_difficulty,
            day=state.memory_day,
            basis=state.memory_basis,
        ),
        review_count=state.review_count,
        result=result,
        at=at,
    )
    elapsed_days = tallies.elapsed_days_between(at, card.anchor)
    outcome = ReviewOutcome(
        content_id=content_id,
        result=result,
        previous_stage=state.stage,
        stage=new.stage,
        interval_days=step.interval_days,
        next_review_date=step.due_at,
        retrievability_before=rounded(retrievability_before),
        reviewed_at=at,
        early=early,
    )
    write = {
        "history": ReviewHistory(
            user_id=state.user_id,
            content_id=content_id,
            result=result.value,
            reviewed_at=at,
            stage_before=state.stage,
            stage_after=new.stage,
            interval_days=step.interval_days,
            time_spent_seconds=time_spent_seconds,
            early=early,
            retrievability_before=outcome.retrievability_before,
            scheduler=scheduler.kind.value,
            elapsed_days=elapsed_days,
        ),
        "category_id": state.category_id,
        "schedule_id": state.id,
        "schedule_changes": {
            "stage": new.stage,
            "next_review_date": step.due_at,
            "last_reviewed_at": at,
            "review_count": new.review_count,
            "interval_days": step.interval_days,
            "scheduler": scheduler.kind.value,
            "stability": new.stability,
            "difficulty": new.difficulty,
            "fsrs_state": new.fsrs_state,
            "fsrs_step": new.fsrs_step,
            **memory.as_columns(),
        },
        "key": (
            IdempotencyRecord(
                user_id=state.user_id,
                key=idempotency.key,
                request_hash=idempotency.request_hash,
                response=outcome.as_json(),
                created_at=idempotency.created_at,
            )
            if idempotency is not None
            else None
        ),
    }
    return outcome, write


def _write_review(
    *,
    user: User,
    history: ReviewHistory,
    category_id: int | None,
    schedule_id: int,
    schedule_changes: dict[str, Any],
    key: IdempotencyRecord | None,
    guard: _ReviewState | None = None,
) -> bool:
    """Appends the history row, saves the card's new state, counts the review in the tallies and
    stores the Idempotency-Key's answer: one statement on PostgreSQL (data-modifying CTEs, all or
    nothing), the ORM's statements elsewhere.

    With a ``guard`` (PostgreSQL only) the card's UPDATE applies only while its schedule still holds
    the guard's values and its content the guard's category, and every other write of the statement
    only if that UPDATE did: False when nothing was written."""
    tallied = tallies.TalliedReview(
        reviewed_at=history.reviewed_at,
        category_id=category_id,
        elapsed_days=history.elapsed_days,
        result=history.result,
        predicted=history.retrievability_before,
        time_spent_seconds=history.time_spent_seconds,
    )
    if connection.vendor != "postgresql":
        assert guard is None
        history.save(force_insert=True)
        ReviewSchedule.objects.filter(pk=schedule_id).update(**schedule_changes)
        if key is not None:
            key.save(force_insert=True)
        tallies.add_reviews(user_id=history.user_id, tz_name=user.timezone, reviews=[tallied])
        return True
    if guard is None:
        writes = [_insert(history), _update(ReviewSchedule, schedule_id, schedule_changes)]
        if key is not None:
            writes.append(_insert(key))
        statement = tallies.with_tallies(
            user_id=history.user_id, tz_name=user.timezone, reviews=[tallied], writes=writes
        )
        with connection.cursor() as cursor:
            cursor.execute(*statement)
        return True
    # step0 is the guarded UPDATE (the first write); everything else needs its row
    applied = "EXISTS (SELECT 1 FROM step0)"
    writes = [
        _guarded_update(schedule_id, schedule_changes, guard),
        _insert(history, only_if=applied),
    ]
    if key is not None:
        writes.append(_insert(key, only_if=applied))
    statement = tallies.with_tallies(
        user_id=history.user_id,
        tz_name=user.timezone,
        reviews=[tallied],
        writes=writes,
        only_if=applied,
        then=("SELECT COUNT(*) FROM step0", []),
    )
    # the statement's text depends only on which writes it holds: prepared once per connection
    with compiled.prepared_cursor(connection) as cursor:
        cursor.execute(*statement)
        row = cursor.fetchone()
    return bool(row and row[0])


def _insert(instance: Model, *, only_if: str = "") -> tuple[str, list[Any]]:
    """The INSERT the ORM would run for ``instance`` (defaults and field conversions included); with
    ``only_if``, an INSERT ... SELECT of the same values that inserts nothing unless it holds."""
    db = connections[DEFAULT_DB_ALIAS]  # once: every attribute of ``django.db.connection`` is a lookup
    fields, sql = _insert_sql(type(instance), only_if)
    return sql, [field.get_db_prep_save(field.pre_save(instance, True), db) for field in fields]


@functools.cache
def _insert_sql(model: type[Model], only_if: str) -> tuple[list[Any], str]:
    """(the fields in order, the statement's text) of ``_insert`` for ``model``: the same every call."""
    ops = connections[DEFAULT_DB_ALIAS].ops
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(ops.quote_name(field.column) for field in fields)
    table = ops.quote_name(model._meta.db_table)
    placeholders = ", ".join(["%s"] * len(fields))
    if only_if:
        return fields, f"INSERT INTO {table} ({columns}) SELECT {placeholders} WHERE {only_if}"
    return fields, f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608


def _update(model: type[Model], pk: int, changes: dict[str, Any]) -> tuple[str, list[Any]]:
    """The UPDATE the ORM would run for ``model.objects.filter(pk=pk).update(**changes)``."""
    db = connections[DEFAULT_DB_ALIAS]
    fields, sql = _update_sql(model, tuple(changes))
    values = [field.get_db_prep_save(changes[field.name], db) for field in fields]
    return sql, [*values, pk]


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...]) -> tuple[list[Any], str]:
    ops = connections[DEFAULT_DB_ALIAS].ops
    fields = [model._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{ops.quote_name(field.column)} = %s" for field in fields)
    table = ops.quote_name(model._meta.db_table)
    pk_column = ops.quote_name(model._meta.pk.column)
    return fields, f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s"  # noqa: S608


def _guarded_update(schedule_id: int, changes: dict[str, Any], guard: _ReviewState) -> tuple[str, list[Any]]:
    """``_update`` of the card's schedule, applied only while the schedule still has the values the
    review was computed from (``_ReviewState.GUARDED``) and its content the category the review is
    tallied under; RETURNING the row, for the statement's other writes to depend on."""
    db = connections[DEFAULT_DB_ALIAS]
    sql, values = _update(ReviewSchedule, schedule_id, changes)
    fields, conditions = _guard_sql()
    values += [field.get_db_prep_save(getattr(guard, field.name), db) for field in fields]
    values.append(guard.category_id)
    return f"{sql} AND {conditions} RETURNING 1", values


@functools.cache
def _guard_sql() -> tuple[list[Any], str]:
    ops = connections[DEFAULT_DB_ALIAS].ops
    fields = [ReviewSchedule._meta.get_field(name) for name in _ReviewState.GUARDED]
    conditions = [f"{ops.quote_name(field.column)} IS NOT DISTINCT FROM %s" for field in fields]
    content = Content._meta
    conditions.append(
        f"EXISTS (SELECT 1 FROM {ops.quote_name(content.db_table)} AS c "  # noqa: S608
        f"WHERE c.{ops.quote_name(content.pk.column)} = "
        f"{ops.quote_name(ReviewSchedule._meta.get_field('content').column)} "
        f"AND c.{ops.quote_name(content.get_field('category').column)} IS NOT DISTINCT FROM %s)"
    )
    return fields, " AND ".join(conditions)


def prune_idempotency_records(*, now: datetime | None = None) -> int:
    """Deletes idempotency records (reviews' and other creating requests') older than 24 hours;
    returns how many."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    deleted += idempotency.prune(RequestKey, now=now)
    logger.info("pruned idempotency records", extra={"deleted": deleted})
    return deleted
