"""``selectors.due_counts_between``: schedules counted per span of ascending bounds (the forecast and the
dashboard's days ahead) — overdue before the first bound, a schedule exactly on a bound in the span it
starts, nothing from the last bound on, another learner's schedules never counted."""

from __future__ import annotations

import random
from bisect import bisect_right
from datetime import timedelta

import pytest
from django.utils import timezone

from modules.identity.testing import make_user
from modules.learning import selectors
from modules.learning.models import ReviewSchedule
from modules.learning.testing import make_content

pytestmark = pytest.mark.django_db


def test_due_counts_per_span_equal_a_count_by_hand(django_assert_max_num_queries) -> None:
    user, other = make_user(), make_user()
    start = timezone.now().replace(microsecond=0)
    bounds = [start + timedelta(days=day, hours=(1 if day == 3 else 0)) for day in range(8)]  # a 25 h day
    rng = random.Random(13)
    moments = [start - timedelta(days=40), start - timedelta(seconds=1), *bounds]  # overdue, on each bound
    moments += [start + timedelta(minutes=rng.randrange(-3 * 1440, 10 * 1440)) for _ in range(60)]
    for index, moment in enumerate(moments):
        content = make_content(user=user, title=f"card {index}")
        ReviewSchedule.objects.filter(content=content).update(next_review_date=moment)
    for moment in moments[:10]:  # the other learner's cards, at the same moments
        content = make_content(user=other, title="theirs")
        ReviewSchedule.objects.filter(content=content).update(next_review_date=moment)

    expected = [0] * len(bounds)
    for moment in moments:
        if moment < bounds[-1]:
            expected[bisect_right(bounds, moment)] += 1
    with django_assert_max_num_queries(1):
        counts = selectors.due_counts_between(user_id=user.pk, bounds=bounds)
    assert counts == expected
    assert counts[0] >= 2 and sum(counts) == sum(1 for moment in moments if moment < bounds[-1])
