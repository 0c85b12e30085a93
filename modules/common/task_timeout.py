"""A queued task stopped at the worker's timeout, for the services whose jobs must say so.

At ``Q_TIMEOUT`` Django-Q2's worker raises ``TimeoutException`` from a SIGALRM handler, wherever the task
is: a provider call, a statement, a transaction (which then rolls back). It is a ``SystemExit``, so
``except Exception`` never sees it; the queue records the task failed and, with ``ack_failures``, never
hands it out again. A service whose job would otherwise read ``running`` until a sweep catches
``TaskTimeout``, calls ``after_task_timeout()``, and ends or continues its job (docs/ops.md).
"""

from __future__ import annotations

from django.db import connection
from django_q.exceptions import TimeoutException as TaskTimeout

__all__ = ["TaskTimeout", "after_task_timeout"]


def after_task_timeout() -> None:
    """The alarm may have cut a statement mid-protocol: the next statement gets a fresh connection,
    unless an outer transaction holds this one (a task run synchronously inside one, as in tests)."""
    if not connection.in_atomic_block:
        connection.close()
