"""Login, reset and resend answer the same (body, status, and work done) whether an account exists."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django_q.conf import Conf

from modules.identity.testing import make_user
from tests.security.hashers import CountingHasher

pytestmark = pytest.mark.django_db

COUNTING = ["tests.security.hashers.CountingHasher"]


def login(client: Client, email: str, password: str) -> object:
    return client.post(
        "/api/auth/token/", {"email": email, "password": password}, content_type="application/json"
    )


@override_settings(PASSWORD_HASHERS=COUNTING)
def test_failed_logins_answer_the_same_401_for_every_reason(api_client: Client) -> None:
    make_user(email="ada@example.com", password="right-Passphrase-1")
    make_user(email="gone@example.com", password="right-Passphrase-1", is_active=False)

    answers = [
        login(api_client, "ada@example.com", "wrong-password"),
        login(api_client, "nobody@example.com", "wrong-password"),
        login(api_client, "gone@example.com", "right-Passphrase-1"),
    ]

    assert {response.status_code for response in answers} == {401}
    assert len({response.content for response in answers}) == 1


@override_settings(PASSWORD_HASHERS=COUNTING)
@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ada@example.com", "wrong-password"),
        ("nobody@example.com", "wrong-password"),
        ("gone@example.com", "right-Passphrase-1"),
        ("ada@example.com", "right-Passphrase-1"),
    ],
    ids=["wrong-password", "no-such-account", "inactive-account", "success"],
)
def test_every_login_attempt_hashes_the_password_exactly_once(
    api_client: Client, email: str, password: str
) -> None:
    """The cost of a login is the hash; paying it on every path leaves no timing signal (Django's
    ModelBackend hashes the given password even when the account does not exist)."""
    make_user(email="ada@example.com", password="right-Passphrase-1")
    make_user(email="gone@example.com", password="right-Passphrase-1", is_active=False)
    CountingHasher.calls = 0

    login(api_client, email, password)

    assert CountingHasher.calls == 1


def test_only_modelbackend_authenticates(settings) -> None:
    # A second backend would hash a wrong password a second time, on some paths only.
    assert settings.AUTHENTICATION_BACKENDS == ["django.contrib.auth.backends.ModelBackend"]


@pytest.mark.parametrize("path", ["/api/auth/password-reset/", "/api/auth/resend-verification/"])
def test_reset_and_resend_do_the_same_work_for_known_and_unknown_addresses(
    api_client: Client, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """With a real queue (not the inline test mode) the request only enqueues a job: the same single
    INSERT whether or not the address has an account, so neither the answer nor its time tells."""
    monkeypatch.setattr(Conf, "SYNC", False)
    make_user(email="ada@example.com", verified=False)
    answers, statements = [], []

    for email in ("ada@example.com", "nobody@example.com"):
        with CaptureQueriesContext(connection) as queries:
            answers.append(api_client.post(path, {"email": email}, content_type="application/json"))
        statements.append([query["sql"].split(" ", 1)[0] for query in queries.captured_queries])

    assert [response.status_code for response in answers] == [202, 202]
    assert answers[0].content == answers[1].content
    assert statements[0] == statements[1] == ["INSERT"]
