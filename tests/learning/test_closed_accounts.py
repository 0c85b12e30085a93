"""Learning's scheduled work leaves a closed account alone (its erasure is queued): no memory fit is
queued or run for it, no tallies are built for it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from modules.identity import services as identity
from modules.identity.testing import make_user
from modules.learning import services, tasks
from modules.learning.models import MemoryModelFit, ReviewTallyState
from modules.learning.testing import make_content, make_ladder_history, record_review

pytestmark = pytest.mark.django_db


def test_the_daily_round_queues_no_fit_for_a_closed_account(django_capture_on_commit_callbacks) -> None:
    kept, closed = make_user(), make_user()
    for user in (kept, closed):
        make_ladder_history(user=user, cards=70, reviews_per_card=4, end=timezone.now())
    identity.close_account(user=closed)

    with django_capture_on_commit_callbacks(execute=False):
        assert services.enqueue_memory_fits() == 1

    assert list(MemoryModelFit.objects.values_list("user_id", flat=True)) == [kept.pk]


def test_a_fit_queued_before_the_closure_is_failed_without_running() -> None:
    user = make_user()
    fit = MemoryModelFit.objects.create(user=user, timezone_name="UTC", day_start_hour=4)
    identity.close_account(user=user)

    assert tasks.run_memory_fit(user.pk, fit.pk) is None

    fit.refresh_from_db()
    assert (fit.status, fit.error) == ("failed", "The account was closed.")


def test_no_tallies_are_built_for_a_closed_account() -> None:
    user = make_user()
    record_review(content=make_content(user=user), reviewed_at=timezone.now() - timedelta(hours=1))
    identity.close_account(user=user)

    assert services.build_review_tallies_of(user_id=user.pk) is False
    assert services.build_review_tallies() == 0
    assert not ReviewTallyState.objects.filter(user_id=user.pk).exists()
