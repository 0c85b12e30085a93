"""The project's paginators (modules/common/pagination.py): bad pagination input is 422, never 500."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, RequestFactory
from ninja.errors import ValidationError

from modules.common.pagination import MAX_OFFSET, CursorPagination
from modules.identity.models import User
from modules.identity.testing import auth_headers, make_admin
from modules.learning.models import ReviewHistory

INVALID_CURSOR = [{"type": "value_error", "loc": ["query", "cursor"], "msg": "Invalid cursor."}]


def encoded(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


def paginate(paginator: CursorPagination, queryset: Any, cursor: str | None) -> Any:
    request = RequestFactory().get("/api/list/")
    return paginator.paginate_queryset(
        queryset, CursorPagination.Input(cursor=cursor, page_size=paginator.page_size), request
    )


# --- Cursor lists ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        "%%%",
        "é",
        encoded("p=abc"),
        encoded("p=2024-13-45T99:00:00"),
        encoded("p=2024-01-01T00:00:00%00"),
        encoded("o=-1"),
        encoded("o=99999999999999999999"),
        encoded("r=maybe"),
        base64.b64encode(b"\xff\xfe").decode(),
    ],
    ids=[
        "garbage",
        "percent",
        "non-ascii",
        "text-position",
        "impossible-date",
        "nul-position",
        "negative-offset",
        "huge-offset",
        "bad-reverse",
        "not-ascii-inside",
    ],
)
def test_a_crafted_cursor_on_a_datetime_ordering_is_422(db: Any, cursor: str) -> None:
    paginator = CursorPagination(ordering=("-reviewed_at", "-id"))
    with pytest.raises(ValidationError) as caught:
        paginate(paginator, ReviewHistory.objects.all(), cursor)
    assert caught.value.errors == INVALID_CURSOR


def test_the_position_is_checked_against_whatever_field_orders_the_list(db: Any) -> None:
    # An integer ordering: Django raised ValueError ("Field 'id' expected a number") from the filter.
    paginator = CursorPagination(ordering=("id",))
    with pytest.raises(ValidationError):
        paginate(paginator, User.objects.all(), encoded("p=abc"))
    page = paginate(paginator, User.objects.all(), encoded("p=5"))
    assert page["results"] == []


def test_a_valid_cursor_pages_as_ninjas_does(db: Any) -> None:
    for index in range(3):
        make_admin(email=f"admin{index}@example.com")
    paginator = CursorPagination(ordering=("id",), page_size=2)
    first = paginate(paginator, User.objects.all(), None)
    assert len(first["results"]) == 2 and first["next"]
    next_cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    second = paginate(paginator, User.objects.all(), next_cursor)
    assert [user.email for user in second["results"]] == ["admin2@example.com"]


def test_a_crafted_cursor_on_the_history_route_is_422(auth_client: Client) -> None:
    response = auth_client.get(f"/api/review/history/?cursor={encoded('p=abc')}")
    assert response.status_code == 422
    assert response.json() == {"detail": INVALID_CURSOR, "code": "validation_error"}


# --- Offset lists ---------------------------------------------------------------------------------------

OFFSET_LISTS = [
    "/api/content/",
    "/api/content/categories/",
    "/api/ai-review/questions/",
    "/api/monitoring/alert-rules/",
    "/api/monitoring/alerts/",
]


@pytest.mark.parametrize("path", OFFSET_LISTS)
@pytest.mark.parametrize("offset", [MAX_OFFSET + 1, 9223372036854775807, 99999999999999999999999])
def test_an_offset_beyond_the_bound_is_422_on_every_offset_list(db: Any, path: str, offset: int) -> None:
    client = Client(headers=auth_headers(make_admin(tier="PRO")))
    response = client.get(f"{path}?offset={offset}")
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]


@pytest.mark.parametrize("path", OFFSET_LISTS)
def test_the_largest_offset_answers_an_empty_page(db: Any, path: str) -> None:
    client = Client(headers=auth_headers(make_admin(tier="PRO")))
    response = client.get(f"{path}?offset={MAX_OFFSET}")
    assert response.status_code == 200, response.content
    assert response.json()["items"] == []


def test_the_offset_bound_is_in_the_openapi_schema(api_client: Client) -> None:
    schema = api_client.get("/api/openapi.json").json()
    parameters = schema["paths"]["/api/v1/content/categories/"]["get"]["parameters"]
    offset = next(parameter for parameter in parameters if parameter["name"] == "offset")
    assert offset["schema"]["maximum"] == MAX_OFFSET
