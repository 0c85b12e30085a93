"""No secret reaches a log line, at any level, with DEBUG on or off (issue 10, part 7).

A whole account journey runs in-process through the API: registration and its verification email,
verification, bad and good logins, malformed Authorization headers of every kind, refresh, logout,
password reset, password change, AI generation (local, and Claude behind a fake Messages API), the
metrics endpoint, a crash (500) whose exception carries a token. Logging is configured as the settings
configure it, with every logger at DEBUG (SQL included); every record is also formatted by
``config.logging.JsonFormatter``; the process's stdout and stderr are captured at the file descriptors.
Then every secret the journey made or used is searched in all of it (``tests/security/secrets.py``).
The other doors of a secret into a log are tested below it: runserver's request lines, gunicorn's
access log, what Sentry sends.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client
from django.utils.log import configure_logging

import config.logging
from config.logging import JsonFormatter
from modules.identity.email_backends import ConsoleEmailBackend
from tests.ai.fake_anthropic import FakeAnthropic
from tests.security.secrets import find_secrets

pytestmark = pytest.mark.django_db

SECRET_KEY = "django-secret-" + secrets.token_urlsafe(40)
ANTHROPIC_API_KEY = "sk-ant-api03-" + secrets.token_urlsafe(40)
METRICS_BEARER_TOKEN = "metrics-" + secrets.token_urlsafe(30)
PASSWORDS = [f"{n}-Pa55phrase-{secrets.token_hex(6)}" for n in ("first", "second", "third")]
WRONG_PASSWORD = f"wrong-Pa55phrase-{secrets.token_hex(6)}"
ME = "/api/accounts/users/me/"


# --- capture ------------------------------------------------------------------------------------


class RecordingConsoleBackend(ConsoleEmailBackend):
    """The default console backend, and a copy of each message for the test to follow its links."""

    def send_messages(self, email_messages: Any) -> int:
        mail.outbox.extend(email_messages)
        return super().send_messages(email_messages)


class Collector(logging.Handler):
    """Every record that reaches the root logger, formatted by the real JSON formatter."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def every_logger_at_debug(config: dict[str, Any]) -> dict[str, Any]:
    """The settings' LOGGING as LOG_LEVEL=DEBUG would make it, and every named logger at DEBUG too."""
    config = copy.deepcopy(config)
    config["root"]["level"] = "DEBUG"
    for logger in config.get("loggers", {}).values():
        logger["level"] = "DEBUG"
    for name in ("django.db.backends", "django-q"):
        config["loggers"].setdefault(name, {"level": "DEBUG"})
    return config


@contextmanager
def logging_configured(config: dict[str, Any]) -> Iterator[None]:
    """Logging configured the way Django does at start-up (its defaults, then LOGGING), then put back
    exactly as it was: levels, handlers (theirs write to the session's streams, not this test's)."""
    saved = {
        logger: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        if isinstance(logger, logging.Logger)
    }
    # dictConfig closes every handler logging knows of before it configures, pytest's own included
    # (its log file handler would then fail on every record): hide them, as in a fresh process.
    registered, names = logging._handlerList[:], dict(logging._handlers)  # type: ignore[attr-defined]
    del logging._handlerList[:]  # type: ignore[attr-defined]
    try:
        configure_logging(django_settings.LOGGING_CONFIG, config)
        yield
    finally:
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            if isinstance(logger, logging.Logger):
                level, handlers, propagate, disabled = saved.get(logger, (logging.NOTSET, [], True, False))
                logger.setLevel(level)
                logger.handlers[:] = handlers
                logger.propagate = propagate
                logger.disabled = disabled
        logging._handlerList[:] = registered  # type: ignore[attr-defined]
        logging._handlers.clear()  # type: ignore[attr-defined]
        logging._handlers.update(names)  # type: ignore[attr-defined]


