"""Read queries of the ai module (QuerySets stay inside the module; the facade returns DTOs)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Subquery, Sum

from modules.ai.models import AIJob, AIQuestion, AIRequestLog, AIUsage, Outcome

QUESTION_COLUMNS = (
    "id",
    "content_id",
    "job_id",
    "type",
    "question",
    "options",
    "correct_answer",
    "explanation",
    "difficulty",
    "provider",
    "model",
    "tokens_used",
    "generation_time_ms",
    "created_at",
)


def questions_of(*, user_id: int, content_id: int | None = None) -> QuerySet[AIQuestion]:
    """The user's questions, newest first (index ai_question_user_content / ai_question_user_created)."""
    rows = AIQuestion.objects.filter(user_id=user_id)
    if content_id is not None:
        rows = rows.filter(content_id=content_id)
    return rows.only(*QUESTION_COLUMNS).order_by("-created_at", "-id")


def question_of(*, user_id: int, question_id: int) -> AIQuestion | None:
    return AIQuestion.objects.filter(user_id=user_id, pk=question_id).first()


def fingerprints_source(*, user_id: int, content_id: int, limit: int = 200) -> list[tuple[str, str]]:
    """(question, correct_answer) of the latest questions on a content, to avoid asking them again."""
    rows = (
        AIQuestion.objects.filter(user_id=user_id, content_id=content_id)
        .order_by("-created_at", "-id")
        .values_list("question", "correct_answer")[:limit]
    )
    return list(rows)


USAGE_DAY_COLUMNS = ("window_start", "window_end", "questions_generated", "tokens_used", "cost_usd")


def usage_days_ending_after(*, user_id: int, moment: datetime) -> list[dict[str, Any]]:
    """The user's day rows whose window ends after ``moment`` (``USAGE_DAY_COLUMNS``), earliest first:
    the days overlapping a day that begins at ``moment``, and any later ones. A handful of rows; the
    unique constraint (user, window_end, window_start) serves it."""
    rows = (
        AIUsage.objects.filter(user_id=user_id, window_end__gt=moment)
        .order_by("window_start", "window_end")
        .values(*USAGE_DAY_COLUMNS)
    )
    return list(rows)


def questions_overlapping(*, usage_id: int) -> int:
    """The questions of the days (the row's own included) whose window overlaps the row's window, of
    the row's user."""
    row = AIUsage.objects.filter(pk=usage_id)
    total = AIUsage.objects.filter(
        user_id=Subquery(row.values("user_id")[:1]),
        window_end__gt=Subquery(row.values("window_start")[:1]),
        window_start__lt=Subquery(row.values("window_end")[:1]),
    ).aggregate(n=Sum("questions_generated"))["n"]
    return int(total or 0)


def job_of(*, user_id: int, job_id: int) -> AIJob | None:
    return AIJob.objects.filter(user_id=user_id, pk=job_id).first()


def questions_by_ids(*, user_id: int, ids: list[int]) -> QuerySet[AIQuestion]:
    """The user's questions of ``ids`` that still exist, in id order."""
    return AIQuestion.objects.filter(user_id=user_id, pk__in=ids).only(*QUESTION_COLUMNS).order_by("id")


def job_questions(*, job_id: int) -> QuerySet[AIQuestion]:
    return AIQuestion.objects.filter(job_id=job_id).only(*QUESTION_COLUMNS).order_by("id")


def log_totals(*, since: datetime) -> dict[str, Any]:
    return AIRequestLog.objects.filter(created_at__gte=since).aggregate(
        requests=Count("id"),
        errors=Count("id", filter=Q(outcome=Outcome.ERROR)),
        cost=Sum("cost_usd"),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
    )


def cost_since(*, since: datetime) -> Decimal:
    return AIRequestLog.objects.filter(created_at__gte=since).aggregate(cost=Sum("cost_usd"))[
        "cost"
    ] or Decimal(0)


def questions_since(*, since: datetime) -> int:
    return AIQuestion.objects.filter(created_at__gte=since).count()


def questions_by_user(*, since: datetime) -> dict[int, int]:
    """Questions generated (the quota's count) on the local days that end after ``since``: not the
    stored questions, which include imported ones and lose those of deleted contents."""
    rows = (
        AIUsage.objects.filter(window_end__gt=since, questions_generated__gt=0)
        .values("user_id")
        .annotate(n=Sum("questions_generated"))
        .order_by()
    )
    return {row["user_id"]: row["n"] for row in rows}


def cost_by_user(*, since: datetime) -> dict[int, Decimal]:
    rows = (
        AIRequestLog.objects.filter(created_at__gte=since, user_id__isnull=False)
        .values("user_id")
        .annotate(cost=Sum("cost_usd"))
        .order_by()
    )
    return {row["user_id"]: row["cost"] or Decimal(0) for row in rows}


def stale_job_ids(*, before: datetime) -> list[int]:
    return list(
        AIJob.objects.filter(status__in=["queued", "running"], updated_at__lt=before).values_list(
            "id", flat=True
        )
    )
