"""The links of the daily review reminder: every one answers, the reminder can be turned off from the
email itself (the link in its text, the RFC 8058 List-Unsubscribe headers), and no token is logged."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.test import Client

from config.logging import JsonFormatter
from modules.identity.models import User
from modules.identity.testing import make_user
from modules.learning import services
from modules.learning.models import ReminderLog
from modules.learning.testing import make_content
from tests.security.secrets import find_secrets

pytestmark = pytest.mark.django_db

# 07:00 UTC is 09:00 in Berlin (summer time).
SUMMER_MORNING = datetime(2025, 7, 1, 7, 0, tzinfo=UTC)
URL = re.compile(r"https?://[^\s\"'<>]+")


def berliner(**fields: Any) -> User:
    defaults = {"timezone": "Europe/Berlin", "daily_reminder_hour": 9, "first_name": "Ada"}
    user = make_user(**{**defaults, **fields})
    make_content(
        user=user,
        title="Krebs cycle",
        due_at=SUMMER_MORNING - timedelta(hours=1),
        created_at=SUMMER_MORNING - timedelta(days=3),
    )
    return user


def send_reminder(capture: Any, *, now: datetime = SUMMER_MORNING) -> EmailMessage:
    mail.outbox.clear()
    with capture(execute=True):
        assert services.send_review_reminders(now=now) == 1
    (message,) = mail.outbox
    return message


def links(message: EmailMessage) -> set[str]:
    """Every URL of the message: its text, its HTML's hrefs, its List-Unsubscribe header."""
    html_body = message.alternatives[0][0]
    found = set(URL.findall(message.body))
    found |= {html.unescape(href) for href in re.findall(r'href="([^"]+)"', html_body)}
    found |= set(re.findall(r"<([^>]+)>", message.extra_headers.get("List-Unsubscribe", "")))
    return found


def local(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def unsubscribe_link(message: EmailMessage) -> str:
    (link,) = re.findall(r"<([^>]+)>", message.extra_headers["List-Unsubscribe"])
    return link


def reminders_on(user: User) -> bool:
    user.refresh_from_db()
    return user.notifications_enabled


# --- Without a frontend (FRONTEND_URL is this backend) ------------------------------------------------


def test_every_link_of_the_reminder_answers_on_the_backend(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    assert settings.FRONTEND_URL == settings.SITE_URL
    user = berliner()
    message = send_reminder(django_capture_on_commit_callbacks)

    found = links(message)

    assert found, "the reminder carries the link that turns it off"
    for link in found:
        assert link.startswith(settings.SITE_URL), link
        assert Client().get(local(link)).status_code == 200, link
    assert reminders_on(user) is True  # opening links changes nothing
    assert "Krebs cycle" in message.body and "1 review due today" in message.body  # the rest is kept
    assert "/review" not in message.body and "/settings" not in message.body
    assert "Start reviewing" not in message.alternatives[0][0]


def test_the_reminders_off_link_of_the_email_turns_reminders_off_and_no_reminder_follows(
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = berliner()
    message = send_reminder(django_capture_on_commit_callbacks)
    (link,) = [word for word in message.body.split() if "/reminders/off?token=" in word]
    assert link == unsubscribe_link(message)  # the text and the header give the same link
    browser = Client(enforce_csrf_checks=True)

    page = browser.get(local(link))
    assert page.status_code == 200 and reminders_on(user) is True
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.content.decode()))
    posted = browser.post("/reminders/off", {key: html.unescape(value) for key, value in fields.items()})

    assert posted.status_code == 303
    assert reminders_on(user) is False
    ReminderLog.objects.all().delete()
    assert services.send_review_reminders(now=SUMMER_MORNING + timedelta(days=1)) == 0


def test_the_reminder_carries_rfc_8058_headers_and_the_providers_one_click_post_works(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    user = berliner()
    message = send_reminder(django_capture_on_commit_callbacks)

    link = unsubscribe_link(message)
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link.startswith(f"{settings.SITE_URL}/reminders/off?token=")
    raw = message.message().as_bytes()
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw

    provider = Client(enforce_csrf_checks=True)  # no cookie, no CSRF token
    response = provider.post(local(link), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert reminders_on(user) is False


def test_each_reminder_carries_its_own_users_link(django_capture_on_commit_callbacks: Any) -> None:
    ada = berliner(email="ada@example.com")
    bob = berliner(email="bob@example.com")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_review_reminders(now=SUMMER_MORNING) == 2
    bobs = next(message for message in mail.outbox if message.to == [bob.email])

    Client().post(local(unsubscribe_link(bobs)), {"List-Unsubscribe": "One-Click"})

    assert (reminders_on(ada), reminders_on(bob)) == (True, False)


# --- With a separate frontend --------------------------------------------------------------------------


def test_with_a_frontend_the_review_and_settings_links_go_there_and_the_off_link_stays_here(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.FRONTEND_URL = "https://app.example.com"
    user = berliner()
    message = send_reminder(django_capture_on_commit_callbacks)

    found = links(message)

    assert "https://app.example.com/review" in found
    assert "https://app.example.com/settings" in found
    assert "Start reviewing" in message.alternatives[0][0]
    backend = [link for link in found if link.startswith(settings.SITE_URL)]
    assert backend == [unsubscribe_link(message)]
    assert Client().get(local(backend[0])).status_code == 200  # served here, not sent to the frontend
    assert reminders_on(user) is True


# --- Logs ---------------------------------------------------------------------------------------------


@pytest.fixture
def every_record(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    for name in ("", "django", "django.request", "django.db.backends", "django-q", "resee.access"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


@pytest.mark.parametrize("debug", [True, False], ids=["debug-on", "debug-off"])
def test_the_token_never_reaches_a_log_line(
    django_capture_on_commit_callbacks: Any,
    every_record: pytest.LogCaptureFixture,
    settings: Any,
    tmp_path: Any,
    debug: bool,
) -> None:
    settings.DEBUG = debug  # on: every SQL statement is logged with its parameters (the queued email's)
    settings.EMAIL_FILE_PATH = str(tmp_path)
    berliner()
    message = send_reminder(django_capture_on_commit_callbacks)
    link = unsubscribe_link(message)
    token = parse_qs(urlsplit(link).query)["token"][0]
    browser = Client(enforce_csrf_checks=True)

    page = browser.get(local(link))
    browser.get(local(link) + "x")  # a 400, which django.request logs with the request
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert csrf is not None
    browser.post("/reminders/off", {"csrfmiddlewaretoken": csrf.group(1), "token": token})
    Client().post(local(link), {"List-Unsubscribe": "One-Click"})

    lines = [JsonFormatter().format(record) for record in every_record.records]
    assert any("/reminders/off" in line for line in lines)  # the requests were logged
    if debug:  # the token was there to leak (the SQL that queued the email), and was masked
        assert any("REDACTED" in line and "identity_emaillog" in line for line in lines)
    signature = token.rsplit(":", 1)[-1]  # the secret part, should a rule ever mask only the rest
    problems = find_secrets("\n".join(lines), known=[token, token + "x", signature])
    assert not problems, problems
