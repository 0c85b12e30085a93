from __future__ import annotations

import time
from unittest import mock
from urllib.parse import parse_qs, urlparse

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.core import mail
from django.test import Client

from modules.identity.models import EmailLog, Subscription, SubscriptionChange, User
from modules.identity.testing import make_user

pytestmark = pytest.mark.django_db

STRONG = "a-Long-enough-passphrase-42"


def post(client: Client, path: str, body: dict) -> object:
    return client.post(path, body, content_type="application/json")


def token_from_last_email() -> str:
    message = mail.outbox[-1]
    link = next(word for word in message.body.split() if "token=" in word)
    return parse_qs(urlparse(link).query)["token"][0]


def register(client: Client, django_capture_on_commit_callbacks, **overrides) -> object:
    body = {"email": "Ada@Example.com", "password": STRONG, **overrides}
    with django_capture_on_commit_callbacks(execute=True):
        return post(client, "/api/auth/register/", body)


def test_register_creates_an_unverified_free_account_and_answers_201_with_the_profile(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    response = register(
        api_client,
        django_capture_on_commit_callbacks,
        first_name="Ada",
        last_name="Lovelace",
        timezone="Europe/London",
    )

    assert response.status_code == 201
    body = response.json()
    user = User.objects.get(email="ada@example.com")
    assert body["id"] == user.pk
    assert body["email"] == "ada@example.com"
    assert body["subscription_tier"] == "FREE"
    assert body["is_email_verified"] is False
    assert body["timezone"] == "Europe/London"
    assert body["first_name"] == "Ada"
    assert "password" not in body
    assert user.check_password(STRONG)
    assert Subscription.objects.get(user=user).tier == "FREE"
    assert SubscriptionChange.objects.filter(user=user, to_tier="FREE", source="registration").exists()
    assert EmailAddress.objects.filter(
        user=user, email="ada@example.com", primary=True, verified=False
    ).exists()


def test_register_sends_a_text_and_html_verification_email_with_a_token_link(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    register(api_client, django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert "Confirm your email" in message.subject
    assert "token=" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "token=" in html
    log = EmailLog.objects.get(to="ada@example.com")
    assert (log.template, log.status, log.attempts) == ("identity/email/verify_email", "sent", 1)
    assert log.body_text == ""  # the one-time link is not kept once sent


def test_register_with_a_taken_email_in_any_case_answers_409_email_taken(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    make_user(email="ada@example.com")

    response = register(api_client, django_capture_on_commit_callbacks, email="ADA@example.COM")

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert User.objects.filter(email="ada@example.com").count() == 1


@pytest.mark.parametrize(
    "password",
    ["short1", "password123", "12345678901", "ada@example.com"],
    ids=["too-short", "common", "numeric", "same-as-email"],
)
def test_register_with_a_weak_password_answers_422_on_the_password_field(
    api_client: Client, django_capture_on_commit_callbacks, password: str
) -> None:
    response = register(api_client, django_capture_on_commit_callbacks, password=password)

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert all(error["loc"] == ["body", "payload", "password"] for error in body["detail"])
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"email": "not-an-email"},
        {"first_name": "x" * 151},
        {"is_staff": True},
        {"subscription_tier": "PRO"},
    ],
    ids=["unknown-timezone", "bad-email", "long-name", "is_staff", "tier"],
)
def test_register_rejects_invalid_or_unknown_fields_with_422(
    api_client: Client, django_capture_on_commit_callbacks, overrides: dict
) -> None:
    response = register(api_client, django_capture_on_commit_callbacks, **overrides)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert not User.objects.exists()


def test_verify_email_with_the_emailed_token_marks_the_user_and_allauth_address_verified(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    register(api_client, django_capture_on_commit_callbacks)

    response = post(api_client, "/api/auth/verify-email/", {"token": token_from_last_email()})

    assert response.status_code == 200
    assert response.json() == {"email": "ada@example.com", "is_email_verified": True}
    user = User.objects.get(email="ada@example.com")
    assert user.is_email_verified
    assert EmailAddress.objects.get(user=user).verified


def test_verify_email_token_is_single_use(api_client: Client, django_capture_on_commit_callbacks) -> None:
    register(api_client, django_capture_on_commit_callbacks)
    token = token_from_last_email()
    assert post(api_client, "/api/auth/verify-email/", {"token": token}).status_code == 200

    response = post(api_client, "/api/auth/verify-email/", {"token": token})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"


def test_verify_email_token_older_than_three_days_answers_400(api_client: Client) -> None:
    user = make_user(verified=False)
    address = EmailAddress.objects.create(user=user, email=user.email, primary=True)
    three_days_and_a_minute_ago = time.time() - 3 * 86400 - 60
    with mock.patch("django.core.signing.time.time", return_value=three_days_and_a_minute_ago):
        token = EmailConfirmationHMAC(address).key

    response = post(api_client, "/api/auth/verify-email/", {"token": token})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"
    user.refresh_from_db()
    assert not user.is_email_verified


def test_verify_email_token_just_under_three_days_old_still_works(api_client: Client) -> None:
    user = make_user(verified=False)
    address = EmailAddress.objects.create(user=user, email=user.email, primary=True)
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 3 * 86400 + 60):
        token = EmailConfirmationHMAC(address).key

    assert post(api_client, "/api/auth/verify-email/", {"token": token}).status_code == 200


@pytest.mark.parametrize("token", ["garbage", "MQ:1tXyZ:forged-signature", "x" * 512])
def test_verify_email_with_a_forged_token_answers_400_invalid_token(api_client: Client, token: str) -> None:
    response = post(api_client, "/api/auth/verify-email/", {"token": token})

    assert response.status_code == 400
    assert response.json() == {
        "detail": "The token is invalid, expired or already used.",
        "code": "invalid_token",
    }


def test_verification_token_of_a_deactivated_user_is_refused(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    register(api_client, django_capture_on_commit_callbacks)
    User.objects.filter(email="ada@example.com").update(is_active=False)

    response = post(api_client, "/api/auth/verify-email/", {"token": token_from_last_email()})

    assert response.status_code == 400
    assert not EmailAddress.objects.get(email="ada@example.com").verified


def test_resend_verification_sends_a_new_working_link_to_an_unverified_account(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    user = make_user(email="ada@example.com", verified=False)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_client, "/api/auth/resend-verification/", {"email": "Ada@example.com"})

    assert response.status_code == 202
    assert len(mail.outbox) == 1
    assert post(api_client, "/api/auth/verify-email/", {"token": token_from_last_email()}).status_code == 200
    user.refresh_from_db()
    assert user.is_email_verified
    assert EmailAddress.objects.get(user=user).verified


@pytest.mark.parametrize("case", ["unknown", "verified", "inactive"])
def test_resend_verification_answers_the_same_202_and_sends_nothing_when_there_is_nothing_to_verify(
    api_client: Client, django_capture_on_commit_callbacks, case: str
) -> None:
    if case == "verified":
        make_user(email="ada@example.com", verified=True)
    elif case == "inactive":
        make_user(email="ada@example.com", verified=False, is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_client, "/api/auth/resend-verification/", {"email": "ada@example.com"})

    assert response.status_code == 202
    assert response.json() == {
        "detail": "If this address has an account waiting for verification, a new link is on its way."
    }
    assert mail.outbox == []


def test_resend_verification_sends_at_most_one_email_a_minute_per_address(
    api_client: Client, django_capture_on_commit_callbacks
) -> None:
    make_user(email="ada@example.com", verified=False)

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            assert (
                post(api_client, "/api/auth/resend-verification/", {"email": "ada@example.com"}).status_code
                == 202
            )

    assert len(mail.outbox) == 1


def test_unverified_user_can_log_in_and_read_their_profile(api_client: Client) -> None:
    from modules.identity.testing import DEFAULT_PASSWORD

    make_user(email="ada@example.com", verified=False)

    login = post(api_client, "/api/auth/token/", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})

    assert login.status_code == 200
    assert login.json()["user"]["is_email_verified"] is False
    me = api_client.get(
        "/api/accounts/users/me/", headers={"Authorization": f"Bearer {login.json()['access']}"}
    )
    assert me.status_code == 200
