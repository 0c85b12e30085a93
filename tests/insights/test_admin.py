"""Django admin pages of the snapshots: browsable by staff, never edited by hand."""

from __future__ import annotations

from datetime import date

import pytest

from modules.identity.testing import make_user
from modules.insights.testing import make_snapshot

pytestmark = pytest.mark.django_db


def test_the_snapshot_list_shows_each_users_days(admin_client, django_assert_max_num_queries) -> None:
    learner = make_user(email="learner@example.com")
    for day in range(1, 11):
        make_snapshot(user=learner, day=date(2026, 3, day), remembered=day, partial=1, forgot=1)

    with django_assert_max_num_queries(8):
        response = admin_client.get("/admin/insights/learningmetrics/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "learner@example.com" in page
    assert "learning metrics snapshots" in page


def test_the_snapshot_list_searches_by_email_and_filters(admin_client) -> None:
    make_snapshot(user=make_user(email="kim@example.com"), day=date(2026, 3, 1), remembered=1)
    make_snapshot(user=make_user(email="lee@example.com"), day=date(2026, 3, 1), forgot=1, is_final=False)

    found = admin_client.get("/admin/insights/learningmetrics/?q=kim").content.decode()
    provisional = admin_client.get("/admin/insights/learningmetrics/?is_final__exact=0").content.decode()

    assert "kim@example.com" in found
    assert "lee@example.com" not in found
    assert "lee@example.com" in provisional
    assert "kim@example.com" not in provisional


def test_snapshots_are_read_only_in_the_admin(admin_client) -> None:
    snapshot = make_snapshot(user=make_user(), day=date(2026, 3, 1), remembered=2)

    assert admin_client.get("/admin/insights/learningmetrics/add/").status_code == 403
    detail = admin_client.get(f"/admin/insights/learningmetrics/{snapshot.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    admin_client.post(f"/admin/insights/learningmetrics/{snapshot.pk}/change/", {"remembered": 99})
    snapshot.refresh_from_db()
    assert snapshot.remembered == 2
