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

**Patched where the version is replaced, after a review.** A review changes one card of today's
queue, and the learner reads the queue right after every answer. So the queue's first page is kept in
Redis as a *window* (``Window``: the page's JSON template, its items and some spare ones rendered one
by one, their order keys, the totals), and a review that takes its card out of today's queue (or that
was ahead of time and leaves it as it was) says so (``Change``). The Redis script that replaces the
version then applies the change to every window of that user that was current until then, and stores
the patched page under the new version, in the same atomic step: the learner's next read is a plain
hit, no query and no patching. Anything the script cannot decide (the card is not in the window and
could lie beyond it, the spare items run out, a change for another day, a window already older than
the replaced version) leaves the page stale: the next read recomputes as before. The patched page keeps
the expiry of the page it came from.

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


def _registry_key(user_id: int) -> str:
    """The user's windows (their entries' keys): what a change is applied to."""
    return f"learning:readwin:{user_id}"


@dataclass(frozen=True)
class Change:
    """What one write did to the user's windows (``Window``) of ``scope``: the item with the order key
    ``left`` left the list (the total drops by one, the sub-total too when ``subtotal``), or, with
    ``left`` None, nothing in them changed."""

    scope: str
    left: str | None = None
    subtotal: bool = False


_pending: ContextVar[tuple[int, Change] | None] = ContextVar("resee_readcache_change", default=None)


def note_change(*, user_id: int, change: Change) -> None:
    """Declares what the write about to invalidate did, so that the user's windows are patched rather
    than recomputed (consumed by the next ``invalidate`` of that user outside a transaction)."""
    _pending.set((user_id, change))


def _take_change(user_id: int) -> Change | None:
    pending = _pending.get()
    if pending is None:
        return None
    _pending.set(None)
    return pending[1] if pending[0] == user_id else None


# A window's template holds these three bytes where its items, its total and its sub-total go: JSON never
# holds a raw control character (json.dumps escapes them in strings), so they cannot occur elsewhere.
ITEMS, TOTAL, SUBTOTAL = b"\x01", b"\x02", b"\x03"


@dataclass(frozen=True)
class Window:
    """A list's first page kept with spare items, which a write's ``Change`` patches in Redis.

    ``template`` is the page's JSON with ``ITEMS``, ``TOTAL`` and ``SUBTOTAL`` in place of the items,
    the total and the sub-total; ``items`` the page's and the spare items rendered (joined by ", " in the
    page), ``keys`` their order keys (strings that sort as the list does); ``scope`` what the window is
    valid for (a change for another scope does not apply)."""

    template: bytes
    items: list[bytes]
    keys: list[str]
    limit: int
    total: int
    subtotal: int
    scope: str

    def render(self) -> bytes:
        """The page, as the script renders it after a change (``_FILL``)."""
        return (
            self.template.replace(ITEMS, b", ".join(self.items[: self.limit]), 1)
            .replace(TOTAL, str(self.total).encode(), 1)
            .replace(SUBTOTAL, str(self.subtotal).encode(), 1)
        )


def window_template(page: bytes, *, items: int, total: int, subtotal: int) -> bytes:
    """A ``Window.template`` from a page's JSON rendered with three stand-in numbers (large, distinct,
    nowhere else in it) in place of its items list, its total and its sub-total."""
    for stand_in, mark in ((items, b"[" + ITEMS + b"]"), (total, TOTAL), (subtotal, SUBTOTAL)):
        digits = str(stand_in).encode()
        if page.count(digits) != 1:
            raise ValueError(f"the stand-in {stand_in} is not in the page exactly once")
        page = page.replace(digits, mark)
    return page


# The Lua side of Window.render, prefixed with ``head``: the page is assembled in one table.concat (each
# big string Lua creates costs Redis ~10 µs per 15 KB; splicing the markers one by one took 0.1 ms).
_FILL = """
local function fill(head, t, items, total, sub)
  local marks = {}
  for _, m in ipairs({{'\\1', 0}, {'\\2', tostring(total)}, {'\\3', tostring(sub)}}) do
    local at = string.find(t, m[1], 1, true)
    if at then marks[#marks + 1] = {at, m[2]} end
  end
  table.sort(marks, function(a, b) return a[1] < b[1] end)
  local parts, from = {head}, 1
  for _, m in ipairs(marks) do
    parts[#parts + 1] = string.sub(t, from, m[1] - 1)
    if m[2] == 0 then
      for i, item in ipairs(items) do
        if i > 1 then parts[#parts + 1] = ', ' end
        parts[#parts + 1] = item
      end
    else
      parts[#parts + 1] = m[2]
    end
    from = m[1] + 1
  end
  parts[#parts + 1] = string.sub(t, from)
  return table.concat(parts)
end
"""

