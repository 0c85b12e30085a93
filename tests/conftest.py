"""Shared fixtures. Tests run against real PostgreSQL and Redis (DATABASE_URL, REDIS_URL).

Clients: ``api_client`` (anonymous), ``auth_client`` (as ``user``), ``client_for(user)`` (as anyone),
``staff_api_client`` (the API as a staff user: /api/monitoring/, admin analytics); the Django admin
site is pytest-django's own ``admin_client`` (logged in as its superuser ``admin_user``). Threads
released together: ``tests.concurrency.run_together``. A clock inside one minute: ``mid_minute``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from time_machine import TimeMachineFixture


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    """Throttle counters, cached values and request counts never leak from one test into the next
    (the request metrics a process has not written yet are its memory, not the cache's)."""
    from modules.ops.requestmetrics import discard_pending

    cache.clear()
    discard_pending()
    yield
    cache.clear()


@pytest.fixture
def mid_minute(time_machine: TimeMachineFixture) -> datetime:
    """The clock moved to second 20 of the current minute, and running: whatever a test does next
    lands in this minute (request metrics' buckets, a cron's next run) unless it takes 40 seconds."""
    now = datetime.now(UTC).replace(second=20, microsecond=0)
    time_machine.move_to(now, tick=True)
    return now


@pytest.fixture
def api_client() -> Client:
    return Client()


@pytest.fixture
def user(db):
    from modules.identity.testing import make_user

    return make_user()


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    """A Django test client authenticated (JWT) as the user it is given."""
    from modules.identity.testing import auth_headers

    def build(user: Any) -> Client:
        return Client(headers=auth_headers(user))

    return build


@pytest.fixture
def auth_client(user, client_for) -> Client:
    return client_for(user)


@pytest.fixture
def staff_api_client(db, client_for) -> Client:
    """The API as a staff user (a JWT, like any client of the admin routes)."""
    from modules.identity.testing import make_admin

    return client_for(make_admin())


@pytest.fixture
def task_timeout_one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks run inline meet Django-Q2's own alarm (SIGALRM, then its TimeoutException inside the
    task) after 1 s instead of Q_TIMEOUT: its worker function binds the timeout as a default."""
    from django_q import worker

    monkeypatch.setattr(worker.worker, "__defaults__", (1,))
