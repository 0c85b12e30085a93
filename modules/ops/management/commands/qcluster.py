"""``manage.py qcluster``: Django-Q2's cluster, with a bounded stop.

Django-Q2 stops on SIGTERM/SIGINT by letting every worker finish its task, however long it takes (an
AI call, a stuck SMTP server): a deploy or ``docker stop`` then waits, and the container runtime
finally SIGKILLs the whole cluster, monitor included. Here the master gives the cluster
``Q_STOP_GRACE_SECONDS`` (default 12) to stop on its own, then SIGKILLs only the workers still busy;
the sentinel's normal stop goes on (the monitor saves the results of finished tasks) and the cluster
exits. A killed task was never acknowledged, so the broker hands it out again after ``Q_RETRY``
seconds; tasks are idempotent (docs/ops.md, "The worker").

The master alone orchestrates the stop, whether the signal reached only it or its whole process group
(systemd's ``KillMode=control-group``, ``kill 0``-style supervisors):

- Its signal handler only takes note; the stop runs in the master's main loop (``serve``). Django-Q2
  stops the cluster inside the handler, and ``stop_event.set()`` there can block forever: a
  multiprocessing ``Condition.notify_all`` waits, with no timeout, for every process counted as asleep
  in ``stop_event.wait()`` to wake, and a sentinel killed while asleep never does. Setting the event
  is bounded here too.
- The sentinel and every process it forks (pusher, monitor, workers) let a SIGTERM pass while the
  master is stopping the cluster. Django-Q2 gives them SIGTERM's default action, so the group's
  SIGTERM used to kill them all at once: the sentinel died asleep (the hang above), the monitor with
  the results it had not saved, the workers mid-task. Any other SIGTERM (a supervisor ending one
  worker, the sentinel ending its children as it exits after a crash, an orphan whose master is gone)
  still ends the process, as before, after at most ``SIGTERM_DECIDE_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from types import FrameType
from typing import Any

import psutil
from django.conf import settings
from django_q.cluster import Cluster, Sentinel, get_mp_context
from django_q.conf import setproctitle
from django_q.management.commands.qcluster import Command as DjangoQCommand

from modules.common.warmup import warm_up

logger = logging.getLogger(__name__)

KILL_WAIT_SECONDS = 5.0
SET_EVENT_SECONDS = 2.0  # setting stop_event cannot take longer unless a process died holding its lock
POLL_SECONDS = 0.2  # how often the master's main loop looks for a stop request or a dead sentinel
SIGTERM_DECIDE_SECONDS = 2.0  # how long a child waits to see whether a SIGTERM is the master's stop


def _busy_workers(sentinel_pid: int) -> list[psutil.Process]:
    """The sentinel's children still running a task (Django-Q2 titles them ``qcluster <name>
    processing <task>`` through setproctitle); every child but the monitor when titles are missing."""
    try:
        children = psutil.Process(sentinel_pid).children()
    except psutil.NoSuchProcess:
        return []
    busy = []
    for child in children:
        try:
            title = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "processing" in title or ("qcluster" not in title and "monitor" not in title):
            busy.append(child)
    return busy


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _running(process: psutil.Process) -> bool:
    """Whether ``process`` (the very one: psutil checks its start time) runs and is not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _is_alive(pid: int, created: float) -> bool:
    """Whether the process ``pid`` started at ``created`` still runs (not reused, not a zombie)."""
    try:
        process = psutil.Process(pid)
        return process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _let_the_master_stop_the_cluster(master_pid: int, master_created: float, stopping: Any) -> None:
    """SIGTERM's handler in the sentinel, inherited by every process it forks: ignored while the master
    stops the cluster (``stopping`` is set by the master's own handler, which the same group signal may
    reach a moment later); otherwise SIGTERM's default action, as Django-Q2 has it. A handler, unlike
    SIG_IGN, does not survive an ``exec``: a task's subprocesses keep SIGTERM's default."""

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        deadline = time.monotonic() + SIGTERM_DECIDE_SECONDS
        while _is_alive(master_pid, master_created):
            if stopping.value:
                return  # the master's stop: the sentinel stops this process when its turn comes
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)


