"""Cursor lists over HTTP (modules/common/pagination.py, on review history): the cursors beside the page
URLs, and ``page_size`` bounded to 1..100 with 422 outside, never clamped."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from modules.learning.services import complete_review
from modules.learning.testing import make_due_content

HISTORY = "/api/v1/review/history/"


@pytest.fixture
def five_reviews(user: Any) -> None:
    for _ in range(5):
        complete_review(user=user, content_id=make_due_content(user=user).pk, result="remembered")


@pytest.mark.parametrize("page_size", ["0", "-1", "101", "1000", "ten"])
def test_a_page_size_outside_1_to_100_is_422(auth_client: Client, page_size: str) -> None:
    response = auth_client.get(HISTORY, {"page_size": page_size})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert [item["loc"] for item in body["detail"]] == [["query", "page_size"]]


@pytest.mark.parametrize(("page_size", "count"), [("1", 1), ("100", 5)])
def test_the_bounds_themselves_are_pages(
    auth_client: Client, five_reviews: None, page_size: str, count: int
) -> None:
    response = auth_client.get(HISTORY, {"page_size": page_size})

    assert response.status_code == 200
    assert len(response.json()["results"]) == count


def test_a_page_gives_its_cursors_beside_its_urls(auth_client: Client, five_reviews: None) -> None:
    first = auth_client.get(HISTORY, {"page_size": 2}).json()

    assert first["previous"] is None and first["previous_cursor"] is None
    assert first["next"].startswith("http://testserver/api/v1/review/history/?")
    assert parse_qs(urlsplit(first["next"]).query)["cursor"] == [first["next_cursor"]]

    second = auth_client.get(HISTORY, {"page_size": 2, "cursor": first["next_cursor"]}).json()
    assert second == auth_client.get(first["next"]).json()
    assert {row["id"] for row in second["results"]}.isdisjoint(row["id"] for row in first["results"])
    assert parse_qs(urlsplit(second["previous"]).query)["cursor"] == [second["previous_cursor"]]

    back = auth_client.get(HISTORY, {"page_size": 2, "cursor": second["previous_cursor"]}).json()
    assert [row["id"] for row in back["results"]] == [row["id"] for row in first["results"]]


def test_the_last_page_has_no_next(auth_client: Client, five_reviews: None) -> None:
    page = auth_client.get(HISTORY, {"page_size": 5}).json()

    assert len(page["results"]) == 5
    assert page["next"] is None and page["next_cursor"] is None
