"""Settings come only from the environment: the parsers, and the settings module under real env vars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import (
    ImproperlyConfiguredEnv,
    cache_config,
    database_config,
    env_bool,
    env_int,
    env_list,
    redis_url_of_test_worker,
)

ROOT = Path(__file__).resolve().parents[2]


def test_empty_database_url_is_the_sqlite_file() -> None:
    config = database_config("", sqlite_path="/srv/resee/db.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "/srv/resee/db.sqlite3"


def test_postgres_url_uses_psycopg_pool_and_no_persistent_connections() -> None:
    config = database_config(
        "postgres://app:s%40cret@db.internal:6543/resee?sslmode=require", sqlite_path="x", pool_max=7
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("resee", "app", "s@cret")
    assert (config["HOST"], config["PORT"]) == ("db.internal", "6543")
    assert config["CONN_MAX_AGE"] == 0
    assert config["OPTIONS"]["pool"]["max_size"] == 7
    assert config["OPTIONS"]["sslmode"] == "require"


def test_a_request_waits_the_pool_timeout_and_a_connection_attempt_its_connect_timeout() -> None:
    pooled = database_config("postgres://db/resee", sqlite_path="x", pool_timeout=1.5, connect_timeout=4)
    unpooled = database_config("postgres://db/resee", sqlite_path="x", pool=False)
    own = database_config("postgres://db/resee?connect_timeout=9", sqlite_path="x")
    assert pooled["OPTIONS"]["pool"]["timeout"] == 1.5
    assert pooled["OPTIONS"]["connect_timeout"] == 4
    assert "pool" not in unpooled["OPTIONS"] and unpooled["OPTIONS"]["connect_timeout"] == 5
    assert own["OPTIONS"]["connect_timeout"] == 9  # the URL's own option wins


def test_sqlite_url_paths() -> None:
    assert database_config("sqlite:///rel.db", sqlite_path="x")["NAME"] == "rel.db"
    assert database_config("sqlite:////abs/path.db", sqlite_path="x")["NAME"] == "/abs/path.db"


def test_unknown_database_scheme_is_refused() -> None:
    with pytest.raises(ImproperlyConfiguredEnv):
        database_config("mysql://root@localhost/resee", sqlite_path="x")


def test_cache_is_redis_with_a_url_else_local_memory() -> None:
    assert cache_config("")["BACKEND"].endswith("LocMemCache")
    redis = cache_config("redis://127.0.0.1:6379/3")
    assert redis["BACKEND"] == "modules.common.cache.ResilientRedisCache"
    assert redis["LOCATION"] == "redis://127.0.0.1:6379/3"


def test_typed_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "off")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a.com, b.com,,")
    assert env_bool("X_BOOL", True) is False
    assert env_int("X_INT", 0) == 42
    assert env_list("X_LIST") == ["a.com", "b.com"]
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfiguredEnv):
        env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "many")
    with pytest.raises(ImproperlyConfiguredEnv):
        env_int("X_INT", 0)


def _settings_under(env: dict[str, str]) -> dict:
    """Import config.settings in a fresh interpreter with exactly these variables (plus PATH)."""
    code = (
        "import json, django; from django.conf import settings; "
        "print(json.dumps({'db': settings.DATABASES['default'], 'cache': settings.CACHES['default'], "
        "'q': settings.Q_CLUSTER, 'debug': settings.DEBUG, 'ai': settings.AI_PROVIDER, "
        "'ssl_redirect': getattr(settings, 'SECURE_SSL_REDIRECT', False), "
        "'hsts': [settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "settings.SECURE_HSTS_PRELOAD]}, default=str))"
    )
    base = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_default_is_sqlite_local_memory_and_orm_broker() -> None:
    loaded = _settings_under({"DEBUG": "1"})
    assert loaded["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert loaded["cache"]["BACKEND"].endswith("LocMemCache")
    assert loaded["q"]["orm"] == "default"
    assert loaded["q"]["retry"] > loaded["q"]["timeout"]
    assert loaded["q"]["catch_up"] is False
    assert loaded["ai"] == "local"


def test_production_environment_selects_postgres_redis_and_secure_defaults() -> None:
    loaded = _settings_under(
        {
            "SECRET_KEY": "k" * 50,
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/resee",
            "REDIS_URL": "redis://127.0.0.1:6379/1",
            "Q_BROKER": "redis",
            "ANTHROPIC_API_KEY": "sk-test",
        }
    )
    assert loaded["debug"] is False
    assert loaded["db"]["ENGINE"] == "django.db.backends.postgresql"
    assert loaded["cache"]["BACKEND"].endswith("RedisCache")
    assert loaded["q"]["redis"] == "redis://127.0.0.1:6379/1"
    assert loaded["ai"] == "claude"
    assert loaded["ssl_redirect"] is True
    assert loaded["hsts"] == [31_536_000, True, False]  # one year, subdomains included, no preload


def test_hsts_can_be_staged_from_the_environment() -> None:
    loaded = _settings_under(
        {"SECRET_KEY": "k" * 50, "SECURE_HSTS_SECONDS": "300", "SECURE_HSTS_INCLUDE_SUBDOMAINS": "0"}
    )
    assert loaded["hsts"] == [300, False, False]


def test_missing_secret_key_without_debug_refuses_to_start() -> None:
    base = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; settings.DEBUG"],
        env=base,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_postgres_connections_plan_the_hot_statements_once_unless_a_pooler_forbids_it() -> None:
    production = {
        "SECRET_KEY": "k" * 50,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/resee?options=-c%20work_mem%3D8MB",
    }
    on = _settings_under(production)["db"]["OPTIONS"]
    assert on["prepare_threshold"] == 2**31 - 1  # only prepare=True prepares (modules/common/compiled.py)
    assert on["options"] == "-c work_mem=8MB -c plan_cache_mode=force_generic_plan"  # the URL's kept
    off = _settings_under({**production, "DATABASE_PREPARED_STATEMENTS": "0"})["db"]["OPTIONS"]
    assert "prepare_threshold" not in off
    assert off["options"] == "-c work_mem=8MB"
    sqlite = _settings_under({"DEBUG": "1"})["db"]["OPTIONS"]
    assert "prepare_threshold" not in sqlite and "options" not in sqlite


@pytest.mark.parametrize(
    ("url", "worker", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "gw0", "redis://127.0.0.1:6379/1"),
        ("redis://127.0.0.1:6379/11", "gw3", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/12", "gw4", "redis://127.0.0.1:6379/1"),  # modulo Redis's 16 databases
        ("redis://:secret@cache:6380", "gw1", "redis://:secret@cache:6380/2"),
        ("redis://127.0.0.1:6379/0", "", "redis://127.0.0.1:6379/0"),  # not under xdist
        ("redis://127.0.0.1:6379/0", "master", "redis://127.0.0.1:6379/0"),
    ],
)
def test_each_xdist_worker_has_its_own_redis_database(url: str, worker: str, expected: str) -> None:
    assert redis_url_of_test_worker(url, worker) == expected


def test_a_pytest_worker_caches_in_its_own_database_and_its_child_processes_in_the_given_one() -> None:
    """Every test flushes its cache database (tests/conftest.py): two xdist workers on one database
    wiped each other's keys mid-test. Processes the tests start (no pytest imported) keep the URL given."""
    code = "{}import django; from django.conf import settings; print(settings.CACHES['default']['LOCATION'])"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        "PYTEST_XDIST_WORKER": "gw1",
    }
    locations = []
    for prefix in ("import pytest; ", ""):
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", code.format(prefix)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        locations.append(result.stdout.strip().splitlines()[-1])
    assert locations == ["redis://127.0.0.1:6379/5", "redis://127.0.0.1:6379/3"]
