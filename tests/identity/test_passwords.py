from __future__ import annotations

from datetime import datetime, timedelta
from unittest import mock
from urllib.parse import parse_qs, urlparse

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from modules.identity import services
from modules.identity.models import User
from modules.identity.services import accounts
from modules.identity.testing import DEFAULT_PASSWORD, auth_headers, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an-Entirely-new-passphrase-7"


def post(client: Client, path: str, body: dict, **kwargs) -> object:
    return client.post(path, body, content_type="application/json", **kwargs)


def request_reset(client: Client, capture, email: str) -> object:
    with capture(execute=True):
        return post(client, "/api/auth/password-reset/", {"email": email})


def emailed_token() -> str:
    link = next(word for word in mail.outbox[-1].body.split() if "token=" in word)
    return parse_qs(urlparse(link).query)["token"][0]


def test_password_reset_emails_a_link_with_a_token_and_answers_202(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    make_user(email="ada@example.com")

    response = request_reset(api_client, django_capture_on_commit_callbacks, "ADA@example.com")

    assert response.status_code == 202
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]
    assert "/reset-password?token=" in mail.outbox[0].body
    assert "60 minutes" in mail.outbox[0].body


def test_password_reset_confirm_sets_the_new_password(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    user = make_user(email="ada@example.com")
    request_reset(api_client, django_capture_on_commit_callbacks, "ada@example.com")

    response = post(
        api_client,
        "/api/auth/password-reset/confirm/",
        {"token": emailed_token(), "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    login = post(api_client, "/api/auth/token/", {"email": "ada@example.com", "password": NEW_PASSWORD})
    assert login.status_code == 200
    old = post(api_client, "/api/auth/token/", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    assert old.status_code == 401


def test_password_reset_token_is_single_use(api_client: Client, django_capture_on_commit_callbacks) -> None:
    make_user(email="ada@example.com")
    request_reset(api_client, django_capture_on_commit_callbacks, "ada@example.com")
    token = emailed_token()
    assert (
        post(
            api_client, "/api/auth/password-reset/confirm/", {"token": token, "new_password": NEW_PASSWORD}
        ).status_code
        == 200
    )

    again = post(
        api_client,
        "/api/auth/password-reset/confirm/",
        {"token": token, "new_password": "yet-another-Passphrase-9"},
    )

    assert again.status_code == 400
    assert again.json()["code"] == "invalid_token"


def test_password_reset_token_expires_after_one_hour(api_client: Client) -> None:
    user = make_user(email="ada@example.com")
    generator = accounts._reset_token_generator()
    an_hour_and_a_minute_ago = datetime.now() - timedelta(hours=1, minutes=1)
    with mock.patch.object(type(generator), "_now", return_value=an_hour_and_a_minute_ago):
        token = services.make_password_reset_token(user)

    response = post(
        api_client, "/api/auth/password-reset/confirm/", {"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_password_reset_token_under_an_hour_old_still_works(api_client: Client) -> None:
    user = make_user(email="ada@example.com")
    generator = accounts._reset_token_generator()
    with mock.patch.object(type(generator), "_now", return_value=datetime.now() - timedelta(minutes=59)):
        token = services.make_password_reset_token(user)

    response = post(
        api_client, "/api/auth/password-reset/confirm/", {"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    "token", ["", "nodash", "zzzz-abc-def", "1-xyz-123", "!!!-1-2", "9999999999999999999999999-a-b"]
)
def test_password_reset_confirm_with_a_bad_token_answers_400_or_422(api_client: Client, token: str) -> None:
    make_user(email="ada@example.com")

    response = post(
        api_client, "/api/auth/password-reset/confirm/", {"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == (422 if token == "" else 400)


def test_password_reset_confirm_with_a_weak_password_answers_422_and_keeps_the_token_usable(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    make_user(email="ada@example.com")
    request_reset(api_client, django_capture_on_commit_callbacks, "ada@example.com")
    token = emailed_token()

    weak = post(api_client, "/api/auth/password-reset/confirm/", {"token": token, "new_password": "123"})

    assert weak.status_code == 422
    assert weak.json()["detail"][0]["loc"] == ["body", "payload", "new_password"]
    strong = post(
        api_client, "/api/auth/password-reset/confirm/", {"token": token, "new_password": NEW_PASSWORD}
    )
    assert strong.status_code == 200


def test_password_reset_confirm_verifies_the_email_address(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    user = make_user(email="ada@example.com", verified=False)
    request_reset(api_client, django_capture_on_commit_callbacks, "ada@example.com")

    post(
        api_client,
        "/api/auth/password-reset/confirm/",
        {"token": emailed_token(), "new_password": NEW_PASSWORD},
    )

    user.refresh_from_db()
    assert user.is_email_verified
    assert EmailAddress.objects.get(user=user).verified


def test_password_reset_for_an_unknown_or_inactive_address_answers_the_same_202_and_sends_nothing(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    make_user(email="ada@example.com")
    known = request_reset(api_client, django_capture_on_commit_callbacks, "ada@example.com")
    make_user(email="gone@example.com", is_active=False)

    unknown = request_reset(api_client, django_capture_on_commit_callbacks, "nobody@example.com")
    inactive = request_reset(api_client, django_capture_on_commit_callbacks, "gone@example.com")

    assert unknown.status_code == inactive.status_code == known.status_code == 202
    assert unknown.json() == inactive.json() == known.json()
    assert [message.to for message in mail.outbox] == [["ada@example.com"]]


def test_password_reset_sends_at_most_one_email_a_minute_per_address(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    make_user(email="ada@example.com")

    for _ in range(3):
        request_reset(api_client, django_capture_on_commit_callbacks, "ada@example.com")

    assert len(mail.outbox) == 1


def test_change_password_answers_204_and_the_new_password_works(api_client: Client) -> None:
    user = make_user(email="ada@example.com")

    response = post(
        api_client,
        "/api/accounts/users/me/password/",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=auth_headers(user),
    )

    assert response.status_code == 204
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_change_password_ends_every_session_including_the_current_one(api_client: Client) -> None:
    user = make_user(email="ada@example.com")
    pair = services.issue_tokens(user)
    headers = {"Authorization": f"Bearer {pair.access}"}

    post(
        api_client,
        "/api/accounts/users/me/password/",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )

    assert api_client.get("/api/accounts/users/me/", headers=headers).status_code == 401
    assert post(api_client, "/api/auth/token/refresh/", {"refresh": pair.refresh}).status_code == 401


def test_change_password_with_a_wrong_current_password_answers_422_and_changes_nothing(
    api_client: Client,
) -> None:
    user = make_user(email="ada@example.com")

    response = post(
        api_client,
        "/api/accounts/users/me/password/",
        {"current_password": "not-my-password", "new_password": NEW_PASSWORD},
        headers=auth_headers(user),
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "current_password"]
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_change_password_to_a_weak_one_answers_422(api_client: Client) -> None:
    user = make_user(email="ada@example.com")

    response = post(
        api_client,
        "/api/accounts/users/me/password/",
        {"current_password": DEFAULT_PASSWORD, "new_password": "ada@example.com"},
        headers=auth_headers(user),
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "new_password"]


def test_change_password_needs_a_token(api_client: Client) -> None:
    response = post(
        api_client,
        "/api/accounts/users/me/password/",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_reset_of_a_deleted_users_token_answers_400(api_client: Client) -> None:
    user = make_user(email="ada@example.com")
    token = services.make_password_reset_token(user)
    User.objects.filter(pk=user.pk).delete()

    response = post(
        api_client, "/api/auth/password-reset/confirm/", {"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 400
