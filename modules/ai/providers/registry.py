"""Choosing the provider from settings: ``AI_PROVIDER`` is ``local`` (default without a key) or
``claude``. ``AI_HTTP_CLIENT_FACTORY`` (a dotted path or a callable returning an ``httpx2.Client``)
lets a deployment route Claude through a proxy, and lets tests plug in a mock transport at the HTTP
boundary without touching our code."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.module_loading import import_string

from modules.ai.providers.base import AIProvider, ProviderError
from modules.ai.providers.local.provider import LocalProvider

if TYPE_CHECKING:  # the SDK is imported on first use, so a web process without Claude never loads it
    from modules.ai.providers.claude.provider import ClaudeProvider, ClaudeSettings

PROVIDERS = ("local", "claude")


def get_provider() -> AIProvider:
    name = str(getattr(settings, "AI_PROVIDER", "local")).lower()
    if name == "local":
        return _local()
    if name == "claude":
        from modules.ai.providers.claude.provider import ClaudeSettings

        return _claude(
            ClaudeSettings(
                api_key=settings.ANTHROPIC_API_KEY,
                model=settings.ANTHROPIC_MODEL,
                timeout=float(settings.AI_REQUEST_TIMEOUT),
                max_retries=int(settings.AI_MAX_RETRIES),
            ),
            getattr(settings, "AI_HTTP_CLIENT_FACTORY", None) or None,
        )
    raise ProviderError(f"Unknown AI_PROVIDER {name!r}; use one of {', '.join(PROVIDERS)}.", kind="config")


def preload() -> None:
    """Imports the configured provider's code and SDK (anthropic's: 2.2 s here) without creating a
    client or opening a connection: a serving process runs it at start (modules/common/warmup.py)."""
    if str(getattr(settings, "AI_PROVIDER", "local")).lower() == "claude":
        import modules.ai.providers.claude.provider  # noqa: F401


@lru_cache(maxsize=1)
def _local() -> LocalProvider:
    return LocalProvider()


@lru_cache(maxsize=4)
def _claude(config: ClaudeSettings, factory: str | Callable[[], Any] | None) -> ClaudeProvider:
    # One SDK client per configuration: it keeps its connection pool between requests.
    from modules.ai.providers.claude.provider import ClaudeProvider

    make_client = import_string(factory) if isinstance(factory, str) else factory
    return ClaudeProvider(config, http_client=make_client() if make_client else None)
