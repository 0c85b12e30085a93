"""Creating requests made exactly once, however often a client retries them with one ``Idempotency-Key``.

A module keeps the keys of its operations in its own table (a concrete ``IdempotentRequest``: one row
per user, operation and key, with a hash of the request and, once it is done, what it created). Two
ways to use it, by how the operation commits:

- ``once``: the operation is one transaction (create a content, queue a job). The key's row is
  inserted first, in the operation's transaction, and its answer stored before the commit: the key
  and what it created commit together or not at all. A second request with the key waits on the
  row's unique index while the first runs, then answers the first's result; a failed first request
  leaves nothing, so its retry runs again.
- ``claim``: the operation cannot hold a transaction open (it waits on a slow outside service). The
  key's row is committed first, in progress; the operation stores its answer in the same transaction
  as its own final writes (``Claim.complete``) or gives the key back when it fails
  (``Claim.release``). A second request while the first is in progress answers Conflict; one after
  an in-progress row was abandoned (its process died) for ``stale_after`` takes it over.

The same key with a different request (another body) is a Conflict. What a row stores is the
operation's to choose (ids, counts) and so is how a repeat answers from it (``replay``): usually the
objects it created, as they are now. Rows are pruned after ``RETENTION`` (``prune``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, IntegrityError, models, transaction
from django.utils import timezone

from modules.common.errors import Conflict

T = TypeVar("T")
logger = logging.getLogger(__name__)

KEY_MAX_LENGTH = 255
RETENTION = timedelta(hours=24)
OTHER_REQUEST = "This Idempotency-Key was already used for a different request."
IN_PROGRESS = "A request with this Idempotency-Key is still in progress; retry it in a moment."


class IdempotentRequest(models.Model):
    """One ``Idempotency-Key`` of a user for one operation; ``response`` is None while in progress."""

    # no index of its own: the unique constraint below leads with it
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    operation = models.CharField(max_length=40)
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    request_hash = models.CharField(max_length=64)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["user", "operation", "key"], name="%(app_label)s_%(class)s_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.operation}:{self.key}"


def request_hash(request: Mapping[str, Any]) -> str:
    """SHA-256 of the request's canonical JSON (keys sorted; dates and other values as text)."""
    canonical = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def once(
    *,
    model: type[IdempotentRequest],
    user_id: int,
    operation: str,
    key: str | None,
    request: Mapping[str, Any],
    run: Callable[[], T],
    stored: Callable[[T], dict[str, Any]],
    replay: Callable[[dict[str, Any]], T],
) -> T:
    """``run()`` once per key: its result, or, for a key already used with this request, ``replay``
    of what the first run stored (``stored(result)``). Without a key, just ``run()``."""
    if not key:
        return run()
    digest = request_hash(request)
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = model.objects.create(
                    user_id=user_id, operation=operation, key=key, request_hash=digest, response=None
                )
        except IntegrityError:
            row = None
        if row is not None:
            result = run()
            model.objects.filter(pk=row.pk).update(response=stored(result))
            return result
    return replay(_answered(model=model, user_id=user_id, operation=operation, key=key, digest=digest))


def used(*, model: type[IdempotentRequest], user_id: int, operation: str, key: str) -> bool:
    """Whether ``key`` was already used for ``operation`` (answered or in progress): a request may skip
    an early refusal (a rate limit) that its first try already passed."""
    return model.objects.filter(user_id=user_id, operation=operation, key=key).exists()


def _answered(
    *, model: type[IdempotentRequest], user_id: int, operation: str, key: str, digest: str
) -> dict[str, Any]:
    row = (
        model.objects.filter(user_id=user_id, operation=operation, key=key)
        .values_list("request_hash", "response")
        .first()
    )
    if row is None:  # pruned between the two statements: a key a day old
        raise Conflict(IN_PROGRESS)
    if row[0] != digest:
        raise Conflict(OTHER_REQUEST)
    if row[1] is None:
        raise Conflict(IN_PROGRESS)
    return row[1]


@dataclass(frozen=True)
class Claim:
    """A key held while its operation runs (``claim``): ``complete`` it in the operation's final
    transaction, or ``release`` it when the operation fails."""

    model: type[IdempotentRequest]
    pk: int
    token: datetime

    def complete(self, response: dict[str, Any]) -> None:
        """Stores the answer; call inside the transaction of the operation's final writes. Conflict
        if the claim was taken over meanwhile (the operation outlived ``stale_after``)."""
        if not self._mine().update(response=response):
            raise Conflict(IN_PROGRESS)

    def release(self) -> None:
        """Gives the key back (the operation failed and changed nothing): a retry runs again. With the
        database unreachable the key stays in progress until a retry takes it over (``stale_after``);
        the operation's own error is the one that propagates."""
        try:
            self._mine().delete()
        except DatabaseError:
            logger.warning("could not release an Idempotency-Key", exc_info=True)

    def _mine(self) -> models.QuerySet[IdempotentRequest]:
        return self.model.objects.filter(pk=self.pk, created_at=self.token, response__isnull=True)


@dataclass(frozen=True)
class Claimed:
    """What ``claim`` found: a ``claim`` to run the operation under, or the ``response`` stored by
    the first request with the key (exactly one of them)."""

    claim: Claim | None = None
    response: dict[str, Any] | None = None


def claim(
    *,
    model: type[IdempotentRequest],
    user_id: int,
    operation: str,
    key: str,
    request: Mapping[str, Any],
    stale_after: timedelta,
) -> Claimed:
    """Takes ``key`` for an operation that commits more than once (module docstring). Conflict while
    another request holds it, or when it was used for a different request."""
    digest = request_hash(request)
    for _ in range(2):  # a second pass only when the holder released the key in between
        now = timezone.now()
        try:
            with transaction.atomic():
                row = model.objects.create(
                    user_id=user_id,
                    operation=operation,
                    key=key,
                    request_hash=digest,
                    response=None,
                    created_at=now,
                )
            return Claimed(claim=Claim(model=model, pk=row.pk, token=now))
        except IntegrityError:
            pass
        found = (
            model.objects.filter(user_id=user_id, operation=operation, key=key)
            .values_list("pk", "request_hash", "response", "created_at")
            .first()
        )
        if found is None:
            continue
        pk, found_digest, response, created_at = found
        if found_digest != digest:
            raise Conflict(OTHER_REQUEST)
        if response is not None:
            return Claimed(response=response)
        if created_at > now - stale_after:
            raise Conflict(IN_PROGRESS)
        # abandoned: its process died before completing or releasing it
        if model.objects.filter(pk=pk, created_at=created_at, response__isnull=True).update(created_at=now):
            return Claimed(claim=Claim(model=model, pk=pk, token=now))
    raise Conflict(IN_PROGRESS)


def prune(model: type[IdempotentRequest], *, now: datetime | None = None) -> int:
    """Deletes the keys older than ``RETENTION``; returns how many."""
    deleted, _ = model.objects.filter(created_at__lt=(now or timezone.now()) - RETENTION).delete()
    return deleted
