from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from django.core import mail
from django.core.mail import EmailMultiAlternatives, get_connection
from django.test import override_settings
from django.utils import timezone
from django_q.models import Schedule

from modules.identity import services, tasks
from modules.identity.models import EmailLog, EmailStatus

pytestmark = pytest.mark.django_db

BROKEN = "tests.identity.backends.BrokenMailServerBackend"


def queue_reset_email(capture, *, to: str = "ada@example.com") -> EmailLog:
    with capture(execute=False) as callbacks:
        log_id = services.send_email(
            to=to,
            template="identity/email/password_reset",
            context={
                "first_name": "Ada",
                "link": "https://app/reset?token=t0k",
                "token": "t0k",
                "expires_minutes": 60,
            },
        )
    assert len(callbacks) == 1  # delivery waits for the transaction to commit
    return EmailLog.objects.get(pk=log_id)


def test_send_email_renders_subject_text_and_html_and_delivers_after_commit(
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        log_id = services.send_email(
            to="ada@example.com",
            template="identity/email/verify_email",
            context={
                "first_name": "Ada",
                "link": "https://app/verify-email?token=abc",
                "token": "abc",
                "expires_days": 3,
            },
        )

    (message,) = mail.outbox
    assert message.subject == "Confirm your email address for Resee"
    assert "Hello Ada," in message.body
    assert "https://app/verify-email?token=abc" in message.body
    assert message.alternatives[0][1] == "text/html"
    assert 'href="https://app/verify-email?token=abc"' in message.alternatives[0][0]
    log = EmailLog.objects.get(pk=log_id)
    assert (log.status, log.attempts, log.error) == (EmailStatus.SENT, 1, "")
    assert log.sent_at is not None and log.last_attempt_at is not None


def test_delivering_twice_sends_once(django_capture_on_commit_callbacks) -> None:
    log = queue_reset_email(django_capture_on_commit_callbacks)

    assert tasks.deliver_email(log.pk) == "sent"
    assert tasks.deliver_email(log.pk) == "already-sent"

    assert len(mail.outbox) == 1


def test_delivering_a_missing_log_does_nothing() -> None:
    assert tasks.deliver_email(123456) == "missing-or-busy"


@override_settings(EMAIL_BACKEND=BROKEN, EMAIL_MAX_ATTEMPTS=3, EMAIL_RETRY_BACKOFF_SECONDS=60)
def test_a_failed_send_is_recorded_and_retried_later_with_backoff(django_capture_on_commit_callbacks) -> None:
    log = queue_reset_email(django_capture_on_commit_callbacks)
    before = timezone.now()

    assert tasks.deliver_email(log.pk) == "retry"

    log.refresh_from_db()
    assert log.status == EmailStatus.QUEUED
    assert log.attempts == 1
    assert log.error == "ConnectionRefusedError: mail server refused the connection"
    assert before + timedelta(seconds=60) <= log.next_attempt_at <= timezone.now() + timedelta(seconds=60)
    retry = Schedule.objects.get(name=f"email-retry-{log.pk}-1")
    assert retry.func == "modules.identity.tasks.deliver_email"
    assert retry.schedule_type == Schedule.ONCE
    assert retry.next_run == log.next_attempt_at
    assert log.body_text  # kept for the retry

    assert tasks.deliver_email(log.pk) == "retry"
    log.refresh_from_db()
    assert log.attempts == 2
    assert log.next_attempt_at - log.last_attempt_at == timedelta(seconds=240)  # 60 x 4


@override_settings(EMAIL_BACKEND=BROKEN, EMAIL_MAX_ATTEMPTS=2)
def test_an_email_is_marked_failed_after_the_last_attempt(django_capture_on_commit_callbacks) -> None:
    log = queue_reset_email(django_capture_on_commit_callbacks)

    outcomes = [tasks.deliver_email(log.pk) for _ in range(3)]

    assert outcomes == ["retry", "failed", "already-failed"]
    log.refresh_from_db()
    assert (log.status, log.attempts) == (EmailStatus.FAILED, 2)
    assert log.next_attempt_at is None
    assert log.body_text == log.body_html == ""
    assert Schedule.objects.filter(name__startswith=f"email-retry-{log.pk}-").count() == 1


def test_a_retry_succeeds_once_the_server_is_back(django_capture_on_commit_callbacks) -> None:
    log = queue_reset_email(django_capture_on_commit_callbacks)
    with override_settings(EMAIL_BACKEND=BROKEN):
        assert tasks.deliver_email(log.pk) == "retry"

    assert tasks.deliver_email(log.pk) == "sent"

    log.refresh_from_db()
    assert (log.status, log.attempts, log.error) == (EmailStatus.SENT, 2, "")
    assert len(mail.outbox) == 1


def test_retry_delay_grows_four_times_per_attempt() -> None:
    with override_settings(EMAIL_RETRY_BACKOFF_SECONDS=60):
        assert [services.retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [60, 240, 960, 3840]


# --- SES: django-ses, with the AWS boundary stubbed by botocore's Stubber ----------------------------

SES_BACKEND = "django_ses.SESBackend"


@dataclass
class FakeSES:
    """What SES answers, in order: ``ok()`` or ``refuse(code)``; ``sent`` holds each raw message."""

    answers: list[tuple] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)

    def ok(self, expected_params: dict | None = None) -> None:
        response = {"MessageId": "0100018c-abc", "ResponseMetadata": {"RequestId": "req-1"}}
        self.answers.append(("send_email", response, expected_params))

    def refuse(self, code: str) -> None:
        self.answers.append(("send_email", code))

    def raw(self, index: int = 0) -> Message:
        return message_from_bytes(self.sent[index])


@pytest.fixture
def ses(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSES]:
    """Every SES client django-ses opens is stubbed with botocore's Stubber (nothing leaves the process)."""
    import boto3.session

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    fake = FakeSES()
    stubbers: list[Stubber] = []
    real_client = boto3.session.Session.client

    def stubbed_client(session: boto3.session.Session, *args: object, **kwargs: object) -> object:
        client = real_client(session, *args, **kwargs)
        client.meta.events.register(
            "before-parameter-build.sesv2.SendEmail",
            lambda params, **_: fake.sent.append(params["Content"]["Raw"]["Data"]),
        )
        stubber = Stubber(client)
        for answer in fake.answers:
            if len(answer) == 2:
                stubber.add_client_error(answer[0], service_error_code=answer[1], http_status_code=400)
            else:
                stubber.add_response(*answer)
        stubber.activate()
        stubbers.append(stubber)
        return client

    monkeypatch.setattr(boto3.session.Session, "client", stubbed_client)
    yield fake
    for stubber in stubbers:  # every answer was asked for, and nothing else (no GetAccount)
        stubber.assert_no_pending_responses()


def message() -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject="Reset your Resee password",
        body="text body",
        from_email="no-reply@resee.app",
        to=["ada@example.com"],
    )
    email.attach_alternative("<p>html body</p>", "text/html")
    return email


