"""The pages behind the links of the verification and reset emails (modules/identity/pages.py), and
tokens accepted raw or percent-encoded by the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.core import mail, signing
from django.test import Client

from modules.identity import services
from modules.identity.models import User
from modules.identity.testing import make_user
from tests.identity.page_helpers import form_fields, text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mid_window_clock")]

STRONG = "a-Long-enough-passphrase-42"
NEW_PASSWORD = "another-Long-passphrase-77"


def post_json(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, body, content_type="application/json")


def link_in_last_email() -> str:
    message = mail.outbox[-1]
    return next(word for word in message.body.split() if "token=" in word)


def local(link: str) -> str:
    """The path and query of a link, to open it with the test client."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def register(client: Client, commit: Any, email: str = "ada@example.com") -> None:
    with commit(execute=True):
        response = post_json(client, "/api/v1/auth/register/", {"email": email, "password": STRONG})
    assert response.status_code == 201


def request_reset(client: Client, commit: Any, email: str) -> None:
    with commit(execute=True):
        assert post_json(client, "/api/v1/auth/password-reset/", {"email": email}).status_code == 202


# --- Email verification ---------------------------------------------------------------------------


def test_the_emailed_link_opens_a_page_whose_button_verifies_the_address(
    browser: Client, django_capture_on_commit_callbacks: Any
) -> None:
    register(browser, django_capture_on_commit_callbacks)
    link = link_in_last_email()
    assert link.startswith("http://localhost:8000/verify-email?token=")

    page = browser.get(local(link))

    assert page.status_code == 200
    assert "Confirm my email" in text(page)
    assert User.objects.get(email="ada@example.com").is_email_verified is False  # opening spends nothing
    fields = form_fields(page)
    assert set(fields) == {"csrfmiddlewaretoken", "token"}

    confirmed = browser.post("/verify-email", fields)

    assert confirmed.status_code == 303
    assert confirmed["Location"] == "/verify-email/done"
    done = browser.get(confirmed["Location"])
    assert done.status_code == 200
    assert "Your email address is confirmed" in text(done)
    assert User.objects.get(email="ada@example.com").is_email_verified is True
    assert EmailAddress.objects.get(email="ada@example.com").verified is True


def test_a_used_link_says_expired_or_already_used_and_offers_to_resend(
    browser: Client, django_capture_on_commit_callbacks: Any
) -> None:
    register(browser, django_capture_on_commit_callbacks)
    link = link_in_last_email()
    fields = form_fields(browser.get(local(link)))
    assert browser.post("/verify-email", fields).status_code == 303

    again = browser.get(local(link))
    posted_again = browser.post("/verify-email", fields)

    for response in (again, posted_again):
        assert response.status_code == 400
        assert "This link has expired or was already used" in text(response)
        assert 'action="/verify-email/resend"' in text(response)


