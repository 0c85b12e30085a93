"""A small typed reader of the environment: the only place settings come from."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, unquote, urlparse

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ImproperlyConfiguredEnv(ValueError):
    """An environment variable holds a value its setting cannot use."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfiguredEnv(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{name} must be a number, got {raw!r}") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_config(
    url: str,
    *,
    sqlite_path: str,
    pool_max: int = 10,
    pool: bool = True,
    conn_max_age: int = 60,
    pool_timeout: float = 3,
    connect_timeout: int = 5,
) -> dict:
    """Django DATABASES['default'] for a URL; SQLite file when the URL is empty.

    PostgreSQL uses psycopg 3 with Django's connection pool (``OPTIONS["pool"]``), which
    requires ``CONN_MAX_AGE = 0``: the pool, not Django, keeps connections open. Without the pool
    (``pool=False``: the forking Django-Q2 cluster, see docs/ops.md) each process keeps its own
    persistent connection for ``conn_max_age`` seconds, checked before reuse.

    While the server cannot be reached a request waits ``pool_timeout`` seconds for a connection, then
    answers 503 (a process without the pool: one attempt of at most ``connect_timeout`` seconds, the
    driver's ``connect_timeout``, which the URL's own query option overrides).
    """
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    parsed = urlparse(url)
    scheme = parsed.scheme.split("+")[0]
    if scheme == "sqlite":
        path = unquote(parsed.path)
        name = path[1:]  # sqlite:///relative.db -> "relative.db"; sqlite:////abs.db -> "/abs.db"
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name or sqlite_path,
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    if scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfiguredEnv(f"DATABASE_URL scheme {parsed.scheme!r} is not supported")
    query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    max_size = int(query.pop("pool_max", pool_max))
    options: dict = {"connect_timeout": connect_timeout}
    if pool:
        options["pool"] = {"min_size": 1, "max_size": max_size, "timeout": pool_timeout}
    for key, value in query.items():
        options[key] = _option_value(value)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": 0 if pool else conn_max_age,
        "CONN_HEALTH_CHECKS": not pool,
        "OPTIONS": options,
    }


def _option_value(raw: str) -> object:
    """URL query values for driver options: booleans and integers as such, the rest as strings."""
    lowered = raw.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered == "none":
        return None
    return int(raw) if raw.isdigit() else raw


def cache_config(url: str) -> dict:
    """Django CACHES['default']: Redis when a URL is given, else local memory."""
    if not url:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "resee"}
    return {
        # Django's RedisCache that degrades to misses while Redis is down (modules/common/cache.py).
        "BACKEND": "modules.common.cache.ResilientRedisCache",
        "LOCATION": url,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "resee"),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }


def redis_url_of_test_worker(url: str, worker: str) -> str:
    """The Redis database of pytest-xdist's worker ``worker`` (``gw0``, ``gw1``...): the URL's database
    plus the worker's number plus one, modulo 16 (Redis's default count). Each worker has its own test
    database already; every test clears the cache (``FLUSHDB``), which wiped the keys of a test running
    at the same moment in another worker."""
    parsed = urlparse(url)
    if not worker.startswith("gw") or not worker[2:].isdigit() or parsed.scheme not in ("redis", "rediss"):
        return url
    path = parsed.path.lstrip("/")
    base = int(path) if path.isdigit() else 0
    return parsed._replace(path=f"/{(base + int(worker[2:]) + 1) % 16}").geturl()
