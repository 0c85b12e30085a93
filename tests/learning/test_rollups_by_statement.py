"""Bulk writes keep the contents' and the cards' rollups once per statement (migration 0011), and an
account's learning data goes set by set (``delete_learning_data``, registered with identity).

With row-level triggers a statement deleting N contents updated the same rollup rows N times in one
transaction, which PostgreSQL pays for with the square of N (4.5 s for 10,000 contents). The counts
below are PostgreSQL's own for the test's transaction (``pg_stat_get_xact_tuples_*``): how many row
versions of each rollup table a bulk write made, which must not grow with the number of rows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from modules.identity import services as identity
from modules.identity.testing import DEFAULT_PASSWORD, auth_headers, make_user
from modules.learning import services
from modules.learning.models import (
    Category,
    CategoryTotal,
    Content,
    ContentTotal,
    IdempotencyRecord,
    RecallGroup,
    ReviewHistory,
    ReviewSchedule,
    ReviewTally,
)
from modules.learning.testing import make_category, make_content, make_due_content
from tests.concurrency import run_together
from tests.learning.test_dashboard_rollups import assert_kept
from tests.learning.test_recall_rollup import _assert_groups_kept

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the rollups are kept on PostgreSQL"),
]

CARDS = 40


def writes(table: str) -> int:
    """Row versions this transaction has inserted, updated or deleted in ``table`` so far."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_inserted(%s::regclass) + pg_stat_get_xact_tuples_updated(%s::regclass)"
            " + pg_stat_get_xact_tuples_deleted(%s::regclass)",
            [table, table, table],
        )
        return cursor.fetchone()[0]


