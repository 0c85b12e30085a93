"""Which database a read uses when a read replica is configured (``DATABASES["replica"]``).

Every read goes to the primary, except reads a service marks lag-tolerant with ``replica_reads()``
(analytics, monitoring). Even those stay on the primary when the replica could miss something the
reader wrote:

- the unit of work (one request) has written, or a transaction is open on the primary;
- the reader (the request's authenticated user) wrote in an earlier request and the replica has not
  replayed that far yet. After every request that wrote, the primary's WAL position
  (``pg_current_wal_lsn()``) is kept in the shared cache under the user's id for
  ``POSITION_TTL_SECONDS``; a lag-tolerant read compares it with the replica's replayed position
  (``pg_last_wal_replay_lsn()``, one query on the replica) and reads the replica only when it has
  caught up. So read-your-writes holds whatever the lag, without cookies (bearer-token clients keep
  none) and without guessing the lag with a timer.

When anything needed for that decision fails (the cache, the replica), the read goes to the primary.
``config.db_router.LagAwareReplicaRouter`` asks ``read_alias()`` and calls ``note_write()``; the
request middleware opens one ``request_scope()`` per request. Outside a request (the worker, a
shell) the first write pins the rest of that context to the primary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Model, QuerySet

logger = logging.getLogger(__name__)

PRIMARY = DEFAULT_DB_ALIAS
REPLICA = "replica"
# How long a writer's WAL position is remembered: the longest replication lag read-your-writes covers.
POSITION_TTL_SECONDS = 3600
_POSITION_KEY = "db:written-at:{user_id}"

_M = TypeVar("_M", bound=Model)


def _nobody() -> int | None:
    return None


@dataclass
class _Scope:
    """One unit of work: who reads (asked lazily: a request knows its user only after authentication)
    and whether it wrote."""

    reader: Callable[[], int | None] = _nobody
    wrote: bool = False


_scope: ContextVar[_Scope] = ContextVar("resee_db_scope")
_lag_tolerant_alias: ContextVar[str] = ContextVar("resee_db_lag_tolerant_alias", default=PRIMARY)


def _current() -> _Scope:
    try:
        return _scope.get()
    except LookupError:
        scope = _Scope()
        _scope.set(scope)
        return scope


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def _pinned() -> bool:
    return _current().wrote or connections[PRIMARY].in_atomic_block


# --- The router's side ----------------------------------------------------------------------------


def read_alias() -> str:
    """The database of a read now: the replica only inside a ``replica_reads()`` block that chose it,
    and only while nothing has been written since."""
    alias = _lag_tolerant_alias.get()
    if alias != PRIMARY and _pinned():
        return PRIMARY
    return alias


def note_write() -> None:
    """The unit of work writes (the router calls this for every write it routes)."""
    _current().wrote = True


# --- The services' side ---------------------------------------------------------------------------


@contextmanager
def replica_reads() -> Iterator[str]:
    """Reads inside tolerate replication lag (beyond what the reader wrote): they may use the
    replica. Yields the alias chosen. Also a decorator: ``@replica_reads()``."""
    token = _lag_tolerant_alias.set(_choose())
    try:
        yield _lag_tolerant_alias.get()
    finally:
        _lag_tolerant_alias.reset(token)


def lag_tolerant(queryset: QuerySet[_M]) -> QuerySet[_M]:
    """A lazy QuerySet bound now to the database a lag-tolerant read would use (for QuerySets that
    are evaluated after the service returns, by a paginator)."""
    with replica_reads() as alias:
        return queryset.using(alias)


def _choose() -> str:
    if not replica_configured() or _pinned():
        return PRIMARY
    reader = _current().reader()
    if reader is None:
        return REPLICA
    try:
        position = cache.get(_POSITION_KEY.format(user_id=reader))
    except Exception:  # the cache client's errors vary by backend; without it we cannot know
        logger.warning("replica routing: the cache is unreachable; reading the primary", exc_info=True)
        return PRIMARY
    if not getattr(cache, "available", True):  # ResilientRedisCache answered a miss for an outage
        return PRIMARY
    if position is None or _replica_has(position):
        return REPLICA
    return PRIMARY


def _replica_has(position: str) -> bool:
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [position])
            row = cursor.fetchone()
    except DatabaseError:
        logger.warning("replica routing: the replica is unreachable; reading the primary", exc_info=True)
        return False
    return bool(row and row[0])  # NULL: not a standby (any more); its history may differ


# --- The request's side ---------------------------------------------------------------------------


@contextmanager
def request_scope(reader: Callable[[], int | None]) -> Iterator[None]:
    """One request: starts unpinned; when it wrote, remembers the primary's position for its reader."""
    token = _scope.set(_Scope(reader=reader))
    try:
        yield
    finally:
        scope = _scope.get()
        _scope.reset(token)
        if scope.wrote and replica_configured():
            _remember_position(scope.reader())


def _remember_position(user_id: int | None) -> None:
    if user_id is None:
        return
    try:
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            row = cursor.fetchone()
        if row:
            cache.set(_POSITION_KEY.format(user_id=user_id), row[0], POSITION_TTL_SECONDS)
    except Exception:  # the answer is already made; a failed note is logged (the next read pins anyway
        # when the cache is down, since the position cannot be read either)
        logger.warning("replica routing: could not remember a writer's position", exc_info=True)
