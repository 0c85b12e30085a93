"""Structured logging: one JSON object a line on stdout, easy for any log shipper, and never a secret.

Every record the JSON formatter writes is redacted first (``redact_record``): its message (arguments
included), its exception and stack text, and its extra fields. What is masked:

- the configured secrets themselves (``SECRET_KEY`` and its fallbacks, the JWT signing key,
  ``ANTHROPIC_API_KEY``, ``METRICS_BEARER_TOKEN``, ``EMAIL_HOST_PASSWORD``, ``SLACK_WEBHOOK_URL``,
  ``SENTRY_DSN``, database passwords, AWS secrets from the environment);
- credential shapes: JWTs, ``Bearer``/``Basic`` credentials, dumps of an ``Authorization`` header,
  ``token=``/``password=``/``api_key=``-like parameters of a query string, password-like fields of a
  JSON body or a dict's repr, passwords in URLs, django.core.signing values (email confirmation keys),
  password reset tokens, password hashes, Anthropic/AWS/Slack keys;
- extra fields whose name says secret (``password``, ``token``, ``api_key``, ``authorization``, ...).

The masks say what was there (``[REDACTED JWT]``, ``token=[REDACTED]``), so a line still tells that a
token was malformed, only not the token. ``RedactingFilter`` applies the same to records that go to
other handlers (gunicorn's, see ``config/gunicorn_logger.py``); ``config/observability.py`` applies
``redact_value`` to what Sentry sends.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote, quote_plus

from django.core.signals import setting_changed
from django.dispatch import receiver

REDACTED = "[REDACTED]"

# The id of the request being served (config.middleware.AccessLogMiddleware); "" outside requests.
request_id_var: ContextVar[str] = ContextVar("request_id", default="")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (``request_id``), so one request's lines can be
    found together."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = request_id_var.get()
            if request_id:
                record.request_id = request_id
        return True


_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

# A name that says its value is a credential, in a query string, a JSON body or a dict's repr.
_CREDENTIAL_NAME = (
    r"(?:[\w.-]*(?:token|password|passwd|passphrase|pwd|secret|api_?key|apikey|access_?key|private_?key"
    r"|signature|credential|authorization|cookie|session_?id|csrf)s?|access|refresh|key|code|sig|auth|dsn)"
)
# Extra fields named like this hold a credential when their value is text (``total_tokens=1600`` or
# ``token_version=3`` are counts, kept).
_CREDENTIAL_FIELD = re.compile(
    r"(?i)(token|password|passwd|passphrase|secret|api_?key|apikey|access_?key|private_?key|authorization"
    r"|cookie|session_?id|signature|credential|csrf|dsn)|^(access|refresh|auth|sig)$"
)

_Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


def _basic_credentials(match: re.Match[str]) -> str:
    # base64 of "user:password" has a digit, +, / or = or a capital inside; "Basic understanding" has not.
    encoded = match.group(2)
    return match.group(1) + REDACTED if re.search(r"[0-9+/=]|.[A-Z]", encoded) else match.group(0)


_RULES: list[_Rule] = [
    # A dump of the Authorization header: "Authorization: Token abc", 'HTTP_AUTHORIZATION': '...', and
    # Ninja's "Unexpected auth - '...'" (logged by its HttpBearer with DEBUG on).
    (
        re.compile(r"(?i)(\b(?:http_)?authorization\b[\"']?\s*[:=]\s*[\"']?|unexpected auth - ')([^\"'\n]+)"),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer)(\s+)(?!\[REDACTED)[^\s\"',;)\]]+"), rf"\1\2{REDACTED}"),
    (re.compile(r"\b(Basic\s+)([A-Za-z0-9+/]{8,}={0,2})(?![\w+/=])"), _basic_credentials),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}"), "[REDACTED JWT]"),
    (re.compile(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"), "[REDACTED TOKEN]"),
    # ?token=...&password=... (a query string, with or without its "?", a form body, a referer, a link).
    (re.compile(rf"(?i)((?:^|[?&;]){_CREDENTIAL_NAME}=)(?!\[REDACTED)[^&\s\"'<>#\\]+"), rf"\1{REDACTED}"),
    # "password": "...", 'refresh': '...' (a JSON body, a dict's repr) and password='...' (a repr).
    (
        re.compile(rf"(?i)([\"']{_CREDENTIAL_NAME}[\"']\s*:\s*)([\"'])(?:\\.|(?!\2).)*\2"),
        rf"\1\2{REDACTED}\2",
    ),
    (re.compile(rf"(?i)(\b{_CREDENTIAL_NAME}=)([\"'])(?:\\.|(?!\2).)*\2"), rf"\1\2{REDACTED}\2"),
    # scheme://user:password@host
    (
        re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@\"']+:)(?!\[REDACTED)[^@\s/\"']+(@)"),
        rf"\1{REDACTED}\2",
    ),
    # django.core.signing values (allauth's email confirmation keys): payload:timestamp:signature.
    (re.compile(r"[A-Za-z0-9_-]+(?::|%3A)[A-Za-z0-9]{4,}(?::|%3A)[A-Za-z0-9_-]{27,}"), "[REDACTED SIGNED]"),
    # A password reset token: <user id base36>-<timestamp base36>-<32 hex> (Django's, allauth's), or
    # its key alone, without the user id (what the token generator checks).
    (re.compile(r"\b(?:[0-9a-z]{1,13}-)?[0-9a-z]{4,8}-[0-9a-f]{32}\b"), "[REDACTED RESET TOKEN]"),
    (
        re.compile(
            r"\b[a-z0-9_]*(?:pbkdf2_sha256|pbkdf2_sha1|argon2|bcrypt|scrypt|md5|sha1)\$[^\s\"',)]{8,}"
        ),
        "[REDACTED PASSWORD HASH]",
    ),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{6,}|\bsk-[A-Za-z0-9]{20,}"), "[REDACTED API KEY]"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "[REDACTED AWS KEY]"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "[REDACTED SLACK TOKEN]"),
    (re.compile(r"(hooks\.slack\.com/services/)[A-Za-z0-9/]+"), rf"\1{REDACTED}"),
]

# Shorter configured values are not masked: a 4-letter password would blank every word it spells.
_MIN_SECRET_LENGTH = 8


@lru_cache(maxsize=1)
def _configured_secrets() -> re.Pattern[str] | None:
    """One pattern of every configured secret (and its URL-encoded forms); None when there is none.
    Cached until a setting changes (tests override settings; a process never does)."""
    from django.conf import settings

    values: list[object] = [
        getattr(settings, name, "")
        for name in (
            "SECRET_KEY",
            "ANTHROPIC_API_KEY",
            "METRICS_BEARER_TOKEN",
            "EMAIL_HOST_PASSWORD",
            "SLACK_WEBHOOK_URL",
            "SENTRY_DSN",
        )
    ]
    values.extend(getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    values.append(getattr(settings, "NINJA_JWT", {}).get("SIGNING_KEY"))
    values.extend(database.get("PASSWORD") for database in getattr(settings, "DATABASES", {}).values())
    values.extend(os.environ.get(name) for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"))
    forms = {
        form
        for value in values
        if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH
        for form in (value, quote(value, safe=""), quote_plus(value))
    }
    if not forms:
        return None
    return re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))


@receiver(setting_changed)
def _forget_configured_secrets(**kwargs: object) -> None:
    _configured_secrets.cache_clear()


def _known_secrets() -> re.Pattern[str] | None:
    from django.conf import settings

    if not settings.configured:  # a record logged while the settings module itself is loading
        return None
    return _configured_secrets()


def redact(text: str) -> str:
    """``text`` with every secret it holds masked (see the module's docstring)."""
    known = _known_secrets()
    if known is not None:
        text = known.sub(REDACTED, text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def is_secret_name(name: str) -> bool:
    """Whether a field or header named ``name`` holds a credential (when its value is text)."""
    return bool(_CREDENTIAL_FIELD.search(name))


def redact_value(value: object, *, name: str | None = None) -> object:
    """A copy of ``value`` (str, or dicts, lists and tuples of them) with secrets masked: strings are
    redacted, text or containers under a secret-like name are replaced whole."""
    if name is not None and is_secret_name(name) and isinstance(value, str | bytes | dict | list | tuple):
        return REDACTED if value else value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item, name=str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    return value


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place (once): message with its arguments, exception and stack text, extras.

    The message is formatted here and its arguments dropped, so every handler after this one prints
    the redacted text; ``exc_text`` is set, which standard formatters print instead of formatting
    ``exc_info`` again (``exc_info`` stays for Sentry, whose own hooks redact it).
    """
    if record.__dict__.get("_redacted"):
        return record
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the message: logging would print them raw
        message = f"{record.msg} [arguments dropped: they did not fit the message]"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    for key, value in list(vars(record).items()):
        if key not in _RESERVED and not key.startswith("_"):
            setattr(record, key, redact_value(value, name=key))
    record._redacted = True
    return record


class RedactingFilter(logging.Filter):
    """Redacts every record that passes (attach it to a handler that does not use ``JsonFormatter``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = (
                    value
                    if isinstance(value, str | int | float | bool | type(None))
                    else redact(repr(value))  # e.g. django.request's request: its repr shows the query
                )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc_info"] = record.exc_text
        if record.stack_info:
            payload["stack_info"] = record.stack_info
        return json.dumps(payload, default=str)
