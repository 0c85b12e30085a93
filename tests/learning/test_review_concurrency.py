"""Real concurrency on PostgreSQL: committed transactions, one connection per thread."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from modules.identity.testing import auth_headers, make_user
from modules.learning.models import IdempotencyRecord, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import ReviewResult, ladder_stage_after
from modules.learning.testing import make_due_content
from tests.concurrency import needs_row_locks
from tests.concurrency import run_together as run_threads

pytestmark = [
    pytest.mark.django_db(transaction=True),
    needs_row_locks,
]

THREADS = 16
ANSWERS = 200


def run_together(work: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    return run_threads(work, threads)


def test_sixteen_threads_completing_one_card_record_every_answer_in_a_consistent_order() -> None:
    user = make_user(tier="PRO")
    content = make_due_content(user=user, created_at=timezone.now() - timedelta(days=2))
    headers = auth_headers(user)
    share = [ANSWERS // THREADS + (1 if index < ANSWERS % THREADS else 0) for index in range(THREADS)]
    choices = ["remembered", "remembered", "partial", "forgot"]

    def answer(index: int) -> list[int]:
        client = Client(headers=headers)
        rng = random.Random(index)
        statuses = []
        for _ in range(share[index]):
            response = client.post(
                "/api/review/complete/",
                {"content_id": content.pk, "result": rng.choice(choices)},
                content_type="application/json",
            )
            statuses.append(response.status_code)
            connection.close()  # give the pooled connection back between requests
        return statuses

    statuses = [status for per_thread in run_together(answer) for status in per_thread]

    assert statuses == [200] * ANSWERS
    rows = list(ReviewHistory.objects.filter(content=content).order_by("id"))
    assert len(rows) == ANSWERS
    last_stage = 7
    expected_stage = 0
    for row in rows:
        assert row.stage_before == expected_stage
        expected_stage = ladder_stage_after(row.stage_before, ReviewResult(row.result), last_stage=last_stage)
        assert row.stage_after == expected_stage
    assert [row.reviewed_at for row in rows] == sorted(row.reviewed_at for row in rows)
    schedule = ReviewSchedule.objects.get(content=content)
    assert schedule.stage == rows[-1].stage_after
    assert schedule.review_count == ANSWERS
    assert schedule.last_reviewed_at == rows[-1].reviewed_at
    assert schedule.next_review_date == rows[-1].reviewed_at + timedelta(days=rows[-1].interval_days)


def test_one_idempotency_key_sent_by_sixteen_threads_at_once_counts_once() -> None:
    user = make_user()
    content = make_due_content(user=user)
    headers = {**auth_headers(user), "Idempotency-Key": "tap-tap-tap"}

    def answer(index: int) -> tuple[int, bytes]:
        response = Client(headers=headers).post(
            "/api/review/complete/",
            {"content_id": content.pk, "result": "remembered"},
            content_type="application/json",
        )
        return response.status_code, response.content

    answers = run_together(answer)

    assert {status for status, _ in answers} == {200}
    assert len({body for _, body in answers}) == 1
    assert ReviewHistory.objects.filter(content=content).count() == 1
    assert ReviewSchedule.objects.get(content=content).stage == 1
    assert IdempotencyRecord.objects.filter(user=user).count() == 1

    replay = Client(headers=headers).post(
        "/api/review/complete/",
        {"content_id": content.pk, "result": "remembered"},
        content_type="application/json",
    )
    assert replay.content == answers[0][1]
    assert ReviewHistory.objects.filter(content=content).count() == 1


def test_a_completion_is_three_statements_with_or_without_a_key(django_assert_max_num_queries) -> None:
    user = make_user()
    first, second = make_due_content(user=user), make_due_content(user=user)
    client = Client(headers=auth_headers(user))
    # the user, the schedule (unlocked), one write (history, schedule if unchanged, tallies): the
    # write is its own transaction, no BEGIN or COMMIT
    with django_assert_max_num_queries(3):
        response = client.post(
            "/api/review/complete/",
            {"content_id": first.pk, "result": "remembered"},
            content_type="application/json",
        )
    assert response.status_code == 200
    # ... the key's record is part of that one write (no lookup first)
    with django_assert_max_num_queries(3):
        response = client.post(
            "/api/review/complete/",
            {"content_id": second.pk, "result": "remembered"},
            content_type="application/json",
            headers={"Idempotency-Key": "count-me"},
        )
    assert response.status_code == 200
    # a replay: the same, its write refused by the key's constraint, then the stored answer
    with django_assert_max_num_queries(4):
        client.post(
            "/api/review/complete/",
            {"content_id": second.pk, "result": "remembered"},
            content_type="application/json",
            headers={"Idempotency-Key": "count-me"},
        )
