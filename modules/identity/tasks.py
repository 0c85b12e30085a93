"""Identity's Django-Q2 tasks: thin, idempotent."""

from __future__ import annotations

from django.core.management import call_command

from modules.identity import outbox, services


def deliver_email(log_id: int, *_legacy: object) -> str:
    # Earlier versions queued (log_id, template, context); the message now lives on the EmailLog.
    return outbox.deliver(log_id=log_id)


def requeue_stuck_emails() -> int:
    return outbox.requeue_stuck()


def send_verification_email(email: str) -> bool:
    return services.send_verification_email(email=email)


def send_password_reset(email: str) -> bool:
    return services.send_password_reset(email=email)


def flush_expired_tokens() -> None:
    """Daily: prune expired outstanding refresh tokens (and their blacklist rows), ninja-jwt's command."""
    call_command("flushexpiredtokens")
