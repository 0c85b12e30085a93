"""Question generation on one content, now, under the quota protocol (see ``quota``); the user's
questions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from modules.ai import selectors
from modules.ai.models import AIJob, AIQuestion, AIRequestKey
from modules.ai.providers.base import (
    AIProvider,
    CallStats,
    Difficulty,
    GenerationRequest,
    Material,
    NotEnoughMaterial,
    ProviderError,
    QuestionDraft,
    QuestionType,
    call_deadline,
    fingerprint,
)
from modules.ai.services.calls import (
    WAITING_FOR_QUESTIONS,
    available_provider,
    failure_stats,
    log_call,
    material_of,
    unavailable,
)
from modules.ai.services.quota import ensure_ai_allowed, released_on_failure, remaining_quota, reserve, settle
from modules.common import idempotency
from modules.common.errors import NotFound, ValidationFailed
from modules.identity.services import User
from modules.learning.services import ContentRef, get_content, hold_content, sibling_contents

SIBLINGS_FOR_DISTRACTORS = 50
SIBLING_CHARS = 4000  # enough of each other text for its key terms


@dataclass(frozen=True)
class GenerationResult:
    questions: list[AIQuestion]
    total_tokens: int
    remaining_daily_quota: int


@dataclass(frozen=True)
class GenerationParams:
    question_types: tuple[QuestionType, ...]
    difficulty: Difficulty
    count: int

    @classmethod
    def of(
        cls, *, question_types: list[str] | tuple[str, ...], difficulty: str, count: int
    ) -> GenerationParams:
        types = tuple(dict.fromkeys(question_types))  # unique, in the order asked
        if not types:
            raise ValidationFailed("Ask for at least one question type.")
        return cls(question_types=types, difficulty=difficulty, count=count)  # type: ignore[arg-type]

    def as_json(self) -> dict[str, Any]:
        return {
            "question_types": list(self.question_types),
            "difficulty_level": self.difficulty,
            "count": self.count,
        }


def request_for(
    *, user: User, ref: ContentRef, params: GenerationParams, provider: AIProvider
) -> GenerationRequest:
    related: tuple[Material, ...] = ()
    if getattr(provider, "uses_related_material", False):
        siblings = sibling_contents(user=user, exclude_content_id=ref.id, limit=SIBLINGS_FOR_DISTRACTORS)
        related = tuple(Material(title=s.title, body=s.body[:SIBLING_CHARS]) for s in siblings)
    seen = selectors.fingerprints_source(user_id=user.pk, content_id=ref.id)
    return GenerationRequest(
        material=material_of(ref),
        question_types=params.question_types,
        difficulty=params.difficulty,
        count=params.count,
        related=related,
        avoid=frozenset(fingerprint(q, a) for q, a in seen),
    )


def call_generate(
    *, user: User, provider: AIProvider, request: GenerationRequest
) -> tuple[list[QuestionDraft], CallStats]:
    """One provider call, logged; provider failures become ProviderError/NotEnoughMaterial."""
    try:
        result = provider.generate_questions(request)
    except (ProviderError, NotEnoughMaterial) as exc:
        log_call(user=user, task="generate_questions", stats=failure_stats(provider, exc), error=str(exc))
        raise
    return result.value, result.stats


def store_questions(
    *, user: User, content_id: int, drafts: list[QuestionDraft], stats: CallStats, job: AIJob | None = None
) -> list[AIQuestion]:
    # Tokens are shared out so that the questions' tokens add up to the call's; each question
    # carries the time of the call that produced it.
    share, extra = divmod(stats.tokens, len(drafts)) if drafts else (0, 0)
    now = timezone.now()
    rows = [
        AIQuestion(
            user=user,
            content_id=content_id,
            job=job,
            type=d.type,
            question=d.question,
            options=list(d.options),
            correct_answer=d.correct_answer,
            explanation=d.explanation,
            difficulty=d.difficulty,
            provider=stats.provider,
            model=stats.model[:100],
            tokens_used=share + (1 if i < extra else 0),
            generation_time_ms=stats.latency_ms,
            created_at=now,
        )
        for i, d in enumerate(drafts)
    ]
    return AIQuestion.objects.bulk_create(rows)


# A generation with an Idempotency-Key still in progress after this long was abandoned (its process
# died): a retry takes the key over. Longer than any request may run (gunicorn's timeout).
ABANDONED_AFTER = timedelta(minutes=2)


def generate_questions(
    *,
    user: User,
    content_id: int,
    question_types: list[str],
    difficulty: str,
    count: int,
    idempotency_key: str | None = None,
) -> GenerationResult:
    """Generates ``count`` questions on one content now. TierRequired (or EmailNotVerified) without AI,
    NotFound for others' content, QuotaExceeded when the quota would pass (nothing generated),
    Unavailable when the provider fails (nothing charged).

    With an ``idempotency_key`` the questions are generated and charged once: the same key and
    request later answer the first result (its questions that still exist); Conflict while the first
    is still running or when the key was used for another request. A failed request frees its key."""
    limit = ensure_ai_allowed(user)
    params = GenerationParams.of(question_types=question_types, difficulty=difficulty, count=count)
    claim = None
    if idempotency_key:
        claimed = idempotency.claim(
            model=AIRequestKey,
            user_id=user.pk,
            operation="generate",
            key=idempotency_key,
            request={"content_id": content_id, **params.as_json()},
            stale_after=ABANDONED_AFTER,
        )
        if claimed.response is not None:
            return _replayed(user=user, stored=claimed.response)
        claim = claimed.claim
    try:
        return _generate(user=user, limit=limit, params=params, content_id=content_id, claim=claim)
    except BaseException:
        if claim is not None:
            claim.release()
        raise


def _generate(
    *, user: User, limit: int, params: GenerationParams, content_id: int, claim: idempotency.Claim | None
) -> GenerationResult:
    ref = get_content(user=user, content_id=content_id)
    provider = available_provider()
    request = request_for(user=user, ref=ref, params=params, provider=provider)
    usage_id = reserve(user=user, limit=limit, count=params.count)
    with released_on_failure(usage_id=usage_id, amount=params.count):
        try:
            with call_deadline(settings.AI_SYNC_TIMEOUT_SECONDS, WAITING_FOR_QUESTIONS):
                drafts, stats = call_generate(user=user, provider=provider, request=request)
        except ProviderError as exc:
            raise unavailable(exc) from exc
        except NotEnoughMaterial as exc:
            raise ValidationFailed(str(exc)) from exc
        with transaction.atomic():
            kept = hold_content(user=user, content_id=ref.id)
            questions = (
                store_questions(user=user, content_id=ref.id, drafts=drafts, stats=stats) if kept else []
            )
            settle(usage_id=usage_id, reserved=params.count, used=len(questions), stats=stats)
            log_call(user=user, task="generate_questions", stats=stats)
            result = GenerationResult(
                questions=questions,
                total_tokens=stats.tokens,
                remaining_daily_quota=remaining_quota(usage_id=usage_id, limit=limit),
            )
            if claim is not None and kept:
                claim.complete(
                    {
                        "question_ids": [question.pk for question in questions],
                        "total_tokens": result.total_tokens,
                        "remaining_daily_quota": result.remaining_daily_quota,
                    }
                )
    if not kept:  # deleted while the provider worked: the call is logged and paid, nothing stored
        raise NotFound("Content not found.")
    return result


def _replayed(*, user: User, stored: dict[str, Any]) -> GenerationResult:
    """The first answer to a repeated Idempotency-Key: its questions that still exist."""
    return GenerationResult(
        questions=list(selectors.questions_by_ids(user_id=user.pk, ids=stored["question_ids"])),
        total_tokens=stored["total_tokens"],
        remaining_daily_quota=stored["remaining_daily_quota"],
    )


def question_list(*, user: User, content_id: int | None = None) -> QuerySet[AIQuestion]:
    """The user's questions, newest first (a QuerySet for the router's pagination)."""
    return selectors.questions_of(user_id=user.pk, content_id=content_id)
