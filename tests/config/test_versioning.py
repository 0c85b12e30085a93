"""API versioning: /api/v1/ is the versioned base, /api/ its alias (config/urls.py), and the deprecation
mechanism of the policy in docs/api.md (modules/common/deprecation.py)."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import resolve, reverse
from ninja import NinjaAPI, Router
from ninja.testing import TestClient

from config.api import api
from modules.common.deprecation import MIN_NOTICE, deprecated
from modules.identity.testing import auth_headers, make_user
from modules.identity.throttles import auth_throttle, tier_throttle
from modules.ops.requestmetrics import RequestMetricsStore, current_minute

V1, ALIAS = "/api/v1/", "/api/"


@pytest.fixture(autouse=True)
def _mid_window_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    for throttle in (tier_throttle, auth_throttle):
        monkeypatch.setattr(throttle, "timer", lambda: 1_800_000_000.0 + 1800)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return api.get_openapi_schema()


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


# --- Both prefixes serve every route --------------------------------------------------------------


def test_every_schema_path_names_the_versioned_base(schema: dict[str, Any]) -> None:
    assert len(schema["paths"]) > 40
    assert [path for path in schema["paths"] if not path.startswith(V1)] == []
    assert "`/api/` is an alias" in schema["info"]["description"]
    assert reverse("api:api-root") == V1
    assert reverse("api-alias:api-root") == ALIAS


def path_view(func: Any) -> Any:
    """The Ninja PathView (its operations) behind a resolved view function."""
    return inspect.getclosurevars(func).nonlocals["self"]


def test_every_route_resolves_to_the_same_operations_under_the_alias(schema: dict[str, Any]) -> None:
    for path in schema["paths"]:
        versioned = resolve(concrete(path))
        aliased = resolve(concrete(path).replace(V1, ALIAS, 1))
        assert path_view(aliased.func) is path_view(versioned.func), path
        assert aliased.kwargs == versioned.kwargs, path
        assert aliased.namespace == "api-alias" and versioned.namespace == "api"


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", [V1, ALIAS])
def test_schema_and_docs_are_served_at_both_prefixes_and_name_v1(api_client: Client, prefix: str) -> None:
    served = api_client.get(f"{prefix}openapi.json")
    docs = api_client.get(f"{prefix}docs")

    assert served.status_code == 200
    assert served.json() == api_client.get(f"{V1}openapi.json").json()
    assert next(iter(served.json()["paths"])).startswith(V1)
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", [V1, ALIAS])
def test_health_checks_answer_at_both_prefixes(api_client: Client, prefix: str) -> None:
    response = api_client.get(f"{prefix}health/live/")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_both_prefixes_give_the_same_answers(api_client: Client) -> None:
    user = make_user()
    headers = auth_headers(user)
    created = api_client.post(
        f"{V1}content/",
        {"title": "Osmosis", "body": "water moves"},
        content_type="application/json",
        headers=headers,
    )
    assert created.status_code == 201
    content_id = created.json()["id"]

    for path, method, body in [
        (f"content/{content_id}/", "get", None),
        ("content/", "get", None),
        ("accounts/users/me/", "get", None),
        ("content/999999/", "get", None),  # 404 from a route
        ("no-such-route/", "get", None),  # 404 from Django, rewritten by the error-body middleware
        ("content/", "post", {"title": ""}),  # 422
        ("content/categories/1/", "put", None),  # 405, rewritten
    ]:
        answers = []
        for prefix in (V1, ALIAS):
            kwargs: dict[str, Any] = {"headers": headers}
            if body is not None:
                kwargs.update(data=body, content_type="application/json")
            response = getattr(api_client, method)(f"{prefix}{path}", **kwargs)
            answers.append((response.status_code, response["Content-Type"], response.json()))
        assert answers[0] == answers[1], path
        assert answers[0][1].startswith("application/json")


@pytest.mark.django_db
def test_both_prefixes_count_against_one_throttle(api_client: Client, settings: Any) -> None:
    settings.AUTH_THROTTLE_RATE = "2/hour"
    body = {"email": "nobody@example.com"}

    first = api_client.post(f"{V1}auth/password-reset/", body, content_type="application/json")
    second = api_client.post(f"{ALIAS}auth/password-reset/", body, content_type="application/json")
    third = api_client.post(f"{V1}auth/password-reset/", body, content_type="application/json")

    assert (first.status_code, second.status_code, third.status_code) == (202, 202, 429)


@pytest.mark.django_db
def test_request_metrics_count_both_prefixes_each_under_its_own_route(api_client: Client, mid_minute) -> None:
    minute = current_minute()  # mid_minute: the requests below share it

    api_client.get(f"{V1}health/live/")
    api_client.get(f"{ALIAS}health/live/")
    api_client.get(f"{V1}no-such-route/")

    stats = RequestMetricsStore().minute(minute)
    assert stats.count == 3
    assert stats.routes[("GET", "/api/v1/health/live/", "2xx")] == 1
    assert stats.routes[("GET", "/api/health/live/", "2xx")] == 1
    assert stats.routes[("GET", "unmatched", "4xx")] == 1


# --- Deprecation: headers and schema of a deprecated operation (a test-only router) ---------------


ON, SUNSET = date(2026, 1, 5), date(2026, 7, 7)


def deprecation_router() -> Router:
    router = Router()

    @router.get("/old/")
    @deprecated(on=ON, sunset=SUNSET, use="GET /api/v1/new/")
    def old(request: Any, n: int = 0) -> dict[str, int]:
        return {"n": n}

    @deprecated(on=ON, sunset=SUNSET)  # above the route's decorator works as well
    @router.post("/older/")
    def older(request: Any) -> dict[str, str]:
        return {"ok": "yes"}

    @router.get("/new/")
    def new(request: Any) -> dict[str, str]:
        return {"ok": "yes"}

    return router


def test_a_deprecated_operation_answers_deprecation_sunset_and_link_headers() -> None:
    client = TestClient(deprecation_router())

    response = client.get("/old/?n=3")
    error = client.get("/old/?n=not-a-number")  # a 422 of a deprecated operation says it too
    older = client.post("/older/")
    current = client.get("/new/")

    assert response.status_code == 200 and response.json() == {"n": 3}
    assert response["Deprecation"] == f"@{int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())}"
    assert parsedate_to_datetime(response["Sunset"]) == datetime(2026, 7, 7, tzinfo=UTC)
    assert response["Sunset"] == "Tue, 07 Jul 2026 00:00:00 GMT"
    assert response["Link"] == '</api/v1/docs>; rel="deprecation"; type="text/html"'
    assert error.status_code == 422 and error["Deprecation"] == response["Deprecation"]
    assert older.status_code == 200 and older["Sunset"] == response["Sunset"]
    assert current.status_code == 200
    assert not current.has_header("Deprecation") and not current.has_header("Sunset")


def test_a_deprecated_operation_is_marked_in_the_schema() -> None:
    test_api = NinjaAPI(urls_namespace="deprecation-test")
    test_api.add_router("/", deprecation_router())

    paths = test_api.get_openapi_schema(path_prefix="/api/v1/")["paths"]

    old = paths["/api/v1/old/"]["get"]
    assert old["deprecated"] is True
    assert (old["x-deprecated-on"], old["x-sunset"], old["x-replacement"]) == (
        "2026-01-05",
        "2026-07-07",
        "GET /api/v1/new/",
    )
    assert paths["/api/v1/older/"]["post"]["deprecated"] is True
    assert "deprecated" not in paths["/api/v1/new/"]["get"]


def test_a_sunset_sooner_than_six_months_is_refused() -> None:
    assert MIN_NOTICE.days >= 182
    with pytest.raises(ValueError, match="at least 183 days"):
        deprecated(on=date(2026, 1, 5), sunset=date(2026, 5, 1))


def test_every_deprecated_operation_of_the_api_follows_the_policy(schema: dict[str, Any]) -> None:
    # None is deprecated yet; one marked with Ninja's bare deprecated=True (no headers, no dates) fails.
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if operation.get("deprecated"):
                on = date.fromisoformat(operation["x-deprecated-on"])
                sunset = date.fromisoformat(operation["x-sunset"])
                assert sunset >= on + MIN_NOTICE, f"{method.upper()} {path}"