def updated(table: str) -> int:
    """Row versions this transaction has updated in ``table`` so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_get_xact_tuples_updated(%s::regclass)", [table])
        return cursor.fetchone()[0]


class Writes:
    """The rollup rows written by the block, per table."""

    TABLES = ("learning_contenttotal", "learning_categorytotal", "learning_recallgroup")

    def __enter__(self) -> Writes:
        self.before = {table: writes(table) for table in self.TABLES}
        return self

    def __exit__(self, *exc: object) -> None:
        self.made = {table: writes(table) - self.before[table] for table in self.TABLES}


def contents_total_kept(user_id: int) -> None:
    kept = ContentTotal.objects.filter(user_id=user_id).values_list("contents", flat=True).first() or 0
    assert kept == Content.objects.filter(user_id=user_id).count()


@pytest.fixture
def learner() -> Any:
    """CARDS cards in one category, created the same day and never reviewed (one recall group), and a
    few reviews; another learner beside them whose rollups must not move."""
    user = make_user(tier="PRO")
    category = make_category(user=user, name="Bulk")
    created = timezone.now() - timedelta(days=30)
    user.cards = [
        make_content(user=user, title=f"card {index}", category=category, created_at=created)
        for index in range(CARDS)
    ]
    user.category = category
    for card in user.cards[:3]:
        services.complete_review(
            user=user, content_id=card.pk, result="remembered", idempotency_key=f"k{card.pk}"
        )
    other = make_user(tier="PRO")
    for index in range(3):
        make_content(user=other, title=f"other {index}", category=make_category(user=other, name=f"O{index}"))
    user.other = other
    return user


def test_deleting_a_category_moves_its_contents_in_one_write_of_its_total(learner) -> None:
    with Writes() as made:
        services.delete_category(user=learner, category_id=learner.category.pk)

    assert made.made["learning_categorytotal"] <= 2  # the total lowered once, then gone with the category
    assert not CategoryTotal.objects.filter(category_id=learner.category.pk).exists()
    assert Content.objects.filter(user=learner, category__isnull=True).count() == CARDS
    assert_kept()
    contents_total_kept(learner.pk)


def test_cards_inserted_and_deleted_in_bulk_write_each_rollup_row_once(learner) -> None:
    created = timezone.now() - timedelta(days=90)
    with Writes() as inserted:
        contents = Content.objects.bulk_create(
            Content(
                user=learner, title=f"bulk {index}", body="b", category=learner.category, created_at=created
            )
            for index in range(CARDS)
        )
        ReviewSchedule.objects.bulk_create(
            ReviewSchedule(user=learner, content=content, next_review_date=created) for content in contents
        )

    assert inserted.made == {
        "learning_contenttotal": 1,
        "learning_categorytotal": 1,
        "learning_recallgroup": 1,
    }
    assert_kept()
    _assert_groups_kept(learner.pk)
    contents_total_kept(learner.pk)

    ids = [content.pk for content in contents]
    with Writes() as deleted:
        ReviewSchedule.objects.filter(content_id__in=ids).delete()
        Content.objects.filter(pk__in=ids).delete()

    # the group lowered and then emptied (deleted): two versions, as each total's one update
    assert deleted.made == {
        "learning_contenttotal": 1,
        "learning_categorytotal": 1,
        "learning_recallgroup": 2,
    }
    assert_kept()
    _assert_groups_kept(learner.pk)
    contents_total_kept(learner.pk)


def test_a_bulk_move_and_an_edit_keep_the_totals(learner) -> None:
    elsewhere = make_category(user=learner, name="Elsewhere")
    with Writes() as moved:
        Content.objects.filter(user=learner, category=learner.category).update(category=elsewhere)

    assert moved.made["learning_categorytotal"] == 2  # one row lowered, one raised
    assert moved.made["learning_contenttotal"] == 0
    with Writes() as edited:
        services.update_content(user=learner, content_id=learner.cards[0].pk, changes={"title": "renamed"})

    assert edited.made == {"learning_contenttotal": 0, "learning_categorytotal": 0, "learning_recallgroup": 0}
    assert_kept()
    contents_total_kept(learner.pk)


def test_an_account_is_deleted_set_by_set_without_touching_what_it_deletes(learner) -> None:
    other_groups = list(RecallGroup.objects.filter(user=learner.other).values_list("cards", flat=True))
    updated_before = updated("learning_content")
    with Writes() as made:
        identity.delete_account(user=learner)

    # Django's cascade first uncategorised every content it was about to delete (an UPDATE of every
    # content row, which rewrites their search indexes), and each row moved the rollups
    assert updated("learning_content") == updated_before
    assert made.made["learning_contenttotal"] <= 2
    assert made.made["learning_categorytotal"] <= 2
    for model in (
        Content,
        Category,
        ReviewSchedule,
        ReviewHistory,
        IdempotencyRecord,
        ReviewTally,
        RecallGroup,
    ):
        assert not model.objects.filter(user_id=learner.pk).exists(), model
    assert not ContentTotal.objects.filter(user_id=learner.pk).exists()
    assert not CategoryTotal.objects.filter(user_id=learner.pk).exists()
    assert (
        list(RecallGroup.objects.filter(user=learner.other).values_list("cards", flat=True)) == other_groups
    )
    assert_kept()
    contents_total_kept(learner.other.pk)


def test_a_deletion_step_runs_in_the_deletions_transaction(monkeypatch) -> None:
    user = make_user()
    content = make_content(user=user)
    seen: list[tuple[int, bool]] = []

    def failing(*, user_id: int) -> None:
        seen.append((user_id, Content.objects.filter(pk=content.pk).exists()))
        raise RuntimeError("a module could not delete its rows")

    monkeypatch.setattr("modules.identity.services.accounts._DELETION_STEPS", [failing])
    with pytest.raises(RuntimeError):
        identity.delete_account(user=user)

    assert seen == [(user.pk, True)]
    assert Content.objects.filter(pk=content.pk).exists()  # nothing went: the account is whole
    assert identity.User.objects.filter(pk=user.pk).exists()


def test_learning_registers_its_step() -> None:
    from modules.identity.services.accounts import _DELETION_STEPS

    assert services.delete_learning_data in _DELETION_STEPS


@pytest.mark.django_db(transaction=True)
def test_deleting_an_account_while_it_reviews_is_204_and_200_or_404_and_leaves_nothing() -> None:
    for round_ in range(5):
        user = make_user(email=f"racer{round_}@example.com")
        headers = auth_headers(user)
        category = make_category(user=user, name="Race")
        cards = [make_due_content(user=user, category=category) for _ in range(3)]

        def work(index: int, cards: list[Content] = cards, headers: dict = headers) -> int:
            client = Client(headers=headers)
            if index == 0:
                return client.delete(
                    "/api/accounts/users/me/", {"password": DEFAULT_PASSWORD}, content_type="application/json"
                ).status_code
            body = {"content_id": cards[index - 1].pk, "result": "remembered"}
            return client.post(
                "/api/review/complete/",
                body,
                content_type="application/json",
                headers={"Idempotency-Key": f"r{index}"},
            ).status_code

        statuses = run_together(work, 4, timeout=60)

        assert statuses[0] == 204
        assert set(statuses[1:]) <= {200, 401, 404}, statuses
        for model in (Content, ReviewSchedule, ReviewHistory, IdempotencyRecord, ReviewTally, RecallGroup):
            assert not model.objects.filter(user_id=user.pk).exists(), model
        assert not ContentTotal.objects.filter(user_id=user.pk).exists()
        assert not CategoryTotal.objects.filter(user_id=user.pk).exists()