@dataclass
class Logs:
    """The captured output of one journey and the secrets the journey knows."""

    debug: bool
    capfd: pytest.CaptureFixture[str]
    mail_folder: Path
    known: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def keep(self, *values: str) -> None:
        """Remember secrets the journey made or used; the test asserts none of them is logged."""
        self.known.extend(value for value in values if value)

    @contextmanager
    def capturing(self) -> Iterator[None]:
        """Logging as the settings configure it, every logger at DEBUG, plus a collector on the root.
        Entered in the test's body: pytest gives each phase its own capture streams."""
        collector = Collector()
        with logging_configured(every_logger_at_debug(django_settings.LOGGING)):
            logging.getLogger().addHandler(collector)
            try:
                yield
            finally:
                out, err = self.capfd.readouterr()
                self.lines = [*collector.lines, *out.splitlines(), *err.splitlines()]

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(params=[True, False], ids=["debug-on", "debug-off"])
def logs(
    request: pytest.FixtureRequest, settings: Any, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> Logs:
    settings.DEBUG = request.param
    settings.SECRET_KEY = SECRET_KEY
    settings.ANTHROPIC_API_KEY = ANTHROPIC_API_KEY
    settings.METRICS_BEARER_TOKEN = METRICS_BEARER_TOKEN
    settings.AI_PROVIDER = "local"
    settings.EMAIL_BACKEND = f"{__name__}.RecordingConsoleBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    logs = Logs(debug=request.param, capfd=capfd, mail_folder=tmp_path / "mail")
    logs.keep(SECRET_KEY, ANTHROPIC_API_KEY, METRICS_BEARER_TOKEN, settings.NINJA_JWT["SIGNING_KEY"])
    logs.keep(*PASSWORDS, WRONG_PASSWORD)
    return logs


# --- the journey --------------------------------------------------------------------------------


def post(client: Client, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def token_of_last_email() -> str:
    link = next(word for word in mail.outbox[-1].body.split() if "token=" in word)
    return parse_qs(urlparse(link).query)["token"][0]


def forged(claims: dict[str, Any], key: str) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


def assert_status(response: Any, status: int) -> Any:
    assert response.status_code == status, response.content
    return response


def register_and_verify(client: Client, logs: Logs, email: str, commit: Any) -> None:
    with commit(execute=True):
        assert_status(post(client, "/api/auth/register/", {"email": email, "password": PASSWORDS[0]}), 201)
    verification = token_of_last_email()
    logs.keep(verification)
    assert_status(post(client, "/api/auth/verify-email/", {"token": verification + "x"}), 400)
    assert_status(post(client, "/api/auth/verify-email/", {"token": verification}), 200)
    # The link opened again on the API host's page (FRONTEND_URL left at SITE_URL): already used.
    assert_status(client.get(f"/verify-email?token={verification}"), 400)


def log_in(client: Client, logs: Logs, email: str, password: str) -> dict[str, Any]:
    body = assert_status(post(client, "/api/auth/token/", {"email": email, "password": password}), 200).json()
    logs.keep(body["access"], body["refresh"])
    return body


def bad_logins(client: Client, email: str) -> None:
    assert_status(post(client, "/api/auth/token/", {"email": email, "password": WRONG_PASSWORD}), 401)
    assert_status(
        post(client, "/api/auth/token/", {"email": "nobody@example.com", "password": WRONG_PASSWORD}), 401
    )
    assert_status(post(client, "/api/auth/token/", {"email": email, "password": ""}), 401)


def malformed_authorization(client: Client, logs: Logs, access: str) -> None:
    claims = jwt.decode(access, options={"verify_signature": False})
    wrong_key = forged(claims, "wrong-key-" + secrets.token_urlsafe(24))
    expired = forged({**claims, "exp": int(time.time()) - 60}, django_settings.NINJA_JWT["SIGNING_KEY"])
    garbage = "not~base64$" + secrets.token_hex(16)
    non_ascii = "tökén-ünïcödé-" + secrets.token_hex(12)
    basic = "Basic " + base64.b64encode(f"someone:{WRONG_PASSWORD}".encode()).decode()
    logs.keep(wrong_key, expired, garbage, non_ascii, basic.split()[1])
    for header in [
        f"Token {access}",  # a real token under another scheme: Ninja's HttpBearer logged it whole
        access,  # no scheme at all
        f"JWT {access}",
        f"Bearer {garbage}",
        f"Bearer {wrong_key}",
        f"Bearer {expired}",
        f"Bearer {non_ascii}",
        f"Bearer {access} {garbage}",
        basic,
        "Bearer",
        "Bearer ",
    ]:
        assert_status(client.get(ME, headers={"Authorization": header}), 401)
    # A credential in the query string of a refused request.
    assert_status(client.get(f"{ME}?token={access}&access_token={access}"), 401)


def refresh_and_log_out(client: Client, logs: Logs, pair: dict[str, Any]) -> None:
    rotated = assert_status(
        post(client, "/api/auth/token/refresh/", {"refresh": pair["refresh"]}), 200
    ).json()
    logs.keep(rotated["access"], rotated["refresh"])
    assert_status(post(client, "/api/auth/token/refresh/", {"refresh": pair["refresh"]}), 401)  # reused
    assert_status(post(client, "/api/auth/token/refresh/", {"refresh": pair["refresh"][:-4] + "AAAA"}), 401)
    bearer = {"Authorization": f"Bearer {rotated['access']}"}
    assert_status(post(client, "/api/auth/logout/", {"refresh": rotated["refresh"]}, **bearer), 204)
    assert_status(post(client, "/api/auth/logout/", {"refresh": rotated["access"]}, **bearer), 401)


def reset_password(client: Client, logs: Logs, email: str, commit: Any) -> None:
    with commit(execute=True):
        assert_status(post(client, "/api/auth/password-reset/", {"email": email}), 202)
    reset = token_of_last_email()
    logs.keep(reset)
    bad = {"token": reset[:-3] + "000", "new_password": PASSWORDS[1]}
    assert_status(post(client, "/api/auth/password-reset/confirm/", bad), 400)
    good = {"token": reset, "new_password": PASSWORDS[1]}
    assert_status(post(client, "/api/auth/password-reset/confirm/", good), 200)
    assert_status(client.get(f"/reset-password?token={reset}"), 400)  # the page: already used
    # runserver's line for that request, as django.core.servers.basehttp logs it (4xx at WARNING).
    logging.getLogger("django.server").warning(
        '"%s" %s %s', f"GET /reset-password?token={reset} HTTP/1.1", "400", "179", extra={"status_code": 400}
    )


def change_password(client: Client, logs: Logs, email: str) -> dict[str, Any]:
    pair = log_in(client, logs, email, PASSWORDS[1])
    bearer = {"Authorization": f"Bearer {pair['access']}"}
    wrong = {"current_password": WRONG_PASSWORD, "new_password": PASSWORDS[2]}
    assert_status(post(client, "/api/accounts/users/me/password/", wrong, **bearer), 422)
    right = {"current_password": PASSWORDS[1], "new_password": PASSWORDS[2]}
    assert_status(post(client, "/api/accounts/users/me/password/", right, **bearer), 204)
    assert_status(client.get(ME, headers=bearer), 401)  # the password change ended that session
    return log_in(client, logs, email, PASSWORDS[2])


def generate_questions(client: Client, settings: Any, email: str, access: str) -> None:
    from modules.identity.models import User
    from modules.identity.services import change_tier

    change_tier(user=User.objects.get(email=email), tier="BASIC", source="test")
    bearer = {"Authorization": f"Bearer {access}"}
    body = "Photosynthesis turns light into chemical energy. Chlorophyll absorbs red and blue light. " * 4
    content = assert_status(
        post(client, "/api/content/", {"title": "Photosynthesis", "body": body}, **bearer), 201
    )
    request = {
        "content_id": content.json()["id"],
        "question_types": ["multiple_choice"],
        "difficulty_level": "beginner",
        "count": 2,
    }
    assert_status(post(client, "/api/ai-review/generate/", request, **bearer), 201)
    fake = FakeAnthropic()
    settings.AI_PROVIDER = "claude"
    settings.AI_MAX_RETRIES = 0
    settings.AI_HTTP_CLIENT_FACTORY = fake.client
    assert_status(post(client, "/api/ai-review/generate/", request, **bearer), 201)
    settings.AI_PROVIDER = "local"


def crash(client: Client, monkeypatch: pytest.MonkeyPatch, access: str) -> None:
    """A 500 whose exception message carries the caller's token (what a careless raise would do)."""
    from modules.identity import services

    def broken(user: Any) -> Any:
        raise RuntimeError(f"could not read the subscription for Authorization: Bearer {access}")

    monkeypatch.setattr(services, "subscription_info", broken)
    response = client.get(
        f"/api/accounts/subscription/?token={access}", headers={"Authorization": f"Bearer {access}"}
    )
    assert_status(response, 500)
    assert access not in response.content.decode()


def scrape_metrics(client: Client) -> None:
    assert_status(client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_BEARER_TOKEN}x"}), 401)
    assert_status(client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_BEARER_TOKEN}"}), 200)


def test_a_whole_account_journey_writes_no_secret_to_any_log_line(
    logs: Logs, settings: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    email = f"journey-{secrets.token_hex(4)}@example.com"

    with logs.capturing():
        register_and_verify(client, logs, email, django_capture_on_commit_callbacks)
        bad_logins(client, email)
        pair = log_in(client, logs, email, PASSWORDS[0])
        assert_status(client.get(ME, headers={"Authorization": f"Bearer {pair['access']}"}), 200)
        malformed_authorization(client, logs, pair["access"])
        refresh_and_log_out(client, logs, pair)
        reset_password(client, logs, email, django_capture_on_commit_callbacks)
        pair = change_password(client, logs, email)
        generate_questions(client, settings, email, pair["access"])
        scrape_metrics(client)
        crash(client, monkeypatch, pair["access"])

    text = logs.text()
    assert len(logs.lines) > 50  # the capture saw the journey (SQL included), not nothing
    assert '"unhandled error"' in text and "Traceback" in text  # the crash was logged, with its traceback
    assert "Authorization header ignored: its scheme is not Bearer" in text  # said, without the header
    assert "Bad Request: /reset-password" in text and "GET /reset-password?token=[REDACTED] HTTP/1.1" in text
    assert find_secrets(text, logs.known) == []
    if logs.debug:  # a developer still follows the link: the whole message is in a file, not the log
        saved = sorted(logs.mail_folder.glob("*.eml"))
        assert len(saved) == 2 and all("token=" in path.read_text() for path in saved)
    else:  # and a deployment left on the console backend is told its emails go nowhere
        assert not logs.mail_folder.exists()
        assert "email not sent: EMAIL_BACKEND is the console backend (body not logged)" in text


def test_the_scan_finds_the_journeys_secrets_when_the_redaction_is_off(
    logs: Logs, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """The check above can fail: without the redaction step, the same capture holds the secrets."""
    monkeypatch.setattr(config.logging, "redact_record", lambda record: record)
    client = Client()
    email = f"canary-{secrets.token_hex(4)}@example.com"

    with logs.capturing():
        register_and_verify(client, logs, email, django_capture_on_commit_callbacks)
        pair = log_in(client, logs, email, PASSWORDS[0])
        crash(client, monkeypatch, pair["access"])

    findings = find_secrets(logs.text(), logs.known)
    assert any(finding.startswith("jwt") for finding in findings)  # the crash's token, in its traceback
    assert any("token=" in line and "[REDACTED]" not in line for line in logs.lines)


# --- the other doors: runserver, gunicorn, Sentry -----------------------------------------------


def test_gunicorn_access_lines_mask_credentials_in_the_request_line_referer_and_headers(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from gunicorn.config import Config

    from config.gunicorn_logger import RedactingLogger

    reset = f"1-{secrets.token_hex(3)}-{secrets.token_hex(16)}"
    access = jwt.encode({"sub": "1"}, "k" * 32, algorithm="HS256")
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s "%(f)s" "%({authorization}i)s" %(q)s')
    log = RedactingLogger(cfg)
    environ = {
        "REMOTE_ADDR": "10.0.0.7",
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/reset-password?token={reset}&next=/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": f"token={reset}&next=/",
        "HTTP_REFERER": f"https://app.example.com/reset-password?token={reset}",
    }
    request = SimpleNamespace(headers=[("AUTHORIZATION", f"Bearer {access}")])
    response = SimpleNamespace(status="404 Not Found", sent=179, headers=[])

    try:
        log.access(response, request, environ, timedelta(milliseconds=3))
    finally:
        for logger in (log.error_log, log.access_log):  # their handlers write to this test's stdout
            logger.handlers.clear()

    line = capfd.readouterr().out
    assert line.startswith('10.0.0.7 "GET /reset-password?token=[REDACTED]&next=/ HTTP/1.1" 404')
    assert find_secrets(line, [reset, access]) == []


def test_sentry_events_and_breadcrumbs_carry_no_secret(settings: Any) -> None:
    """Sentry as settings start it (with PII on, the worst case), its transport replaced at the
    boundary: the events of a crash and of an error log, with their breadcrumbs, are scanned."""
    import sentry_sdk
    from sentry_sdk.transport import Transport

    from config.observability import init_sentry

    class Captured(Transport):
        def __init__(self) -> None:
            super().__init__()
            self.payloads: list[bytes] = []

        def capture_envelope(self, envelope: Any) -> None:
            self.payloads.extend(item.get_bytes() for item in envelope.items)

    settings.SECRET_KEY = SECRET_KEY
    from modules.identity import services
    from modules.identity.testing import make_user

    user = make_user(password=PASSWORDS[0])
    pair = services.issue_tokens(user)
    transport = Captured()
    init_sentry(
        dsn="https://public@sentry.invalid/1",
        environment="test",
        traces_sample_rate=0.0,
        user_info=True,
    )
    try:
        sentry_sdk.get_client().transport = transport
        logger = logging.getLogger("resee.test")
        logger.info("refreshing with %s", pair.refresh)  # a breadcrumb
        logger.warning("login payload %s", {"email": user.email, "password": PASSWORDS[0]})
        try:
            raise RuntimeError(f"upstream refused Authorization: Bearer {pair.access}")
        except RuntimeError:
            logger.exception("call failed for %s", f"/reset-password?token={pair.access}")
        Client().get(f"{ME}?token={pair.refresh}", headers={"Authorization": f"Token {pair.access}"})
        sentry_sdk.flush()
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # no DSN: a client that sends nothing, for the rest of the session

    sent = b"\n".join(transport.payloads).decode()
    assert "call failed for" in sent and "RuntimeError" in sent  # the event went out, redacted
    assert find_secrets(sent, [pair.access, pair.refresh, PASSWORDS[0], SECRET_KEY]) == []
