"""Shared fixtures. Tests run against real PostgreSQL and Redis (DATABASE_URL, REDIS_URL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    """Throttle counters and cached values never leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> Client:
    return Client()


@pytest.fixture
def user(db):
    from modules.identity.testing import make_user

    return make_user()


@pytest.fixture
def auth_client(user) -> Client:
    from modules.identity.testing import auth_headers

    return Client(headers=auth_headers(user))
