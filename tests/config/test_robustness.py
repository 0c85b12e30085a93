"""No client input answers 500: the API's parser (config/parser.py) and error handlers (config/api.py).

Each case here was a 500 on PostgreSQL before: psycopg refuses NUL characters and unpaired
surrogates, bigint overflows, and Django's own 400s (an oversized body, too many fields) were caught
by Ninja as unhandled exceptions.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, RequestFactory
from ninja.errors import ValidationError

from config.api import field_error, on_domain_error, on_validation_error
from config.parser import BIGINT_MAX, BIGINT_MIN, MAX_REPORTED, find_unstorable
from modules.common.errors import FieldError, ValidationFailed
from modules.identity.models import User
from modules.learning.testing import make_category, make_content, record_review

CONTENT = "/api/content/"


def post(client: Client, raw: str | bytes, *, path: str = CONTENT, **extra: Any) -> Any:
    return client.post(path, raw, content_type=extra.pop("content_type", "application/json"), **extra)


def assert_field_errors(response: Any, *locs: list[Any]) -> None:
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert [item["loc"] for item in body["detail"]] == [list(loc) for loc in locs]
    for item in body["detail"]:
        assert set(item) == {"type", "loc", "msg"}


# --- Values PostgreSQL cannot store ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        ('{"title": "a\\u0000b", "body": "b"}', ["body", "payload", "title"]),
        ('{"title": "t", "body": "\\u0000"}', ["body", "payload", "body"]),
        (
            '{"title": "t", "body": "b", "extra": {"deep": ["ok", "x\\u0000"]}}',
            ["body", "payload", "extra", "deep", 1],
        ),
        ('{"title": "a\\ud800", "body": "b"}', ["body", "payload", "title"]),
        ('{"title": "a\\udfff", "body": "b"}', ["body", "payload", "title"]),
        (
            '{"title": "t", "body": "b", "category_id": 9223372036854775808}',
            ["body", "payload", "category_id"],
        ),
        (
            '{"title": "t", "body": "b", "category_id": -9223372036854775809}',
            ["body", "payload", "category_id"],
        ),
        ('{"title": "t", "body": "b", "category_id": 1e999}', ["body", "payload", "category_id"]),
        ('{"title": "t", "body": "b", "category_id": -1e999}', ["body", "payload", "category_id"]),
    ],
    ids=[
        "nul-title",
        "nul-body",
        "nul-nested",
        "high-surrogate",
        "low-surrogate",
        "above-bigint",
        "below-bigint",
        "infinite",
        "minus-infinite",
    ],
)
def test_unstorable_values_in_a_json_body_are_422_at_their_location(
    auth_client: Client, raw: str, loc: list[Any]
) -> None:
    assert_field_errors(post(auth_client, raw), loc)


def test_a_nul_in_a_field_name_is_422(auth_client: Client) -> None:
    response = post(auth_client, '{"title": "t", "body": "b", "x\\u0000": 1}')
    assert_field_errors(response, ["body", "payload"])
    assert "Field name" in response.json()["detail"][0]["msg"]


def test_every_unstorable_value_is_reported_at_once(auth_client: Client) -> None:
    response = post(auth_client, '{"title": "\\u0000", "body": "\\ud800"}')
    assert_field_errors(response, ["body", "payload", "title"], ["body", "payload", "body"])


def test_the_bigint_bounds_themselves_pass_the_parser(auth_client: Client) -> None:
    at_max = post(auth_client, json.dumps({"title": "t", "body": "b", "category_id": BIGINT_MAX}))
    assert at_max.status_code == 404  # parsed, validated, then simply not one of the user's categories
    assert find_unstorable({"n": BIGINT_MIN, "flag": True, "x": 1.5, "s": "ok"}, root=("body",)) == []


def test_paired_surrogates_and_other_unicode_are_stored_as_sent(auth_client: Client) -> None:
    title = "Zo\u00eb \u00df \U0001d54f \U0001f600 \u202e \u05e2\u05d1\u05e8\u05d9\u05ea \u4e2d\u6587"
    response = post(auth_client, json.dumps({"title": title, "body": "b" * 10}, ensure_ascii=True))
    assert response.status_code == 201, response.content
    assert response.json()["title"] == title


def test_a_nul_in_a_query_string_is_422(auth_client: Client) -> None:
    assert_field_errors(auth_client.get("/api/content/?search=a%00b"), ["query", "search"])


def test_a_nul_in_a_query_string_of_a_route_without_its_own_check_is_422(auth_client: Client) -> None:
    # The ai questions list has no string filter at all: the parser checks every query value.
    assert_field_errors(auth_client.get("/api/ai-review/questions/?unknown=%00"), ["query", "unknown"])


def test_a_deeply_nested_body_is_answered_without_exhausting_the_stack(auth_client: Client) -> None:
    # Deep, yet well inside what json.loads parses below the request's own stack (900 was one frame
    # from the recursion limit with Sentry's middleware wrappers on).
    nested = "[" * 500 + '"\\u0000"' + "]" * 500
    response = post(auth_client, nested)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload", *[0] * 500]
    too_deep = post(auth_client, "[" * 100_000 + "]" * 100_000)
    assert too_deep.status_code == 400


def test_reports_stop_after_a_bounded_number_of_locations(auth_client: Client) -> None:
    response = post(auth_client, json.dumps({"title": ["\x00"] * 500, "body": "b"}))
    assert response.status_code == 422
    assert len(response.json()["detail"]) == MAX_REPORTED


# --- Malformed requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '{"title": "t", "body": "b", "category_id": NaN}',
        '{"title": "t", "body": "b", "category_id": Infinity}',
        '{"title": "t", "body": "b", "category_id": -Infinity}',
        '{"title": "t", "body": "b"',
        b"\xff\xfe\x00{",
        "1" * 5000,  # past Python's int digit limit
    ],
    ids=["text", "nan", "infinity", "minus-infinity", "truncated", "not-utf8", "huge-int-literal"],
)
def test_a_body_that_is_not_json_is_400_bad_request(auth_client: Client, raw: str | bytes) -> None:
    response = post(auth_client, raw)
    assert response.status_code == 400
    assert response.json() == {"detail": "Malformed request body.", "code": "bad_request"}


@pytest.mark.parametrize("raw", ["[1, 2]", '"x"', "null", "3", "true"])
def test_json_that_is_not_an_object_is_422(auth_client: Client, raw: str) -> None:
    response = post(auth_client, raw)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload"]


def test_an_empty_body_is_422_missing(auth_client: Client) -> None:
    response = post(auth_client, "")
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"type": "missing", "loc": ["body", "payload"], "msg": "Field required"}
    ]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_a_wrong_content_type_with_a_non_json_body_is_400(auth_client: Client, content_type: str) -> None:
    response = post(auth_client, "title=t&body=b", content_type=content_type)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


def test_a_multipart_body_is_400(auth_client: Client) -> None:
    response = auth_client.post(CONTENT, {"title": "t", "body": "b"})  # Django's default: multipart
    assert response.status_code == 400


def test_a_very_long_string_is_422_not_stored(auth_client: Client) -> None:
    response = post(auth_client, json.dumps({"title": "t" * 1_000_000, "body": "b"}))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "title"]


def test_a_body_over_the_upload_limit_is_400_not_500(auth_client: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post(auth_client, json.dumps({"title": "t", "body": "b" * 2000}))
    assert response.status_code == 400
    assert response.json() == {"detail": "Request body too large.", "code": "bad_request"}


def test_a_query_string_with_too_many_fields_is_400_not_500(auth_client: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    query = "&".join(f"f{index}=1" for index in range(50))
    response = auth_client.get(f"/api/content/?{query}")
    assert response.status_code == 400
    assert response.json() == {"detail": "Malformed request.", "code": "bad_request"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/content/99999999999999999999999/",
        "/api/content/9223372036854775808/",
        "/api/content/categories/9223372036854775808/",
        "/api/ai-review/jobs/9223372036854775808/",
    ],
)
def test_ids_beyond_bigint_in_a_path_are_404(auth_client: Client, path: str) -> None:
    response = auth_client.get(path) if "categories" not in path else auth_client.delete(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809", "99999999999999999999"])
def test_ids_beyond_bigint_in_a_query_find_nothing(auth_client: Client, user: User, value: str) -> None:
    """On every backend: SQLite's driver cannot bind such an id (it answered 500 on `make run`)."""
    record_review(content=make_content(user=user, category=make_category(user=user)))
    assert auth_client.get("/api/content/").json()["count"] == 1  # what an ignored filter would list
    assert len(auth_client.get("/api/review/history/").json()["results"]) == 1
    contents = auth_client.get(f"/api/content/?category={value}")
    assert contents.status_code == 200, contents.content
    assert contents.json()["count"] == 0
    history = auth_client.get(f"/api/review/history/?content_id={value}")
    assert history.status_code == 200, history.content
    assert history.json()["results"] == []


