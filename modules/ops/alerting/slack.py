"""Slack incoming-webhook notifier (no Django: settings come in as arguments).

A webhook URL an admin types is a server-side request forgery door, so a URL is accepted only when it
is https (tests may allow http) and its host is on the allow-list, and the POST never follows a
redirect (a 3xx answer is a failure). The check runs when a rule is saved and again right before
every send, so a list narrowed later still applies to rules saved earlier.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import httpx

from modules.ops.alerting.evaluator import condition_text

logger = logging.getLogger(__name__)

_SEVERITY_COLORS = {"critical": "#d00000", "warning": "#f2a900", "info": "#2f80ed"}


class WebhookRejected(ValueError):
    """The URL may not be called (scheme or host not allowed)."""


class NotificationFailed(RuntimeError):
    """The webhook did not accept the message; ``str(exc)`` says why (kept on the alert event)."""


def check_webhook_url(url: str, *, allowed_hosts: Iterable[str], require_https: bool = True) -> str:
    """The URL unchanged when it may be called, else WebhookRejected with the reason."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed or out-of-range port
    except ValueError as exc:
        raise WebhookRejected("The webhook URL is malformed.") from exc
    allowed_schemes = {"https"} if require_https else {"https", "http"}
    if parts.scheme not in allowed_schemes:
        raise WebhookRejected("The webhook URL must use https.")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise WebhookRejected("The webhook URL has no host.")
    if parts.username or parts.password:
        raise WebhookRejected("The webhook URL may not carry credentials.")
    allowed = {h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip()}
    if host not in allowed:
        raise WebhookRejected(f"The webhook host {host!r} is not in SLACK_WEBHOOK_ALLOWED_HOSTS.")
    return url


@dataclass(frozen=True)
class AlertMessage:
    kind: str  # "fired" or "resolved"
    rule_name: str
    metric: str
    severity: str
    operator: str
    threshold: float
    aggregation: str
    window_minutes: int
    value: float | None
    at: str  # ISO 8601
    link: str = ""


def slack_payload(message: AlertMessage) -> dict:
    """The JSON body of an incoming webhook: a one-line ``text`` (notifications, screen readers)
    plus an attachment coloured by severity with the details."""
    value = "n/a" if message.value is None else f"{message.value:g}"
    condition = condition_text(asdict(message))
    if message.kind == "resolved":
        text = f":white_check_mark: RESOLVED [{message.severity}] {message.rule_name}: {message.metric} = {value}"
        color = "#2eb886"
    else:
        text = (
            f":rotating_light: FIRING [{message.severity}] {message.rule_name}: "
            f"{message.metric} = {value} ({condition})"
        )
        color = _SEVERITY_COLORS.get(message.severity, "#999999")
    fields = [
        {"title": "Rule", "value": message.rule_name, "short": True},
        {"title": "Severity", "value": message.severity, "short": True},
        {"title": "Condition", "value": condition, "short": False},
        {"title": "Value", "value": value, "short": True},
        {"title": "At", "value": message.at, "short": True},
    ]
    attachment: dict = {"color": color, "fallback": text, "fields": fields}
    if message.link:
        attachment["title_link"] = message.link
        attachment["title"] = "Open alert history"
    return {"text": text, "attachments": [attachment]}


@dataclass(frozen=True)
class SlackNotifier:
    allowed_hosts: tuple[str, ...]
    require_https: bool = True
    timeout_seconds: float = 5.0
    read_timeout_seconds: float | None = None  # the wait for the answer; ``timeout_seconds`` if None

    def send(self, *, url: str, message: AlertMessage) -> None:
        """POST the message once. Raises NotificationFailed when the webhook is refused, unreachable
        or answers anything but 2xx; the caller records the failure and retries it durably (the
        sweep's ``next_attempt_at``), so no sleep holds the sweep here."""
        try:
            check_webhook_url(url, allowed_hosts=self.allowed_hosts, require_https=self.require_https)
        except WebhookRejected as exc:
            raise NotificationFailed(str(exc)) from exc
        read = self.read_timeout_seconds or self.timeout_seconds
        try:
            with httpx.Client(
                timeout=httpx.Timeout(self.timeout_seconds, read=read), follow_redirects=False
            ) as client:
                response = client.post(url, json=slack_payload(message))
        except httpx.ReadTimeout as exc:
            # The message was sent; only the answer is missing: Slack may well have posted it.
            error = f"ReadTimeout: no answer within {read:g} s (the message may have been posted)"
            logger.warning("slack webhook failed", extra={"error": error})
            raise NotificationFailed(error) from exc
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            logger.warning("slack webhook failed", extra={"error": error})
            raise NotificationFailed(error) from exc
        if 200 <= response.status_code < 300:
            return
        if response.is_redirect:
            # Never followed: a redirect could point anywhere, including inside the network.
            raise NotificationFailed(
                f"Webhook answered a redirect ({response.status_code}); redirects are not followed."
            )
        error = f"Webhook answered HTTP {response.status_code}: {response.text[:200]}"
        logger.warning("slack webhook failed", extra={"error": error})
        raise NotificationFailed(error)
