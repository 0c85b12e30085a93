"""AI generation jobs run by the real worker: done once, even when the worker is killed mid-job."""

from __future__ import annotations

import re
import time

import pytest

from tests.system.peers import AnthropicServer
from tests.system.stack import Stack, running

pytestmark = pytest.mark.system

PRO_USER = """
from modules.identity.testing import make_user
make_user(email={email!r}, password={password!r}, tier="PRO")
"""
PASSWORD = "a-long-passphrase-1"
MATERIAL = (
    "Photosynthesis converts light energy into chemical energy. Chlorophyll absorbs sunlight in the "
    "thylakoid membranes, and the Calvin cycle fixes carbon dioxide into glucose inside the stroma."
)


def _learner_with_contents(stack: Stack, email: str, n: int) -> tuple[str, list[int]]:
    stack.shell(PRO_USER.format(email=email, password=PASSWORD))
    access = stack.login(email, PASSWORD)
    ids = []
    with stack.client(access) as http:
        for i in range(n):
            answer = http.post("/api/content/", json={"title": f"Plants {i}", "body": MATERIAL})
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
    return access, ids


def _start_job(stack: Stack, access: str, ids: list[int], count: int) -> int:
    body = {
        "content_ids": ids,
        "question_types": ["multiple_choice", "fill_blank"],
        "difficulty_level": "beginner",
        "count": count,
    }
    answer = stack.post("/api/ai-review/jobs/", body, token=access)
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def _finished(stack: Stack, access: str, job_id: int, *, timeout: float) -> dict:
    seen: dict = {}

    def done() -> bool:
        with stack.client(access) as http:
            seen.update(http.get(f"/api/ai-review/jobs/{job_id}/").json())
        return seen["status"] in {"done", "failed"}

    stack.wait_until(
        done,
        timeout=timeout,
        what=f"job {job_id} to finish",
        explain=lambda: stack.job_diagnosis(access, job_id),
    )
    return seen


def test_a_generation_job_is_done_by_the_worker(stack_factory, record_property) -> None:
    stack = stack_factory()
    with running(stack):
        access, ids = _learner_with_contents(stack, "maker@example.com", 2)
        start = time.monotonic()
        job_id = _start_job(stack, access, ids, count=3)
        job = _finished(stack, access, job_id, timeout=60)
        record_property("job of 2 contents x 3 questions done in (s)", round(time.monotonic() - start, 1))
        assert job["status"] == "done", job
        assert len(job["questions"]) == 6
        usage = stack.get("/api/ai-review/usage/", headers={"Authorization": f"Bearer {access}"}).json()
        assert usage["questions_generated"] == 6
    assert stack.broker_errors() == []


def test_a_worker_killed_mid_job_leaves_it_to_the_next_worker_which_finishes_it_once(
    stack_factory, record_property
) -> None:
    with AnthropicServer() as anthropic:
        stack = stack_factory(
            **anthropic.env(),
            AI_MAX_RETRIES="0",
            Q_TIMEOUT="20",  # room for a slow, loaded machine; retry must exceed it
            Q_RETRY="22",  # a task whose worker died is handed out again after 22 s
        )
        with running(stack):
            access, ids = _learner_with_contents(stack, "survivor@example.com", 2)
            with anthropic.holding(from_call=2):  # the first content's call passes, the second hangs
                job_id = _start_job(stack, access, ids, count=2)
                anthropic.wait_for_held_call()
                stack.kill_worker()  # SIGKILL to the whole cluster while the job runs
            killed_at = time.monotonic()
            stack.start_worker()
            job = _finished(stack, access, job_id, timeout=60)
            record_property("job finished after the kill (s)", round(time.monotonic() - killed_at, 1))
            usage = stack.get("/api/ai-review/usage/", headers={"Authorization": f"Bearer {access}"}).json()
            with stack.client(access) as http:
                listed = http.get("/api/ai-review/questions/", params={"limit": 100}).json()
        assert job["status"] == "done", job
        per_content = sorted(q.get("content_id") for q in listed["items"])
        assert listed["count"] == 4 and per_content == sorted(ids * 2)  # each content's questions once
        assert len(job["questions"]) == 4
        assert usage["questions_generated"] == 4  # the quota counts them once
        assert anthropic.calls == 3  # content 1 once; content 2 killed once, then redone