def test_ses_sends_the_raw_mime_message_with_the_configuration_set(ses: FakeSES) -> None:
    ses.ok(
        {
            "FromEmailAddress": "no-reply@resee.app",
            "Destination": {"ToAddresses": ["ada@example.com"]},
            "Content": {"Raw": {"Data": ANY}},
        }
    )

    with override_settings(AWS_SES_CONFIGURATION_SET="transactional"):
        assert get_connection(SES_BACKEND).send_messages([message()]) == 1

    parsed = ses.raw()
    assert parsed["Subject"] == "Reset your Resee password"
    assert parsed["X-SES-CONFIGURATION-SET"] == "transactional"
    assert [part.get_content_type() for part in parsed.walk() if not part.is_multipart()] == [
        "text/plain",
        "text/html",
    ]


def test_ses_without_a_configuration_set_sends_no_configuration_header(ses: FakeSES) -> None:
    ses.ok()

    with override_settings(AWS_SES_CONFIGURATION_SET=""):
        get_connection(SES_BACKEND).send_messages([message()])

    assert ses.raw()["X-SES-CONFIGURATION-SET"] is None


def test_ses_errors_raise_so_the_outbox_retries(ses: FakeSES) -> None:
    ses.refuse("TooManyRequestsException")

    with pytest.raises(ClientError):
        get_connection(SES_BACKEND).send_messages([message()])


def test_the_ses_settings_map_aws_ses_region_to_an_sesv2_client() -> None:
    """AWS_SES_REGION (the documented variable) reaches django-ses, on the SES v2 API."""
    code = (
        "import django; django.setup(); from django.core.mail import get_connection; "
        "backend = get_connection('django_ses.SESBackend'); backend.open(); "
        "print(backend.connection.meta.region_name, backend.connection.meta.service_model.service_name)"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SECRET_KEY": "k" * 50,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LEARNING_READ_CACHE_SECONDS": "0",
        "AWS_SES_REGION": "eu-central-1",
    }
    result = subprocess.run(  # noqa: S603 (our own interpreter, a fixed script)
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["eu-central-1", "sesv2"]


def test_the_outbox_delivers_through_ses_when_selected(
    django_capture_on_commit_callbacks, ses: FakeSES
) -> None:
    log = queue_reset_email(django_capture_on_commit_callbacks)
    ses.ok()

    with override_settings(EMAIL_BACKEND=SES_BACKEND):
        assert tasks.deliver_email(log.pk) == "sent"

    assert ses.raw()["To"] == "ada@example.com"
    assert EmailLog.objects.get(pk=log.pk).status == EmailStatus.SENT


def test_the_outbox_records_an_ses_refusal_and_retries(
    django_capture_on_commit_callbacks, ses: FakeSES
) -> None:
    log = queue_reset_email(django_capture_on_commit_callbacks)
    ses.refuse("SendingPausedException")

    with override_settings(EMAIL_BACKEND=SES_BACKEND):
        assert tasks.deliver_email(log.pk) == "retry"

    log.refresh_from_db()
    assert "SendingPausedException" in log.error


def test_an_email_whose_task_was_lost_is_queued_again_and_sent_once(
    django_capture_on_commit_callbacks,
) -> None:
    lost = queue_reset_email(django_capture_on_commit_callbacks)  # its delivery task never ran
    fresh = queue_reset_email(django_capture_on_commit_callbacks, to="grace@example.com")
    waiting = queue_reset_email(django_capture_on_commit_callbacks, to="linus@example.com")
    later = lost.created_at + timedelta(minutes=3)
    EmailLog.objects.filter(pk=fresh.pk).update(created_at=later - timedelta(seconds=30))
    EmailLog.objects.filter(pk=waiting.pk).update(attempts=1, next_attempt_at=later + timedelta(minutes=1))

    assert services.requeue_stuck_emails(now=later) == 1
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert EmailLog.objects.get(pk=lost.pk).status == EmailStatus.SENT
    assert services.requeue_stuck_emails(now=later) == 0  # sent: nothing left to requeue
    assert len(mail.outbox) == 1


def test_the_requeue_task_is_scheduled() -> None:
    from django.apps import apps

    names = {spec.func for spec in apps.get_app_config("identity").schedules}
    assert "modules.identity.tasks.requeue_stuck_emails" in names
    assert tasks.requeue_stuck_emails() == 0
