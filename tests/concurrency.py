"""Running work in real threads released together, each on its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

# Threads racing on row locks need PostgreSQL: SQLite's test database is one in-memory file whose
# connections fail at once with "database table is locked" instead of waiting for each other.
needs_row_locks = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")


def run_together(work: Callable[[int], Any], threads: int, *, timeout: float = 120) -> list[Any]:
    """Runs ``work(i)`` in ``threads`` threads released at the same moment; re-raises their errors."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=target, args=(index,)) for index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=timeout)
    if errors:
        raise errors[0]
    return results
