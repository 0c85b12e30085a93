"""Factories other modules' tests may use (the only other public door of ai besides services)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from modules.ai.models import AIJob, AIQuestion, AIRequestLog, AIUsage, Outcome
from modules.identity.services import User


def make_question(*, user: User, content_id: int, **fields: Any) -> AIQuestion:
    values: dict[str, Any] = {
        "type": "fill_blank",
        "question": "Fill in the blank: Plants store glucose as _____.",
        "options": [],
        "correct_answer": "starch",
        "explanation": "The text says: “Plants store glucose as starch.”",
        "difficulty": "intermediate",
        "provider": "local",
        "model": "resee-local-1",
        "tokens_used": 0,
        "generation_time_ms": 5,
    }
    values.update(fields)
    return AIQuestion.objects.create(user=user, content_id=content_id, **values)


def make_usage(
    *,
    user: User,
    day: date | None = None,
    questions: int = 0,
    tokens: int = 0,
    cost_usd: Decimal | float | str = 0,
) -> AIUsage:
    """The user's usage row for a day (default: today in UTC), created or overwritten."""
    row, _ = AIUsage.objects.update_or_create(
        user=user,
        date=day or timezone.now().date(),
        defaults={
            "questions_generated": questions,
            "tokens_used": tokens,
            "cost_usd": Decimal(str(cost_usd)),
        },
    )
    return row


def make_request_log(
    *,
    user: User | None = None,
    provider: str = "claude",
    model: str = "claude-sonnet-4-5",
    task: str = "generate_questions",
    tokens_in: int = 1000,
    tokens_out: int = 500,
    cost_usd: Decimal | float | str = "0.0105",
    outcome: str = Outcome.OK,
    error: str = "",
    created_at: datetime | None = None,
) -> AIRequestLog:
    return AIRequestLog.objects.create(
        user=user,
        provider=provider,
        model=model,
        task=task,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=Decimal(str(cost_usd)),
        latency_ms=800,
        outcome=outcome,
        error=error,
        created_at=created_at or timezone.now(),
    )


def make_job(*, user: User, content_ids: list[int], **fields: Any) -> AIJob:
    values: dict[str, Any] = {
        "params": {"question_types": ["fill_blank"], "difficulty_level": "intermediate", "count": 2},
        "content_ids": content_ids,
    }
    values.update(fields)
    return AIJob.objects.create(user=user, **values)
