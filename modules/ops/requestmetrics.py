"""Per-minute request counters, shared by every web process through the Django cache.

Each /api/ request adds to one hash per minute (count, latency sum, status classes, 429s, a fixed
latency histogram, a count per route template) and to one hash of running totals (for Prometheus
counters). A process adds its requests up in memory and writes the sums about once a second
(``REQUEST_METRICS_FLUSH_SECONDS``, default 1; 0 writes every request at once): one pipelined round
trip of HINCRBY operations per flush instead of one per request (``redis_client``: the cache's Redis
through redis-py's own client); on other caches it falls back to ``cache.incr`` per field (local
memory counts only its own process, so the collector treats API metrics as absent there). Latencies
are kept in integer microseconds so that both paths use integer increments only.

The flush runs on the request path when it is due (no thread), when the process reads the counters
(so it always sees its own requests) and at exit. Each request is added to the minute it happened in,
whenever it is written. What a process holds unwritten is at most its last second of requests: a
process that then goes idle writes it with its next request or at exit.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache

from modules.common.cache import retire_inherited_pools
from modules.common.forks import drop_in_child

logger = logging.getLogger(__name__)

# Upper bounds (ms) of the latency histogram; one more bucket (+Inf) catches the rest.
BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
MINUTE_TTL_SECONDS = 2 * 60 * 60  # minutes are read a minute later; two hours leaves room for catch-up
_MINUTE_PREFIX = "ops:req:m:"
_TOTALS_KEY = "ops:req:totals"
_FIELDS_SUFFIX = "fields"
_SEP = "|"


@dataclass(frozen=True)
class Observation:
    method: str
    route: str  # the URL pattern (resolver_match.route), never the raw path: bounded cardinality
    status: int
    duration_ms: float


def bucket_index(duration_ms: float) -> int:
    for index, bound in enumerate(BUCKETS_MS):
        if duration_ms <= bound:
            return index
    return len(BUCKETS_MS)


def current_minute(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // 60)


def _fields(obs: Observation) -> dict[str, int]:
    status_class = f"s{obs.status // 100}xx"
    micros = max(round(obs.duration_ms * 1000), 0)
    fields = {
        "n": 1,
        "us": micros,
        status_class: 1,
        f"b{bucket_index(obs.duration_ms)}": 1,
        f"r{_SEP}{obs.method}{_SEP}{obs.route}{_SEP}{status_class}": 1,
        f"ru{_SEP}{obs.method}{_SEP}{obs.route}": micros,
    }
    if obs.status == 429:
        fields["t"] = 1
    return fields


@dataclass(frozen=True)
class RequestStats:
    """Counters of one minute (or of all time, for the totals)."""

    count: int = 0
    duration_us: int = 0
    throttled: int = 0
    by_class: Mapping[str, int] = field(default_factory=dict)
    buckets: tuple[int, ...] = ()
    routes: Mapping[tuple[str, str, str], int] = field(default_factory=dict)  # (method, route, class)
    route_duration_us: Mapping[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, raw: Mapping[str, int]) -> RequestStats:
        by_class: dict[str, int] = {}
        routes: dict[tuple[str, str, str], int] = {}
        route_us: dict[tuple[str, str], int] = {}
        for key, value in raw.items():
            if key.startswith("s") and key.endswith("xx"):
                by_class[key[1:]] = int(value)
            elif key.startswith(f"r{_SEP}"):
                _, method, route, status_class = key.split(_SEP, 3)
                routes[(method, route, status_class[1:])] = int(value)
            elif key.startswith(f"ru{_SEP}"):
                _, method, route = key.split(_SEP, 2)
                route_us[(method, route)] = int(value)
        buckets = tuple(int(raw.get(f"b{i}", 0)) for i in range(len(BUCKETS_MS) + 1))
        return cls(
            count=int(raw.get("n", 0)),
            duration_us=int(raw.get("us", 0)),
            throttled=int(raw.get("t", 0)),
            by_class=by_class,
            buckets=buckets,
            routes=routes,
            route_duration_us=route_us,
        )

    @property
    def avg_ms(self) -> float | None:
        return self.duration_us / 1000 / self.count if self.count else None

    def quantile_ms(self, q: float) -> float | None:
        return histogram_quantile(q, self.buckets)

    def share(self, status_class: str) -> float | None:
        """Percent of requests answered with the class ("5xx", "4xx"); None without requests."""
        if not self.count:
            return None
        return 100.0 * self.by_class.get(status_class, 0) / self.count


def histogram_quantile(q: float, counts: tuple[int, ...]) -> float | None:
    """Estimate a quantile from per-bucket (not cumulative) counts, interpolating linearly inside the
    bucket as Prometheus does. A quantile falling in the +Inf bucket answers the highest finite bound."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    cumulative = 0
    for index, count in enumerate(counts):
        if count and cumulative + count >= rank:
            if index >= len(BUCKETS_MS):
                return float(BUCKETS_MS[-1])
            lower = 0.0 if index == 0 else float(BUCKETS_MS[index - 1])
            upper = float(BUCKETS_MS[index])
            return lower + (upper - lower) * (rank - cumulative) / count
        cumulative += count
    return float(BUCKETS_MS[-1])


