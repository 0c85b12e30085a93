"""The facade functions insights relies on in other modules: learning's aggregate reads
(learning/stats.py) and the two identity readers added for insights."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from modules.identity import services as identity
from modules.identity.testing import make_user
from modules.learning import services as learning
from modules.learning.scheduling import CardState, SchedulerKind, estimate_recall
from modules.learning.testing import make_category, make_content
from tests.insights.builders import review, set_schedule, utc

pytestmark = pytest.mark.django_db


def test_mean_recall_in_sql_matches_the_schedulers_estimate() -> None:
    user = make_user(tier="FREE")  # ladder 1, 3: stages beyond it are clamped to its last stage
    now = timezone.now()
    cards = []
    for index, (stage, reviewed_days_ago, scheduler, stability, difficulty) in enumerate(
        [
            (0, 1.0, "ladder", None, None),
            (1, 2.5, "ladder", None, None),
            (5, 10.0, "ladder", None, None),  # beyond FREE's ladder
            (0, None, "ladder", None, None),  # never reviewed: measured from creation
            (2, 10.0, "fsrs", 10.0, 5.0),  # FSRS memory: R(S) = 0.9
            (3, 40.0, "fsrs", 3.7, 6.1),
            (1, 4.0, "fsrs", 12.0, None),  # no difficulty: no FSRS memory, ladder estimate
            (0, -0.5, "ladder", None, None),  # reviewed "in the future" (clock skew): R = 1
        ]
    ):
        created = now - timedelta(days=30 + index)
        content = make_content(user=user, title=f"card {index}", created_at=created)
        last = now - timedelta(days=reviewed_days_ago) if reviewed_days_ago is not None else None
        set_schedule(
            content,
            stage=stage,
            last_reviewed_at=last,
            scheduler=scheduler,
            stability=stability,
            difficulty=difficulty,
        )
        cards.append(
            CardState(
                introduced_at=created,
                stage=stage,
                last_reviewed_at=last,
                scheduler=SchedulerKind(scheduler),
                stability=stability,
                difficulty=difficulty,
            )
        )
    make_content(user=make_user(), created_at=now - timedelta(days=400))  # someone else's
    intervals = learning.ladder_for(user)
    moments = [now, now + timedelta(days=7), now + timedelta(days=90)]

    in_sql = learning.mean_recall(user_id=user.pk, intervals=intervals, at=moments)

    expected = [
        sum(estimate_recall(card, at, intervals=intervals) for card in cards) / len(cards) for at in moments
    ]
    assert in_sql == pytest.approx(expected, abs=1e-9)
    assert learning.mean_recall(user_id=user.pk, intervals=intervals, at=[]) == []
    assert learning.mean_recall(user_id=make_user().pk, intervals=intervals, at=[now]) == [None]


def test_review_counts_by_local_day_groups_users_and_chosen_days() -> None:
    kim, lee = make_user(timezone="Asia/Seoul"), make_user(timezone="Asia/Seoul")
    kim_note, lee_note = make_content(user=kim), make_content(user=lee)
    review(kim_note, "remembered", utc(2026, 3, 1, 14, 59), seconds=12)  # Mar 1 23:59
    review(kim_note, "partial", utc(2026, 3, 1, 15, 0), seconds=8)  # Mar 2 00:00
    review(kim_note, "forgot", utc(2026, 3, 2, 3))  # Mar 2
    review(kim_note, "forgot", utc(2026, 3, 3, 3))  # Mar 3: not asked for
    review(lee_note, "remembered", utc(2026, 3, 5, 3), seconds=5)  # Mar 5

    counts = learning.review_counts_by_local_day(
        user_ids=[kim.pk, lee.pk],
        tz_name="Asia/Seoul",
        days=[date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 5), date(2026, 3, 4)],
    )

    assert counts == {
        (kim.pk, date(2026, 3, 1)): learning.DayReviewCounts(remembered=1, time_spent_seconds=12),
        (kim.pk, date(2026, 3, 2)): learning.DayReviewCounts(partial=1, forgot=1, time_spent_seconds=8),
        (lee.pk, date(2026, 3, 5)): learning.DayReviewCounts(remembered=1, time_spent_seconds=5),
    }
    assert learning.review_counts_by_local_day(user_ids=[kim.pk], tz_name="UTC", days=[]) == {}


def test_category_review_counts_count_reviews_since_a_moment() -> None:
    user = make_user()
    words = make_category(user=user, name="Words")
    make_category(user=user, name="Empty")
    note = make_content(user=user, category=words)
    make_content(user=user, category=words)
    review(note, "remembered", utc(2026, 3, 2))
    review(note, "forgot", utc(2026, 2, 1))

    empty, words_stats = learning.category_review_counts(user_id=user.pk, since=utc(2026, 3, 1))

    assert (empty.name, empty.content_count, empty.reviews.total) == ("Empty", 0, 0)
    assert (words_stats.name, words_stats.content_count) == ("Words", 2)
    assert words_stats.reviews == learning.ResultCounts(remembered=1)


def test_review_activity_and_reviewers_since() -> None:
    now = timezone.now()
    busy, quiet, gone = make_user(), make_user(), make_user()
    for days_ago in (1, 3, 20):
        review(make_content(user=busy), "remembered", now - timedelta(days=days_ago))
    review(make_content(user=quiet), "forgot", now - timedelta(days=15))
    review(make_content(user=gone), "forgot", now - timedelta(days=45))

    activity = learning.review_activity_by_user(
        since=now - timedelta(days=30), recent_since=now - timedelta(days=7)
    )

    assert activity == {busy.pk: (3, 2), quiet.pk: (1, 0)}
    assert sorted(learning.reviewer_ids(since=now - timedelta(days=30))) == sorted([busy.pk, quiet.pk])
    assert learning.learning_totals(user_id=busy.pk) == learning.LearningTotals(contents=3, reviews=3)


def test_review_counts_by_elapsed_rejects_unordered_bounds() -> None:
    with pytest.raises(ValueError):
        learning.review_counts_by_elapsed(user_id=1, upper_bounds_days=[3.5, 1.5])


def test_timezones_for_user_ids_answers_known_users() -> None:
    seoul, la = make_user(timezone="Asia/Seoul"), make_user(timezone="America/Los_Angeles")

    assert identity.timezones_for_user_ids([seoul.pk, la.pk, seoul.pk, 987654]) == {
        seoul.pk: "Asia/Seoul",
        la.pk: "America/Los_Angeles",
    }
    assert identity.timezones_for_user_ids([]) == {}


def test_tier_change_counts_group_changes_since_a_moment(django_assert_num_queries) -> None:
    since = timezone.now()
    user = make_user(tier="FREE")
    identity.change_tier(user=user, tier="PRO", source="admin")
    identity.change_tier(user=user, tier="BASIC", source="admin")
    other = make_user(tier="FREE")
    identity.change_tier(user=other, tier="PRO", source="admin")

    with django_assert_num_queries(1):
        counts = identity.tier_change_counts(since=since)

    assert counts == {("", "FREE"): 2, ("FREE", "PRO"): 2, ("PRO", "BASIC"): 1}
