from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import override_settings
from django.utils import timezone
from django_q.models import Schedule

from modules.identity import services, tasks
from modules.identity.email_backends import SESEmailBackend
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


# --- SES (the AWS boundary is botocore's Stubber) -------------------------------------------------


def ses_backend(**kwargs) -> tuple[SESEmailBackend, Stubber]:
    import boto3

    client = boto3.client(
        "sesv2", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return SESEmailBackend(client=client, **kwargs), Stubber(client)


def message() -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject="Reset your Resee password",
        body="text body",
        from_email="no-reply@resee.app",
        to=["ada@example.com"],
    )
    email.attach_alternative("<p>html body</p>", "text/html")
    return email


def test_ses_backend_sends_the_raw_mime_message() -> None:
    backend, stubber = ses_backend(configuration_set="transactional")
    stubber.add_response(
        "send_email",
        {"MessageId": "0100018c-abc"},
        {
            "FromEmailAddress": "no-reply@resee.app",
            "Destination": {"ToAddresses": ["ada@example.com"]},
            "Content": {"Raw": {"Data": ANY}},
            "ConfigurationSetName": "transactional",
        },
    )

    with stubber:
        assert backend.send_messages([message()]) == 1

    stubber.assert_no_pending_responses()


def test_ses_backend_sends_text_and_html_parts() -> None:
    backend, stubber = ses_backend(configuration_set="")
    sent: list[bytes] = []
    stubber.add_response("send_email", {"MessageId": "1"}, None)
    backend.client.meta.events.register(
        "before-parameter-build.sesv2.SendEmail",
        lambda params, **_: sent.append(params["Content"]["Raw"]["Data"]),
    )

    with stubber:
        backend.send_messages([message()])

    parsed = message_from_bytes(sent[0])
    assert parsed["Subject"] == "Reset your Resee password"
    assert [part.get_content_type() for part in parsed.walk() if not part.is_multipart()] == [
        "text/plain",
        "text/html",
    ]


def test_ses_backend_raises_ses_errors_so_the_outbox_retries() -> None:
    backend, stubber = ses_backend()
    stubber.add_client_error(
        "send_email", service_error_code="TooManyRequestsException", http_status_code=429
    )

    with stubber, pytest.raises(ClientError):
        backend.send_messages([message()])


def test_ses_backend_swallows_errors_when_failing_silently() -> None:
    backend, stubber = ses_backend(fail_silently=True)
    stubber.add_client_error("send_email", service_error_code="MessageRejected", http_status_code=400)

    with stubber:
        assert backend.send_messages([message()]) == 0


def test_ses_backend_builds_its_client_lazily_in_the_configured_region() -> None:
    with override_settings(AWS_SES_REGION="eu-central-1", AWS_SES_CONFIGURATION_SET=""):
        backend = SESEmailBackend()
        assert backend._client is None
        assert backend.client.meta.region_name == "eu-central-1"


def test_outbox_delivers_through_the_ses_backend_when_selected(
    django_capture_on_commit_callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    log = queue_reset_email(django_capture_on_commit_callbacks)
    stubbers: list[Stubber] = []
    import boto3

    real_client = boto3.client

    def stubbed_client(*args, **kwargs):
        client = real_client(*args, **kwargs)
        stubber = Stubber(client)
        stubber.add_client_error(
            "send_email", service_error_code="SendingPausedException", http_status_code=400
        )
        stubber.activate()
        stubbers.append(stubber)
        return client

    monkeypatch.setattr(boto3, "client", stubbed_client)
    with override_settings(EMAIL_BACKEND="modules.identity.email_backends.SESEmailBackend"):
        assert tasks.deliver_email(log.pk) == "retry"

    log.refresh_from_db()
    assert "SendingPausedException" in log.error
    assert len(stubbers) == 1


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
