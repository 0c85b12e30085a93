"""The kept rollups of migration 0006: the recall groups behind the mean recall, and a user's content
total behind the content list (PostgreSQL triggers; docs/benchmarks.md, issue 13)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from modules.identity import services as identity
from modules.identity.testing import make_user
from modules.learning import services
from modules.learning.models import Content, ContentTotal, LearnerMemoryModel, RecallGroup, ReviewSchedule
from modules.learning.services.memory import RecallCurves
from modules.learning.services.recall import ROLLUP_TOLERANCE
from modules.learning.testing import make_content

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the rollups are kept on PostgreSQL"),
]

BASIC = (1, 3, 7, 14, 30, 60, 90)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _groups_from_cards(user_id: int) -> dict[tuple[bool, int, int], tuple[int, float, float]]:
    """The recall groups rebuilt from the cards, in Python."""
    groups: dict[tuple[bool, int, int], tuple[int, float, float]] = {}
    rows = ReviewSchedule.objects.filter(user_id=user_id).values_list(
        "scheduler", "stability", "difficulty", "stage", "last_reviewed_at", "content__created_at"
    )
    for scheduler, stability, difficulty, stage, last, created in rows:
        fsrs = scheduler == "fsrs" and stability is not None and difficulty is not None
        epoch = ((last or created) - _EPOCH).total_seconds() / 86_400
        day = int(epoch // 1)
        cards, first, second = groups.get((fsrs, stage, day), (0, 0.0, 0.0))
        offset = epoch - day
        groups[(fsrs, stage, day)] = (cards + 1, first + offset, second + offset * offset)
    return groups


def _assert_groups_kept(user_id: int) -> None:
    kept = {
        (row.fsrs, row.stage, row.day): (row.cards, row.offset_sum, row.offset_square_sum)
        for row in RecallGroup.objects.filter(user_id=user_id)
    }
    expected = _groups_from_cards(user_id)
    assert kept.keys() == expected.keys()
    for key, (cards, first, second) in expected.items():
        assert kept[key][0] == cards
        assert kept[key][1] == pytest.approx(first, abs=1e-6)
        assert kept[key][2] == pytest.approx(second, abs=1e-6)


def _cards(user, *, count: int, now: datetime, seed: int = 7) -> list[Content]:
    """Cards at random stages reviewed at random moments, several on the same days; a few never."""
    rng = random.Random(seed)
    contents = []
    for index in range(count):
        content = make_content(user=user, title=f"card {index}", created_at=now - timedelta(days=400 - index))
        if index % 7:
            ReviewSchedule.objects.filter(content=content).update(
                stage=rng.randrange(0, 10),
                last_reviewed_at=now - timedelta(days=rng.randrange(0, 12), seconds=rng.randrange(0, 86_400)),
            )
        contents.append(content)
    return contents


def _assert_close_to_exact(user, moments: list[datetime], intervals=BASIC) -> list[float | None]:
    rolled = services.mean_recall(user_id=user.pk, intervals=intervals, at=moments)
    exact = services.exact_mean_recall(user_id=user.pk, intervals=intervals, at=moments)
    assert rolled == pytest.approx(exact, abs=ROLLUP_TOLERANCE)
    return rolled


def test_the_mean_recall_from_the_groups_is_within_the_tolerance_of_every_card_evaluated(
    django_assert_num_queries,
) -> None:
    user = make_user(tier="BASIC")
    now = timezone.now()
    _cards(user, count=80, now=now)
    moments = [now, now + timedelta(days=7), now + timedelta(days=90)]

    with django_assert_num_queries(1):  # the groups answer: no card is read
        rolled = services.mean_recall(user_id=user.pk, intervals=BASIC, at=moments)

    exact = services.exact_mean_recall(user_id=user.pk, intervals=BASIC, at=moments)
    assert rolled == pytest.approx(exact, abs=ROLLUP_TOLERANCE)
    assert rolled != pytest.approx(exact, abs=1e-12)  # grouped: an approximation, not the same sum
    assert RecallGroup.objects.filter(user=user).count() < 80
    _assert_groups_kept(user.pk)
    # another ladder (a tier change) reads the same groups
    pro = (1, 3, 7, 14, 30, 60, 120, 180)
    with django_assert_num_queries(1):
        other = services.mean_recall(user_id=user.pk, intervals=pro, at=moments)
    assert other == pytest.approx(
        services.exact_mean_recall(user_id=user.pk, intervals=pro, at=moments), abs=ROLLUP_TOLERANCE
    )


def test_no_cards_no_mean_recall(django_assert_num_queries) -> None:
    user = make_user(tier="BASIC")
    with django_assert_num_queries(1):
        assert services.mean_recall(user_id=user.pk, intervals=BASIC, at=[timezone.now()]) == [None]


def test_the_groups_follow_every_write_no_stale_mean_after_a_review_a_delete_or_a_change() -> None:
    user = make_user(tier="BASIC")
    now = timezone.now()
    contents = _cards(user, count=30, now=now)
    moments = [now + timedelta(minutes=5), now + timedelta(days=7)]
    before = _assert_close_to_exact(user, moments)

    services.complete_review(user=user, content_id=contents[3].pk, result="forgot")  # stage and anchor move
    _assert_groups_kept(user.pk)
    after_review = _assert_close_to_exact(user, [timezone.now() + timedelta(minutes=5), moments[1]])
    assert after_review[1] != pytest.approx(before[1], abs=1e-6)

    services.delete_content(user=user, content_id=contents[5].pk)
    services.delete_content(user=user, content_id=contents[7].pk)  # never reviewed: anchored at creation
    _assert_groups_kept(user.pk)
    _assert_close_to_exact(user, moments)

    Content.objects.filter(pk=contents[14].pk).update(created_at=now - timedelta(days=3))  # never reviewed
    ReviewSchedule.objects.filter(content=contents[1]).update(stage=0, last_reviewed_at=None)  # a reset
    _assert_groups_kept(user.pk)
    _assert_close_to_exact(user, moments)

    identity.delete_account(user=user)
    assert not RecallGroup.objects.filter(user_id=user.pk).exists()


def test_cards_with_fsrs_memory_or_a_moment_before_an_anchor_take_the_exact_query(
    django_assert_num_queries,
) -> None:
    user = make_user(tier="BASIC")
    now = timezone.now()
    contents = _cards(user, count=20, now=now)
    with django_assert_num_queries(2):  # a moment before some anchors: every card is evaluated
        early = services.mean_recall(user_id=user.pk, intervals=BASIC, at=[now - timedelta(days=5)])
    assert early == services.exact_mean_recall(user_id=user.pk, intervals=BASIC, at=[now - timedelta(days=5)])

    ReviewSchedule.objects.filter(content=contents[2]).update(scheduler="fsrs", stability=3.0, difficulty=5.0)
    _assert_groups_kept(user.pk)
    with django_assert_num_queries(2):
        rolled = services.mean_recall(user_id=user.pk, intervals=BASIC, at=[now])
    assert rolled == services.exact_mean_recall(user_id=user.pk, intervals=BASIC, at=[now])


@pytest.mark.parametrize(
    "stabilities", [(0.5, 1.5, 4.0, 9.0, 20.0, 45.0, 80.0), (5.0, 9.0, 14.0, 30, 60, 90, 120)]
)
def test_a_calibrated_ladder_answers_within_the_tolerance_from_the_groups_or_exactly(stabilities) -> None:
    user = make_user(tier="BASIC")
    now = timezone.now()
    _cards(user, count=60, now=now, seed=11)
    decay = 0.3
    LearnerMemoryModel.objects.create(
        user=user,
        version=1,
        timezone_name="UTC",
        day_start_hour=4,
        ladder_key=",".join(map(str, BASIC)),
        ladder_stabilities=list(stabilities),
        ladder_decay=decay,
        recall_curve=RecallCurves().to_text(),
    )
    _assert_close_to_exact(user, [now, now + timedelta(days=7), now + timedelta(days=90)])


def test_the_content_total_follows_creations_and_deletions(django_assert_num_queries) -> None:
    user = make_user(tier="BASIC")
    other = make_user(tier="BASIC")
    contents = [make_content(user=user, title=f"c{index}") for index in range(4)]
    make_content(user=other)
    services.delete_content(user=user, content_id=contents[0].pk)

    assert ContentTotal.objects.get(user=user).contents == 3 == Content.objects.filter(user=user).count()
    assert ContentTotal.objects.get(user=other).contents == 1
    page = services.content_list(user=user)
    with django_assert_num_queries(1):
        assert page.count() == 3
    assert services.count_contents(user_id=user.pk) == 3
    # a filtered list still counts its matches
    assert services.content_list(user=user, search="c1").count() == 1


def test_the_groups_follow_every_kind_of_schedule_change_in_both_orders_of_the_two_groups() -> None:
    """The inlined trigger (migration 0010): moves to a later and to an earlier group (the two writes'
    order flips), to and from FSRS memory, a reset to never reviewed, another stage on the same day and
    a change that leaves the group as it was; the groups equal the cards rebuilt after each round."""
    user = make_user(tier="BASIC")
    now = timezone.now()
    contents = _cards(user, count=24, now=now, seed=11)
    rng = random.Random(5)
    for _ in range(4):
        for content in contents:
            choice = rng.randrange(6)
            schedule = ReviewSchedule.objects.filter(content=content)
            if choice == 0:  # later anchor, higher stage
                schedule.update(
                    stage=rng.randrange(5, 10), last_reviewed_at=now - timedelta(hours=rng.randrange(1, 48))
                )
            elif choice == 1:  # earlier anchor, lower stage
                schedule.update(
                    stage=rng.randrange(0, 5), last_reviewed_at=now - timedelta(days=rng.randrange(30, 300))
                )
            elif choice == 2:  # FSRS memory on, then off
                schedule.update(scheduler="fsrs", stability=rng.uniform(1, 50), difficulty=rng.uniform(1, 10))
            elif choice == 3:
                schedule.update(scheduler="ladder", stability=None, difficulty=None)
            elif choice == 4:  # a reset: anchored at the content's creation again
                schedule.update(stage=0, last_reviewed_at=None)
            else:  # nothing the groups hold changes
                schedule.update(next_review_date=now + timedelta(days=rng.randrange(1, 30)))
        _assert_groups_kept(user.pk)
