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
