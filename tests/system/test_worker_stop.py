"""A stop signal to the worker's whole process group, as systemd (``KillMode=control-group``) and
``kill 0``-style supervisors send it: every process of the cluster is gone within 20 s
(``Q_STOP_GRACE_SECONDS``, 12, plus a few), idle or mid-task, and an interrupted task comes back.

Before the fix the master hung forever: the group's SIGTERM killed the sentinel (Django-Q2 gives it
SIGTERM's default action) while it slept in ``stop_event.wait()``, and the master's signal handler then
blocked in ``stop_event.set()``, whose ``Condition.notify_all`` waits, without a timeout, for that dead
sleeper to acknowledge (docs/ops.md, "Stopping").
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import suppress

import psutil
import pytest

from tests.system.jobs import finished_by_next_cluster, learner, two_question_job
from tests.system.peers import AnthropicServer
from tests.system.stack import Stack, running

pytestmark = pytest.mark.system

STOP_TIMEOUT = 20.0
CLUSTER_SIZE = 6  # master, sentinel, pusher, monitor and 2 workers (Q_WORKERS' default)


def _group(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        with suppress(ProcessLookupError, psutil.Error):
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
    return members


def _describe(procs: list[psutil.Process]) -> str:
    described = []
    for proc in procs:
        try:
            status = proc.status()
        except psutil.Error:
            described.append(f"{proc.pid} (gone)")
            continue
        try:
            title = " ".join(proc.cmdline())[:70]
        except psutil.Error:  # a zombie has no command line
            title = ""
        described.append(f"{proc.pid} {status} {title!r}")
    return ", ".join(described)


def signal_worker_group(
    stack: Stack, signum: int = signal.SIGTERM, *, timeout: float = STOP_TIMEOUT
) -> float:
    """Sends ``signum`` to the worker's whole process group (``start_worker`` starts it in a session
    of its own) and returns the seconds until every process of the group exited; fails, after
    SIGKILLing what is left, when anything is still there after ``timeout``."""
    assert stack.worker is not None
    master = stack.worker
    pgid = master.pid
    assert os.getpgid(master.pid) == pgid, "the worker is not the leader of its own process group"
    family = _group(pgid)
    assert len(family) >= CLUSTER_SIZE, f"the cluster is not complete: {_describe(family)}"
    start = time.monotonic()
    os.killpg(pgid, signum)
    _gone, alive = psutil.wait_procs(family, timeout=timeout)
    elapsed = time.monotonic() - start
    left = alive + [proc for proc in _group(pgid) if proc not in alive]  # newly forked ones too
    if left:
        detail = _describe(left)
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        psutil.wait_procs(left, timeout=5)
        master.wait(timeout=5)
        stack.worker = None
        raise AssertionError(
            f"{len(left)} of the worker group's processes still alive {timeout:.0f} s after "
            f"{signal.Signals(signum).name} to the group: {detail}"
        )
    master.wait(timeout=5)
    stack.worker = None
    master_exit = next(proc.returncode for proc in family if proc.pid == master.pid)
    assert master_exit == 0, f"the master exited with {master_exit}"
    return elapsed


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_idle_worker_group_stops_every_process_of_it_within_20_seconds(
    stack_factory, record_property, signum: int
) -> None:
    stack = stack_factory()
    stack.start_worker()
    seconds = signal_worker_group(stack, signum)
    log = stack.worker_log(1).read_text(errors="replace")
    assert "has stopped." in log, log[-2000:]
    assert "Traceback" not in log, log[-4000:]
    record_property(
        f"seconds from {signal.Signals(signum).name} to the group until it was gone (idle)", round(seconds, 1)
    )


def test_sigterm_to_the_worker_group_mid_task_stops_it_in_time_and_the_task_comes_back(
    stack_factory, record_property
) -> None:
    with AnthropicServer() as anthropic:
        stack = stack_factory(
            **anthropic.env(),
            # As in test_faults: the task's own timeout stays past the 12 s of grace (its alarm must not
            # end the task first) and the broker hands the task out again soon after.
            Q_TIMEOUT="30",
            Q_RETRY="32",
        )
        with running(stack):
            access, ids = learner(stack, "group-stopper@example.com", 1)
            with anthropic.holding():  # the job's provider call hangs while the group is told to stop
                answer = stack.post("/api/ai-review/jobs/", two_question_job(ids), token=access)
                assert answer.status_code == 202, answer.text
                anthropic.wait_for_held_call()
                seconds = signal_worker_group(stack, signal.SIGTERM)
            record_property(
                "seconds from SIGTERM to the group until it was gone (busy worker)", round(seconds, 1)
            )
            log = stack.worker_log(1).read_text(errors="replace")
            assert "still busy" in log and "has stopped." in log, log[-3000:]

            job_id = answer.json()["id"]
            stack.start_worker()  # the interrupted task comes back to the next cluster
            finished_by_next_cluster(stack, access, job_id, questions=2)
            idle = signal_worker_group(stack, signal.SIGTERM)
            record_property(
                "seconds from SIGTERM to the group until it was gone (idle, 2nd cluster)", round(idle, 1)
            )
