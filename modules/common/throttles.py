"""Rate throttles for Ninja routes, counted in Django's cache (Redis in production).

They plug into Ninja's throttling (``NinjaAPI(throttle=...)``, ``Router(throttle=...)`` or
``@router.get(..., throttle=...)``): Ninja calls ``allow_request`` after authentication, answers 429
through the API's ``Throttled`` handler and sets ``Retry-After`` from ``wait()``.

Why not Ninja's ``SimpleRateThrottle`` counting as is: it keeps a list of timestamps per client and
writes it back with a read-modify-write, so concurrent requests overwrite each other's entries (a burst
of parallel login attempts counts as one) and every request (de)serializes up to ``rate`` floats.
These classes reuse its rate parsing and replace the counting with a fixed window counter
(``cache.add`` + ``cache.incr``, atomic in Redis): exact under concurrency and O(1) per request; a
client may spend up to twice its rate across a window boundary, which is fine for these limits.

While the shared cache is unreachable (``CacheUnavailable``) the counters fall back to this process's
memory: limits keep holding per process (N processes let up to N times the rate through) instead of
failing closed (locking every client out) or open (no limit at all).

``settings.THROTTLES_ENABLED = False`` turns every throttle off (load benchmarks only); rates given
by a settings name are read per request, so ``override_settings`` works. The client IP honours
``settings.NUM_PROXIES`` trusted proxies in front of the app (``X-Forwarded-For``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest
from ninja.throttling import SimpleRateThrottle

from modules.common.cache import CacheUnavailable

__all__ = [
    "IPRateThrottle",
    "RateThrottle",
    "UserOrIPRateThrottle",
    "WindowHit",
    "client_ip",
    "count_in_window",
    "forget_window",
    "parse_rate",
    "throttles_enabled",
]


def throttles_enabled() -> bool:
    return bool(getattr(settings, "THROTTLES_ENABLED", True))


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind ``NUM_PROXIES`` trusted proxies it is the entry that many places
    from the end of ``X-Forwarded-For`` (each proxy appends the address it saw, so entries further left
    are whatever the client claimed and are never trusted)."""
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    num_proxies = int(getattr(settings, "NUM_PROXIES", 0) or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if num_proxies <= 0 or not forwarded:
        return remote
    addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
    if not addresses:
        return remote
    return addresses[-min(num_proxies, len(addresses))]


def parse_rate(rate: str) -> tuple[int, int]:
    """Ninja's rate syntax as (events, seconds): ``"100/hour"`` -> (100, 3600), ``"10/15m"`` -> (10, 900).
    A malformed rate raises ValueError."""
    parsed = SimpleRateThrottle(rate)
    return int(parsed.num_requests or 0), int(parsed.duration or 0)


# Counters used while the shared cache is down (per process; bounded like any LocMemCache).
_fallback = LocMemCache("throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})


def _count(store: BaseCache, key: str, duration: int) -> int:
    """Adds one to the window's counter and answers it. ``incr()`` is atomic; only the first request
    of a window creates the key (``add()`` is atomic too, so of two first requests one creates and the
    other increments). The key outlives its window a little and is never read after it."""
    try:
        return int(store.incr(key))
    except ValueError:
        return 1 if store.add(key, 1, timeout=duration + 1) else int(store.incr(key))


@dataclass(frozen=True)
class WindowHit:
    """One event counted in a fixed window: the count it made, when the window ends (``wait`` seconds
    from now) and where it was counted, so it can be taken back."""

    key: str
    count: int
    wait: float
    store: BaseCache

    def take_back(self) -> None:
        """Uncounts the event (it turned out not to count). Nothing when its window's key is gone or
        the cache is down: the count then ends with its window anyway."""
        with contextlib.suppress(ValueError, CacheUnavailable):
            self.store.decr(self.key)


def _in_window(key: str, duration: int, now: float | None) -> tuple[str, float]:
    """The counter's key in the current fixed window of ``duration`` seconds, and the seconds left."""
    now = time.time() if now is None else now
    window = int(now // duration)
    return f"{key}:{window}", max((window + 1) * duration - now, 1.0)


def count_in_window(
    key: str, duration: int, *, now: float | None = None, store: BaseCache | None = None
) -> WindowHit:
    """Adds one to ``key``'s counter in the current fixed window of ``duration`` seconds and answers the
    count. While the shared cache is unreachable the count is kept in this process's memory."""
    windowed, wait = _in_window(key, duration, now)
    store = cache if store is None else store
    try:
        return WindowHit(windowed, _count(store, windowed, duration), wait, store)
    except CacheUnavailable:
        return WindowHit(windowed, _count(_fallback, windowed, duration), wait, _fallback)


def forget_window(key: str, duration: int) -> None:
    """Drops ``key``'s counter of the current window (wherever it was counted)."""
    windowed, _ = _in_window(key, duration, None)
    cache.delete(windowed)  # a no-op while the cache is down
    _fallback.delete(windowed)


class RateThrottle(SimpleRateThrottle):
    """A fixed-window counter per ``scope`` and client identity.

    The rate is a literal (``rate="100/hour"``), the name of a setting (``rate_setting=...``) or
    whatever ``rate_for(request)`` answers in a subclass. ``identity(request)`` says who is counted.
    """

    cache = cache
    timer: Callable[[], float] = time.time

    def __init__(
        self, rate: str | None = None, *, scope: str = "default", rate_setting: str | None = None
    ) -> None:
        if rate is None and rate_setting is None and type(self).rate_for is RateThrottle.rate_for:
            raise ValueError("A throttle needs a rate, a rate_setting or a rate_for() override")
        self.scope = scope
        self._rate = rate
        self._rate_setting = rate_setting
        if rate is not None:
            self.parse_rate(rate)  # a malformed literal fails at import time, not on the first request
        # One instance serves every request of the process; per-request state lives per thread.
        self._local = threading.local()

    def rate_for(self, request: HttpRequest) -> str:
        if self._rate is not None:
            return self._rate
        return str(getattr(settings, str(self._rate_setting)))

    def identity(self, request: HttpRequest) -> str:
        return f"ip:{client_ip(request)}"

    def get_cache_key(self, request: HttpRequest) -> str:
        return f"throttle:{self.scope}:{self.identity(request)}"

    def allow_request(self, request: HttpRequest) -> bool:
        self._local.wait = None
        if not throttles_enabled():
            return True
        num_requests, duration = self.parse_rate(self.rate_for(request))
        if not num_requests or not duration:
            return True
        hit = count_in_window(self.get_cache_key(request), duration, now=self.timer(), store=self.cache)
        if hit.count <= num_requests:
            return True
        self._local.wait = hit.wait
        return False

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)


class IPRateThrottle(RateThrottle):
    """Counts per client IP, whoever is logged in (auth endpoints, public probes)."""


class UserOrIPRateThrottle(RateThrottle):
    """Counts per authenticated user (``request.auth`` with a ``pk``), else per client IP."""

    def identity(self, request: HttpRequest) -> str:
        user_id = getattr(getattr(request, "auth", None), "pk", None)
        if user_id is not None:
            return f"user:{user_id}"
        return super().identity(request)
