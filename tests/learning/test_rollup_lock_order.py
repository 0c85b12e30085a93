"""Writers of one learner's rollups take their rows in one order, whatever they move: moves of contents
between two categories in opposite directions, run at once, never deadlock (migration 0011 writes each
statement's changes as one upsert in key order; the row-level triggers before it ordered a move's two
rows the same way)."""

from __future__ import annotations

import pytest

from modules.identity.testing import make_user
from modules.learning import services
from modules.learning.models import Content
from modules.learning.testing import make_category, make_content
from tests.concurrency import needs_row_locks, run_together
from tests.learning.test_dashboard_rollups import assert_kept

pytestmark = [
    pytest.mark.django_db(transaction=True),
    needs_row_locks,
]

WRITERS = 6
ROUNDS = 150


def test_moves_in_opposite_directions_at_once_never_deadlock() -> None:
    user = make_user()
    first, second = make_category(user=user, name="First"), make_category(user=user, name="Second")
    contents = [
        make_content(user=user, category=first if i % 2 else second, title=f"c{i}") for i in range(WRITERS)
    ]

    def work(index: int) -> int:
        content = contents[index]
        for round_ in range(ROUNDS):
            target = (first, second)[(index + round_) % 2]
            services.update_content(user=user, content_id=content.pk, changes={"category_id": target.pk})
        return ROUNDS

    assert run_together(work, WRITERS, timeout=120) == [ROUNDS] * WRITERS
    assert_kept()
    assert Content.objects.filter(user=user).count() == WRITERS
