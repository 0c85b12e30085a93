"""The kept rollups of migration 0007: a user's contents per category (``CategoryTotal``) and the review
tallies summed per day and category (``ReviewDayTally``), both PostgreSQL triggers; each must equal a
fresh count after every kind of write (docs/benchmarks.md, issue 13)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from modules.identity import services as identity
from modules.identity.testing import make_user
from modules.learning import services
from modules.learning.models import (
    CategoryTotal,
    Content,
    ReviewDayTally,
    ReviewHistory,
    ReviewSchedule,
    ReviewTally,
)
from modules.learning.testing import make_category, make_content

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the rollups are kept on PostgreSQL"),
]

RESULTS = ("remembered", "remembered", "partial", "forgot")


def category_totals() -> dict[tuple[int, int], int]:
    """Every kept category total that is not zero."""
    return {
        (user_id, category_id): contents
        for user_id, category_id, contents in CategoryTotal.objects.values_list(
            "user_id", "category_id", "contents"
        )
        if contents
    }


def counted_category_totals() -> dict[tuple[int, int], int]:
    """The same, counted afresh from the contents."""
    return dict(Counter(Content.objects.filter(category__isnull=False).values_list("user_id", "category_id")))


def day_tallies() -> dict[tuple[int, Any, int], tuple[int, int, int]]:
    """Every kept day tally (the triggers leave no row whose counts are all zero)."""
    return {
        (user_id, day, category_id): (remembered, partial, forgot)
        for user_id, day, category_id, remembered, partial, forgot in ReviewDayTally.objects.values_list(
            "user_id", "day", "category_id", "remembered", "partial", "forgot"
        )
    }


def summed_tallies() -> dict[tuple[int, Any, int], tuple[int, int, int]]:
    """The same, summed afresh from the review tallies over their buckets."""
    sums: dict[tuple[int, Any, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for user_id, day, category_id, remembered, partial, forgot in ReviewTally.objects.values_list(
        "user_id", "day", "category_id", "remembered", "partial", "forgot"
    ):
        for index, value in enumerate((remembered, partial, forgot)):
            sums[(user_id, day, category_id)][index] += value
    return {key: tuple(values) for key, values in sums.items() if any(values)}  # type: ignore[misc]


def assert_kept() -> None:
    assert category_totals() == counted_category_totals()
    assert day_tallies() == summed_tallies()


def complete(user: Any, content: Any, result: str, **extra: Any) -> None:
    services.complete_review(user=user, content_id=content.pk, result=result, **extra)


@pytest.fixture
def learner() -> Any:
    """A learner in Los Angeles with tallies built, two categories and reviews spread over weeks."""
    user = make_user(timezone="America/Los_Angeles", tier="PRO")
    science, history = make_category(user=user, name="Science"), make_category(user=user, name="History")
    created = timezone.now() - timedelta(days=60)
    cards = [
        make_content(user=user, title=f"card {index}", category=category, created_at=created)
        for index, category in enumerate([science, science, history, None, history])
    ]
    rng = random.Random(5)
    for day in range(40, 2, -6):
        for card in cards:
            at = timezone.now() - timedelta(days=day, hours=rng.randint(0, 20))
            complete(user, card, rng.choice(RESULTS), time_spent_seconds=rng.randint(5, 40))
            latest = ReviewHistory.objects.filter(content=card).latest("id").pk
            ReviewHistory.objects.filter(pk=latest).update(reviewed_at=at, elapsed_days=None)
            ReviewSchedule.objects.filter(content=card).update(last_reviewed_at=at)
    services.rebuild_review_tallies(user_id=user.pk, tz_name=user.timezone)
    user.science, user.history, user.cards = science, history, cards
    return user


def test_the_rollups_follow_a_build_and_reviews(learner) -> None:
    other = make_user(tier="BASIC")
    make_content(user=other, category=make_category(user=other, name="Other"))
    assert_kept()
    assert (
        ReviewDayTally.objects.filter(user=learner).count()
        <= ReviewTally.objects.filter(user=learner).count()
    )

    for card, result in zip(learner.cards, (*RESULTS, "forgot"), strict=True):
        complete(learner, card, result, time_spent_seconds=9)
    complete(learner, learner.cards[0], "remembered", idempotency_key="once")
    complete(learner, learner.cards[0], "remembered", idempotency_key="once")  # a replay counts once
    assert_kept()

    services.rebuild_review_tallies(user_id=learner.pk, tz_name=learner.timezone)  # deletes and inserts
    assert_kept()
    assert category_totals()[(learner.pk, learner.science.pk)] == 2


def test_the_rollups_follow_creations_deletions_and_moves(learner) -> None:
    make_content(user=learner, title="new", category=learner.science)
    services.delete_content(user=learner, content_id=learner.cards[2].pk)  # History, with its reviews
    services.update_content(
        user=learner, content_id=learner.cards[0].pk, changes={"category_id": learner.history.pk}
    )
    services.update_content(
        user=learner, content_id=learner.cards[3].pk, changes={"category_id": learner.science.pk}
    )
    services.update_content(user=learner, content_id=learner.cards[1].pk, changes={"category_id": None})
    services.update_content(user=learner, content_id=learner.cards[4].pk, changes={"title": "renamed"})

    assert_kept()
    assert category_totals()[(learner.pk, learner.science.pk)] == 2  # "new" and card 3
    assert category_totals()[(learner.pk, learner.history.pk)] == 2  # cards 0 and 4


def test_an_owner_change_and_a_bulk_move_are_kept() -> None:
    first, second = make_user(tier="BASIC"), make_user(tier="BASIC")
    shared = make_category(user=first, name="Shared")
    contents = [make_content(user=first, category=shared, title=f"c{index}") for index in range(3)]
    Content.objects.filter(pk=contents[0].pk).update(user=second)  # as the admin could
    elsewhere = make_category(user=first, name="Elsewhere")
    Content.objects.filter(pk__in=[contents[1].pk, contents[2].pk]).update(category=elsewhere)

    assert_kept()
    assert category_totals() == {(second.pk, shared.pk): 1, (first.pk, elsewhere.pk): 2}


def test_a_deleted_category_and_a_deleted_account_leave_nothing(learner) -> None:
    services.delete_category(user=learner, category_id=learner.science.pk)

    assert_kept()
    assert not CategoryTotal.objects.filter(category_id=learner.science.pk).exists()
    assert not ReviewDayTally.objects.filter(category_id=learner.science.pk).exists()

    identity.delete_account(user=learner)

    assert not CategoryTotal.objects.filter(user_id=learner.pk).exists()
    assert not ReviewDayTally.objects.filter(user_id=learner.pk).exists()


def test_the_dashboards_reads_answer_as_the_counts_did(learner, django_assert_max_num_queries) -> None:
    today = timezone.now().date()
    first = today - timedelta(days=29)
    with django_assert_max_num_queries(1):
        window = services.tally_window(
            user_id=learner.pk, tz_name=learner.timezone, first_day=first, last_day=today
        )
    assert window is not None
    by_day: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_category: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0])
    for tally in ReviewTally.objects.filter(user=learner, day__gte=first, day__lte=today):
        for sums in (by_day[tally.day], by_category[tally.category_id or None]):
            sums[0] += tally.remembered
            sums[1] += tally.partial
            sums[2] += tally.forgot
    assert {day: (c.remembered, c.partial, c.forgot) for day, c in window.by_day.items()} == {
        day: tuple(sums) for day, sums in by_day.items()
    }
    assert {key: (c.remembered, c.partial, c.forgot) for key, c in window.by_category.items()} == {
        key: tuple(sums) for key, sums in by_category.items()
    }

    with django_assert_max_num_queries(1):
        stats = services.category_review_stats(user_id=learner.pk, window=window)
    assert [(row.name, row.content_count) for row in stats] == [("History", 2), ("Science", 2)]


def test_the_rollup_tables_leave_room_for_hot_updates_and_are_vacuumed_by_dead_rows() -> None:
    """Migration 0008: the rollups are rewritten on every review; their pages keep room for the next
    row versions (HOT updates, no index entries) and autovacuum runs after 1,000 dead rows."""
    import importlib

    module = importlib.import_module("modules.learning.migrations.0008_rollup_storage")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s) ORDER BY relname",
            [list(module.TABLES)],
        )
        found = dict(cursor.fetchall())
    assert set(found) == set(module.TABLES)
    for options in found.values():
        assert "fillfactor=70" in options
        assert "autovacuum_vacuum_threshold=1000" in options
        assert "autovacuum_vacuum_scale_factor=0" in options


def test_the_schedules_are_vacuumed_after_a_small_fraction_of_them_changed() -> None:
    """Migration 0014: every review updates a schedule, and the queue's and forecast's index-only counts
    visit the heap for every page updated since the last vacuum."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'learning_reviewschedule'")
        (options,) = cursor.fetchone()
    assert "autovacuum_vacuum_scale_factor=0.02" in options
    assert "autovacuum_vacuum_threshold=1000" in options


def test_a_category_filtered_list_counts_from_the_kept_total(learner, django_assert_max_num_queries) -> None:
    make_content(user=learner, title="new", category=learner.science)
    services.update_content(user=learner, content_id=learner.cards[0].pk, changes={"category_id": None})
    other = make_user(tier="PRO")
    theirs = make_category(user=other, name="Theirs")
    make_content(user=other, title="not yours", category=theirs)

    for category in (learner.science, learner.history):
        page = services.content_list(user=learner, category_id=category.pk)
        with django_assert_max_num_queries(1) as captured:
            total = page.count()
        assert total == Content.objects.filter(user=learner, category=category).count() == 2
        assert "learning_categorytotal" in captured.captured_queries[0]["sql"]  # read, not counted
        assert len(page[0:10]) == total
    assert services.content_list(user=learner, category_id=theirs.pk).count() == 0  # not another's
    searched = services.content_list(user=learner, category_id=learner.science.pk, search="new")
    assert searched.count() == 1  # a search still counts its matches
