"""Identity's Django-Q2 tasks: thin, idempotent."""

from __future__ import annotations

from typing import Any

from modules.identity import outbox


def deliver_email(log_id: int, template: str, context: dict[str, Any]) -> str:
    return outbox.deliver(log_id=log_id, template=template, context=context)
