"""The system tier's own harness. A free port is found, released, then bound by the server, so another
process can take it in between (CI once failed so: 30 s waiting for a health check answered by whatever
held gunicorn's port). gunicorn, a private redis-server and a private PostgreSQL each move to a new port."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.system.servers import PrivatePostgres, PrivateRedis, free_port
from tests.system.stack import running

pytestmark = pytest.mark.system


def test_a_port_taken_before_gunicorn_binds_it_moves_the_stack_to_another_port(stack_factory) -> None:
    stack = stack_factory()
    taken = stack.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("0.0.0.0", taken))  # noqa: S104 (gunicorn binds 0.0.0.0 as the image does)
        squatter.listen()
        with running(stack, worker=False):
            assert stack.port != taken
            assert stack.get("/api/health/live/").status_code == 200
    assert "Connection in use" in stack.web_log.read_text()


def _squat(port: int) -> socket.socket:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    return squatter


def test_a_private_redis_whose_port_was_taken_listens_on_another() -> None:
    taken = free_port()
    server = PrivateRedis(port=taken)
    with _squat(taken):
        server.start()
        try:
            assert server.port != taken
            assert redis.Redis.from_url(server.url()).ping() is True
        finally:
            server.stop()


def test_a_private_postgres_whose_port_was_taken_listens_on_another() -> None:
    taken = free_port()
    server = PrivatePostgres(port=taken).init()
    try:
        with _squat(taken):
            server.start()
            assert server.port != taken
            assert server.psql("SELECT 1") == "1"
    finally:
        server.destroy()


def test_exceptions_printed_and_dropped_by_the_web_or_a_worker_are_found(tmp_path) -> None:
    """What every system test's stack is checked for at its end (conftest.stack_factory)."""
    from tests.system.stack import Stack

    stack = Stack(workdir=tmp_path, env={}, port=1)
    assert stack.swallowed_exceptions() == []  # no log yet
    stack.web_log.write_text('{"message": "GET /api/health/live/ 200"}\n')
    stack._workers_started = 2
    stack.worker_log(1).write_text("Exception ignored in: <function AbstractConnection.__del__ at 0x7f>\n")
    stack.worker_log(2).write_text("Traceback (most recent call last):\nTimeoutException: Task exceeded\n")
    assert stack.swallowed_exceptions() == [
        "Exception ignored in: <function AbstractConnection.__del__ at 0x7f>"
    ]
    stack.web_log.write_text("Exception ignored in: <_io.TextIOWrapper name='<stdout>'>\n")
    assert len(stack.swallowed_exceptions()) == 2
