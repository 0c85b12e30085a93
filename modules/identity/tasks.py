"""Identity's Django-Q2 tasks: thin, idempotent. Queued tasks and schedules name them by dotted path
(``modules.identity.tasks.deliver_email``), so these names stay."""

from __future__ import annotations

from django.core.management import call_command

from modules.identity import services


def deliver_email(log_id: int) -> str:
    return services.deliver_email(log_id=log_id)


def requeue_stuck_emails() -> int:
    return services.requeue_stuck_emails()


def send_verification_email(email: str) -> bool:
    return services.send_verification_email(email=email)


def send_password_reset(email: str) -> bool:
    return services.send_password_reset(email=email)


def erase_closed_account(user_id: int) -> str:
    return services.erase_closed_account(user_id=user_id)


def erase_lost_closures() -> int:
    return services.erase_lost_closures()


def flush_expired_tokens() -> None:
    """Daily: prune expired outstanding refresh tokens (and their blacklist rows), ninja-jwt's command."""
    call_command("flushexpiredtokens")
