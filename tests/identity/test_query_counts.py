from __future__ import annotations

import pytest
from django.test import Client

from modules.identity.testing import DEFAULT_PASSWORD, auth_headers, make_user

pytestmark = pytest.mark.django_db


def test_obtain_token_takes_at_most_4_queries(api_client: Client, django_assert_max_num_queries) -> None:
    make_user(email="ada@example.com")

    with django_assert_max_num_queries(4):
        response = api_client.post(
            "/api/auth/token/",
            {"email": "ada@example.com", "password": DEFAULT_PASSWORD},
            content_type="application/json",
        )

    assert response.status_code == 200


def test_an_authenticated_request_costs_one_query_for_auth(
    api_client: Client, django_assert_num_queries
) -> None:
    """GET /users/me/ does nothing but read request.auth: every query it makes is auth overhead."""
    headers = auth_headers(make_user())

    with django_assert_num_queries(1):
        response = api_client.get("/api/accounts/users/me/", headers=headers)

    assert response.status_code == 200


def test_refresh_stays_a_handful_of_queries(api_client: Client, django_assert_max_num_queries) -> None:
    from modules.identity import services

    pair = services.issue_tokens(make_user())

    with django_assert_max_num_queries(7):
        response = api_client.post(
            "/api/auth/token/refresh/", {"refresh": pair.refresh}, content_type="application/json"
        )

    assert response.status_code == 200
