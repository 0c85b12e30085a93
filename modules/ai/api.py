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
from modules.common.pagination import LimitOffsetPagination

router = Router(tags=["ai-review"])


@router.post("/generate/", response={201: GenerateOut}, summary="Generate practice questions on a content")
def generate(request: HttpRequest, payload: GenerateIn) -> Status:
    result = services.generate_questions(
        user=request.auth,
        content_id=payload.content_id,
        question_types=payload.question_types,
        difficulty=payload.difficulty_level,
        count=payload.count,
    )
    return Status(201, result)


@router.post("/evaluate/", response=EvaluateOut, summary="Grade an answer to a question")
def evaluate(request: HttpRequest, payload: EvaluateIn) -> Any:
    return services.evaluate_answer(user=request.auth, question_id=payload.question_id, answer=payload.answer)


@router.post("/analyze/", response=AnalyzeOut, summary="Difficulty, key concepts, summary, study time")
def analyze(request: HttpRequest, payload: AnalyzeIn) -> Any:
    return services.analyze_content(user=request.auth, content_id=payload.content_id)


@router.get("/questions/", response=list[QuestionOut], summary="Your generated questions")
@paginate(LimitOffsetPagination)
def questions(request: HttpRequest, filters: Query[QuestionFilters]) -> Any:
    return services.question_list(user=request.auth, content_id=filters.content_id)


@router.get("/usage/", response=UsageOut, summary="Today's AI usage and remaining quota")
def usage(request: HttpRequest) -> Any:
    return services.usage_today(user=request.auth)


@router.post("/jobs/", response={202: JobAcceptedOut}, summary="Queue a generation over several contents")
def create_job(request: HttpRequest, payload: JobIn) -> Status:
    job = services.create_job(
        user=request.auth,
        content_ids=payload.content_ids,
        question_types=payload.question_types,
        difficulty=payload.difficulty_level,
        count=payload.count,
    )
    return Status(202, job)


@router.get("/jobs/{job_id}/", response=JobOut, summary="A generation job and its questions")
def job_detail(request: HttpRequest, job_id: int) -> Any:
    return services.job_detail(user=request.auth, job_id=job_id)
