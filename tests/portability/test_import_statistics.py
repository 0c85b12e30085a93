"""A large import refreshes the planner's statistics of the tables it wrote (``ANALYZE`` in its
transaction): with a learner it had never seen, PostgreSQL looked their rows up by scanning them all,
and re-importing a million-review Anki file right after the first import ran past the worker's timeout
(docs/portability.md)."""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from modules.identity.testing import make_user
from modules.learning import services
from modules.learning.models import ReviewHistory
from modules.learning.services import (
    ExternalKey,
    ImportedContent,
    ImportedReview,
    LearningImport,
    portability_import,
)

pytestmark = pytest.mark.django_db


def _data(notes: int, per_note: int) -> LearningImport:
    now = timezone.now()
    contents = [
        ImportedContent(
            ref=f"n{i}",
            key=ExternalKey("anki", f"n{i}"),
            title=f"T{i}",
            body="b",
            created_at=now - timedelta(days=90),
        )
        for i in range(notes)
    ]
    reviews = [
        ImportedReview(
            content_ref=f"n{i}",
            key=ExternalKey("anki", f"n{i}/{j}"),
            result="remembered",
            reviewed_at=now - timedelta(days=80 - j),
        )
        for i in range(notes)
        for j in range(per_note)
    ]
    return LearningImport(contents=contents, reviews=reviews)


def _seen_users(table: str) -> str:
    """The user ids the planner's statistics of ``table`` name (its most common values)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(most_common_vals::text, '') || coalesce(histogram_bounds::text, '') FROM pg_stats"
            " WHERE tablename = %s AND attname = 'user_id'",
            [table],
        )
        row = cursor.fetchone()
    return row[0] if row else ""


@pytest.mark.parametrize(("threshold", "analyzed"), [(40, True), (121, False)])
def test_an_import_of_at_least_the_threshold_analyzes_what_it_wrote(
    monkeypatch, threshold: int, analyzed: bool
) -> None:
    monkeypatch.setattr(portability_import, "ANALYZE_AFTER_ROWS", threshold)
    user = make_user()

    outcome = services.import_learning_data(user=user, data=_data(notes=40, per_note=3))

    assert (outcome.counts.contents_created, outcome.counts.reviews_imported) == (40, 120)
    for table in ("learning_content", "learning_reviewschedule", "learning_reviewhistory"):
        named = re.findall(r"\d+", _seen_users(table))
        assert (str(user.pk) in named) is analyzed, (table, named)


def test_a_table_held_by_a_vacuum_leaves_the_statistics_to_autovacuum_and_the_import_succeeds(
    monkeypatch, caplog
) -> None:
    """What an anti-wraparound vacuum (which does not give way) would do: hold the table's SHARE UPDATE
    EXCLUSIVE lock. The refresh gives up after its lock timeout; the import's rows are all kept."""
    monkeypatch.setattr(portability_import, "ANALYZE_AFTER_ROWS", 40)
    monkeypatch.setattr(portability_import, "ANALYZE_LOCK_TIMEOUT", "200ms")
    user = make_user()
    settings = connection.settings_dict
    holder = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=False,
    )
    try:
        holder.execute("LOCK TABLE learning_reviewhistory IN SHARE UPDATE EXCLUSIVE MODE")

        outcome = services.import_learning_data(user=user, data=_data(notes=40, per_note=3))
    finally:
        holder.rollback()
        holder.close()

    assert outcome.counts.reviews_imported == 120
    assert ReviewHistory.objects.filter(user=user).count() == 120
    assert "statistics not refreshed" in caplog.text
    assert str(user.pk) not in re.findall(r"\d+", _seen_users("learning_reviewhistory"))
