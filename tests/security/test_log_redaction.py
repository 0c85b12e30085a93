"""The redaction step of config/logging.py, rule by rule: each kind of secret is masked, and the
words around it, which make a log line useful, are kept."""

from __future__ import annotations

import io
import json
import logging
import secrets
from typing import Any

import jwt
import pytest
from django.core import signing

from config.logging import REDACTED, JsonFormatter, RedactingFilter, redact, redact_value
from tests.security.secrets import find_secrets

TOKEN = jwt.encode({"sub": "42", "token_type": "access"}, "k" * 32, algorithm="HS256")
# fixed, not random: it is part of the parameters' test ids, which every xdist worker must collect alike
RESET = "3f-c8x9k2-9e1b7c44d02f5a8836c1e0b94f27da61"


@pytest.mark.parametrize(
    ("line", "secret", "kept"),
    [
        (f"refused {TOKEN} at /api/x", TOKEN, "refused [REDACTED JWT] at /api/x"),
        (f"header was Bearer not~base64$ü{RESET}", f"not~base64$ü{RESET}", "header was Bearer [REDACTED]"),
        ("Authorization: Token abc123def456", "abc123def456", "Authorization: [REDACTED]"),
        (
            "Unexpected auth - 'JWT garbage-credential'",
            "garbage-credential",
            "Unexpected auth - '[REDACTED]'",
        ),
        (
            "{'HTTP_AUTHORIZATION': 'Token zzz-credential'}",
            "zzz-credential",
            "'HTTP_AUTHORIZATION': '[REDACTED]'",
        ),
        ("Basic c29tZW9uZTpodW50ZXIy sent", "c29tZW9uZTpodW50ZXIy", "Basic [REDACTED] sent"),
        (
            "GET /verify?token=MQ%3A1t%3Aabc&page=2 HTTP/1.1",
            "MQ%3A1t%3Aabc",
            "/verify?token=[REDACTED]&page=2 HTTP",
        ),
        ("token=abc-query-value&next=/", "abc-query-value", "token=[REDACTED]&next=/"),
        (
            "/cb?code=oauth-code-1234&api_key=k-abcdefgh",
            "oauth-code-1234",
            "/cb?code=[REDACTED]&api_key=[REDACTED]",
        ),
        ('body {"email": "a@b.co", "password": "hunter2-pass"}', "hunter2-pass", '"email": "a@b.co"'),
        ("In(token='raw-token-value', new_password='pw-value-123')", "pw-value-123", "token='[REDACTED]'"),
        ("postgres://resee:db-pa55word@db:5432/resee", "db-pa55word", "postgres://resee:[REDACTED]@db:5432"),
        (f"reset link {RESET} sent", RESET, "reset link [REDACTED RESET TOKEN] sent"),
        # the key alone, as the reset check holds it once the user id is split off
        (
            f"checked {RESET.split('-', 1)[1]} now",
            RESET.split("-", 1)[1],
            "checked [REDACTED RESET TOKEN] now",
        ),
        (
            "saved pbkdf2_sha256$870000$salt1234$hashhashhash=",
            "salt1234$hashhashhash",
            "[REDACTED PASSWORD HASH]",
        ),
        (
            "key sk-ant-api03-abcdefghijklmnop in use",
            "sk-ant-api03-abcdefghijklmnop",
            "key [REDACTED API KEY] in use",
        ),
        ("aws AKIAABCDEFGHIJKLMNOP ok", "AKIAABCDEFGHIJKLMNOP", "aws [REDACTED AWS KEY] ok"),
        (
            "to https://hooks.slack.com/services/T0/B0/XyZ123",
            "T0/B0/XyZ123",
            "hooks.slack.com/services/[REDACTED]",
        ),
    ],
)
def test_each_kind_of_secret_is_masked_and_its_context_kept(line: str, secret: str, kept: str) -> None:
    redacted = redact(line)

    assert secret not in redacted
    assert kept in redacted


def test_an_email_confirmation_key_is_masked_raw_and_url_encoded() -> None:
    key = signing.dumps(7, salt="account")  # what allauth's EmailConfirmationHMAC.key is made of

    redacted = redact(f"use {key}, or open /verify-email?token={key.replace(':', '%3A')}")

    assert key.split(":")[-1] not in redacted
    assert redacted.startswith("use [REDACTED SIGNED], or open /verify-email?token=[REDACTED]")