# Stores a computed page and its window. KEYS[1]: the entry, KEYS[2]: the user's windows; ARGV: the
# version, seconds, page, template, limit, total, sub-total, scope, item count n, n keys, n items.
# The window lives beside its entry (<entry>:w a hash, <entry>:w:k its keys, <entry>:w:i its items);
# the user's set of windows is kept under 9 (a client reading many page sizes forgets the older ones).
_STORE_WINDOW = """
local e, w, ttl, n = KEYS[1], KEYS[1] .. ':w', tonumber(ARGV[2]), tonumber(ARGV[9])
redis.call('SET', e, ARGV[1] .. ':' .. ARGV[3], 'EX', ttl)
redis.call('DEL', w, w .. ':k', w .. ':i')
redis.call('HSET', w, 'v', ARGV[1], 't', ARGV[4], 'limit', ARGV[5], 'total', ARGV[6], 'sub', ARGV[7],
  'scope', ARGV[8])
redis.call('EXPIRE', w, ttl)
if n > 0 then
  redis.call('RPUSH', w .. ':k', unpack(ARGV, 10, 9 + n))
  redis.call('RPUSH', w .. ':i', unpack(ARGV, 10 + n, 9 + 2 * n))
  redis.call('EXPIRE', w .. ':k', ttl)
  redis.call('EXPIRE', w .. ':i', ttl)
end
if redis.call('SCARD', KEYS[2]) >= 8 then redis.call('DEL', KEYS[2]) end -- the older ones go stale
redis.call('SADD', KEYS[2], e)
redis.call('EXPIRE', KEYS[2], ttl + 60)
return 1
"""

# Replaces the version and applies the change to each of the user's windows that was current until
# then. KEYS[1]: the version, KEYS[2]: the user's windows; ARGV: the new version, its TTL, the change's
# scope, the order key that left ('' for none), '1' when it counted in the sub-total, how many windows at
# most to patch.
_BUMP_WITH_CHANGE = (
    _FILL
    + """
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if not old then return 0 end
local patched = 0
for _, e in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if patched >= tonumber(ARGV[6]) then break end -- the others go stale: their next read recomputes
  local w = e .. ':w'
  local m = redis.call('HMGET', w, 'v', 'scope', 't', 'limit', 'total', 'sub')
  if not m[1] then
    redis.call('SREM', KEYS[2], e)
  elseif m[1] == old and m[2] == ARGV[3] then
    local limit, total, sub = tonumber(m[4]), tonumber(m[5]), tonumber(m[6])
    local n = redis.call('LLEN', w .. ':k')
    local ok = true
    if ARGV[4] ~= '' then
      local at = redis.call('LPOS', w .. ':k', ARGV[4])
      if at then
        if n - 1 < limit and n - 1 < total - 1 then
          ok = false -- the spare items ran out
        else
          redis.call('LREM', w .. ':k', 1, ARGV[4])
          redis.call('LSET', w .. ':i', at, '')
          redis.call('LREM', w .. ':i', 1, '')
          total = total - 1
          if ARGV[5] == '1' then sub = sub - 1 end
        end
      elseif n < total and ARGV[4] > (redis.call('LINDEX', w .. ':k', -1) or '') then
        ok = false -- not in the window and possibly beyond it
      end
    end
    if ok and redis.call('EXISTS', e) == 1 then
      local page = fill(ARGV[1] .. ':', m[3], redis.call('LRANGE', w .. ':i', 0, limit - 1), total, sub)
      redis.call('SET', e, page, 'KEEPTTL')
      redis.call('HSET', w, 'v', ARGV[1], 'total', total, 'sub', sub)
      patched = patched + 1
    end
  end
end
return patched
"""
)


