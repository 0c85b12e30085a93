"""django-allauth is installed for its models only: it exposes no login, signup or token route."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import get_resolver

pytestmark = pytest.mark.django_db


def all_patterns(resolver=None, prefix: str = "") -> list[tuple[str, str]]:
    resolver = resolver or get_resolver()
    found = []
    for pattern in resolver.url_patterns:
        if hasattr(pattern, "url_patterns"):
            found += all_patterns(pattern, prefix + str(pattern.pattern))
        else:
            callback = getattr(pattern, "callback", None)
            found.append((prefix + str(pattern.pattern), getattr(callback, "__module__", "")))
    return found


def test_no_url_is_served_by_allauth() -> None:
    assert [path for path, module in all_patterns() if module.startswith("allauth")] == []


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/login/",
        "/accounts/signup/",
        "/_allauth/browser/v1/auth/login",
        "/_allauth/app/v1/auth/session",
    ],
)
def test_allauth_paths_answer_404(api_client: Client, path: str) -> None:
    assert api_client.post(path, {}).status_code == 404


def test_the_only_token_routes_are_ours(api_client: Client) -> None:
    schema = api_client.get("/api/openapi.json").json()
    token_paths = sorted(path for path in schema["paths"] if "token" in path or "login" in path)

    assert token_paths == ["/api/v1/auth/token/", "/api/v1/auth/token/refresh/"]
