"""Redis as Django's cache, degrading instead of failing while Redis cannot be reached.

Everything Resee keeps in the cache can be lost (read cache, throttle counters, cooldowns, the
analysis cache), so an outage must cost speed, never answers:

- reads answer a miss and writes are dropped (``get`` -> default, ``get_many`` -> ``{}``,
  ``set``/``delete``/``touch`` -> ``False``);
- ``add``, ``incr`` and ``decr``, whose answers decide something (a lock, a counter, a cooldown),
  raise ``CacheUnavailable``, so each caller chooses what an outage means for it (throttles fail open,
  email cooldowns let the email go; see docs/ops.md, "Faults");
- after a connection failure the process skips Redis for ``RETRY_SECONDS`` (no connect timeout paid per
  request), then tries again: recovery takes at most that long once Redis is back.

Only connection-level errors (``redis.ConnectionError``, ``redis.TimeoutError``) count as an outage;
any other error is a bug and propagates.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modules.common.forks import drop_in_child, keep_until_exit

__all__ = ["CacheUnavailable", "ResilientRedisCache"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError)


class CacheUnavailable(RuntimeError):
    """The cache cannot be reached; raised only where a miss would be a wrong answer."""


class _Breaker:
    """Per process and per Redis location: when the last failure was, so calls skip Redis meanwhile."""

    def __init__(self) -> None:
        self.open_until = 0.0
        self.lock = threading.Lock()

    def allows(self) -> bool:
        return time.monotonic() >= self.open_until

    def trip(self, location: str, retry_seconds: float, exc: BaseException) -> None:
        with self.lock:
            was_closed = self.open_until == 0.0
            self.open_until = time.monotonic() + retry_seconds
        if was_closed:
            logger.warning(
                "cache unreachable; serving without it and retrying every %ss",
                retry_seconds,
                extra={"location": location, "error": type(exc).__name__},
            )

    def reset(self, location: str) -> None:
        if self.open_until:
            with self.lock:
                self.open_until = 0.0
            logger.warning("cache reachable again", extra={"location": location})


_breakers: dict[str, _Breaker] = {}
_breakers_lock = threading.Lock()


def _breaker_for(location: str) -> _Breaker:
    with _breakers_lock:
        return _breakers.setdefault(location, _Breaker())


class _ReusedClient(RedisCacheClient):
    """Django's client, keeping one ``redis.Redis`` per connection pool instead of building a new one
    for every command (each build copies redis-py's ~170 response callbacks: about 0.1 ms a call).
    A ``redis.Redis`` over a pool is safe to share between threads: every command borrows a connection
    from the pool, and the pool itself starts afresh in a forked child."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client

    def pools(self) -> list[Any]:
        return list(self._pools.values())


def retire_inherited_pools(holder: object, pools: list[Any]) -> None:
    """In a forked child (modules/common/forks.py): closes this process's copies of the pools' sockets
    (redis-py shuts a socket down only in the process that opened it: the parent's stay open) and keeps
    ``holder``, what refers to the pools, until the process exits. The connections are read from
    redis-py's ``ConnectionPool`` attributes: a pool without them keeps its sockets' copies open (kept
    all the same, so still never finalized in a task)."""
    for pool in pools:
        connections = (
            *getattr(pool, "_available_connections", ()),
            *getattr(pool, "_in_use_connections", ()),
        )
        for connection in connections:
            connection.disconnect()
    keep_until_exit(holder)


class ResilientRedisCache(RedisCache):
    RETRY_SECONDS = 5.0

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", {}))
        self.retry_seconds = float(options.pop("retry_seconds", self.RETRY_SECONDS))
        super().__init__(server, {**params, "OPTIONS": options})
        self._class = _ReusedClient
        self._location = ",".join(self._servers)
        self._breaker = _breaker_for(self._location)
        self._scripts: dict[tuple[int, str], Any] = {}
        _instances.add(self)

    @property
    def available(self) -> bool:
        """False while the process skips Redis after a failure."""
        return self._breaker.allows()

    def _guard(self, call: Callable[[], T], miss: Callable[[], T] | None) -> T:
        """``call()``; on an outage ``miss()`` (or ``CacheUnavailable`` when there is no miss answer)."""
        if not self._breaker.allows():
            if miss is None:
                raise CacheUnavailable(self._location)
            return miss()
        try:
            result = call()
        except OUTAGE_ERRORS as exc:
            self._breaker.trip(self._location, self.retry_seconds, exc)
            if miss is None:
                raise CacheUnavailable(self._location) from exc
            return miss()
        self._breaker.reset(self._location)
        return result

    # --- answers that decide something: the caller chooses ------------------------------------------
    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._guard(lambda: super(ResilientRedisCache, self).add(key, value, timeout, version), None)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._guard(lambda: super(ResilientRedisCache, self).incr(key, delta, version), None)

    # --- reads answer a miss, writes are dropped -----------------------------------------------------
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._guard(
            lambda: super(ResilientRedisCache, self).get(key, default, version), lambda: default
        )

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._guard(lambda: super(ResilientRedisCache, self).get_many(keys, version), dict)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._guard(lambda: super(ResilientRedisCache, self).has_key(key, version), lambda: False)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._guard(lambda: super(ResilientRedisCache, self).set(key, value, timeout, version), lambda: None)

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list:
        return self._guard(
            lambda: super(ResilientRedisCache, self).set_many(data, timeout, version), lambda: list(data)
        )

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._guard(
            lambda: super(ResilientRedisCache, self).touch(key, timeout, version), lambda: False
        )

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._guard(lambda: super(ResilientRedisCache, self).delete(key, version), lambda: False)

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._guard(lambda: super(ResilientRedisCache, self).delete_many(keys, version), lambda: None)

    def raw_get_many(self, keys: list[str]) -> list[bytes | None]:
        """The keys' values as Redis holds them, in order (made as the cache makes keys; no
        deserialization: for values a script writes, and integers, which the cache stores as digits).
        An outage answers a miss for each."""

        def call() -> list[bytes | None]:
            client = self._cache.get_client()
            return client.mget([self.make_and_validate_key(key) for key in keys])  # type: ignore[no-any-return]

        return self._guard(call, lambda: [None] * len(keys))

    def run_script(
        self, script: str, *, keys: list[str], args: list[Any], serialized: tuple[bool, ...]
    ) -> Any:
        """Runs a Lua ``script`` on the keys (made as the cache makes them: prefix, version) with
        the arguments, those marked in ``serialized`` stored as the cache stores values (readable by
        ``get``). An outage raises ``CacheUnavailable``: a script's effect is the caller's decision."""
        made = [self.make_and_validate_key(key) for key in keys]
        values = [
            self._cache._serializer.dumps(arg) if serialize else arg
            for arg, serialize in zip(args, serialized, strict=True)
        ]

        def call() -> Any:
            client = self._cache.get_client(write=True)
            # EVALSHA (the script loaded again after a Redis restart): not the script's text on every call
            registered = self._scripts.get((id(client), script))
            if registered is None:
                registered = self._scripts.setdefault((id(client), script), client.register_script(script))
            return registered(keys=made, args=values, client=client)

        return self._guard(call, None)

    def clear(self) -> bool:
        return self._guard(lambda: super(ResilientRedisCache, self).clear(), lambda: False)

    def retire_inherited(self) -> None:
        """In a forked child: retires the parent's client, its pools and the scripts registered on it
        (``retire_inherited_pools``); the next command builds new ones."""
        client = self.__dict__.pop("_cache", None)
        if client is not None:
            retire_inherited_pools((client, dict(self._scripts)), client.pools())
        self._scripts.clear()


# Every instance of the process, whichever thread's ``caches`` built it: a child retires them all.
_instances: weakref.WeakSet[ResilientRedisCache] = weakref.WeakSet()


@drop_in_child
def _retire_inherited_caches() -> None:
    for backend in list(_instances):
        backend.retire_inherited()