def test_an_expired_link_says_so_and_the_resend_form_mails_a_link_that_works(
    browser: Client, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(browser, django_capture_on_commit_callbacks)
    address = EmailAddress.objects.get(email="ada@example.com")
    four_days_ago = signing.b62_encode(int(datetime.now().timestamp()) - 4 * 86400)
    with monkeypatch.context() as patch:
        patch.setattr(signing.TimestampSigner, "timestamp", lambda self: four_days_ago)
        expired = EmailConfirmationHMAC(address).key
    mail.outbox.clear()

    page = browser.get(f"/verify-email?token={quote(expired)}")

    assert page.status_code == 400
    assert "This link has expired or was already used" in text(page)
    with django_capture_on_commit_callbacks(execute=True):
        sent = browser.post("/verify-email/resend", {**form_fields(page), "email": "Ada@Example.com"})
    assert sent.status_code == 200
    assert "Check your inbox" in text(sent)
    assert len(mail.outbox) == 1
    fields = form_fields(browser.get(local(link_in_last_email())))
    assert browser.post("/verify-email", fields).status_code == 303
    assert User.objects.get(email="ada@example.com").is_email_verified is True


def test_the_resend_form_answers_the_same_for_an_unknown_address_and_checks_the_address(
    browser: Client, django_capture_on_commit_callbacks: Any
) -> None:
    page = browser.get("/verify-email")
    assert page.status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        unknown = browser.post("/verify-email/resend", {**form_fields(page), "email": "nobody@example.com"})
    malformed = browser.post("/verify-email/resend", {**form_fields(page), "email": "not an address"})

    assert unknown.status_code == 200 and "Check your inbox" in text(unknown)
    assert mail.outbox == []
    assert malformed.status_code == 422
    assert 'aria-invalid="true"' in text(malformed) and "Enter a valid email address." in text(malformed)


# --- Password reset -------------------------------------------------------------------------------


def test_the_reset_link_opens_a_form_that_sets_the_password_once(
    browser: Client, django_capture_on_commit_callbacks: Any
) -> None:
    user = make_user(email="ada@example.com", verified=False)
    request_reset(browser, django_capture_on_commit_callbacks, user.email)
    link = link_in_last_email()
    assert link.startswith("http://localhost:8000/reset-password?token=")

    page = browser.get(local(link))
    assert page.status_code == 200
    assert 'autocomplete="new-password"' in text(page)
    fields = form_fields(page)
    set_it = browser.post(
        "/reset-password", {**fields, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    )

    assert set_it.status_code == 303
    assert set_it["Location"] == "/reset-password/done"
    assert "Your password has been changed" in text(browser.get(set_it["Location"]))
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert user.is_email_verified  # the inbox was proven, as with the API
    login = post_json(Client(), "/api/v1/auth/token/", {"email": user.email, "password": NEW_PASSWORD})
    assert login.status_code == 200
    # Single use: the link and the form are spent.
    assert browser.get(local(link)).status_code == 400
    again = browser.post("/reset-password", {**fields, "new_password": STRONG, "new_password_again": STRONG})
    assert again.status_code == 400
    assert "This link has expired or was already used" in text(again)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_weak_password_shows_the_apis_validator_messages_and_keeps_the_token(
    browser: Client, django_capture_on_commit_callbacks: Any
) -> None:
    user = make_user(email="ada@example.com")
    request_reset(browser, django_capture_on_commit_callbacks, user.email)
    token_link = link_in_last_email()
    fields = form_fields(browser.get(local(token_link)))
    token = fields["token"]
    api_answer = post_json(
        Client(), "/api/v1/auth/password-reset/confirm/", {"token": token, "new_password": "12345"}
    )
    assert api_answer.status_code == 422
    api_messages = [item["msg"] for item in api_answer.json()["detail"]]
    assert len(api_messages) >= 2  # too short, too common, entirely numeric

    weak = browser.post("/reset-password", {**fields, "new_password": "12345", "new_password_again": "12345"})
    mismatch = browser.post(
        "/reset-password", {**fields, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD + "x"}
    )

    assert weak.status_code == 422
    for message in api_messages:
        assert message in text(weak)
    assert 'aria-invalid="true"' in text(weak)
    assert mismatch.status_code == 422
    assert "The two passwords do not match." in text(mismatch)
    user.refresh_from_db()
    assert not user.check_password("12345")
    assert services.password_reset_token_valid(token=token)  # a refused password spends nothing


def test_an_expired_reset_link_says_so_and_offers_a_new_one(
    browser: Client, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(email="ada@example.com")
    with monkeypatch.context() as patch:
        patch.setattr(default_token_generator, "_now", lambda: datetime.now() - timedelta(hours=2))
        expired = services.make_password_reset_token(user)

    page = browser.get(f"/reset-password?token={expired}")

    assert page.status_code == 400
    assert "This link has expired or was already used" in text(page)
    with django_capture_on_commit_callbacks(execute=True):
        sent = browser.post("/reset-password/request", {**form_fields(page), "email": user.email})
    assert sent.status_code == 200 and "Check your inbox" in text(sent)
    assert browser.get(local(link_in_last_email())).status_code == 200


def test_a_reset_page_without_a_token_asks_for_the_address(browser: Client) -> None:
    page = browser.get("/reset-password")

    assert page.status_code == 200
    assert 'action="/reset-password/request"' in text(page)
    assert 'autocomplete="email"' in text(page)


# --- What every page does -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/verify-email", {"token": "x"}),
        ("/verify-email/resend", {"email": "ada@example.com"}),
        ("/reset-password", {"token": "x", "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}),
        ("/reset-password/request", {"email": "ada@example.com"}),
    ],
)
def test_every_form_refuses_a_post_without_the_csrf_token(
    browser: Client, path: str, body: dict[str, str]
) -> None:
    response = browser.post(path, body)

    assert response.status_code == 403
    assert b"CSRF" in response.content


def test_over_https_the_post_a_browser_sends_passes_the_origin_check(
    browser: Client, django_capture_on_commit_callbacks: Any
) -> None:
    register(browser, django_capture_on_commit_callbacks)
    page = browser.get(local(link_in_last_email()), secure=True)

    posted = browser.post(
        "/verify-email", form_fields(page), secure=True, headers={"Origin": "https://testserver"}
    )

    assert posted.status_code == 303
    assert User.objects.get(email="ada@example.com").is_email_verified is True


def test_a_forged_cross_site_post_changes_nothing(
    browser: Client, django_capture_on_commit_callbacks: Any
) -> None:
    register(browser, django_capture_on_commit_callbacks)
    token = form_fields(browser.get(local(link_in_last_email())))["token"]

    attacker = Client(enforce_csrf_checks=True)
    response = attacker.post("/verify-email", {"token": token, "csrfmiddlewaretoken": "x" * 64})
    from_elsewhere = browser.post(
        "/verify-email",
        form_fields(browser.get(f"/verify-email?token={quote(token)}")),
        secure=True,
        headers={"Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert from_elsewhere.status_code == 403
    assert User.objects.get(email="ada@example.com").is_email_verified is False


def test_pages_are_not_cached_run_no_script_and_send_no_referrer_elsewhere(
    browser: Client, django_capture_on_commit_callbacks: Any
) -> None:
    register(browser, django_capture_on_commit_callbacks)
    page = browser.get(local(link_in_last_email()))

    assert "no-store" in page["Cache-Control"]
    assert page["Referrer-Policy"] == "same-origin"
    assert "default-src 'none'" in page["Content-Security-Policy"]
    assert "<script" not in text(page)
    assert '<html lang="en">' in text(page) and "<main>" in text(page) and "<h1>" in text(page)


def test_pages_share_the_auth_apis_per_ip_rate(browser: Client, settings: Any) -> None:
    settings.AUTH_THROTTLE_RATE = "3/hour"

    answers = [browser.get("/verify-email?token=bad").status_code for _ in range(2)]
    answers.append(post_json(browser, "/api/v1/auth/verify-email/", {"token": "bad"}).status_code)
    limited = browser.get("/reset-password?token=bad")
    api_limited = post_json(browser, "/api/auth/verify-email/", {"token": "bad"})
    other_ip = Client(REMOTE_ADDR="198.51.100.7").get("/verify-email?token=bad")

    assert answers == [400, 400, 400]
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert "Too many attempts" in text(limited)
    assert api_limited.status_code == 429
    assert other_ip.status_code == 400


@pytest.mark.parametrize("path", ["/verify-email", "/verify-email/done", "/reset-password"])
def test_other_methods_are_refused(api_client: Client, path: str) -> None:
    assert api_client.put(path).status_code == 405  # (a browser's PUT would fail the CSRF check first)


# --- FRONTEND_URL ---------------------------------------------------------------------------------


def test_with_a_frontend_the_emails_link_there_and_the_pages_send_old_links_there(
    browser: Client, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.FRONTEND_URL = "https://app.example.com"
    register(browser, django_capture_on_commit_callbacks)
    verify_link = link_in_last_email()
    request_reset(browser, django_capture_on_commit_callbacks, "ada@example.com")
    reset_link = link_in_last_email()

    assert verify_link.startswith("https://app.example.com/verify-email?token=")
    assert reset_link.startswith("https://app.example.com/reset-password?token=")
    redirected = browser.get(local(verify_link))
    assert redirected.status_code == 302
    assert redirected["Location"] == verify_link
    assert User.objects.get(email="ada@example.com").is_email_verified is False


def test_a_frontend_url_naming_this_host_serves_the_pages_instead_of_looping(
    browser: Client, settings: Any
) -> None:
    settings.FRONTEND_URL = "http://testserver"  # SITE_URL differs, but it is this very host

    assert browser.get("/verify-email").status_code == 200


# --- Tokens raw or percent-encoded ----------------------------------------------------------------


def test_the_api_accepts_a_verification_token_still_percent_encoded(
    api_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    register(api_client, django_capture_on_commit_callbacks)
    token = form_fields(Client().get(local(link_in_last_email())))["token"]
    encoded = quote(token, safe="")
    assert encoded != token  # the ":" of the signed token is what links encode

    response = post_json(api_client, "/api/v1/auth/verify-email/", {"token": encoded})

    assert response.status_code == 200
    assert response.json()["is_email_verified"] is True


def test_the_api_accepts_a_reset_token_still_percent_encoded(api_client: Client) -> None:
    user = make_user(email="ada@example.com")
    encoded = "".join(f"%{byte:02X}" for byte in services.make_password_reset_token(user).encode())

    response = post_json(
        api_client, "/api/auth/password-reset/confirm/", {"token": encoded, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_link_encoded_twice_still_opens_the_page(
    browser: Client, django_capture_on_commit_callbacks: Any
) -> None:
    register(browser, django_capture_on_commit_callbacks)
    token = form_fields(browser.get(local(link_in_last_email())))["token"]

    page = browser.get(f"/verify-email?token={quote(quote(token, safe=''), safe='')}")

    assert page.status_code == 200
    assert "Confirm my email" in text(page)


@pytest.mark.parametrize("token", ["%00%FF%", "%25%25%25", "%3A%3A", "abc%2D", "%E2%80%AE-1-x"])
def test_a_malformed_encoded_token_is_just_invalid(api_client: Client, token: str) -> None:
    verify = post_json(api_client, "/api/v1/auth/verify-email/", {"token": token})
    reset = post_json(
        api_client, "/api/v1/auth/password-reset/confirm/", {"token": token, "new_password": NEW_PASSWORD}
    )

    assert (verify.status_code, verify.json()["code"]) == (400, "invalid_token")
    assert (reset.status_code, reset.json()["code"]) == (400, "invalid_token")
