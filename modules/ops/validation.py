"""Checks shared by the admin form (model ``clean``) and the API (the service), so both refuse the
same rules: an unknown metric, a Slack URL outside the allow-list, a malformed recipient."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from modules.ops.alerting.slack import WebhookRejected, check_webhook_url
from modules.ops.catalog import BY_NAME

MAX_RECIPIENTS = 20


def webhook_error(url: str) -> str | None:
    if not url:
        return None
    try:
        check_webhook_url(
            url,
            allowed_hosts=settings.SLACK_WEBHOOK_ALLOWED_HOSTS,
            require_https=settings.SLACK_WEBHOOK_REQUIRE_HTTPS,
        )
    except WebhookRejected as exc:
        return str(exc)
    return None


def recipients_error(emails: Iterable[str] | None) -> str | None:
    if emails is None:
        return None
    if not isinstance(emails, list | tuple):
        return "notify_emails must be a list of email addresses."
    if len(emails) > MAX_RECIPIENTS:
        return f"At most {MAX_RECIPIENTS} recipients."
    for email in emails:
        try:
            validate_email(email)
        except ValidationError:
            return f"{email!r} is not a valid email address."
    return None


def rule_validation_errors(
    *, metric: str | None, slack_webhook_url: str | None, notify_emails: Iterable[str] | None
) -> dict[str, str]:
    """Field name -> message for every problem found (empty when the rule is acceptable)."""
    errors: dict[str, str] = {}
    if metric is not None and metric not in BY_NAME:
        errors["metric"] = f"Unknown metric {metric!r}."
    url_problem = webhook_error(slack_webhook_url or "")
    if url_problem:
        errors["slack_webhook_url"] = url_problem
    recipients_problem = recipients_error(notify_emails)
    if recipients_problem:
        errors["notify_emails"] = recipients_problem
    return errors