def test_a_job_longer_than_a_task_may_run_is_finished_across_tasks(stack_factory, record_property) -> None:
    """Five contents at 3 s a call with an 8 s task timeout: one task could not finish the job.
    Before tasks worked in slices, Django-Q2's timeout ended the task mid-job and left the job running
    until the stale sweep (30 min); now each task queues the rest after AI_JOB_SLICE_SECONDS (4 s)."""
    with AnthropicServer() as anthropic:
        anthropic.delay = 3.0
        stack = stack_factory(
            **anthropic.env(),
            AI_MAX_RETRIES="0",
            Q_TIMEOUT="8",
            Q_RETRY="10",
        )
        with running(stack):
            access, ids = _learner_with_contents(stack, "patient@example.com", 5)
            start = time.monotonic()
            job_id = _start_job(stack, access, ids, count=2)
            job = _finished(stack, access, job_id, timeout=90)
            record_property("job of 5 contents at 3 s a call done in (s)", round(time.monotonic() - start, 1))
            with stack.client(access) as http:
                usage = http.get("/api/ai-review/usage/").json()
        tasks = [line for line in stack.worker_log_text().splitlines() if "processing ai-job-" in line]
        record_property("tasks the job took", len(tasks))
        assert job["status"] == "done", job
        assert sorted(q["content_id"] for q in job["questions"]) == sorted(ids * 2)  # each content once
        assert usage["questions_generated"] == 10
        assert anthropic.calls == 5  # no call made twice
        assert len(tasks) >= 2, tasks
        log = stack.worker_log_text()
        assert "exceeded maximum timeout" not in log and "after timeout" not in log  # no task timed out
    assert stack.broker_errors() == []


RETRY = """
from modules.ai import services
print("RETRIED-AS", services.retry_job(job_id={job_id}).id, "END")
"""


def test_a_failed_job_retried_by_an_admin_is_done_by_the_worker_for_its_contents_left(stack_factory) -> None:
    """The admin's retry (``services.retry_job``, run here in a management shell as the admin action runs
    it) queues a new job through the real broker; the worker generates only what the failed job had not."""
    from tests.ai import fake_anthropic

    with AnthropicServer() as anthropic:
        stack = stack_factory(**anthropic.env(), AI_MAX_RETRIES="0")
        with running(stack):
            access, ids = _learner_with_contents(stack, "retrier@example.com", 2)
            # the first content's call is answered; the second's is held, then Claude is overloaded
            with anthropic.holding(from_call=2):
                job_id = _start_job(stack, access, ids, count=2)
                anthropic.wait_for_held_call()
                anthropic.fake.queue = [fake_anthropic.overloaded() for _ in range(6)]
            failed = _finished(stack, access, job_id, timeout=60)
            assert failed["status"] == "failed", failed
            anthropic.fake.queue = []  # Claude is back

            output = stack.shell(RETRY.format(job_id=job_id))
            retry_id = int(re.search(r"RETRIED-AS (\d+) END", output).group(1))  # type: ignore[union-attr]
            retried = _finished(stack, access, retry_id, timeout=60)
            with stack.client(access) as http:
                usage = http.get("/api/ai-review/usage/").json()
                again = http.get(f"/api/ai-review/jobs/{job_id}/").json()
        assert retried["status"] == "done", retried
        assert sorted(q["content_id"] for q in retried["questions"]) == [ids[1], ids[1]]
        assert sorted(q["content_id"] for q in failed["questions"]) == [ids[0], ids[0]]
        assert usage["questions_generated"] == 4
        assert again["status"] == "failed"  # the failed job keeps its record
    assert stack.broker_errors() == []
