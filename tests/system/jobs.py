"""Shared steps of the system tests that stop a worker mid-job: a learner with contents, a small
generation job, and waiting for the next cluster to finish what the stopped one was doing."""

from __future__ import annotations

from typing import Any

from tests.system.stack import Stack

PASSWORD = "a-long-passphrase-1"
LEARNER = """
from modules.identity.testing import make_user
make_user(email={email!r}, password={password!r}, tier="PRO")
"""


def learner(stack: Stack, email: str, contents: int) -> tuple[str, list[int]]:
    """A PRO learner with ``contents`` contents; their access token and the contents' ids."""
    stack.shell(LEARNER.format(email=email, password=PASSWORD))
    access = stack.login(email, PASSWORD)
    ids = []
    with stack.client(access) as http:
        for i in range(contents):
            answer = http.post("/api/content/", json={"title": f"Card {i}", "body": f"Fact number {i}."})
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
    return access, ids


def two_question_job(ids: list[int]) -> dict[str, Any]:
    """The body of a generation job of two fill-blank questions per content."""
    return {"content_ids": ids, "question_types": ["fill_blank"], "difficulty_level": "beginner", "count": 2}


def finished_by_next_cluster(stack: Stack, access: str, job_id: int, *, questions: int) -> None:
    """Waits until the interrupted job is done (by a cluster started after the stop) with ``questions``."""
    with stack.client(access) as http:
        stack.wait_until(
            lambda: http.get(f"/api/ai-review/jobs/{job_id}/").json()["status"] == "done",
            timeout=60,
            what="the interrupted job to be finished by the next cluster",
            explain=lambda: stack.job_diagnosis(access, job_id),
        )
        assert len(http.get(f"/api/ai-review/jobs/{job_id}/").json()["questions"]) == questions
