"""System checks of AI's timing (``manage.py check``; ``migrate`` in the release step runs them).

``ai.W001``: ``AI_SYNC_TIMEOUT_SECONDS`` (what a Claude call made while a user waits may take, retries
included) at or above ``GUNICORN_TIMEOUT``: the web server's arbiter kills the worker first, and the
client gets a bare 500 page instead of the contract's 503 (docs/ai.md, "Calls made while the user
waits").
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


def sync_call_timing(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    sync, web = float(settings.AI_SYNC_TIMEOUT_SECONDS), float(settings.GUNICORN_TIMEOUT)
    if sync < web:
        return []
    return [
        checks.Warning(
            f"AI_SYNC_TIMEOUT_SECONDS ({sync:g} s) is not below GUNICORN_TIMEOUT ({web:g} s): a slow "
            "Claude call in a web request gets its worker killed, and the client a bare 500 page.",
            hint="Leave AI_SYNC_TIMEOUT_SECONDS unset (80% of GUNICORN_TIMEOUT) or set it below.",
            id="ai.W001",
        )
    ]