def is_shared_cache(backend: BaseCache) -> bool:
    """Whether every process sees the same counters (Redis, memcached, database); local memory and the
    dummy cache do not, so numbers read from them would describe one process only."""
    from django.core.cache.backends.dummy import DummyCache
    from django.core.cache.backends.locmem import LocMemCache

    return not isinstance(backend, LocMemCache | DummyCache)


# Cache OPTIONS that configure Django's cache (or Resee's ResilientRedisCache), not a redis-py connection.
_CACHE_ONLY_OPTIONS = frozenset({"serializer", "parser_class", "pool_class", "retry_seconds"})


def redis_client(alias: str = "default") -> redis.Redis | None:
    """A redis-py client on the Redis behind the cache ``alias`` (its first server, the one Django
    writes to), or None when that cache is not Redis.

    Django's RedisCache has no public accessor for its client, so this one is built with redis-py's
    ``Redis.from_url`` from the cache's own LOCATION and connection OPTIONS (its socket timeouts too,
    so an outage costs a bounded wait), once per process and location: the client is thread-safe and
    its connection pool is shared by every thread (redis-py rebuilds the pool after a fork)."""
    if not isinstance(caches[alias], RedisCache):
        return None
    config = settings.CACHES[alias]
    location = config["LOCATION"]
    server = re.split("[;,]", location)[0] if isinstance(location, str) else location[0]
    options = tuple(
        sorted(
            (name, value)
            for name, value in config.get("OPTIONS", {}).items()
            if name not in _CACHE_ONLY_OPTIONS
        )
    )
    return _client_on(server, options)


_clients: dict[tuple[str, tuple[tuple[str, Any], ...]], redis.Redis] = {}
_clients_lock = threading.Lock()


def _client_on(url: str, options: tuple[tuple[str, Any], ...]) -> redis.Redis:
    key = (url, options)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:  # looked up again: another thread may have built it meanwhile
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = redis.Redis.from_url(url, **dict(options))
    return client


@drop_in_child
def _retire_inherited_clients() -> None:
    """A forked child builds its own clients; the parent's are retired (modules/common/forks.py)."""
    if _clients:
        clients = list(_clients.values())
        retire_inherited_pools(clients, [client.connection_pool for client in clients])
        _clients.clear()


DEFAULT_FLUSH_SECONDS = 1.0


def flush_seconds() -> float:
    return float(getattr(settings, "REQUEST_METRICS_FLUSH_SECONDS", DEFAULT_FLUSH_SECONDS))