# --- Every 422 item carries type, loc and msg ---------------------------------------------------------


def test_ninjas_shorthand_errors_become_full_field_errors() -> None:
    assert field_error({"cursor": "Invalid Cursor"}) == {
        "type": "value_error",
        "loc": ["cursor"],
        "msg": "Invalid Cursor",
    }


def test_pydantic_errors_keep_type_loc_msg_and_drop_input_and_ctx() -> None:
    error = {
        "type": "value_error",
        "loc": ("body", "payload", "name"),
        "msg": "Value error, nope",
        "input": "secret",
        "ctx": {"error": ValueError("nope")},
        "url": "https://errors.pydantic.dev",
    }
    item = field_error(error)
    assert item == {"type": "value_error", "loc": ["body", "payload", "name"], "msg": "Value error, nope"}
    json.dumps(item)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("plain text", {"type": "value_error", "loc": [], "msg": "plain text"}),
        ({"msg": "no loc"}, {"type": "value_error", "loc": [], "msg": "no loc"}),
        ({"loc": "field"}, {"type": "value_error", "loc": ["field"], "msg": "Invalid value."}),
        (
            {"loc": ["body", 0, object], "msg": ValueError("x"), "type": None},
            {"type": "value_error", "loc": ["body", 0, str(object)], "msg": "x"},
        ),
    ],
    ids=["not-a-dict", "no-loc", "loc-string", "odd-parts"],
)
def test_any_error_shape_becomes_a_json_safe_field_error(error: Any, expected: dict[str, Any]) -> None:
    assert field_error(error) == expected
    json.dumps(field_error(error))


