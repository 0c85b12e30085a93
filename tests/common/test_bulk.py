"""insert_rows: rows written as given (COPY on PostgreSQL, INSERTs elsewhere), errors as Django's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from modules.common.bulk import insert_rows
from modules.identity.testing import make_user
from modules.learning.models import Content

pytestmark = pytest.mark.django_db

COLUMNS = ("user_id", "title", "body", "created_at", "updated_at", "external_source", "external_id")


@pytest.fixture(params=["postgresql", "other"])
def vendor(request, monkeypatch) -> str:
    """Both paths on the test database: COPY, and the INSERTs SQLite gets (``make run``)."""
    if request.param == "other":
        monkeypatch.setattr(connection, "vendor", "sqlite")
    return request.param


def test_rows_are_written_as_given_without_auto_now(vendor: str) -> None:
    user = make_user()
    then = timezone.now().replace(microsecond=0) - timedelta(days=400)
    rows = [
        (user.pk, f"t{i}", "body ✓\n\t\\", then, then + timedelta(days=i), "csv", f"k{i}") for i in range(3)
    ]

    assert insert_rows(Content, COLUMNS, iter(rows)) == 3

    stored = list(
        Content.objects.filter(user=user)
        .order_by("title")
        .values_list("title", "body", "created_at", "updated_at")
    )
    assert stored == [(f"t{i}", "body ✓\n\t\\", then, then + timedelta(days=i)) for i in range(3)]


def test_a_refused_row_raises_djangos_error_and_the_transaction_rolls_back(vendor: str) -> None:
    user = make_user()
    now = timezone.now()
    row = (user.pk, "t", "b", now, now, "csv", "same")
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Content, COLUMNS, [row, row])  # the external key is unique per user
    assert not Content.objects.filter(user=user).exists()