def _run_sentinel(
    stop_event: Any,
    start_event: Any,
    cluster_id: uuid.UUID,
    broker: Any,
    timeout: int | None,
    master: tuple[int, float],
    stopping: Any,
) -> None:
    """Django-Q2's sentinel, with the SIGTERM handler above installed before it forks its processes
    (``Sentinel.__init__`` resets SIGTERM to its default: the signal is held back meanwhile)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        sentinel = Sentinel(stop_event, start_event, cluster_id, broker, timeout, start=False)
        _let_the_master_stop_the_cluster(*master, stopping)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    try:
        sentinel.start()  # guards the cluster until stop_event, then stops it
    finally:
        # The cluster has stopped: whatever the exiting sentinel still SIGTERMs must end now.
        stopping.value = 0


class GracefulCluster(Cluster):
    def __init__(self, broker: Any = None) -> None:
        self.stop_signal: int | None = None  # before Cluster.__init__ installs the handler
        self.stopping = get_mp_context().Value("b", 0, lock=False)  # shared with the cluster's processes
        self._family: dict[int, psutil.Process] = {}  # every process of the cluster seen so far
        self._family_seen = 0.0
        super().__init__(broker)

    def sig_handler(self, signum: int, frame: FrameType | None) -> None:
        """Only takes note (and tells the cluster's processes): ``serve`` stops the cluster. Nothing
        that can block runs here: the handler interrupts the main loop at any point."""
        self.stopping.value = 1
        if self.stop_signal is None:
            self.stop_signal = signum

    def start(self) -> int:
        """Django-Q2's ``Cluster.start`` with this module's sentinel; a stop signal during the start
        ends the wait (``serve`` then stops the cluster)."""
        if setproctitle:
            setproctitle.setproctitle(f"qcluster MainProcess {self.name}")
        context = get_mp_context()
        self.stop_event = context.Event()
        self.start_event = context.Event()
        master = psutil.Process()
        self.sentinel = context.Process(
            target=_run_sentinel,
            name=f"Process-{uuid.uuid4().hex}",
            args=(
                self.stop_event,
                self.start_event,
                self.cluster_id,
                self.broker,
                self.timeout,
                (master.pid, master.create_time()),
                self.stopping,
            ),
        )
        self.sentinel.start()
        logger.info("Q Cluster %s starting.", self.name)
        # Polled, never waited on: see Cluster.start.
        while self.stop_signal is None and not self.start_event.is_set():
            if not self.sentinel.is_alive():
                if self.sentinel.exitcode == 0:
                    break
                logger.error(
                    "Q Cluster %s failed to start. Sentinel exited with exit code %s.",
                    self.name,
                    self.sentinel.exitcode,
                )
                raise RuntimeError(
                    f"Q Cluster {self.name} failed to start: sentinel exited with code {self.sentinel.exitcode}"
                )
            time.sleep(0.1)
        return self.pid

    def serve(self) -> None:
        """The master's main loop: until a stop signal (then stops the cluster) or the sentinel's end."""
        assert self.sentinel is not None
        while self.stop_signal is None and self.sentinel.is_alive():
            self._remember_family()
            self.sentinel.join(POLL_SECONDS)
        if self.stop_signal is not None:
            self.stop()
        else:
            logger.error("the sentinel exited on its own (exit code %s)", self.sentinel.exitcode)
            self._kill_leftovers()

    def stop(self) -> bool:
        if self.sentinel is None or self.stop_event is None or not self.sentinel.is_alive():
            self._kill_leftovers()
            return False
        self.stopping.value = 1
        grace = float(getattr(settings, "Q_STOP_GRACE_SECONDS", 12))
        deadline = time.monotonic() + grace
        self._remember_family(now=True)
        logger.info(
            "Q Cluster %s stopping (grace %.0f s).",
            self.name,
            grace,
            extra={"signal": signal.Signals(self.stop_signal).name if self.stop_signal else None},
        )
        if not self._set_stop_event(min(SET_EVENT_SECONDS, grace)):
            logger.error(
                "the stop event is still being set after %.0f s (the sentinel is dead or stuck)",
                SET_EVENT_SECONDS,
            )
        self.sentinel.join(max(0.0, deadline - time.monotonic()))
        if self.sentinel.is_alive():
            busy = _busy_workers(self.sentinel.pid)
            logger.warning(
                "stopping: %d worker(s) still busy after %.0f s are killed; their tasks return to the queue",
                len(busy),
                grace,
                extra={"pids": [p.pid for p in busy]},
            )
            for process in busy:
                process.kill()
            self.sentinel.join(KILL_WAIT_SECONDS)
        if self.sentinel.is_alive():  # the sentinel itself is stuck: end the whole cluster
            logger.error("the sentinel did not stop; killing the cluster")
            self._remember_family(now=True)
            self.sentinel.kill()  # reaped by join, as multiprocessing expects (not by psutil)
            self._kill_leftovers()
            self.sentinel.join(KILL_WAIT_SECONDS)
        self._kill_leftovers()  # whatever a dead sentinel left behind
        logger.info("Q Cluster %s has stopped.", self.name)
        self.start_event = None
        self.stop_event = None
        return True

    def _set_stop_event(self, timeout: float) -> bool:
        """``stop_event.set()``, given ``timeout`` seconds: it blocks forever when a process counted as
        waiting on the event died (see the module's docstring); the flag is set before that wait, so
        a live sentinel still sees it."""
        setter = threading.Thread(target=self.stop_event.set, name="qcluster-stop", daemon=True)
        setter.start()
        setter.join(timeout)
        return not setter.is_alive()

    def _remember_family(self, *, now: bool = False) -> None:
        """Notes the cluster's processes (at most once a second unless ``now``): a sentinel that died
        leaves its pusher, monitor and workers behind, which only the master can then find and end."""
        clock = time.monotonic()
        if self.sentinel is None or (not now and clock - self._family_seen < 1.0):
            return
        self._family_seen = clock
        self._family = {pid: p for pid, p in self._family.items() if _running(p)}
        for process in _children(self.sentinel.pid):
            self._family.setdefault(process.pid, process)

    def _kill_leftovers(self) -> None:
        """SIGKILLs every process the sentinel forked that still runs."""
        targets = [p for p in self._family.values() if _running(p)]
        if not targets:
            return
        logger.warning(
            "killing %d process(es) left of the cluster",
            len(targets),
            extra={"pids": [p.pid for p in targets]},
        )
        for process in targets:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                continue
        deadline = time.monotonic() + KILL_WAIT_SECONDS  # a zombie counts as gone: its parent reaps it
        while any(_running(p) for p in targets) and time.monotonic() < deadline:
            time.sleep(0.05)


class Command(DjangoQCommand):
    help = "Starts the Django-Q2 cluster; SIGTERM stops it within Q_STOP_GRACE_SECONDS plus a few."

    def handle(self, *args: Any, **options: Any) -> None:
        settings.SECRET_KEY  # noqa: B018 - the cluster signs tasks: fail now if it is missing
        warm_up()  # before the fork: every worker process, recycled ones too, starts with it loaded
        cluster = GracefulCluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
            return
        cluster.serve()
