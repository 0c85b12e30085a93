"""Database errors no service expected answer 409 or 503 in the contract's shape, never 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client

from modules.identity import services as identity
from modules.identity.models import User
from modules.identity.testing import auth_headers, make_user
from modules.learning import services as learning
from modules.learning.models import Content


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="deferred foreign keys need PostgreSQL")
def test_a_write_that_loses_a_race_with_its_account_deletion_is_409(monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user()
    client = Client(headers=auth_headers(user))
    check = identity.ensure_email_verified

    def check_then_lose_the_account(user: Any) -> None:
        check(user)
        User.objects.filter(pk=user.pk).delete()  # committed: another request deleted the account

    monkeypatch.setattr(identity, "ensure_email_verified", check_then_lose_the_account)

    response = client.post("/api/content/", {"title": "t", "body": "b"}, content_type="application/json")

    assert response.status_code == 409, response.content
    assert response.json() == {
        "detail": "The request conflicts with a concurrent change.",
        "code": "conflict",
    }
    assert not Content.objects.exists()


def test_a_database_outage_is_503_unavailable(auth_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(**kwargs: Any) -> None:
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(learning, "content_detail", unavailable)

    response = auth_client.get("/api/content/1/")

    assert response.status_code == 503
    assert response.json() == {"detail": "The database is unavailable; retry.", "code": "unavailable"}
    assert "administrator" not in response.content.decode()
