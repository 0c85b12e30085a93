"""Deleting an account on the deployed topology: gunicorn answers 204 at once, the account is closed
for every purpose (its login and tokens refused, its email free to register again), and the real
``qcluster`` erases its rows; an erasure whose task was lost is done by the sweep's schedule.

Observed from outside: HTTP, and the rows through ``manage.py shell`` (counted by the user's id)."""

from __future__ import annotations

import json
import time

import pytest

from tests.system.stack import Stack, running

pytestmark = pytest.mark.system

PASSWORD = "a-long-passphrase-1"
NEW_PASSWORD = "another-long-passphrase-2"
LEARNER = """
from modules.identity.testing import make_user
make_user(email={email!r}, password={password!r})
"""
ROWS = """
import json
from django.db import connection
tables = ["learning_content", "learning_category", "learning_reviewschedule", "learning_reviewhistory",
          "identity_subscription", "identity_subscriptionchange", "token_blacklist_outstandingtoken"]
counts = {{}}
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM identity_user WHERE id = %s", [{user_id}])
    counts["identity_user"] = cursor.fetchone()[0]
    for table in tables:
        cursor.execute(f"SELECT count(*) FROM {{table}} WHERE user_id = %s", [{user_id}])
        counts[table] = cursor.fetchone()[0]
print("rows", json.dumps(counts))
"""
LOSE_THE_ERASURE = """
from datetime import timedelta
from django.utils import timezone
from django_q.models import OrmQ
from modules.identity.models import User
lost = [task.pk for task in OrmQ.objects.all() if task.name() == "erase-account-{user_id}"]
OrmQ.objects.filter(pk__in=lost).delete()
User.objects.filter(pk={user_id}).update(closed_at=timezone.now() - timedelta(minutes=11))
print("lost", len(lost))
"""
RUN_SWEEP_NOW = """
from django.utils import timezone
from django_q.models import Schedule
print("due", Schedule.objects.filter(name="resee:identity.erase_lost_closures").update(
    next_run=timezone.now() - timezone.timedelta(seconds=1)))
"""


def _printed(output: str, tag: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith(f"{tag} ")]
    return line.split(" ", 1)[1]


def _rows(stack: Stack, user_id: int) -> dict[str, int]:
    return json.loads(_printed(stack.shell(ROWS.format(user_id=user_id)), "rows"))


def _learner_with_history(stack: Stack, email: str, *, contents: int) -> tuple[str, int]:
    """A learner whose contents and reviews are made over HTTP; answers (access token, user id)."""
    stack.shell(LEARNER.format(email=email, password=PASSWORD))
    access = stack.login(email, PASSWORD)
    with stack.client(access) as http:
        category = http.post("/api/content/categories/", json={"name": "Biology"})
        assert category.status_code == 201, category.text
        for index in range(contents):
            created = http.post(
                "/api/content/",
                json={
                    "title": f"Card {index}",
                    "body": f"Fact {index}.",
                    "category_id": category.json()["id"],
                },
            )
            assert created.status_code == 201, created.text
            for result in ("remembered", "partial"):
                review = http.post(
                    "/api/review/complete/", json={"content_id": created.json()["id"], "result": result}
                )
                assert review.status_code == 200, review.text
        user_id = int(http.get("/api/accounts/users/me/").json()["id"])
    return access, user_id


def _delete(stack: Stack, access: str, password: str = PASSWORD) -> tuple[int, bytes, float]:
    with stack.client(access) as http:
        started = time.monotonic()
        answer = http.request("DELETE", "/api/accounts/users/me/", json={"password": password})
        return answer.status_code, answer.content, time.monotonic() - started


def test_a_deleted_account_is_closed_at_once_and_erased_by_the_worker(stack_factory, record_property) -> None:
    stack = stack_factory()
    email = "leaver@example.com"
    with running(stack):
        access, user_id = _learner_with_history(stack, email, contents=12)
        refresh = stack.post("/api/auth/token/", {"email": email, "password": PASSWORD}).json()["refresh"]
        before = _rows(stack, user_id)
        assert before["learning_content"] == 12 and before["learning_reviewhistory"] == 24, before

        assert _delete(stack, access, "not-the-password")[0] == 422  # nothing changes
        assert _rows(stack, user_id) == before
        status, body, seconds = _delete(stack, access)
        record_property("DELETE /api/accounts/users/me/ answered in (s)", round(seconds, 3))
        assert (status, body) == (204, b"")

        login = stack.post("/api/auth/token/", {"email": email, "password": PASSWORD})
        assert (login.status_code, login.json()["code"]) == (401, "invalid_credentials")
        with stack.client(access) as http:
            assert http.get("/api/accounts/users/me/").status_code == 401
        assert stack.post("/api/auth/token/refresh/", {"refresh": refresh}).status_code == 401
        again = stack.post("/api/auth/register/", {"email": email, "password": NEW_PASSWORD})
        assert again.status_code == 201, again.text
        assert again.json()["id"] != user_id
        assert stack.post("/api/auth/token/", {"email": email, "password": NEW_PASSWORD}).status_code == 200

        started = time.monotonic()
        stack.wait_until(
            lambda: set(_rows(stack, user_id).values()) == {0},
            timeout=60,
            what="the worker to erase the closed account's rows",
            explain=lambda: f"rows {_rows(stack, user_id)}; {stack.queue_state()} {stack.worker_events()}",
        )
        record_property("closed account's rows gone within (s)", round(time.monotonic() - started, 1))
        stack.wait_until(
            lambda: "closed account erased" in stack.worker_log_text(),
            timeout=10,
            what="the erasure's log line",
        )
        assert email not in stack.worker_log_text()  # the erasure never logs the address
    assert stack.broker_errors() == []


def test_an_account_whose_erasure_was_lost_is_erased_by_the_sweeps_schedule(
    stack_factory, record_property
) -> None:
    stack = stack_factory()
    email = "lost@example.com"
    with running(stack, worker=False):  # the erasure is queued; no worker takes it
        access, user_id = _learner_with_history(stack, email, contents=3)
        assert _delete(stack, access)[0] == 204
        assert _rows(stack, user_id)["learning_content"] == 3
        # the broker lost the task, and the closure is older than the sweep's ten minutes
        assert _printed(stack.shell(LOSE_THE_ERASURE.format(user_id=user_id)), "lost") == "1"
        assert _printed(stack.shell(RUN_SWEEP_NOW), "due") == "1"  # declared and set up by the release

        started = time.monotonic()
        stack.start_worker()
        stack.wait_until(
            lambda: set(_rows(stack, user_id).values()) == {0},
            timeout=90,
            what="the sweep's schedule to erase the account",
            explain=lambda: f"rows {_rows(stack, user_id)}; {stack.queue_state()} {stack.worker_events()}",
        )
        record_property("lost erasure done by the sweep within (s)", round(time.monotonic() - started, 1))
        assert "erasure queued again" in stack.worker_log_text()
    assert stack.broker_errors() == []
