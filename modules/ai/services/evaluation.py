"""Grading a learner's answer to a question, and analysing a content (difficulty, key concepts,
summary, study time)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from modules.ai import selectors
from modules.ai.providers.base import (
    AIProvider,
    Analysis,
    Evaluation,
    GradingRequest,
    ProviderError,
    call_deadline,
)
from modules.ai.services.calls import (
    WAITING,
    available_provider,
    failure_stats,
    log_call,
    material_of,
    unavailable,
)
from modules.ai.services.quota import add_usage, ensure_ai_allowed
from modules.common.errors import NotFound
from modules.identity.services import User
from modules.learning.services import ContentRef, get_content

ANALYSIS_CACHE_SECONDS = 24 * 3600


def evaluate_answer(*, user: User, question_id: int, answer: str) -> Evaluation:
    ensure_ai_allowed(user)
    question = selectors.question_of(user_id=user.pk, question_id=question_id)
    if question is None:
        raise NotFound("Question not found.")
    provider = available_provider()
    request = GradingRequest(
        type=question.type,  # type: ignore[arg-type]
        question=question.question,
        options=tuple(question.options or ()),
        correct_answer=question.correct_answer,
        explanation=question.explanation,
        answer=answer,
    )
    try:
        with call_deadline(settings.AI_SYNC_TIMEOUT_SECONDS, WAITING):
            result = provider.evaluate_answer(request)
    except ProviderError as exc:
        log_call(user=user, task="evaluate_answer", stats=failure_stats(provider, exc), error=str(exc))
        raise unavailable(exc) from exc
    with transaction.atomic():
        log_call(user=user, task="evaluate_answer", stats=result.stats)
        add_usage(user=user, stats=result.stats)
    return result.value


def analyze_content(*, user: User, content_id: int) -> Analysis:
    """Difficulty, key concepts, summary and study time of a content (cached per user, text and provider)."""
    ensure_ai_allowed(user)
    ref = get_content(user=user, content_id=content_id)
    provider = available_provider()
    key = _analysis_cache_key(provider, ref, user_id=user.pk)
    cached = cache.get(key)
    if cached is not None:
        return Analysis(**cached)
    try:
        with call_deadline(settings.AI_SYNC_TIMEOUT_SECONDS, WAITING):
            result = provider.analyze_content(material_of(ref))
    except ProviderError as exc:
        log_call(user=user, task="analyze_content", stats=failure_stats(provider, exc), error=str(exc))
        raise unavailable(exc) from exc
    with transaction.atomic():
        log_call(user=user, task="analyze_content", stats=result.stats)
        add_usage(user=user, stats=result.stats)
    analysis = result.value
    cache.set(
        key,
        {
            "difficulty": analysis.difficulty,
            "key_concepts": list(analysis.key_concepts),
            "summary": analysis.summary,
            "estimated_study_minutes": analysis.estimated_study_minutes,
        },
        ANALYSIS_CACHE_SECONDS,
    )
    return analysis


def _analysis_cache_key(provider: AIProvider, ref: ContentRef, *, user_id: int) -> str:
    """Per user: shared across users, how fast an analysis answers (and whether it was charged) would
    tell anyone that someone else had analysed the same text."""
    import hashlib

    digest = hashlib.sha256(f"{ref.title}\n{ref.body}".encode()).hexdigest()[:32]
    return f"ai:analysis:{user_id}:{provider.name}:{provider.model}:{digest}"
