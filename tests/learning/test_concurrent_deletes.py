"""A delete racing a write that points at the deleted row answers 4xx, never 500 (real threads, PostgreSQL).

The category races failed a foreign key at commit (a 500 on either request) before the services
locked the category first (``owned_category`` / ``delete_category``). Rows attached to a content
under ``hold_content`` (ai's questions) were left pointing at a deleted content the same way.
``delete_content`` also locks the card first, as a completion does, so a review in flight goes with
its content whatever order Django's delete collector happens to use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from modules.common.errors import NotFound
from modules.identity.testing import auth_headers, make_user
from modules.learning import services
from modules.learning.models import Content, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import ReviewResult
from modules.learning.services import reviews
from modules.learning.testing import make_category, make_due_content, record_review
from tests.concurrency import needs_row_locks
from tests.concurrency import run_together as run_threads

pytestmark = [
    pytest.mark.django_db(transaction=True),
    needs_row_locks,
]

ROUNDS = 15
WRITERS = 3


def race(work: Callable[[int], Any], threads: int) -> list[Any]:
    return run_threads(work, threads, timeout=60)


def test_deleting_a_category_while_content_is_created_in_it_is_204_and_201_or_404() -> None:
    user = make_user()
    headers = auth_headers(user)
    for round_ in range(ROUNDS):
        category = make_category(user=user, name=f"Race {round_}")

        def work(index: int, category_id: int = category.pk) -> int:
            client = Client(headers=headers)
            if index == 0:
                return client.delete(f"/api/content/categories/{category_id}/").status_code
            body = {"title": f"t{index}", "body": "b", "category_id": category_id}
            return client.post("/api/content/", body, content_type="application/json").status_code

        statuses = race(work, WRITERS + 1)

        assert statuses[0] == 204
        assert set(statuses[1:]) <= {201, 404}, statuses
    # Whatever was created in a category before its delete was kept, uncategorised.
    assert not Content.objects.filter(user=user, category__isnull=False).exists()


def test_deleting_a_category_while_content_is_moved_into_it_is_204_and_200_or_404() -> None:
    user = make_user()
    headers = auth_headers(user)
    contents = [make_due_content(user=user) for _ in range(WRITERS)]
    for round_ in range(ROUNDS):
        category = make_category(user=user, name=f"Move {round_}")

        def work(index: int, category_id: int = category.pk) -> int:
            client = Client(headers=headers)
            if index == 0:
                return client.delete(f"/api/content/categories/{category_id}/").status_code
            path = f"/api/content/{contents[index - 1].pk}/"
            return client.patch(
                path, {"category_id": category_id}, content_type="application/json"
            ).status_code

        statuses = race(work, WRITERS + 1)

        assert statuses[0] == 204
        assert set(statuses[1:]) <= {200, 404}, statuses
    assert not Content.objects.filter(user=user, category__isnull=False).exists()


def test_deleting_content_while_it_is_reviewed_is_204_and_200_or_404() -> None:
    user = make_user()
    headers = auth_headers(user)
    for _ in range(ROUNDS):
        content = make_due_content(user=user)

        def work(index: int, content_id: int = content.pk) -> int:
            client = Client(headers=headers)
            if index == 0:
                return client.delete(f"/api/content/{content_id}/").status_code
            body = {"content_id": content_id, "result": "remembered"}
            return client.post("/api/review/complete/", body, content_type="application/json").status_code

        statuses = race(work, WRITERS + 1)

        assert statuses[0] == 204
        assert set(statuses[1:]) <= {200, 404}, statuses
    assert not Content.objects.filter(user=user).exists()
    assert not ReviewHistory.objects.filter(user=user).exists()
    assert not ReviewSchedule.objects.filter(user=user).exists()


def test_a_review_recorded_while_its_content_is_deleted_goes_with_the_content(monkeypatch) -> None:
    # Pause the real completion after it read the card (unlocked, services/reviews.py): the delete
    # starts during the pause. The review's one write then either comes first (the cascade takes its
    # history row) or, once the delete has locked or removed the card, writes nothing and the review
    # under the lock finds no card: 404. Never a history row without its content, never a 500.
    user = make_user()
    content = make_due_content(user=user)
    read = threading.Event()
    choose_scheduler = reviews.scheduler_for_user

    def slow_scheduler(user: Any, **options: Any) -> Any:
        read.set()
        time.sleep(0.5)
        return choose_scheduler(user, **options)

    monkeypatch.setattr(reviews, "scheduler_for_user", slow_scheduler)

    def work(index: int) -> Any:
        if index == 0:
            try:
                return services.complete_review(user=user, content_id=content.pk, result="remembered").stage
            except NotFound:
                return "not found"
        read.wait(timeout=10)
        services.delete_content(user=user, content_id=content.pk)
        return "deleted"

    outcome = race(work, 2)
    assert outcome in ([1, "deleted"], ["not found", "deleted"])
    assert not ReviewHistory.objects.filter(content_id=content.pk).exists()
    assert not ReviewSchedule.objects.filter(content_id=content.pk).exists()


def test_a_review_holding_the_card_lock_finishes_before_the_delete(monkeypatch) -> None:
    # The review under the lock (services.reviews.record_review, the path of a card that changed
    # since it was read): the delete waits for it, then takes its history row along.
    user = make_user()
    content = make_due_content(user=user)
    locked = threading.Event()
    choose_scheduler = reviews.scheduler_for_user

    def slow_scheduler(user: Any, **options: Any) -> Any:
        locked.set()
        time.sleep(0.5)
        return choose_scheduler(user, **options)

    monkeypatch.setattr(reviews, "scheduler_for_user", slow_scheduler)

    def work(index: int) -> Any:
        if index == 0:
            with transaction.atomic():
                return reviews.record_review(
                    user=user,
                    content_id=content.pk,
                    result=ReviewResult.REMEMBERED,
                    at=None,
                    time_spent_seconds=None,
                ).stage
        locked.wait(timeout=10)
        services.delete_content(user=user, content_id=content.pk)
        return "deleted"

    assert race(work, 2) == [1, "deleted"]
    assert not ReviewHistory.objects.filter(content_id=content.pk).exists()


def test_rows_attached_under_hold_content_go_with_the_content() -> None:
    user = make_user()
    content = make_due_content(user=user)
    held = threading.Event()

    def work(index: int) -> Any:
        if index == 0:
            with transaction.atomic():
                assert services.hold_content(user=user, content_id=content.pk)
                held.set()
                time.sleep(0.5)  # the delete below is waiting by now
                record_review(content=content)
            return "attached"
        held.wait(timeout=10)
        services.delete_content(user=user, content_id=content.pk)
        return "deleted"

    assert race(work, 2) == ["attached", "deleted"]
    assert not ReviewHistory.objects.filter(content_id=content.pk).exists()


def test_holding_a_deleted_or_foreign_content_answers_false() -> None:
    user, other = make_user(), make_user()
    content = make_due_content(user=user)
    with transaction.atomic():
        assert services.hold_content(user=other, content_id=content.pk) is False
    services.delete_content(user=user, content_id=content.pk)
    with transaction.atomic():
        assert services.hold_content(user=user, content_id=content.pk) is False