# Windows a change patches at most (a learner reads one or two page sizes): each costs Redis ~0.1 ms
# while it blocks every other client, and a client asking for every page size in turn must not make
# each answer cost that many times over. The others go stale, as after any write.
MAX_PATCHED_WINDOWS = 3


def _bump_with_change(user_id: int, change: Change) -> bool:
    script = getattr(cache, "run_script", None)
    if script is None:  # a cache without scripts (local memory under DEBUG): a plain bump
        return False
    try:
        script(
            _BUMP_WITH_CHANGE,
            keys=[_version_key(user_id), _registry_key(user_id)],
            args=[
                _new_version(),
                VERSION_TTL_SECONDS,
                change.scope,
                change.left or "",
                int(change.subtotal),
                MAX_PATCHED_WINDOWS,
            ],
            serialized=(False,) * 6,
        )
    except Exception:
        logger.warning("read cache: could not apply a change", extra={"user_id": user_id}, exc_info=True)
        return False
    return True


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


def _entry_key(user_id: int, name: str, variant: tuple[Any, ...]) -> str:
    digest = hashlib.blake2b(repr(variant).encode(), digest_size=12).hexdigest()
    return f"learning:read:{user_id}:{name}:{digest}"


def _version_to_store(version_key: str, version: Any) -> Any:
    """The version an answer computed now is stored under: the current one, or a new one when there is
    none yet; None (store nothing) when another process created one meanwhile or the cache failed."""
    if version is not None:
        return version
    version = _new_version()
    try:
        if not cache.add(version_key, version, timeout=VERSION_TTL_SECONDS):
            return None  # another process created it meanwhile: store nothing under a guess
    except Exception:
        logger.warning("read cache: could not create a version", exc_info=True)
        return None
    return version


def cached(*, user_id: int, name: str, variant: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()``, or its answer cached for the user under ``name`` and ``variant``.

    A hit is one cache round trip (``get_many`` of the version and the entry).
    """
    seconds = effective_seconds()
    if seconds <= 0:
        return compute()
    version_key = _version_key(user_id)
    entry_key = _entry_key(user_id, name, variant)
    try:
        found = cache.get_many([version_key, entry_key])
    except Exception:
        logger.warning("read cache unavailable; computing", exc_info=True)
        return compute()
    version = found.get(version_key)
    entry = found.get(entry_key)
    if version is not None and entry is not None and entry[0] == version:
        return entry[1]  # type: ignore[no-any-return]
    version = _version_to_store(version_key, version)
    value = compute()
    if version is not None:
        try:
            cache.set(entry_key, (version, value), timeout=seconds)
        except Exception:
            logger.warning("read cache: could not store an answer", exc_info=True)
    return value


def cached_window(
    *, user_id: int, name: str, variant: tuple[Any, ...], compute: Callable[[], Window]
) -> bytes:
    """``compute().render()``, cached for the user as a ``Window`` that a write's ``Change`` patches
    in Redis (see the module's docstring). A hit is one round trip; a miss computes and stores the page
    and its window in a second one. With a cache without scripts (local memory under DEBUG) it is
    ``cached`` of the page, recomputed after every write."""
    raw_get_many = getattr(cache, "raw_get_many", None)
    seconds = effective_seconds()
    if raw_get_many is None or seconds <= 0:
        return cached(user_id=user_id, name=name, variant=variant, compute=lambda: compute().render())
    version_key = _version_key(user_id)
    entry_key = _entry_key(user_id, f"{name}:window", variant)
    version, entry = raw_get_many([version_key, entry_key])
    if version is not None and entry is not None:
        entry_version, _, page = entry.partition(b":")
        if entry_version == version:
            return page  # type: ignore[no-any-return]
    stored = _version_to_store(version_key, int(version) if version is not None else None)
    window = compute()
    page = window.render()
    if stored is not None:
        try:
            cache.run_script(
                _STORE_WINDOW,
                keys=[entry_key, _registry_key(user_id)],
                args=[
                    stored,
                    seconds,
                    page,
                    window.template,
                    window.limit,
                    window.total,
                    window.subtotal,
                    window.scope,
                    len(window.keys),
                    *window.keys,
                    *window.items,
                ],
                serialized=(False,) * (9 + 2 * len(window.keys)),
            )
        except Exception:
            logger.warning("read cache: could not store an answer", exc_info=True)
    return page
