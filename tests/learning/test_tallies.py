"""Review tallies (services/tallies.py): every write keeps them equal to a fresh count of the history."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from modules.identity.testing import auth_headers, make_user
from modules.learning import services
from modules.learning.models import ReviewHistory, ReviewSchedule, ReviewTally, ReviewTallyState, ReviewTotal
from modules.learning.services import tallies
from modules.learning.testing import make_category, make_content, make_due_content
from tests.concurrency import needs_row_locks, run_together

pytestmark = pytest.mark.django_db

RESULTS = ("remembered", "remembered", "partial", "forgot")


def counted(user: Any) -> tuple[list[tuple], list[tuple]]:
    """The user's tallies and totals as rows (zero rows left by subtractions dropped)."""
    columns = ("remembered", "partial", "forgot", "predicted_count", "time_spent_seconds")

    def rows(model: Any, keys: tuple[str, ...]) -> list[tuple]:
        found = model.objects.filter(user=user).order_by(*keys).values_list(*keys, *columns, "predicted_sum")
        return [
            (*row[:-1], round(row[-1], 9)) for row in found if any(row[len(keys) : len(keys) + len(columns)])
        ]

    return rows(ReviewTally, ("day", "category_id", "bucket")), rows(ReviewTotal, ("bucket",))


def recounted(user: Any) -> tuple[list[tuple], list[tuple]]:
    services.rebuild_review_tallies(user_id=user.pk, tz_name=user.timezone)
    return counted(user)


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
        for index, category in enumerate([science, science, history, None])
    ]
    rng = random.Random(3)
    for day in range(50, 5, -9):
        for card in cards:
            at = timezone.now() - timedelta(days=day, hours=rng.randint(0, 20))
            complete(user, card, rng.choice(RESULTS), reviewed_at=None, time_spent_seconds=rng.randint(5, 40))
            # back-date by hand (the facade refuses reviews more than a week old), the card's state too
            latest = ReviewHistory.objects.filter(content=card).latest("id").pk
            ReviewHistory.objects.filter(pk=latest).update(reviewed_at=at, elapsed_days=None)
            ReviewSchedule.objects.filter(content=card).update(last_reviewed_at=at)
    services.rebuild_review_tallies(user_id=user.pk, tz_name=user.timezone)
    user.science, user.history, user.cards = science, history, cards
    return user


def test_a_build_writes_each_reviews_elapsed_days_and_counts_every_review(learner) -> None:
    rows = ReviewHistory.objects.filter(user=learner).order_by("content_id", "reviewed_at", "id")
    previous: dict[int, Any] = {}
    for row in rows:
        anchor = previous.get(row.content_id, row.content.created_at)
        assert row.elapsed_days == pytest.approx((row.reviewed_at - anchor).total_seconds() / 86_400)
        previous[row.content_id] = row.reviewed_at
    tallied, totals = counted(learner)
    assert sum(row[3] + row[4] + row[5] for row in tallied) == rows.count() == 20
    assert sum(row[1] + row[2] + row[3] for row in totals) == 20


def test_a_review_is_counted_in_its_own_transaction(learner) -> None:
    before = sum(row[1] + row[2] + row[3] for row in counted(learner)[1])

    complete(learner, learner.cards[0], "forgot", time_spent_seconds=12)
    late = make_content(user=learner, category=learner.science, created_at=timezone.now() - timedelta(days=9))
    complete(learner, late, "remembered", reviewed_at=timezone.now() - timedelta(days=6, hours=23))  # offline

    now = counted(learner)
    assert sum(row[1] + row[2] + row[3] for row in now[1]) == before + 2
    assert now == recounted(learner)
    latest = ReviewHistory.objects.filter(content=learner.cards[0]).latest("id")
    assert latest.elapsed_days is not None and latest.elapsed_days > 5


def test_a_replayed_key_counts_once(learner) -> None:
    for _ in range(2):
        complete(learner, learner.cards[1], "partial", idempotency_key="once")

    assert counted(learner) == recounted(learner)
    assert ReviewHistory.objects.filter(content=learner.cards[1]).count() == 6


def test_deleting_a_content_uncounts_its_reviews(learner) -> None:
    services.delete_content(user=learner, content_id=learner.cards[2].pk)

    assert counted(learner) == recounted(learner)
    assert sum(row[1] + row[2] + row[3] for row in counted(learner)[1]) == 15


def test_moving_a_content_moves_its_reviews_to_the_new_category(learner) -> None:
    services.update_content(
        user=learner, content_id=learner.cards[0].pk, changes={"category_id": learner.history.pk}
    )
    services.update_content(
        user=learner, content_id=learner.cards[3].pk, changes={"category_id": learner.science.pk}
    )
    services.update_content(user=learner, content_id=learner.cards[1].pk, changes={"category_id": None})
    services.update_content(user=learner, content_id=learner.cards[2].pk, changes={"title": "renamed"})

    assert counted(learner) == recounted(learner)


