"""A per-user read cache for the two lists every client polls: today's queue and the content list.

**One invalidation mechanism.** Each user has a version in the cache: a random token that every write
of the user's learning data replaces (``invalidate``). Writes reach it one way: the facade's write
functions are decorated with ``@learning_write`` (or, when the user is known only inside the function,
wrap their writes in ``with writing(user_id=...)``), which invalidates when the function returns *or
raises*, after its own transaction, and again when the caller's transaction commits. Nobody calls
``_bump`` by hand; ``tests/learning/test_read_cache.py`` calls every public function of the facade and
every write route of the API and fails when one writes the rows the cached reads show without a new
version.

**Race-free.** An answer is stored with the version read *before* it was computed and served only
while that version is current. A write replaces the version after its rows are committed, so an
answer computed from older rows is never served after it, and the writer's next read recomputes.
Versions never repeat (random 62-bit tokens), so an evicted or expired version cannot bring back an
old entry. A read that finds no version creates one (``add``) before computing, and stores nothing if
another process got there first.

**Shared or off.** The cache must be shared by every process that serves or writes. A process-local
backend (``LocMemCache``) is accepted only in DEBUG (``make run``: one runserver process); otherwise the
read cache is switched off, a WARNING is logged at startup and ``manage.py check`` reports
``learning.W001`` (see docs/learning.md, "Read cache").

**Patched, not recomputed, after a review.** A review changes one card of today's queue, and the
learner reads the queue right after every answer. So a review that takes its card out of today's
queue (or that was ahead of time and leaves it as it was) says so when it replaces the version: the
change is kept under the version it replaced (``learning:readdelta:<user>:<old version>``, set with the
new version in one Redis script). A read that finds its entry one version behind, with that change
from exactly its entry's version to the current one, applies the change to the entry's window (the
page plus spare items, kept beside it) instead of recomputing: no query. Anything it cannot decide
(the card is not in the window and could lie beyond it, the spare items run out, another write came
in between) recomputes as before. The patched answer keeps the expiry of the answer it came from.

What is time-dependent without a write (``retrievability``, a few decimals of a slowly decaying
curve) may lag by at most ``LEARNING_READ_CACHE_SECONDS`` (default 30; 0 turns the cache off). The
caller's key holds the user's local date, zone, scheduler and tier ladder, so a new day, a profile or
a tier change never reads an old answer without any write here. A cache outage only costs the
shortcut: reads compute as if nothing were cached, writes log a warning.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

VERSION_TTL_SECONDS = 7 * 24 * 3600  # far longer than any entry lives

SHARED_CACHE_HINT = (
    "Set REDIS_URL so that every web and worker process shares one cache (or set "
    "LEARNING_READ_CACHE_SECONDS=0 to silence this)."
)


# --- Is the read cache on? ----------------------------------------------------------------------------


def configured_seconds() -> int:
    return int(getattr(settings, "LEARNING_READ_CACHE_SECONDS", 30))


@functools.lru_cache(maxsize=8)
def _is_process_local(backend: str) -> bool:
    try:
        return issubclass(import_string(backend), LocMemCache)
    except ImportError:  # Django reports an unknown backend itself, at the first use of the cache
        return False


def switched_off_reason() -> str | None:
    """Why the configured read cache is switched off, or None when it runs as configured.

    Off when the default cache lives in each process's memory and DEBUG is off: with several
    processes (gunicorn's workers, the worker cluster) a write in one would not invalidate the
    answers another has cached, which would then serve a stale queue until the entry expired.
    """
    if configured_seconds() <= 0 or settings.DEBUG:
        return None
    backend = settings.CACHES["default"]["BACKEND"]
    if not _is_process_local(backend):
        return None
    return (
        f"The learning read cache (LEARNING_READ_CACHE_SECONDS={configured_seconds()}) is switched off: "
        f"the default cache ({backend.rsplit('.', 1)[-1]}) is local to each process, so a write "
        "served by one process would leave another serving a stale queue."
    )


def effective_seconds() -> int:
    """How long an answer may be served: the setting, or 0 while ``switched_off_reason()`` holds."""
    seconds = configured_seconds()
    if seconds <= 0 or switched_off_reason() is not None:
        return 0
    return seconds


def announce() -> None:
    """At startup (``LearningConfig.ready``): one WARNING in each process whose read cache is off."""
    reason = switched_off_reason()
    if reason is not None:
        logger.warning("%s %s", reason, SHARED_CACHE_HINT)


# --- Writes: the one way to invalidate --------------------------------------------------------------


def _version_key(user_id: int) -> str:
    return f"learning:readver:{user_id}"


def _new_version() -> int:
    return secrets.randbits(62)


def _bump(user_id: int) -> None:
    try:
        cache.set(_version_key(user_id), _new_version(), timeout=VERSION_TTL_SECONDS)
    except Exception:  # a cache outage: entries expire on their own within the TTL
        logger.warning("read cache: could not bump the version", extra={"user_id": user_id}, exc_info=True)


def _delta_key(user_id: int, version: int) -> str:
    return f"learning:readdelta:{user_id}:{version}"


# Replaces the version and keeps the change under the version it replaced, atomically. KEYS[1]: the
# version; KEYS[2]: the change's key without the old version; ARGV: new version, its TTL, the change
# (serialized by the cache), the change's TTL.
_BUMP_WITH_CHANGE = """
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if old then redis.call('SET', KEYS[2] .. old, ARGV[3], 'EX', ARGV[4]) end
return 1
"""


@dataclass(frozen=True)
class Change:
    """What one write did to a patchable read (``kind`` and ``data`` mean what that read says)."""

    kind: str
    data: tuple[Any, ...]


_pending: ContextVar[tuple[int, Change] | None] = ContextVar("resee_readcache_change", default=None)


def note_change(*, user_id: int, change: Change) -> None:
    """Declares what the write about to invalidate did, so that a patchable read can apply it instead
    of recomputing (consumed by the next ``invalidate`` of that user outside a transaction)."""
    _pending.set((user_id, change))


def _take_change(user_id: int) -> Change | None:
    pending = _pending.get()
    if pending is None:
        return None
    _pending.set(None)
    return pending[1] if pending[0] == user_id else None


def _bump_with_change(user_id: int, change: Change) -> bool:
    script = getattr(cache, "run_script", None)
    if script is None:  # a cache without scripts (local memory under DEBUG): a plain bump
        return False
    new = _new_version()
    try:
        done = script(
            _BUMP_WITH_CHANGE,
            keys=[_version_key(user_id), _delta_key(user_id, 0)[:-1]],
            args=[new, VERSION_TTL_SECONDS, (new, change), configured_seconds() + 60],
            serialized=(False, False, True, False),
        )
    except Exception:
        logger.warning("read cache: could not record a change", extra={"user_id": user_id}, exc_info=True)
        return False
    return bool(done)


def invalidate(user_id: int) -> None:
    """Makes every cached read of the user stale: now, and again when the transaction commits.

    The bump at commit is the one correctness needs (a read during the transaction computes from the
    committed, older rows and may store them under the version of the moment); the immediate one
    spares readers of this same connection an old answer before that. Outside a transaction the
    writes are already committed, and one bump does both — carrying the write's ``note_change``, if
    it declared one.
    """
    change = _take_change(user_id)
    if effective_seconds() <= 0:
        return
    if (
        change is not None
        and not transaction.get_connection().in_atomic_block
        and _bump_with_change(user_id, change)
    ):
        return
    _bump(user_id)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _bump(user_id))


@contextmanager
def writing(*, user_id: int) -> Iterator[None]:
    """Around writes of the user's learning data: invalidates when the block ends, even by an error
    (a write may have committed before a later step failed). A change declared inside the block
    (``note_change``) is carried by this invalidation or dropped with the block: never by another."""
    outer = _pending.set(None)
    try:
        yield
    finally:
        try:
            invalidate(user_id)
        finally:
            _pending.reset(outer)


def learning_write(func: Callable[P, T]) -> Callable[P, T]:
    """Declares a facade function a write of one user's learning data, given as the keyword-only
    argument ``user`` (or ``user_id``): its cached reads are dropped when the call ends.

    Place it outermost (above ``@transaction.atomic``) so the version is replaced after the function's
    own transaction has committed.
    """
    parameters = inspect.signature(func).parameters
    names = [
        name
        for name in ("user", "user_id")
        if name in parameters and parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
    ]
    if not names:
        raise TypeError(f"{func.__qualname__}: @learning_write needs a keyword-only `user` or `user_id`")
    name = names[0]

    @functools.wraps(func)
    def write(*args: P.args, **kwargs: P.kwargs) -> T:
        owner = kwargs[name]
        with writing(user_id=owner if name == "user_id" else owner.pk):  # type: ignore[union-attr]
            return func(*args, **kwargs)

    return write


# --- Reads --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patchable:
    """A read that can apply a write's ``Change`` to its last answer instead of recomputing.

    ``compute()`` answers ``(value, window)``: the value served and what a change is applied to;
    ``apply(window, change)`` answers the next ``(value, window)``, or None when it cannot tell
    (then the read recomputes)."""

    compute: Callable[[], tuple[Any, Any]]
    apply: Callable[[Any, Change], tuple[Any, Any] | None]


def _patched(
    *, user_id: int, entry_key: str, version: int, entry_version: int, patch: Patchable
) -> tuple[Any] | None:
    """(value,) when the change from ``entry_version`` to ``version`` was applied to the entry's
    window and stored; None when there is no such change or it could not be applied."""
    window_key = f"{entry_key}:window"
    delta_key = _delta_key(user_id, entry_version)
    try:
        found = cache.get_many([delta_key, window_key])
    except Exception:
        return None
    delta, window = found.get(delta_key), found.get(window_key)
    if delta is None or window is None or delta[0] != version or window[0] != entry_version:
        return None  # another write came in between, or the window is gone: recompute
    _, computed_at, state = window
    remaining = int(configured_seconds() - (time.time() - computed_at))
    if remaining < 1:
        return None
    applied = patch.apply(state, delta[1])
    if applied is None:
        return None
    value, state = applied
    try:
        cache.set_many(
            {entry_key: (version, value), window_key: (version, computed_at, state)}, timeout=remaining
        )
    except Exception:
        logger.warning("read cache: could not store a patched answer", exc_info=True)
    return (value,)


def cached(
    *,
    user_id: int,
    name: str,
    variant: tuple[Any, ...],
    compute: Callable[[], T],
    patch: Patchable | None = None,
) -> T:
    """``compute()``, or its answer cached for the user under ``name`` and ``variant``; with a
    ``patch``, ``patch.compute()``'s value, patched after a write that declared its change.

    A hit is one cache round trip (``get_many`` of the version and the entry); a patch three.
    """
    seconds = effective_seconds()
    if seconds <= 0:
        return patch.compute()[0] if patch is not None else compute()
    version_key = _version_key(user_id)
    digest = hashlib.blake2b(repr(variant).encode(), digest_size=12).hexdigest()
    entry_key = f"learning:read:{user_id}:{name}:{digest}"
    try:
        found = cache.get_many([version_key, entry_key])
    except Exception:
        logger.warning("read cache unavailable; computing", exc_info=True)
        return patch.compute()[0] if patch is not None else compute()
    version = found.get(version_key)
    entry = found.get(entry_key)
    if version is not None and entry is not None and entry[0] == version:
        return entry[1]
    if patch is not None and version is not None and entry is not None:
        patched = _patched(
            user_id=user_id, entry_key=entry_key, version=version, entry_version=entry[0], patch=patch
        )
        if patched is not None:
            return patched[0]  # type: ignore[no-any-return]
    if version is None:
        version = _new_version()
        try:
            if not cache.add(version_key, version, timeout=VERSION_TTL_SECONDS):
                version = None  # another process created it meanwhile: store nothing under a guess
        except Exception:
            logger.warning("read cache: could not create a version", exc_info=True)
            version = None
    computed_at = time.time()
    if patch is not None:
        value, state = patch.compute()
    else:
        value, state = compute(), None
    if version is not None:
        try:
            if patch is None:
                cache.set(entry_key, (version, value), timeout=seconds)
            else:
                window = (version, computed_at, state)
                cache.set_many({entry_key: (version, value), f"{entry_key}:window": window}, timeout=seconds)
        except Exception:
            logger.warning("read cache: could not store an answer", exc_info=True)
    return value  # type: ignore[no-any-return]