def test_a_validation_error_raised_anywhere_answers_full_items() -> None:
    request = RequestFactory().get("/api/anything/")
    response = on_validation_error(request, ValidationError([{"page": "bad"}]))
    assert response.status_code == 422
    assert json.loads(response.content)["detail"] == [{"type": "value_error", "loc": ["page"], "msg": "bad"}]


def test_a_service_422_with_a_sentence_answers_a_list_of_field_errors() -> None:
    request = RequestFactory().post("/api/anything/")
    response = on_domain_error(request, ValidationFailed("Give at least one content id."))
    assert json.loads(response.content) == {
        "detail": [{"type": "value_error", "loc": ["body"], "msg": "Give at least one content id."}],
        "code": "validation_error",
    }


def test_a_service_422_with_field_errors_lists_each_in_ninjas_shape() -> None:
    request = RequestFactory().get("/api/anything/")
    error = ValidationFailed(
        fields=[
            FieldError(("query", "ordering"), "Unknown ordering.", kind="enum"),
            FieldError(("body", "items", 0, "title"), "Too long."),
        ]
    )
    assert json.loads(on_domain_error(request, error).content)["detail"] == [
        {"type": "enum", "loc": ["query", "ordering"], "msg": "Unknown ordering."},
        {"type": "value_error", "loc": ["body", "payload", "items", 0, "title"], "msg": "Too long."},
    ]