class _Pending:
    """This process's counts not written yet: {hash base: {field: amount}}, per cache alias."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_alias: dict[str, dict[str, dict[str, int]]] = {}
        self.flushed_at = float("-inf")  # the first request of a process writes at once
        self.pid = os.getpid()

    def take(self, alias: str) -> dict[str, dict[str, int]]:
        with self.lock:
            return self.by_alias.pop(alias, {})


_pending = _Pending()


def _process_pending() -> _Pending:
    """The pending counts of this process (a forked child starts empty: its parent writes its own)."""
    global _pending
    if _pending.pid != os.getpid():
        _pending = _Pending()
    return _pending


def discard_pending() -> None:
    """Forgets every count this process has not written (tests start from nothing)."""
    global _pending
    _pending = _Pending()


class RequestMetricsStore:
    """Reads and writes the counters in the cache ``alias`` (resolved on every call, so settings
    overrides and per-thread connections apply)."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self._client_for: tuple[BaseCache, redis.Redis | None] | None = None
        _register_exit_flush()

    @property
    def cache(self) -> BaseCache:
        return caches[self.alias]

    def _client(self, backend: BaseCache) -> redis.Redis | None:
        """``redis_client`` of this store's cache, remembered for ``backend`` so the hot path does not
        read the settings on every request."""
        remembered = self._client_for
        if remembered is not None and remembered[0] is backend:
            return remembered[1]
        client = redis_client(self.alias)
        self._client_for = (backend, client)
        return client

    # --- writing --------------------------------------------------------------------------------
    def record(self, obs: Observation, *, now: float | None = None) -> None:
        """Adds one request to this process's pending counts, and writes them all when a flush is
        due. Raises what the cache raises when that write fails (the counts of the failed write are
        dropped: a cache outage must not grow the process's memory)."""
        fields = _fields(obs)
        pending = _process_pending()
        with pending.lock:
            by_base = pending.by_alias.setdefault(self.alias, {})
            for base in (f"{_MINUTE_PREFIX}{current_minute(now)}", _TOTALS_KEY):
                counts = by_base.setdefault(base, {})
                for name, amount in fields.items():
                    counts[name] = counts.get(name, 0) + amount
            due = time.monotonic() - pending.flushed_at >= flush_seconds()
            if due:
                pending.flushed_at = time.monotonic()
        if due:
            self.flush()

    def flush(self) -> None:
        """Writes this process's pending counts (one pipelined round trip on Redis)."""
        by_base = _process_pending().take(self.alias)
        if not by_base:
            return
        backend = self.cache
        client = self._client(backend)
        if client is not None:
            pipe = client.pipeline(transaction=False)
            for base, counts in by_base.items():
                key = backend.make_key(base)
                for name, amount in counts.items():
                    pipe.hincrby(key, name, amount)
                if base != _TOTALS_KEY:
                    pipe.expire(key, MINUTE_TTL_SECONDS)
            pipe.execute()
            return
        for base, counts in by_base.items():
            self._incr_fields(base, counts, timeout=None if base == _TOTALS_KEY else MINUTE_TTL_SECONDS)

    def _incr_fields(self, base: str, fields: dict[str, int], *, timeout: int | None) -> None:
        names_key = f"{base}:{_FIELDS_SUFFIX}"
        known = self.cache.get(names_key) or []
        missing = [name for name in fields if name not in known]
        if missing:
            # Not atomic across processes, which only local memory (one process) relies on.
            self.cache.set(names_key, [*known, *missing], timeout)
        for name, amount in fields.items():
            key = f"{base}:{name}"
            self.cache.add(key, 0, timeout)
            try:
                self.cache.incr(key, amount)
            except ValueError:  # expired between add and incr
                self.cache.set(key, amount, timeout)

    # --- reading --------------------------------------------------------------------------------
    def minute(self, minute: int) -> RequestStats:
        return RequestStats.from_hash(self._read(f"{_MINUTE_PREFIX}{minute}"))

    def last_complete_minute(self, *, now: float | None = None) -> RequestStats:
        return self.minute(current_minute(now) - 1)

    def totals(self) -> RequestStats:
        return RequestStats.from_hash(self._read(_TOTALS_KEY))

    def _read(self, base: str) -> dict[str, int]:
        self.flush()  # this process's own requests are part of what it reads
        backend = self.cache
        client = self._client(backend)
        if client is not None:
            raw = client.hgetall(backend.make_key(base))
            return {key.decode(): int(value) for key, value in raw.items()}
        names = self.cache.get(f"{base}:{_FIELDS_SUFFIX}") or []
        values = self.cache.get_many([f"{base}:{name}" for name in names])
        prefix = len(base) + 1
        return {key[prefix:]: int(value) for key, value in values.items()}


@functools.cache
def _register_exit_flush() -> None:
    """Once per process: write what is pending when the process exits normally (a gunicorn worker
    stopping, a test run ending)."""
    atexit.register(_flush_at_exit)


def _flush_at_exit() -> None:
    for alias in list(_process_pending().by_alias):
        try:
            RequestMetricsStore(alias).flush()
        except Exception:  # exiting: the counts are lost, the exit is not
            logger.warning("request metrics: pending counts could not be written at exit", exc_info=True)
