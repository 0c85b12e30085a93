"""Calls to the AI provider: the provider in use, the request log every call writes, and a failed
call turned into the domain's Unavailable."""

from __future__ import annotations

import logging

from modules.ai.models import AIRequestLog, Outcome
from modules.ai.providers.base import AIProvider, CallStats, Material, ProviderError, Task
from modules.ai.providers.registry import get_provider
from modules.common.errors import Unavailable
from modules.identity.services import User
from modules.learning.services import ContentRef

logger = logging.getLogger(__name__)

# The budget of a call made while the user waits on the request (settings.AI_SYNC_TIMEOUT_SECONDS),
# named in its timeout's message (providers.base.call_deadline).
WAITING = "a request may wait"
WAITING_FOR_QUESTIONS = "a request may wait (a generation job has no such limit)"


def log_call(*, user: User | None, task: Task, stats: CallStats, error: str = "") -> None:
    AIRequestLog.objects.create(
        user=user,
        provider=stats.provider,
        model=stats.model[:100],
        task=task,
        prompt_version=stats.prompt_version,
        tokens_in=stats.tokens_in,
        tokens_out=stats.tokens_out,
        cost_usd=stats.cost_usd,
        latency_ms=stats.latency_ms,
        outcome=Outcome.ERROR if error else Outcome.OK,
        error=error[:2000],
    )


def failure_stats(provider: AIProvider, exc: BaseException) -> CallStats:
    stats = getattr(exc, "stats", None)
    return stats or CallStats(provider=provider.name, model=provider.model)


def unavailable(exc: ProviderError) -> Unavailable:
    return Unavailable(
        f"{exc.message} Nothing was charged to your quota; try again later.",
        retry_after_seconds=max(1, round(exc.retry_after)) if exc.retry_after else None,
    )


def available_provider() -> AIProvider:
    try:
        return get_provider()
    except ProviderError as exc:
        logger.error("AI provider misconfigured: %s", exc.message)
        raise unavailable(exc) from exc


def material_of(ref: ContentRef) -> Material:
    return Material(title=ref.title, body=ref.body)
