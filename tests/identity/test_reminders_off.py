"""The signed link that turns the daily reminders off (services/links.py, pages.reminders_off), its
RFC 8058 one-click POST, and the outbox's extra headers that carry it."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.core import mail, signing
from django.test import Client, override_settings

from modules.identity import services, tasks
from modules.identity.models import EmailLog, EmailStatus, User
from modules.identity.services.links import REMINDERS_OFF_SALT
from modules.identity.testing import make_user
from tests.identity.page_helpers import form_fields, text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mid_window_clock")]

BROKEN = "tests.identity.backends.BrokenMailServerBackend"


@pytest.fixture
def ada() -> User:
    return make_user(email="ada@example.com", daily_reminder_hour=7)


def page_path(token: str) -> str:
    return f"/reminders/off?{urlencode({'token': token})}"


def reminders_on(user: User) -> bool:
    user.refresh_from_db()
    return user.notifications_enabled


def signed_days_ago(days: int, value: str, salt: str, monkeypatch: pytest.MonkeyPatch) -> str:
    then = signing.b62_encode(int(datetime.now().timestamp()) - days * 86400)
    with monkeypatch.context() as patch:
        patch.setattr(signing.TimestampSigner, "timestamp", lambda self: then)
        return signing.TimestampSigner(salt=salt).sign(value)


# --- The link ---------------------------------------------------------------------------------------


def test_the_link_is_on_the_backend_and_names_the_user_under_its_own_salt(ada: User, settings: Any) -> None:
    settings.FRONTEND_URL = "https://app.example.com"  # a separate frontend: the link stays here
    link = services.reminders_off_link(user_id=ada.pk)

    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == settings.SITE_URL
    assert parts.path == "/reminders/off"
    token = services.make_reminders_off_token(user_id=ada.pk)
    assert signing.TimestampSigner(salt=REMINDERS_OFF_SALT).unsign(token) == str(ada.pk)
    assert services.one_click_unsubscribe_headers(link) == {
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_frontend_pages_exist_only_with_a_separate_frontend(settings: Any) -> None:
    settings.FRONTEND_URL = settings.SITE_URL
    assert services.frontend_page("/review") is None

    settings.FRONTEND_URL = "https://app.example.com"
    assert services.frontend_page("/review") == "https://app.example.com/review"


# --- The page ---------------------------------------------------------------------------------------


def test_opening_the_link_changes_nothing_and_its_button_turns_reminders_off(
    browser: Client, ada: User
) -> None:
    token = services.make_reminders_off_token(user_id=ada.pk)

    page = browser.get(page_path(token))
    browser.get(page_path(token))  # a mail scanner's prefetch, then the person's click

    assert page.status_code == 200
    assert "Turn off daily review reminders?" in text(page)
    assert "ada@example.com" in text(page)
    assert "no-store" in page["Cache-Control"]
    assert "default-src 'none'" in page["Content-Security-Policy"]
    assert reminders_on(ada) is True
    fields = form_fields(page)
    assert set(fields) == {"csrfmiddlewaretoken", "token"}

    posted = browser.post("/reminders/off", fields)

    assert posted.status_code == 303
    assert posted["Location"] == "/reminders/off/done"
    done = browser.get(posted["Location"])
    assert done.status_code == 200
    assert "Daily review reminders are off" in text(done)
    assert reminders_on(ada) is False
    ada.refresh_from_db()
    assert ada.daily_reminder_hour == 7  # kept: turning notifications on again restores the hour
    again = browser.get(page_path(token))
    assert again.status_code == 200 and "gets no reminder emails" in text(again)
    assert browser.post("/reminders/off", fields).status_code == 303  # a second click is harmless


def test_a_percent_encoded_token_still_works(browser: Client, ada: User) -> None:
    token = services.make_reminders_off_token(user_id=ada.pk)

    page = browser.get(f"/reminders/off?token={quote(quote(token, safe=''), safe='')}")

    assert page.status_code == 200
    assert browser.post("/reminders/off", form_fields(page)).status_code == 303
    assert reminders_on(ada) is False


def _bad_tokens(ada: User, other: User, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    good = services.make_reminders_off_token(user_id=ada.pk)
    value, timestamp, signature = good.split(":")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    address = EmailAddress.objects.create(user=ada, email=ada.email, primary=True, verified=False)
    return {
        "tampered signature": f"{value}:{timestamp}:{flipped}",
        "another user's id under this signature": f"{other.pk}:{timestamp}:{signature}",
        "expired (91 days)": signed_days_ago(91, str(ada.pk), REMINDERS_OFF_SALT, monkeypatch),
        "another purpose's salt": signing.TimestampSigner(salt="another-purpose").sign(str(ada.pk)),
        "an email confirmation key": EmailConfirmationHMAC(address).key,
        "a password reset token": services.make_password_reset_token(ada),
        "unsalted": signing.TimestampSigner().sign(str(ada.pk)),
        "not a user id": signing.TimestampSigner(salt=REMINDERS_OFF_SALT).sign("ada@example.com"),
        "garbage": "x" * 40,
        "far too long": good + "x" * 600,
    }


def test_a_bad_token_is_refused_with_a_clear_page_and_changes_nothing(
    browser: Client, ada: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_user(email="other@example.com")
    bad = _bad_tokens(ada, other, monkeypatch)
    csrf = form_fields(browser.get(page_path(services.make_reminders_off_token(user_id=ada.pk))))

    for kind, token in bad.items():
        opened = browser.get(page_path(token))
        posted = browser.post("/reminders/off", {**csrf, "token": token})
        one_click = browser.post(page_path(token), {"List-Unsubscribe": "One-Click"})
        for response in (opened, posted, one_click):
            assert response.status_code == 400, kind
            assert "This link has expired or is not valid" in text(response), kind
            assert "Nothing was changed" in text(response), kind
            assert "<form" not in text(response), kind

    assert browser.get("/reminders/off").status_code == 400  # no token at all
    assert reminders_on(ada) is True
    assert reminders_on(other) is True


def test_a_link_89_days_old_still_works(browser: Client, ada: User, monkeypatch: pytest.MonkeyPatch) -> None:
    old = signed_days_ago(89, str(ada.pk), REMINDERS_OFF_SALT, monkeypatch)

    assert browser.post(page_path(old), {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert reminders_on(ada) is False


def test_a_deleted_account_s_link_is_refused(browser: Client, ada: User) -> None:
    token = services.make_reminders_off_token(user_id=ada.pk)
    services.delete_account(user=ada)

    assert browser.get(page_path(token)).status_code == 400


def test_the_button_s_post_needs_the_csrf_token(browser: Client, ada: User) -> None:
    token = services.make_reminders_off_token(user_id=ada.pk)

    no_csrf = browser.post("/reminders/off", {"token": token})
    forged = Client(enforce_csrf_checks=True).post(
        "/reminders/off", {"token": token, "csrfmiddlewaretoken": "x" * 64}
    )
    # The token in the URL, but not the one-click body: still a form, still CSRF-checked.
    in_url = browser.post(page_path(token), {"token": token})

    for response in (no_csrf, forged, in_url):
        assert response.status_code == 403
        assert b"CSRF" in response.content
    assert reminders_on(ada) is True


def test_other_methods_are_refused(api_client: Client, ada: User) -> None:
    token = services.make_reminders_off_token(user_id=ada.pk)

    assert api_client.put(page_path(token)).status_code == 405
    assert api_client.delete(page_path(token)).status_code == 405
    assert api_client.post("/reminders/off/done").status_code == 405
    assert reminders_on(ada) is True


def test_with_a_separate_frontend_the_page_is_still_served_here(
    browser: Client, ada: User, settings: Any
) -> None:
    settings.FRONTEND_URL = "https://app.example.com"
    token = services.make_reminders_off_token(user_id=ada.pk)

    page = browser.get(page_path(token))
    posted = browser.post("/reminders/off", form_fields(page))
    done = browser.get(posted["Location"])

    assert page.status_code == 200  # not redirected: a provider's one-click POST must land here too
    assert posted.status_code == 303
    assert 'href="https://app.example.com/settings"' in text(done)
    assert reminders_on(ada) is False


def test_the_page_shares_the_auth_rate_but_the_one_click_post_does_not(
    browser: Client, ada: User, settings: Any
) -> None:
    settings.AUTH_THROTTLE_RATE = "2/hour"
    token = services.make_reminders_off_token(user_id=ada.pk)

    answers = [browser.get(page_path(token)).status_code for _ in range(3)]
    one_clicks = [
        Client().post(page_path(token), {"List-Unsubscribe": "One-Click"}).status_code for _ in range(3)
    ]

    assert answers == [200, 200, 429]
    assert one_clicks == [200, 200, 200]


# --- RFC 8058 one-click ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_the_one_click_post_turns_reminders_off_without_csrf_and_without_a_redirect(
    ada: User, encoding: str
) -> None:
    provider = Client(enforce_csrf_checks=True)  # a mailbox provider's server: no cookie, no CSRF token
    path = page_path(services.make_reminders_off_token(user_id=ada.pk))

    if encoding == "multipart":
        response = provider.post(path, {"List-Unsubscribe": "One-Click"})
    else:
        response = provider.post(
            path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )

    assert response.status_code == 200
    assert "Daily review reminders are off" in text(response)
    assert "no-store" in response["Cache-Control"]
    assert reminders_on(ada) is False


def test_a_one_click_post_with_another_body_is_not_exempt(ada: User) -> None:
    path = page_path(services.make_reminders_off_token(user_id=ada.pk))
    provider = Client(enforce_csrf_checks=True)

    for body in ({}, {"List-Unsubscribe": "one-click"}, {"List-Unsubscribe": "Yes"}):
        assert provider.post(path, body).status_code == 403
    assert reminders_on(ada) is True


# --- Extra headers through the outbox ------------------------------------------------------------------


HEADERS = {
    "List-Unsubscribe": "<https://api.example.com/reminders/off?token=1%3Aabc%3Adef>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


def queue_with_headers(capture: Any) -> EmailLog:
    with capture(execute=False):
        log_id = services.send_email(
            to="ada@example.com",
            template="identity/email/verify_email",
            context={"first_name": "Ada", "link": "https://app/verify", "token": "t", "expires_days": 3},
            headers=HEADERS,
        )
    return EmailLog.objects.get(pk=log_id)


def test_extra_headers_survive_the_queue_and_a_retry_and_are_forgotten_once_sent(
    django_capture_on_commit_callbacks: Any,
) -> None:
    log = queue_with_headers(django_capture_on_commit_callbacks)
    assert log.headers == HEADERS

    with override_settings(EMAIL_BACKEND=BROKEN):
        assert tasks.deliver_email(log.pk) == "retry"
    log.refresh_from_db()
    assert log.headers == HEADERS  # kept for the retry
    assert tasks.deliver_email(log.pk) == "sent"

    (message,) = mail.outbox
    raw = message_from_bytes(message.message().as_bytes())  # what SMTP or SES receives
    for name, value in HEADERS.items():
        assert " ".join(raw[name].split()) == value
    log.refresh_from_db()
    assert (log.status, log.headers) == (EmailStatus.SENT, {})


@override_settings(EMAIL_BACKEND=BROKEN, EMAIL_MAX_ATTEMPTS=1)
def test_headers_are_forgotten_when_the_email_is_given_up(django_capture_on_commit_callbacks: Any) -> None:
    log = queue_with_headers(django_capture_on_commit_callbacks)

    assert tasks.deliver_email(log.pk) == "failed"

    log.refresh_from_db()
    assert log.headers == {}


@pytest.mark.parametrize(
    "headers",
    [{"X-Evil": "a\r\nBcc: victim@example.com"}, {"Bad Name": "x"}, {"X-Colon:": "x"}, {"X-Number": 3}],
)
def test_a_header_that_could_never_be_sent_is_refused_when_queued(headers: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Invalid email header"):
        services.send_email(
            to="ada@example.com",
            template="identity/email/verify_email",
            context={"link": "x", "token": "t", "expires_days": 3},
            headers=headers,
        )
    assert not EmailLog.objects.exists()
