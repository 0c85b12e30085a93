"""The AI router, mounted at /api/ai-review/. Thin: parse, call a service, shape the answer.

No ``from __future__ import annotations`` here: Ninja resolves the annotations of paginated views
outside this module, where string annotations would not resolve.
"""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from modules.ai import services
from modules.ai.schemas import (
    AnalyzeIn,
    AnalyzeOut,
    EvaluateIn,
    EvaluateOut,
    GenerateIn,
    GenerateOut,
    JobAcceptedOut,
    JobIn,
    JobOut,
    QuestionFilters,
    QuestionOut,
    UsageOut,
)
from modules.common import headers
from modules.common.errors import (
    Conflict,
    EmailNotVerified,
    NotFound,
    QuotaExceeded,
    TierRequired,
    Unavailable,
    ValidationFailed,
    raises,
)
from modules.common.pagination import LimitOffsetPagination

router = Router(tags=["ai-review"])

# Who may use AI: a verified email (403 email_not_verified) on a tier with AI questions (403
# tier_required); the provider may be down (503 unavailable).
_AI_ACCESS = (EmailNotVerified, TierRequired, Unavailable)


@router.post("/generate/", response={201: GenerateOut}, summary="Generate practice questions on a content")
@raises(*_AI_ACCESS, Conflict, NotFound, QuotaExceeded, ValidationFailed)
def generate(
    request: HttpRequest,
    payload: GenerateIn,
    idempotency_key: str | None = headers.idempotency_key(
        "Any printable ASCII string, e.g. a UUID: a retry with the same key and body generates and "
        "charges nothing and answers the first request's questions."
    ),
) -> Status:
    """Generates `count` questions of the given types on one of your contents, now. BASIC and PRO only
    (FREE: 403 `tier_required`; unverified: 403 `email_not_verified`). A request that would pass your
    daily question quota answers 429 `quota_exceeded` with `Retry-After` (your local midnight) and
    generates nothing; a provider failure answers 503 `unavailable` and charges nothing. With an
    `Idempotency-Key`, a retry answers 201 with the first request's result and charges nothing; while
    the first is still running, or with a different body, it answers 409 `conflict`."""
    result = services.generate_questions(
        user=request.auth,
        content_id=payload.content_id,
        question_types=payload.question_types,
        difficulty=payload.difficulty_level,
        count=payload.count,
        idempotency_key=idempotency_key,
    )
    return Status(201, result)


@router.post("/evaluate/", response=EvaluateOut, summary="Grade an answer to a question")
@raises(*_AI_ACCESS, NotFound)
def evaluate(request: HttpRequest, payload: EvaluateIn) -> Any:
    """Grades your answer to one of your questions: correct or not, a score from 0 to 1 and feedback.
    Does not count against the question quota."""
    return services.evaluate_answer(user=request.auth, question_id=payload.question_id, answer=payload.answer)


@router.post("/analyze/", response=AnalyzeOut, summary="Difficulty, key concepts, summary, study time")
@raises(*_AI_ACCESS, NotFound)
def analyze(request: HttpRequest, payload: AnalyzeIn) -> Any:
    """The difficulty, key concepts, a summary and the estimated study time of one of your contents
    (cached per text)."""
    return services.analyze_content(user=request.auth, content_id=payload.content_id)


@router.get("/questions/", response=list[QuestionOut], summary="Your generated questions")
@paginate(LimitOffsetPagination)
def questions(request: HttpRequest, filters: Query[QuestionFilters]) -> Any:
    """The questions generated for you, newest first, optionally of one content; an offset list."""
    return services.question_list(user=request.auth, content_id=filters.content_id)


@router.get("/usage/", response=UsageOut, summary="Today's AI usage and remaining quota")
def usage(request: HttpRequest) -> Any:
    """Questions generated today (your local day), your tier's daily limit, what remains, tokens used
    and their cost."""
    return services.usage_today(user=request.auth)


@router.post("/jobs/", response={202: JobAcceptedOut}, summary="Queue a generation over several contents")
@raises(*_AI_ACCESS, Conflict, NotFound, QuotaExceeded, ValidationFailed)
def create_job(
    request: HttpRequest,
    payload: JobIn,
    idempotency_key: str | None = headers.idempotency_key(
        "Any printable ASCII string, e.g. a UUID: a retry with the same key and body queues nothing "
        "and answers the first request's job."
    ),
) -> Status:
    """Queues a generation of `count` questions on each content (up to 20, each yours: 404 otherwise).
    The quota for all of them is reserved now (429 `quota_exceeded` if it would pass) and given back
    for what the job does not generate. Poll `GET /api/v1/ai-review/jobs/{id}/`. With an
    `Idempotency-Key`, a retry answers 202 with the first request's job (its status now) and reserves
    nothing; the same key with a different body answers 409 `conflict`."""
    job = services.create_job(
        user=request.auth,
        content_ids=payload.content_ids,
        question_types=payload.question_types,
        difficulty=payload.difficulty_level,
        count=payload.count,
        idempotency_key=idempotency_key,
    )
    return Status(202, job)


@router.get("/jobs/{job_id}/", response=JobOut, summary="A generation job and its questions")
def job_detail(request: HttpRequest, job_id: int) -> Any:
    """A job's status (queued, running, done, failed), its questions so far and, if it failed, why."""
    return services.job_detail(user=request.auth, job_id=job_id)