@pytest.mark.parametrize(
    "line",
    [
        "access token refused: Token is invalid or expired",
        "Authorization header ignored: its scheme is not Bearer",
        "Basic understanding of photosynthesis",
        "generated 6 questions, total_tokens=1600, token_version=3",
        "GET /api/content/?page=2&ordering=-created_at HTTP/1.1",
        "modules.identity.services.confirm_password_reset(token=payload.token)",
        "2026-01-01T12:30:45Z elapsed 00:00:01",
    ],
)
def test_lines_without_a_secret_are_left_alone(line: str) -> None:
    assert redact(line) == line


def test_the_configured_secrets_are_masked_wherever_they_appear(settings: Any) -> None:
    settings.SECRET_KEY = "s3cret/key+with=" + secrets.token_hex(8)
    settings.ANTHROPIC_API_KEY = "plain-" + secrets.token_hex(8)  # no shape to recognise it by
    settings.METRICS_BEARER_TOKEN = "short"  # under 8 characters: masking it would blank words

    from urllib.parse import quote

    line = f"{settings.SECRET_KEY} {quote(settings.SECRET_KEY, safe='')} {settings.ANTHROPIC_API_KEY} short"

    assert redact(line) == f"{REDACTED} {REDACTED} {REDACTED} short"


def test_values_named_like_secrets_are_replaced_whole_and_counts_kept() -> None:
    value = {
        "password": "anything",
        "headers": {"Authorization": "whatever", "Accept": "application/json"},
        "cookies": {"sessionid": "abc"},
        "total_tokens": 1600,
        "token_version": 3,
        "query_string": "token=abc-def-ghi&page=2",
        "items": [f"Bearer {TOKEN}", 7],
    }

    assert redact_value(value) == {
        "password": REDACTED,
        "headers": {"Authorization": REDACTED, "Accept": "application/json"},
        "cookies": REDACTED,
        "total_tokens": 1600,
        "token_version": 3,
        "query_string": "token=[REDACTED]&page=2",
        "items": ["Bearer [REDACTED]", 7],
    }


def _record(msg: str, *args: object, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("resee.test", logging.ERROR, __file__, 1, msg, args or None, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    record.__dict__.update(extra)
    return record


def _raised(message: str) -> BaseException:
    try:
        raise RuntimeError(message)
    except RuntimeError as exc:
        return exc


def test_the_json_formatter_redacts_message_arguments_extras_and_the_traceback() -> None:
    record = _record(
        "login for %s with %s",
        "ada@example.com",
        f"Bearer {TOKEN}",
        exc=_raised(f"upstream said: Authorization: Bearer {TOKEN}"),
        password="pw-123456789",
        reason="Token is invalid or expired",
        request_body={"refresh": TOKEN, "email": "ada@example.com"},
    )

    line = JsonFormatter().format(record)

    payload = json.loads(line)
    assert payload["message"] == "login for ada@example.com with Bearer [REDACTED]"
    assert payload["password"] == REDACTED
    assert payload["reason"] == "Token is invalid or expired"
    assert "'email': 'ada@example.com'" in payload["request_body"]
    assert "RuntimeError: upstream said: Authorization: [REDACTED]" in payload["exc_info"]
    assert find_secrets(line, [TOKEN, "pw-123456789"]) == []
    assert JsonFormatter().format(record) == line  # a record is redacted once, then formatted alike


def test_a_plain_handler_with_the_filter_prints_nothing_secret_either() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())

    handler.handle(_record("refresh %s", TOKEN, exc=_raised(f"bad token {TOKEN}")))

    output = stream.getvalue()
    assert output.startswith("ERROR refresh [REDACTED JWT]\nTraceback")
    assert TOKEN not in output


def test_arguments_that_do_not_fit_the_message_are_dropped_not_printed_raw() -> None:
    record = _record("two values: %s %s", TOKEN)

    payload = json.loads(JsonFormatter().format(record))

    assert payload["message"] == "two values: %s %s [arguments dropped: they did not fit the message]"
