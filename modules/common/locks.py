"""A lock held until the current transaction ends, for work that must be serialised per key (a learner)."""

from __future__ import annotations

from django.db import connection

__all__ = ["lock_until_commit"]


def lock_until_commit(namespace: int, key: int) -> None:
    """Waits for, then holds until the transaction ends, the lock named ``(namespace, key)``.

    PostgreSQL: a transaction-level advisory lock (``pg_advisory_xact_lock``), so two transactions
    naming the same key run their locked part one after the other. SQLite (``make run``) needs
    nothing: its transactions begin ``IMMEDIATE`` (config/env.py), so one writer at a time holds the
    whole database from its first statement. Call it inside ``transaction.atomic()``.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, key])
