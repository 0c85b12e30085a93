"""The functions other modules call (ai: content lookups; ops: metrics)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone

from modules.common.errors import NotFound
from modules.learning import services
from modules.learning.testing import make_category, make_content, make_due_content, record_review

pytestmark = pytest.mark.django_db


def test_get_content_returns_a_frozen_ref_with_its_category(user) -> None:
    category = make_category(user=user, name="Chemistry")
    content = make_content(
        user=user, title="Bonds", body="Covalent bonds share electrons.", category=category
    )

    ref = services.get_content(user=user, content_id=content.pk)

    assert ref == services.ContentRef(
        id=content.pk,
        user_id=user.pk,
        title="Bonds",
        body="Covalent bonds share electrons.",
        category_id=category.pk,
        category_name="Chemistry",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.title = "x"  # type: ignore[misc]


def test_get_content_of_another_user_or_a_missing_id_is_not_found(user, other_user) -> None:
    theirs = make_content(user=other_user)
    for content_id in (theirs.pk, 987_654):
        with pytest.raises(NotFound):
            services.get_content(user=user, content_id=content_id)


def test_contents_for_user_keeps_the_order_of_ids_and_drops_others(user, other_user) -> None:
    first, second = make_content(user=user, title="a"), make_content(user=user, title="b")
    theirs = make_content(user=other_user)

    refs = services.contents_for_user(user=user, ids=[second.pk, theirs.pk, first.pk, 123_456, second.pk])

    assert [ref.id for ref in refs] == [second.pk, first.pk]
    assert refs[0].category_name is None
    assert services.contents_for_user(user=user, ids=[]) == []


def test_sibling_contents_are_the_users_other_content_newest_first(user, other_user) -> None:
    now = timezone.now()
    old = make_content(user=user, title="old", created_at=now - timedelta(days=2))
    middle = make_content(user=user, title="middle", created_at=now - timedelta(days=1))
    new = make_content(user=user, title="new", created_at=now)
    make_content(user=other_user, title="theirs")

    siblings = services.sibling_contents(user=user, exclude_content_id=middle.pk)
    everything = services.sibling_contents(user=user, exclude_content_id=None, limit=2)

    assert [ref.id for ref in siblings] == [new.pk, old.pk]
    assert [ref.id for ref in everything] == [new.pk, middle.pk]


def test_ops_counters(user, other_user) -> None:
    now = timezone.now()
    mine = make_due_content(user=user, overdue_days=1)
    theirs = make_due_content(user=other_user)
    make_content(user=user, due_at=now + timedelta(days=3))
    record_review(content=mine, reviewed_at=now - timedelta(minutes=5))
    record_review(content=mine, reviewed_at=now - timedelta(minutes=3))
    record_review(content=theirs, reviewed_at=now - timedelta(hours=3))

    assert services.count_overdue(now=now) == 2
    assert services.count_reviews(since=now - timedelta(hours=1)) == 2
    assert services.count_reviews(since=now - timedelta(days=1)) == 3
    assert services.count_active_reviewers(since=now - timedelta(hours=1)) == 1
    assert services.count_active_reviewers(since=now - timedelta(days=1)) == 2


def test_learning_testing_factories_arrange_state(user) -> None:
    content = make_content(user=user, stage=4, due_at=timezone.now() + timedelta(days=1))
    assert content.schedule.stage == 4
    review = record_review(content=content, result="forgot")
    assert review.user_id == user.pk
