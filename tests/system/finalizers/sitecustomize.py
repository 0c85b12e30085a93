"""Loaded at start-up by every process of a stack whose PYTHONPATH names this folder (Python imports
``sitecustomize`` by itself): logs each redis connection finalized in a process other than the one
that opened it, with the process and where it ran, to ``$RESEE_FINALIZER_LOG/<pid>.log``.

Such a finalizer runs when the garbage collector gets to a connection a forked process inherited; a
signal arriving during that collection (Django-Q2's task alarm) is handled inside the finalizer and
lost (docs/ops.md, "A task past ``Q_TIMEOUT``"). tests/system/test_portability.py expects none."""

import os
import traceback
from pathlib import Path

_folder = os.environ.get("RESEE_FINALIZER_LOG")
if _folder:
    from redis.connection import AbstractConnection

    _finalize = AbstractConnection.__del__

    def _logged(self: AbstractConnection) -> None:
        try:
            if getattr(self, "pid", os.getpid()) != os.getpid():
                frames = traceback.extract_stack(limit=5)[:-1]
                where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in reversed(frames))
                with open(Path(_folder) / f"{os.getpid()}.log", "a") as log:
                    log.write(f"pid {os.getpid()} finalized a connection of pid {self.pid} at {where}\n")
        except Exception:  # noqa: S110 - a probe must never change what it observes
            pass
        _finalize(self)

    AbstractConnection.__del__ = _logged
