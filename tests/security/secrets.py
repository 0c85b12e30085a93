"""Finds secrets in log text: the values a test knows, and anything shaped like a credential.

Written apart from the redaction in ``config/logging.py`` on purpose: a check that imported the
redactor's own patterns would share its blind spots. Reusable on any captured output, e.g. the logs of
real gunicorn and qcluster processes::

    problems = find_secrets(web_log.read_text(), known=[access_token, refresh_token, password])
    assert not problems, problems

A finding names the kind and where it is, with only the first characters of the secret, so that a
failing test does not print the secret whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

# What a masked value may look like: "[REDACTED]", "[REDACTED JWT]", "***", "<redacted>".
_MASK = r"(?:\[[A-Z ]*REDACTED[A-Z ]*\]|\*{3,}|<redacted>)"

SHAPES: dict[str, re.Pattern[str]] = {
    # A JWT (or a part of one): base64url JSON, which always starts with "eyJ" ('{"'), then segments.
    "jwt": re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){1,2}"),
    # Any three long base64url segments joined by dots (a token with a non-JSON header).
    "dotted token": re.compile(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"),
    "bearer credential": re.compile(rf"(?i)\bbearer\s+(?!{_MASK})[^\s\"'\\]{{6,}}"),
    # token=..., password=... in a query string, a form body or a referer.
    "credential parameter": re.compile(
        rf"(?i)[?&;]([a-z_]*token|password|passwd|secret|api_?key|signature)=(?!{_MASK})[^&\s\"'<>]{{4,}}"
    ),
    # "password": "...", 'refresh': '...' in a JSON body or the repr of a dict.
    "credential field": re.compile(
        rf"(?i)[\"'](password|new_password|current_password|access|refresh|token|api_?key|secret|"
        rf"authorization|http_authorization)[\"']\s*:\s*[\"'](?!{_MASK})[^\"']{{4,}}[\"']"
    ),
    # django.core.signing output (allauth's email confirmation keys): payload:timestamp:signature.
    "signed value": re.compile(r"[A-Za-z0-9_-]+:[A-Za-z0-9]{4,}:[A-Za-z0-9_-]{40,}"),
    # Django's password reset token, as allauth builds it: <uid base36>-<timestamp base36>-<32 hex>.
    "password reset token": re.compile(r"\b[0-9a-z]{1,13}-[0-9a-z]{4,8}-[0-9a-f]{32}\b"),
    "password hash": re.compile(
        r"\b(?:pbkdf2_sha256|pbkdf2_sha1|argon2|bcrypt_sha256|bcrypt|scrypt|md5|counting_md5)\$[^\s\"',)]{8,}"
    ),
    "anthropic key": re.compile(r"sk-ant-[A-Za-z0-9_-]{6,}"),
    "slack webhook": re.compile(r"hooks\.slack\.com/services/(?!{_MASK})[A-Za-z0-9/]{8,}"),
    "url credentials": re.compile(rf"\b[a-z][a-z0-9+.-]*://[^/\s:@\"']+:(?!{_MASK})[^@\s/\"']+@"),
}


def _variants(value: str) -> dict[str, str]:
    """The forms a value takes in a log line: raw, JSON-escaped (either ASCII setting), URL-encoded."""
    forms = {
        "raw": value,
        "json-escaped": json.dumps(value)[1:-1],
        "json-escaped (utf-8)": json.dumps(value, ensure_ascii=False)[1:-1],
        "repr-escaped": repr(value)[1:-1],
        "url-encoded": quote(value, safe=""),
        "form-encoded": quote_plus(value),
    }
    seen: dict[str, str] = {}
    for name, form in forms.items():
        if form not in seen.values():
            seen[name] = form
    return seen


def _excerpt(secret: str) -> str:
    return f"{secret[:6]}... ({len(secret)} chars)"


def find_secrets(text: str, known: Iterable[str] = ()) -> list[str]:
    """Every secret in ``text``: occurrences of the ``known`` values (in any of the forms a log line
    gives them) and of credential-shaped strings. Empty when the text is clean."""
    findings: list[str] = []
    for index, secret in enumerate(dict.fromkeys(value for value in known if value)):
        for form_name, form in _variants(secret).items():
            at = text.find(form)
            if at != -1:
                findings.append(f"known secret #{index} {_excerpt(secret)}, {form_name}, at offset {at}")
    for kind, shape in SHAPES.items():
        for match in shape.finditer(text):
            findings.append(f"{kind} at offset {match.start()}: {_excerpt(match.group(0))}")
    return findings
