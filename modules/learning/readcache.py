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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def invalidate(user_id: int) -> None:
    """Makes every cached read of the user stale: now, and again when the transaction commits.

    The bump at commit is the one correctness needs (a read during the transaction computes from the
    committed, older rows and may store them under the version of the moment); the immediate one
    spares readers of this same connection an old answer before that. Outside a transaction the
    writes are already committed, and one bump does both.
    """
    if effective_seconds() <= 0:
        return
    _bump(user_id)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _bump(user_id))


@contextmanager
def writing(*, user_id: int) -> Iterator[None]:
    """Around writes of the user's learning data: invalidates when the block ends, even by an error
    (a write may have committed before a later step failed)."""
    try:
        yield
    finally:
        invalidate(user_id)


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


def cached(*, user_id: int, name: str, variant: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()``, or its answer cached for the user under ``name`` and ``variant``.

    A hit is one cache round trip (``get_many`` of the version and the entry).
    """
    seconds = effective_seconds()
    if seconds <= 0:
        return compute()
    version_key = _version_key(user_id)
    digest = hashlib.blake2b(repr(variant).encode(), digest_size=12).hexdigest()
    entry_key = f"learning:read:{user_id}:{name}:{digest}"
    try:
        found = cache.get_many([version_key, entry_key])
    except Exception:
        logger.warning("read cache unavailable; computing", exc_info=True)
        return compute()
    version = found.get(version_key)
    entry = found.get(entry_key)
    if version is not None and entry is not None and entry[0] == version:
        return entry[1]
    if version is None:
        version = _new_version()
        try:
            if not cache.add(version_key, version, timeout=VERSION_TTL_SECONDS):
                version = None  # another process created it meanwhile: store nothing under a guess
        except Exception:
            logger.warning("read cache: could not create a version", exc_info=True)
            version = None
    value = compute()
    if version is not None:
        try:
            cache.set(entry_key, (version, value), timeout=seconds)
        except Exception:
            logger.warning("read cache: could not store an answer", exc_info=True)
    return value
