"""A review on PostgreSQL reads the card without a lock and writes everything in one statement that
applies only if the card is unchanged (services/reviews.py, ``_record_unlocked``). These tests change
the card for real between that read and that write and check that the write stood aside and the
review was recorded once, from the card's new state, under the lock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from modules.identity.testing import make_user
from modules.learning import selectors, services
from modules.learning.models import Content, IdempotencyRecord, ReviewHistory, ReviewSchedule
from modules.learning.testing import make_category, make_due_content

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the unlocked path is PostgreSQL's"),
]


@pytest.fixture
def change_after_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], None]]:
    """``change_after_read(write)``: the next review's unlocked read is followed by ``write()``, as if
    another request had written between the read and the review's own write."""
    pending: list[Callable[[], Any]] = []
    read = selectors.review_state

    def review_state(**kwargs: Any) -> Any:
        row = read(**kwargs)
        while pending:
            pending.pop()()
        return row

    monkeypatch.setattr(selectors, "review_state", review_state)
    yield pending.append


def test_a_card_reviewed_in_between_is_reviewed_again_from_its_new_state(change_after_read) -> None:
    user = make_user()
    content = make_due_content(user=user, created_at=timezone.now() - timedelta(days=3))
    # another review moved the card to stage 3 after this one read it at stage 0
    change_after_read(
        lambda: ReviewSchedule.objects.filter(content=content).update(
            stage=3, review_count=F("review_count") + 1, last_reviewed_at=timezone.now() - timedelta(days=1)
        )
    )

    outcome = services.complete_review(
        user=user, content_id=content.pk, result="remembered", idempotency_key="once"
    )

    assert outcome.previous_stage == 3
    assert outcome.stage == 4
    (row,) = ReviewHistory.objects.filter(content=content)
    assert (row.stage_before, row.stage_after) == (3, 4)
    schedule = ReviewSchedule.objects.get(content=content)
    assert (schedule.stage, schedule.review_count) == (4, 2)
    assert schedule.last_reviewed_at == outcome.reviewed_at
    assert IdempotencyRecord.objects.filter(user=user, key="once").count() == 1


def test_a_card_moved_to_another_category_in_between_is_tallied_under_the_new_one(change_after_read) -> None:
    user = make_user()
    before, after = make_category(user=user, name="Before"), make_category(user=user, name="After")
    content = make_due_content(user=user, category=before)
    assert services.build_review_tallies_of(user_id=user.pk)
    change_after_read(lambda: Content.objects.filter(pk=content.pk).update(category=after))

    services.complete_review(user=user, content_id=content.pk, result="remembered")

    assert ReviewHistory.objects.filter(content=content).count() == 1
    assert ReviewSchedule.objects.get(content=content).review_count == 1
    tallied = {
        category_id: remembered
        for category_id, remembered in connection.cursor()
        .execute("SELECT category_id, remembered FROM learning_reviewtally WHERE user_id = %s", [user.pk])
        .fetchall()
    }
    assert tallied == {after.pk: 1}


def test_an_unchanged_card_is_written_by_the_one_statement(django_assert_num_queries) -> None:
    user = make_user()
    content = make_due_content(user=user)

    # the read, the write (no BEGIN, no lock, no COMMIT: in a request the statement is its own
    # transaction; here, inside the test's transaction, a savepoint stands in for it)
    with django_assert_num_queries(4):  # the read, SAVEPOINT, the write, RELEASE
        outcome = services.complete_review(user=user, content_id=content.pk, result="forgot")

    assert outcome.stage == 0
    assert ReviewHistory.objects.filter(content=content).count() == 1
