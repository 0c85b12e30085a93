"""Every admin route, found in the OpenAPI schema rather than listed by hand, is staff-only: 401 without
a token or with a bad one, 403 ``forbidden`` for a signed-in learner, and open to staff.

Admin routes are the monitoring API and the subscription analytics; ``config/api.py`` mounts their
routers with the staff-only authenticator, so a route added to them later is covered without a check
of its own (and by this test without an edit).
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from config.api import api
from modules.identity.testing import auth_headers, make_admin, make_user

pytestmark = pytest.mark.django_db

ADMIN_PREFIXES = ("/api/v1/monitoring/", "/api/v1/analytics/subscriptions/")
FORBIDDEN = {"detail": "You do not have permission to do this.", "code": "forbidden"}


def admin_operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation under an admin prefix; path parameters become 1."""
    operations = []
    for path, methods in api.get_openapi_schema()["paths"].items():
        if path.startswith(ADMIN_PREFIXES):
            for method in methods:
                operations.append((method, re.sub(r"\{[^}]+\}", "1", path)))
    return sorted(operations)


ADMIN_OPERATIONS = admin_operations()


def call(client: Client, method: str, path: str):
    return getattr(client, method)(path, content_type="application/json")


def test_the_schema_lists_every_admin_route() -> None:
    # The enumeration must not come back empty: 7 monitoring operations and the subscription analytics.
    assert len(ADMIN_OPERATIONS) == 8
    assert ("get", "/api/v1/analytics/subscriptions/") in ADMIN_OPERATIONS


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS)
def test_a_learner_is_forbidden_on_every_admin_route(method: str, path: str) -> None:
    response = call(Client(headers=auth_headers(make_user(tier="PRO"))), method, path)

    assert response.status_code == 403
    assert response.json() == FORBIDDEN


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS)
def test_every_admin_route_needs_a_valid_token(method: str, path: str) -> None:
    anonymous = call(Client(), method, path)
    forged = call(Client(headers={"Authorization": "Bearer not-a-token"}), method, path)

    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    assert (forged.status_code, forged.json()["code"]) == (401, "token_invalid")


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS)
def test_staff_pass_the_check_on_every_admin_route(method: str, path: str) -> None:
    # Past authentication the route runs: an empty body is a 422 and rule 1 does not exist (404).
    response = call(Client(headers=auth_headers(make_admin())), method, path)

    assert response.status_code not in {401, 403}
    assert response.status_code < 500
