"""A forked child retires its parent's Redis connections at the fork (modules/common/forks.py): their
sockets' copies closed there, the objects kept, so the garbage collector never finalizes them later
inside a task, where Django-Q2's alarm can be lost. Real fork, real Redis."""

from __future__ import annotations

import gc
import json
import os
import select
import signal

from django.core.cache import cache
from redis.connection import AbstractConnection

from modules.ops.requestmetrics import redis_client


def _connections() -> list[AbstractConnection]:
    # type(), not isinstance(): that would evaluate the lazy objects among everything alive
    return [thing for thing in gc.get_objects() if issubclass(type(thing), AbstractConnection)]


def _inherited_connections() -> int:
    return sum(
        1 for connection in _connections() if connection.pid != os.getpid() and connection._sock is not None
    )


def _in_child(probe) -> dict:
    """Runs ``probe`` in a forked child and answers what it returned (as JSON through a pipe)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's exit handlers
        try:
            try:
                result = probe()
            except BaseException as exc:  # reported, so the parent's assertion shows it
                result = {"error": repr(exc)}
            os.write(write, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        # A child stuck on a lock another thread held at the fork would hang the suite: 30 s at most.
        ready, _, _ = select.select([answer], [], [], 30)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        text = answer.read() if ready else ""
    os.waitpid(pid, 0)
    assert text, "the forked child did not answer within 30 s"
    return json.loads(text)


def test_a_forked_child_holds_none_of_its_parents_redis_connections_and_both_keep_working(
    monkeypatch,
) -> None:
    finalized: list[int] = []  # in the child: inherited connections finalized there
    original = AbstractConnection.__del__

    def finalizer(self: AbstractConnection) -> None:
        if self.pid != os.getpid():
            finalized.append(self.pid)
        original(self)

    monkeypatch.setattr(AbstractConnection, "__del__", finalizer)
    gc.collect()  # what earlier tests left to the collector is not this process's to retire
    cache.set("forks:probe", "from the parent")
    redis_client().ping()
    assert _inherited_connections() == 0  # the parent's own connections are not inherited ones
    assert len(_connections()) >= 2  # the cache's and the metrics client's

    def probe() -> dict:
        left = _inherited_connections()  # right after the fork, before any command
        value = cache.get("forks:probe")
        cache.set("forks:probe", "from the child")
        pong = redis_client().ping()
        gc.collect()  # as the collector would, at any moment of a task
        return {"inherited": left, "read": value, "pong": pong, "finalized": len(finalized)}

    child = _in_child(probe)

    assert child == {"inherited": 0, "read": "from the parent", "pong": True, "finalized": 0}
    assert cache.get("forks:probe") == "from the child"  # the parent's connection still works
    assert redis_client().ping() is True


def test_a_failing_dropper_is_logged_and_the_others_still_run(monkeypatch, caplog) -> None:
    from modules.common import forks

    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(forks, "_droppers", [broken, lambda: ran.append("next")])

    forks.after_fork_in_child()

    assert ran == ["next"]
    assert "retiring inherited connections failed" in caplog.text
