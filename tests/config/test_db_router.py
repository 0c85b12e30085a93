"""The read-replica routing (config/db_router.py, modules/common/db.py): the primary unless a read is
lag-tolerant and the replica has what its reader wrote.

The "replica" here is a second alias of the test database: a primary, so ``pg_last_wal_replay_lsn()``
is NULL and a reader with a remembered position always stays on the primary. A real lagging standby
is driven in tests/system/test_replica.py.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections, router, transaction
from django.db.utils import load_backend
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from config.db_router import LagAwareReplicaRouter
from modules.common import db
from modules.identity.testing import auth_headers, make_user
from modules.learning.models import Content
from modules.learning.testing import make_content

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="WAL positions are PostgreSQL's")

ROUTER = "config.db_router.LagAwareReplicaRouter"
LSN = re.compile(r"^[0-9A-F]+/[0-9A-F]+$")


def _add_replica(**changes: Any) -> Iterator[None]:
    """Settings name a replica (what the routing reads) and ``connections`` holds its wrapper. The
    wrapper is made by hand rather than from ``connections.settings``: Django's test case forbids
    aliases that were configured when the test started and are not in its ``databases``."""
    settings_dict = {**connections.settings[db.PRIMARY], **changes}
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, db.REPLICA)
    connections[db.REPLICA] = wrapper
    databases = {**settings.DATABASES, db.REPLICA: settings_dict}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Overriding setting DATABASES")
            with override_settings(DATABASES=databases, DATABASE_ROUTERS=[ROUTER]):
                yield
    finally:
        wrapper.close()
        if wrapper.pool is not None:
            wrapper.close_pool()
        del connections[db.REPLICA]


@pytest.fixture
def replica(transactional_db: None) -> Iterator[None]:
    """A replica alias (the router installed); no test transaction, so nothing pins by itself."""
    yield from _add_replica()


@pytest.fixture
def dead_replica(transactional_db: None) -> Iterator[None]:
    """A replica alias on a port nothing listens on (no pool: a pool would wait its timeout)."""
    options = {
        key: value for key, value in connections.settings[db.PRIMARY]["OPTIONS"].items() if key != "pool"
    }
    yield from _add_replica(HOST="127.0.0.1", PORT="1", OPTIONS=options, CONN_MAX_AGE=0)


def _replica_queries(client: Client, path: str) -> list[str]:
    with CaptureQueriesContext(connections[db.REPLICA]) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return [query["sql"] for query in queries.captured_queries]


def test_without_a_replica_every_read_uses_the_primary() -> None:
    assert db.REPLICA not in settings.DATABASES
    with db.replica_reads() as alias:
        assert alias == db.PRIMARY
        assert db.read_alias() == db.PRIMARY


def test_reads_use_the_primary_unless_marked_lag_tolerant(replica: None) -> None:
    user = make_user()
    make_content(user=user)
    with db.request_scope(reader=lambda: None):
        assert router.db_for_read(Content) == db.PRIMARY
        with db.replica_reads() as alias, CaptureQueriesContext(connections[db.REPLICA]) as on_replica:
            assert alias == db.REPLICA
            assert Content.objects.filter(user=user).count() == 1
        assert len(on_replica.captured_queries) == 1
        assert router.db_for_read(Content) == db.PRIMARY


def test_a_write_pins_the_rest_of_the_unit_of_work_to_the_primary(replica: None) -> None:
    with db.request_scope(reader=lambda: None):
        with db.replica_reads():
            assert router.db_for_read(Content) == db.REPLICA
            make_user()  # a write inside the lag-tolerant block
            assert router.db_for_read(Content) == db.PRIMARY
        with db.replica_reads() as alias:
            assert alias == db.PRIMARY
    with db.request_scope(reader=lambda: None), db.replica_reads() as alias:
        assert alias == db.REPLICA  # the next unit of work starts unpinned


def test_an_open_transaction_reads_the_primary(replica: None) -> None:
    with db.request_scope(reader=lambda: None), transaction.atomic(), db.replica_reads() as alias:
        assert alias == db.PRIMARY


def test_a_lazy_queryset_is_bound_to_the_database_chosen_when_it_was_built(replica: None) -> None:
    with db.request_scope(reader=lambda: None):
        assert db.lag_tolerant(Content.objects.all()).db == db.REPLICA
        make_user()
        assert db.lag_tolerant(Content.objects.all()).db == db.PRIMARY


def test_writes_and_migrations_stay_on_the_primary() -> None:
    routing = LagAwareReplicaRouter()
    assert routing.db_for_write(Content) == db.PRIMARY
    assert routing.allow_migrate(db.PRIMARY, "learning") is True
    assert routing.allow_migrate(db.REPLICA, "learning") is False


def test_a_request_that_wrote_remembers_its_users_wal_position(replica: None) -> None:
    user = make_user()
    client = Client(headers=auth_headers(user))
    key = f"db:written-at:{user.pk}"

    assert client.get("/api/accounts/users/me/").status_code == 200
    assert cache.get(key) is None  # a read remembers nothing

    answer = client.patch("/api/accounts/users/me/", {"first_name": "Ada"}, content_type="application/json")

    assert answer.status_code == 200
    assert LSN.match(cache.get(key))


def test_a_reader_with_no_recent_write_reads_analytics_from_the_replica(replica: None) -> None:
    user = make_user()
    make_content(user=user)
    client = Client(headers=auth_headers(user))

    on_replica = _replica_queries(client, "/api/analytics/dashboard/")

    assert any("learning_content" in sql for sql in on_replica)
    assert _replica_queries(client, "/api/review/today/") == []  # not lag-tolerant
    assert _replica_queries(client, "/api/content/") == []


def test_analytics_right_after_a_write_read_the_primary_until_the_replica_has_it(replica: None) -> None:
    user = make_user()
    client = Client(headers=auth_headers(user))
    created = client.post("/api/content/", {"title": "t", "body": "b"}, content_type="application/json")
    assert created.status_code == 201, created.content

    on_replica = _replica_queries(client, "/api/analytics/dashboard/")

    # Only the probe of the replica's replayed position (NULL on this non-standby: not caught up).
    assert len(on_replica) == 1 and "pg_last_wal_replay_lsn" in on_replica[0]
    assert client.get("/api/analytics/dashboard/").json()["total_content"] == 1


def test_one_requests_write_does_not_pin_the_next_request_of_another_user(replica: None) -> None:
    writer, reader = make_user(), make_user()
    make_content(user=reader)
    writing = Client(headers=auth_headers(writer))
    assert (
        writing.post(
            "/api/content/", {"title": "t", "body": "b"}, content_type="application/json"
        ).status_code
        == 201
    )

    on_replica = _replica_queries(Client(headers=auth_headers(reader)), "/api/analytics/dashboard/")

    assert any("learning_content" in sql for sql in on_replica)


@pytest.mark.parametrize(
    "backend", ["django.core.cache.backends.redis.RedisCache", "modules.common.cache.ResilientRedisCache"]
)
def test_an_unreachable_cache_sends_lag_tolerant_reads_to_the_primary(replica: None, backend: str) -> None:
    user = make_user()
    dead_cache = {
        "BACKEND": backend,
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    with (
        override_settings(CACHES={"default": dead_cache}),
        db.request_scope(reader=lambda: user.pk),
        db.replica_reads() as alias,
    ):
        assert alias == db.PRIMARY


def test_an_unreachable_replica_sends_a_writers_lag_tolerant_reads_to_the_primary(dead_replica: None) -> None:
    user = make_user()
    cache.set(f"db:written-at:{user.pk}", "0/1")
    with db.request_scope(reader=lambda: user.pk), db.replica_reads() as alias:
        assert alias == db.PRIMARY
