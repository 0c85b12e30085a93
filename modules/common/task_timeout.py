"""A queued task stopped at the worker's timeout, for the services whose jobs must say so.

At ``Q_TIMEOUT`` Django-Q2's worker raises ``TimeoutException`` from a SIGALRM handler, wherever the task
is: a provider call, a statement, a transaction (which then rolls back). It is a ``SystemExit``, so
``except Exception`` never sees it; the queue records the task failed and, with ``ack_failures``, never
hands it out again. A service whose job would otherwise read ``running`` until a sweep catches
``TaskTimeout``, calls ``after_task_timeout()``, and ends or continues its job (docs/ops.md).

The alarm can be lost: a signal handler's exception raised while Python runs a finalizer (``__del__``,
e.g. a redis connection's being collected) is printed as "Exception ignored" and dropped. The task then
runs on until the cluster's guard kills its process three seconds later, and its job reads ``running``.
A job that reports progress therefore also checks a ``Deadline`` of its own there.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.db import connection
from django_q.exceptions import TimeoutException as TaskTimeout

__all__ = ["Deadline", "TaskTimeout", "after_task_timeout"]


class Deadline:
    """The worker's task timeout (``Q_TIMEOUT``) counted by the task itself from its start: ``check()``
    raises ``TaskTimeout``, as the alarm would have, once it has passed."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = settings.Q_CLUSTER.get("timeout") if seconds is None else seconds
        self.ends = time.monotonic() + self.seconds if self.seconds and self.seconds > 0 else math.inf

    def check(self) -> None:
        if time.monotonic() >= self.ends:
            raise TaskTimeout(f"Task exceeded maximum timeout value ({self.seconds} seconds)")


def after_task_timeout() -> None:
    """The alarm may have cut a statement mid-protocol: the next statement gets a fresh connection,
    unless an outer transaction holds this one (a task run synchronously inside one, as in tests)."""
    if not connection.in_atomic_block:
        connection.close()