def test_deleting_a_category_moves_its_reviews_to_no_category(learner) -> None:
    services.delete_category(user=learner, category_id=learner.science.pk)

    assert counted(learner) == recounted(learner)
    assert not ReviewTally.objects.filter(user=learner, category_id=learner.science.pk).exists()


def test_an_import_recounts_the_tallies_in_use(learner) -> None:
    now = timezone.now()
    data = services.LearningImport(
        contents=[
            services.ImportedContent(
                ref="n1",
                key=services.ExternalKey("csv", "n1"),
                title="Imported",
                body="From a file",
                created_at=now - timedelta(days=30),
            )
        ],
        reviews=[
            services.ImportedReview(
                content_ref="n1",
                key=services.ExternalKey("csv", f"r{index}"),
                result="remembered",
                reviewed_at=now - timedelta(days=20 - 5 * index),
            )
            for index in range(3)
        ],
    )

    services.import_learning_data(user=learner, data=data)

    assert not ReviewHistory.objects.filter(user=learner, elapsed_days__isnull=True).exists()
    assert sum(row[1] + row[2] + row[3] for row in counted(learner)[1]) == 23
    assert counted(learner) == recounted(learner)


def test_tallies_answer_only_when_built_in_the_learners_zone(learner) -> None:
    today = timezone.now().date()
    assert services.bucket_tallies(user_id=learner.pk, tz_name=learner.timezone) is not None
    assert services.bucket_tallies(user_id=learner.pk, tz_name="Asia/Seoul") is None
    assert (
        services.tally_window(user_id=learner.pk, tz_name="Asia/Seoul", first_day=today, last_day=today)
        is None
    )

    newcomer = make_user()
    assert services.bucket_tallies(user_id=newcomer.pk, tz_name=newcomer.timezone) == []  # nothing to count
    make_due_content(user=newcomer)
    complete(newcomer, make_due_content(user=newcomer), "remembered")
    assert services.bucket_tallies(user_id=newcomer.pk, tz_name=newcomer.timezone) is None  # not built yet


def test_a_learner_who_moves_is_counted_from_the_history_until_the_job_rebuilds(learner) -> None:
    learner.timezone = "Asia/Seoul"
    learner.save(update_fields=["timezone"])
    complete(learner, learner.cards[0], "remembered")  # not counted: the tallies are cut in the old zone
    assert services.bucket_tallies(user_id=learner.pk, tz_name="Asia/Seoul") is None
    from_history = services.elapsed_bucket_stats(user_id=learner.pk, tz_name="Asia/Seoul")

    assert services.build_review_tallies() == 1
    assert services.build_review_tallies() == 0

    assert ReviewTallyState.objects.get(user=learner).timezone_name == "Asia/Seoul"
    from_tallies = services.elapsed_bucket_stats(user_id=learner.pk, tz_name="Asia/Seoul")
    assert [(s.reviews, s.predicted_reviews) for s in from_tallies] == [
        (s.reviews, s.predicted_reviews) for s in from_history
    ]
    assert [s.predicted_mean for s in from_tallies] == pytest.approx([s.predicted_mean for s in from_history])
    assert sum(stats.reviews.total for stats in from_history) == 21


def test_the_job_builds_active_learners_only_and_at_most_its_limit() -> None:
    now = timezone.now()
    active = [make_user() for _ in range(3)]
    for user in active:
        complete(user, make_due_content(user=user), "remembered")
    dormant = make_user()
    complete(dormant, make_due_content(user=dormant), "forgot")
    ReviewHistory.objects.filter(user=dormant).update(reviewed_at=now - timedelta(days=40))

    assert services.build_review_tallies(limit=2) == 2
    assert services.build_review_tallies(limit=2) == 1
    assert set(ReviewTallyState.objects.values_list("user_id", flat=True)) == {user.pk for user in active}


def test_elapsed_buckets_halves_round_down() -> None:
    assert [
        tallies.elapsed_bucket(days) for days in (0, 1.5, 1.5001, 3.5, 7.5, 14.5, 30.5, 90.5, 90.6, 400)
    ] == [
        0,
        0,
        1,
        1,
        2,
        3,
        4,
        5,
        6,
        6,
    ]


@pytest.mark.django_db(transaction=True)
@needs_row_locks
def test_reviews_racing_a_build_are_each_counted_once() -> None:
    user = make_user(tier="PRO")
    cards = [make_due_content(user=user) for _ in range(8)]
    headers = auth_headers(user)

    def work(index: int) -> None:
        if index == 0:
            for _ in range(5):
                services.rebuild_review_tallies(user_id=user.pk, tz_name=user.timezone)
                connection.close()
            return
        client = Client(headers=headers)
        for round_ in range(4):
            response = client.post(
                "/api/review/complete/",
                {"content_id": cards[(index + round_) % len(cards)].pk, "result": RESULTS[round_]},
                content_type="application/json",
            )
            assert response.status_code == 200
            connection.close()

    run_together(work, 9)

    assert sum(row[1] + row[2] + row[3] for row in counted(user)[1]) == 32 == ReviewHistory.objects.count()
    assert counted(user) == recounted(user)
