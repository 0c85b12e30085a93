"""Fixtures of the system tier: databases, servers and stacks of real processes."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

from tests.system.servers import PrivatePostgres, PrivateRedis
from tests.system.stack import Stack, base_env

MACHINE_DATABASE_URL = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/resee"
MACHINE_REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
# The unit tests flush their own db; the stacks keep to this one, with a prefix each. SYSTEM_REDIS_DB
# moves them elsewhere when two people share a Redis (each with their own unit-test db).
SYSTEM_REDIS_DB = int(os.environ.get("SYSTEM_REDIS_DB", "10"))


def _with_database(url: str, name: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=f"/{name}", query=""))


def _with_redis_db(url: str, db: int) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{db}"))


def _admin(sql: str) -> None:
    with psycopg.connect(_with_database(MACHINE_DATABASE_URL, "postgres"), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated once (the release step), copied for every stack of the tier."""
    name = f"resee_sys_tpl_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    workdir = tmp_path_factory.mktemp("template")
    url = _with_database(MACHINE_DATABASE_URL, name)
    stack = Stack(workdir, base_env(database_url=url, redis_url=MACHINE_REDIS_URL, workdir=workdir))
    try:
        stack.release()
        yield name
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed system test's report carries the last lines of its stacks' logs (web and workers):
    the processes are gone once the run ends, and their logs with the temporary directory."""
    report = yield
    stacks: list[Stack] = getattr(item, "_system_stacks", [])
    if report.failed and stacks:
        for index, stack in enumerate(stacks):
            report.sections.append((f"stack{index} logs", stack.log_tails()))
    return report


@pytest.fixture
def stack_factory(request: pytest.FixtureRequest, tmp_path: Path, template_database: str) -> Iterator[Any]:
    created: list[tuple[Stack, str | None]] = []
    request.node._system_stacks = []  # read by pytest_runtest_makereport

    def make(
        *,
        database_url: str | None = None,
        redis_url: str | None = None,
        release: bool = False,
        **env: str,
    ) -> Stack:
        own_db: str | None = None
        if database_url is None:
            own_db = f"resee_sys_{uuid.uuid4().hex[:10]}"
            _admin(f'CREATE DATABASE "{own_db}" TEMPLATE "{template_database}"')
            database_url = _with_database(MACHINE_DATABASE_URL, own_db)
        workdir = tmp_path / f"stack{len(created)}"
        workdir.mkdir()
        stack = Stack(
            workdir,
            base_env(
                database_url=database_url,
                redis_url=redis_url or _with_redis_db(MACHINE_REDIS_URL, SYSTEM_REDIS_DB),
                workdir=workdir,
                **env,
            ),
        )
        if release:
            stack.release()
        created.append((stack, own_db))
        request.node._system_stacks.append(stack)
        return stack

    yield make
    swallowed = []
    for stack, own_db in created:
        stack.stop()
        swallowed += stack.swallowed_exceptions()
        if own_db:
            _admin(f'DROP DATABASE IF EXISTS "{own_db}" WITH (FORCE)')
    assert not swallowed, f"exceptions printed and dropped by the stack's processes: {swallowed}"


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres().init()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The numbers the system tests measured (``record_property``), printed after the run."""
    rows = [
        (report.nodeid.split("::")[-1], name, value)
        for report in terminalreporter.getreports("passed")
        if "tests/system/" in report.nodeid and report.when == "call"
        for name, value in report.user_properties
    ]
    if rows:
        terminalreporter.section("system tier measurements")
        for test, name, value in rows:
            terminalreporter.write_line(f"{test}: {name} = {value}")
    # The whole error line of each failure, untruncated: the short summary after this cuts it to the
    # terminal's width, and a CI excerpt keeps the end of the output.
    failed = [r for r in terminalreporter.getreports("failed") if "tests/system/" in r.nodeid]
    if failed:
        terminalreporter.section("system tier failures")
        for report in failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else str(report.longrepr).splitlines()[-1]
            terminalreporter.write_line(f"{report.nodeid.split('::')[-1]}: {message[:3000]}")


@pytest.fixture(autouse=True)
def _quiet_http_client_logs() -> None:
    """The tests' own HTTP calls are not worth a log line each."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
