"""A per-user read cache for the two lists every client polls: today's queue and the content list.

Each user has a version number in the cache; every write to the user's learning data (content,
categories, reviews) bumps it when its transaction commits. A cached answer is stored with the
version it was computed under and used only while that version is current, so a write is visible to
the very next read. One cache round trip (``get_many`` of the version and the entry) answers a hit.

Race-free by construction: a read that computes from data older than a write stores it under the
version it read *before* computing, which the write's bump has made stale. What is time-dependent
without a write (``retrievability``, a few decimals of a slowly decaying curve) may lag by at most
``LEARNING_READ_CACHE_SECONDS`` (default 30; 0 turns the cache off). The local date, the zone, the
scheduler and the tier are part of the key, so a new day or a profile change never reads an old
answer. A cache outage only costs the shortcut: reads compute as if nothing were cached.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _seconds() -> int:
    return int(getattr(settings, "LEARNING_READ_CACHE_SECONDS", 30))


def _version_key(user_id: int) -> str:
    return f"learning:readver:{user_id}"


VERSION_TTL_SECONDS = 7 * 24 * 3600  # far longer than any entry lives


def invalidate(user_id: int) -> None:
    """Makes every cached read of the user stale: now, and again when the transaction commits.

    The bump at commit is the one correctness needs (a read during the transaction computes from the
    old rows and may store them under the version of the moment); the immediate one spares readers of
    this same connection an old answer before that.
    """
    if _seconds() <= 0:
        return
    _bump(user_id)
    transaction.on_commit(lambda: _bump(user_id))


def _bump(user_id: int) -> None:
    key = _version_key(user_id)
    try:
        cache.add(key, 0, timeout=VERSION_TTL_SECONDS)  # atomic create-if-missing, then atomic increment
        cache.incr(key)
    except Exception:  # a cache outage: entries expire on their own within the TTL
        logger.warning("read cache: could not bump the version", extra={"user_id": user_id}, exc_info=True)


def cached(*, user_id: int, name: str, variant: tuple[Any, ...], compute: Callable[[], T]) -> T:
    seconds = _seconds()
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
    version = found.get(version_key, 0)
    entry = found.get(entry_key)
    if entry is not None and entry[0] == version:
        return entry[1]
    value = compute()
    try:
        cache.set(entry_key, (version, value), timeout=seconds)
    except Exception:
        logger.warning("read cache: could not store an answer", exc_info=True)
    return value
