from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client


def test_live_answers_without_touching_the_database(api_client: Client) -> None:
    # No django_db mark: pytest-django makes any database access raise, which would answer 500.
    response = api_client.get("/api/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_checks_database_and_cache(api_client: Client) -> None:
    response = api_client.get("/api/health/ready/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is True


@pytest.mark.django_db
def test_ready_is_503_when_the_database_is_unreachable(api_client: Client, settings) -> None:
    # Point the connection at a port where nothing listens: a real connection failure, no mock.
    original = connection.settings_dict.copy()
    connection.close()
    connection.settings_dict["PORT"] = "1"
    connection.settings_dict["OPTIONS"] = {
        key: value for key, value in original["OPTIONS"].items() if key != "pool"
    }
    try:
        response = api_client.get("/api/health/ready/")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["cache"]["ok"] is True
    assert "database" in body["detail"]


@pytest.mark.django_db
def test_ready_is_503_when_the_cache_is_unreachable(api_client: Client, settings) -> None:
    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    try:
        response = api_client.get("/api/health/ready/")
    finally:
        del caches["default"]
    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["ok"] is False
