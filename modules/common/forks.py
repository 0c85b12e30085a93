"""What a forked process inherits of its parent's connections is retired at the fork, never finalized
inside a task.

Gunicorn's master forks its workers and Django-Q2's cluster forks its sentinel, pusher, monitor and
workers (and new workers as it recycles them). A child inherits its parent's Redis clients. redis-py
notices the fork on the child's first command and drops the inherited connections; they sit in
reference cycles until the cyclic garbage collector finalizes them, at any later moment: inside a task.
A signal that arrives during a collection is handled in the first Python code run, which is then such a
finalizer, and an exception raised in a finalizer is printed and dropped: that is where Django-Q2's
task alarm (SIGALRM) was lost in CI (docs/ops.md, "A task past `Q_TIMEOUT`").

So each module that keeps clients registers how to retire them (``drop_in_child``): in the child,
right after the fork, it closes the child's copies of their sockets and hands the objects to
``keep_until_exit``, which keeps them referenced for the life of the process (a few objects), so no
collection ever finalizes them; the module builds new clients on next use. Not ``gc.collect()`` at the
fork: a full collection writes to every object's header and unshares the copy-on-write memory the
children share with their parent (measured: the cluster's six processes, 62 MB of unique memory ->
350 MB).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

logger = logging.getLogger(__name__)

_droppers: list[Callable[[], None]] = []
_inherited: list[object] = []


def drop_in_child(dropper: Callable[[], None]) -> Callable[[], None]:
    """Registers ``dropper`` to run in every forked child before anything else runs there (usable as a
    decorator). It must only close and let go, never open anything."""
    _droppers.append(dropper)
    return dropper


def keep_until_exit(inherited: object) -> None:
    """Keeps what a forked child inherited and no longer uses referenced until the process exits."""
    _inherited.append(inherited)


def after_fork_in_child() -> None:
    for dropper in _droppers:
        try:
            dropper()
        except Exception:  # a dropper's bug must not stop the child from starting
            logger.exception("retiring inherited connections failed", extra={"dropper": dropper.__qualname__})


os.register_at_fork(after_in_child=after_fork_in_child)
