"""The ai module's facade: question generation, answer evaluation, content analysis, daily quotas,
usage and cost, and generation jobs. Other modules and the module's router call only this.

Quota protocol (why a failure costs nothing and concurrent requests never pass the quota):
1. reserve: one conditional UPDATE adds the requested count to today's counter only if the result
   stays within the tier's limit, committed at once (PostgreSQL re-checks the condition on the
   latest row version, so parallel requests queue on the row and cannot both pass);
2. call the provider, outside any transaction (no row lock is held during a slow network call);
3. settle in one transaction: store the questions, give back what was reserved but not produced,
   add tokens and cost, log the call; or, if the provider failed, give the whole reservation back.
A process killed between 1 and 3 leaves its reservation counted for that day (the quota errs on the
side of the limit); jobs have a sweeper that releases theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from modules.ai import selectors
from modules.ai.models import AIJob, AIQuestion, AIRequestLog, AIUsage, JobStatus, Outcome
from modules.ai.providers.base import (
    AIProvider,
    Analysis,
    CallStats,
    Difficulty,
    Evaluation,
    GenerationRequest,
    GradingRequest,
    Material,
    NotEnoughMaterial,
    ProviderError,
    QuestionDraft,
    QuestionType,
    Task,
    fingerprint,
)
from modules.ai.providers.registry import get_provider
from modules.common.errors import NotFound, QuotaExceeded, TierRequired, Unavailable, ValidationFailed
from modules.common.time import end_of_local_day, local_date
from modules.identity.services import User, ensure_email_verified, tier_spec_for
from modules.learning.services import (
    ContentRef,
    contents_for_user,
    get_content,
    hold_content,
    sibling_contents,
)

logger = logging.getLogger(__name__)

__all__ = [
    "AIUsageTotals",
    "GenerationResult",
    "JobView",
    "QuestionRecord",
    "QuestionType",
    "UsageDTO",
    "analyze_content",
    "cost_since",
    "create_job",
    "evaluate_answer",
    "export_questions",
    "fail_stale_jobs",
    "generate_questions",
    "import_questions",
    "job_detail",
    "question_list",
    "questions_and_cost_by_user",
    "run_job",
    "usage_today",
    "usage_totals",
]

SIBLINGS_FOR_DISTRACTORS = 50
SIBLING_CHARS = 4000  # enough of each other text for its key terms
ANALYSIS_CACHE_SECONDS = 24 * 3600


# --- DTOs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageDTO:
    date: date
    questions_generated: int
    daily_limit: int
    remaining: int
    tokens_used: int
    cost_usd: float


@dataclass(frozen=True)
class AIUsageTotals:
    requests: int
    errors: int
    cost_usd: float
    tokens: int
    questions: int


@dataclass(frozen=True)
class GenerationResult:
    questions: list[AIQuestion]
    total_tokens: int
    remaining_daily_quota: int


@dataclass(frozen=True)
class JobView:
    id: int
    status: str
    questions: list[AIQuestion]
    error: str
    content_ids: list[int]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class QuestionRecord:
    """A stored question as an export carries it (and an import writes it back)."""

    content_id: int
    type: str
    question: str
    options: list[str]
    correct_answer: str
    explanation: str
    difficulty: str
    provider: str
    model: str
    tokens_used: int
    generation_time_ms: int
    created_at: datetime


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


# --- Access and quota --------------------------------------------------------------------------------


def _daily_limit(user: User) -> int:
    return tier_spec_for(user).ai_questions_daily


def _ensure_ai_allowed(user: User) -> int:
    """The user's daily question limit; EmailNotVerified for unverified users, TierRequired for tiers
    without AI."""
    ensure_email_verified(user)
    limit = _daily_limit(user)
    if limit <= 0:
        raise TierRequired("AI practice questions are part of the BASIC and PRO tiers.")
    return limit


def _today(user: User, now: datetime | None = None) -> date:
    return local_date(now or timezone.now(), user.timezone)


def _usage_id(*, user: User, day: date) -> int:
    row, _ = AIUsage.objects.get_or_create(user=user, date=day)
    return row.pk


def _reserve(*, user: User, limit: int, count: int, now: datetime | None = None) -> int:
    """Adds ``count`` to today's counter if it stays within ``limit``; returns the usage row id."""
    now = now or timezone.now()
    usage_id = _usage_id(user=user, day=_today(user, now))
    reserved = AIUsage.objects.filter(pk=usage_id, questions_generated__lte=limit - count).update(
        questions_generated=F("questions_generated") + count, updated_at=now
    )
    if not reserved:
        used = AIUsage.objects.values_list("questions_generated", flat=True).get(pk=usage_id)
        reset = end_of_local_day(now, user.timezone)
        raise QuotaExceeded(
            f"This would pass your daily AI question quota: {used} of {limit} used today, {count} requested. "
            f"The quota resets at midnight ({user.timezone}).",
            retry_after_seconds=max(1, int((reset - now).total_seconds())),
        )
    return usage_id


def _settle(*, usage_id: int, reserved: int, used: int, stats: CallStats | None) -> None:
    """Gives back the unused part of a reservation and adds the call's tokens and cost to the day."""
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    if reserved != used:
        changes["questions_generated"] = Greatest(F("questions_generated") - Value(reserved - used), Value(0))
    if stats is not None and (stats.tokens or stats.cost_usd):
        changes["tokens_used"] = F("tokens_used") + stats.tokens
        changes["cost_usd"] = F("cost_usd") + stats.cost_usd
    if len(changes) > 1:
        AIUsage.objects.filter(pk=usage_id).update(**changes)


def _add_usage(*, user: User, stats: CallStats) -> None:
    if stats.tokens or stats.cost_usd:
        _settle(usage_id=_usage_id(user=user, day=_today(user)), reserved=0, used=0, stats=stats)


def _remaining(*, usage_id: int, limit: int) -> int:
    used = AIUsage.objects.values_list("questions_generated", flat=True).get(pk=usage_id)
    return max(0, limit - used)


@contextmanager
def _released_on_failure(*, usage_id: int, amount: int) -> Iterator[None]:
    """Any exception before the reservation is settled gives it back (then propagates)."""
    try:
        yield
    except BaseException:
        _settle(usage_id=usage_id, reserved=amount, used=0, stats=None)
        raise


# --- Request log -------------------------------------------------------------------------------------


def _log(*, user: User | None, task: Task, stats: CallStats, error: str = "") -> None:
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


def _failure_stats(provider: AIProvider, exc: BaseException) -> CallStats:
    stats = getattr(exc, "stats", None)
    return stats or CallStats(provider=provider.name, model=provider.model)


def _unavailable(exc: ProviderError) -> Unavailable:
    return Unavailable(
        f"{exc.message} Nothing was charged to your quota; try again later.",
        retry_after_seconds=max(1, round(exc.retry_after)) if exc.retry_after else None,
    )


# --- Generation --------------------------------------------------------------------------------------


def _material(ref: ContentRef) -> Material:
    return Material(title=ref.title, body=ref.body)


def _request_for(
    *, user: User, ref: ContentRef, params: GenerationParams, provider: AIProvider
) -> GenerationRequest:
    related: tuple[Material, ...] = ()
    if getattr(provider, "uses_related_material", False):
        siblings = sibling_contents(user=user, exclude_content_id=ref.id, limit=SIBLINGS_FOR_DISTRACTORS)
        related = tuple(Material(title=s.title, body=s.body[:SIBLING_CHARS]) for s in siblings)
    seen = selectors.fingerprints_source(user_id=user.pk, content_id=ref.id)
    return GenerationRequest(
        material=_material(ref),
        question_types=params.question_types,
        difficulty=params.difficulty,
        count=params.count,
        related=related,
        avoid=frozenset(fingerprint(q, a) for q, a in seen),
    )


def _call_generate(
    *, user: User, provider: AIProvider, request: GenerationRequest
) -> tuple[list[QuestionDraft], CallStats]:
    """One provider call, logged; provider failures become ProviderError/NotEnoughMaterial."""
    try:
        result = provider.generate_questions(request)
    except (ProviderError, NotEnoughMaterial) as exc:
        _log(user=user, task="generate_questions", stats=_failure_stats(provider, exc), error=str(exc))
        raise
    return result.value, result.stats


def _store(
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


def generate_questions(
    *, user: User, content_id: int, question_types: list[str], difficulty: str, count: int
) -> GenerationResult:
    """Generates ``count`` questions on one content now. TierRequired (or EmailNotVerified) without AI,
    NotFound for others' content, QuotaExceeded when the quota would pass (nothing generated),
    Unavailable when the provider fails (nothing charged)."""
    limit = _ensure_ai_allowed(user)
    params = GenerationParams.of(question_types=question_types, difficulty=difficulty, count=count)
    ref = get_content(user=user, content_id=content_id)
    provider = _provider()
    request = _request_for(user=user, ref=ref, params=params, provider=provider)
    usage_id = _reserve(user=user, limit=limit, count=params.count)
    with _released_on_failure(usage_id=usage_id, amount=params.count):
        try:
            drafts, stats = _call_generate(user=user, provider=provider, request=request)
        except ProviderError as exc:
            raise _unavailable(exc) from exc
        except NotEnoughMaterial as exc:
            raise ValidationFailed(str(exc)) from exc
        with transaction.atomic():
            kept = hold_content(user=user, content_id=ref.id)
            questions = _store(user=user, content_id=ref.id, drafts=drafts, stats=stats) if kept else []
            _settle(usage_id=usage_id, reserved=params.count, used=len(questions), stats=stats)
            _log(user=user, task="generate_questions", stats=stats)
    if not kept:  # deleted while the provider worked: the call is logged and paid, nothing stored
        raise NotFound("Content not found.")
    return GenerationResult(
        questions=questions,
        total_tokens=stats.tokens,
        remaining_daily_quota=_remaining(usage_id=usage_id, limit=limit),
    )


def _provider() -> AIProvider:
    try:
        return get_provider()
    except ProviderError as exc:
        logger.error("AI provider misconfigured: %s", exc.message)
        raise _unavailable(exc) from exc


# --- Evaluation and analysis ---------------------------------------------------------------------


def evaluate_answer(*, user: User, question_id: int, answer: str) -> Evaluation:
    _ensure_ai_allowed(user)
    question = selectors.question_of(user_id=user.pk, question_id=question_id)
    if question is None:
        raise NotFound("Question not found.")
    provider = _provider()
    request = GradingRequest(
        type=question.type,  # type: ignore[arg-type]
        question=question.question,
        options=tuple(question.options or ()),
        correct_answer=question.correct_answer,
        explanation=question.explanation,
        answer=answer,
    )
    try:
        result = provider.evaluate_answer(request)
    except ProviderError as exc:
        _log(user=user, task="evaluate_answer", stats=_failure_stats(provider, exc), error=str(exc))
        raise _unavailable(exc) from exc
    with transaction.atomic():
        _log(user=user, task="evaluate_answer", stats=result.stats)
        _add_usage(user=user, stats=result.stats)
    return result.value


def analyze_content(*, user: User, content_id: int) -> Analysis:
    """Difficulty, key concepts, summary and study time of a content (cached per text and provider)."""
    _ensure_ai_allowed(user)
    ref = get_content(user=user, content_id=content_id)
    provider = _provider()
    key = _analysis_cache_key(provider, ref)
    cached = cache.get(key)
    if cached is not None:
        return Analysis(**cached)
    try:
        result = provider.analyze_content(_material(ref))
    except ProviderError as exc:
        _log(user=user, task="analyze_content", stats=_failure_stats(provider, exc), error=str(exc))
        raise _unavailable(exc) from exc
    with transaction.atomic():
        _log(user=user, task="analyze_content", stats=result.stats)
        _add_usage(user=user, stats=result.stats)
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


def _analysis_cache_key(provider: AIProvider, ref: ContentRef) -> str:
    import hashlib

    digest = hashlib.sha256(f"{ref.title}\n{ref.body}".encode()).hexdigest()[:32]
    return f"ai:analysis:{provider.name}:{provider.model}:{digest}"


# --- Reads -------------------------------------------------------------------------------------------


def question_list(*, user: User, content_id: int | None = None) -> Any:
    """The user's questions, newest first (a QuerySet for the router's pagination)."""
    return selectors.questions_of(user_id=user.pk, content_id=content_id)


def usage_today(*, user: User) -> UsageDTO:
    """Today's (user-local) AI usage and what is left of the daily quota."""
    day = _today(user)
    limit = _daily_limit(user)
    row = selectors.usage_row(user_id=user.pk, day=day) or {}
    generated = int(row.get("questions_generated", 0))
    return UsageDTO(
        date=day,
        questions_generated=generated,
        daily_limit=limit,
        remaining=max(0, limit - generated),
        tokens_used=int(row.get("tokens_used", 0)),
        cost_usd=float(row.get("cost_usd", 0) or 0),
    )


# --- Jobs --------------------------------------------------------------------------------------------


def create_job(
    *, user: User, content_ids: list[int], question_types: list[str], difficulty: str, count: int
) -> JobView:
    """Accepts a generation over several contents: reserves ``count`` per content now (QuotaExceeded
    if that would pass the quota) and queues the work. Any content that is not the user's: NotFound."""
    limit = _ensure_ai_allowed(user)
    params = GenerationParams.of(question_types=question_types, difficulty=difficulty, count=count)
    ids = list(dict.fromkeys(content_ids))
    if not ids:
        raise ValidationFailed("Give at least one content id.")
    if len(contents_for_user(user=user, ids=ids)) != len(ids):
        raise NotFound("Content not found.")
    total = params.count * len(ids)
    usage_id = _reserve(user=user, limit=limit, count=total)
    with _released_on_failure(usage_id=usage_id, amount=total):
        job = AIJob.objects.create(
            user=user, params=params.as_json(), content_ids=ids, usage_id=usage_id, reserved=total
        )
    transaction.on_commit(lambda: _enqueue_job(job.pk))
    return _job_view(job, questions=[])


def _enqueue_job(job_id: int) -> None:
    from django_q.tasks import async_task

    async_task("modules.ai.tasks.run_generation_job", job_id, task_name=f"ai-job-{job_id}")


def job_detail(*, user: User, job_id: int) -> JobView:
    job = selectors.job_of(user_id=user.pk, job_id=job_id)
    if job is None:
        raise NotFound("Job not found.")
    return _job_view(job, questions=list(selectors.job_questions(job_id=job.pk)))


def _job_view(job: AIJob, *, questions: list[AIQuestion]) -> JobView:
    return JobView(
        id=job.pk,
        status=job.status,
        questions=questions,
        error=job.error,
        content_ids=list(job.content_ids),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _claim(job_id: int) -> AIJob | None:
    """Marks a queued job running. A job that already ran is left alone (the queue may deliver a task
    twice); a running one is resumed where it stopped (the worker died and the task came back)."""
    with transaction.atomic():
        job = AIJob.objects.select_for_update().select_related("user").filter(pk=job_id).first()
        if job is None or job.status in {JobStatus.DONE, JobStatus.FAILED}:
            return None
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at", "updated_at"])
        return job


def run_job(*, job_id: int) -> str | None:
    """Generates the job's questions content by content; returns the final status."""
    job = _claim(job_id)
    if job is None:
        return None
    user = job.user
    params = GenerationParams.of(
        question_types=job.params["question_types"],
        difficulty=job.params["difficulty_level"],
        count=int(job.params["count"]),
    )
    pending = [cid for cid in job.content_ids if cid not in set(job.completed_content_ids)]
    refs = {ref.id: ref for ref in contents_for_user(user=user, ids=pending)}
    notes: list[str] = []
    try:
        provider = get_provider()
        for content_id in pending:
            ref = refs.get(content_id)
            if ref is None:  # deleted since the job was accepted
                _finish_content(
                    job_id=job.pk, content_id=content_id, questions=[], stats=None, reserved=params.count
                )
                notes.append(f"Content {content_id} no longer exists; skipped.")
                continue
            request = _request_for(user=user, ref=ref, params=params, provider=provider)
            try:
                drafts, stats = _call_generate(user=user, provider=provider, request=request)
            except NotEnoughMaterial as exc:
                _finish_content(
                    job_id=job.pk, content_id=content_id, questions=[], stats=None, reserved=params.count
                )
                notes.append(f"“{ref.title}”: {exc}")
                continue
            kept = _finish_content(
                job_id=job.pk,
                content_id=content_id,
                questions=drafts,
                stats=stats,
                reserved=params.count,
                user=user,
            )
            if not kept:
                notes.append(f"Content {content_id} was deleted during generation; skipped.")
    except ProviderError as exc:
        _fail_job(job_id=job.pk, error=f"Generation stopped: {exc.message} The unused quota was released.")
        return JobStatus.FAILED
    except Exception:
        logger.exception("AI job %s crashed", job.pk)
        _fail_job(job_id=job.pk, error="The job stopped on an internal error. The unused quota was released.")
        raise
    made = AIQuestion.objects.filter(job_id=job.pk).exists()
    with transaction.atomic():
        job = AIJob.objects.select_for_update().get(pk=job.pk)
        job.status = JobStatus.DONE if made or not notes else JobStatus.FAILED
        job.error = " ".join(notes)
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "finished_at", "updated_at"])
    return job.status


def _finish_content(
    *,
    job_id: int,
    content_id: int,
    questions: list[QuestionDraft],
    stats: CallStats | None,
    reserved: int,
    user: User | None = None,
) -> bool:
    """Stores one content's questions and settles its share of the job's reservation, atomically.
    False when the content was deleted while its questions were generated (nothing is stored)."""
    with transaction.atomic():
        job = AIJob.objects.select_for_update().get(pk=job_id)
        if content_id in job.completed_content_ids:
            return True
        kept = True
        if questions and stats is not None and user is not None:
            kept = hold_content(user=user, content_id=content_id)
            if kept:
                _store(user=user, content_id=content_id, drafts=questions, stats=stats, job=job)
            else:  # deleted while the provider worked: the call is logged and paid, nothing stored
                questions = []
            _log(user=user, task="generate_questions", stats=stats)
        if job.usage_id is not None:
            _settle(usage_id=job.usage_id, reserved=reserved, used=len(questions), stats=stats)
        job.completed_content_ids = [*job.completed_content_ids, content_id]
        job.reserved = max(0, job.reserved - reserved)
        job.save(update_fields=["completed_content_ids", "reserved", "updated_at"])
    return kept


def _fail_job(*, job_id: int, error: str) -> None:
    with transaction.atomic():
        job = AIJob.objects.select_for_update().get(pk=job_id)
        if job.status in {JobStatus.DONE, JobStatus.FAILED}:
            return
        if job.usage_id is not None and job.reserved:
            _settle(usage_id=job.usage_id, reserved=job.reserved, used=0, stats=None)
        job.status = JobStatus.FAILED
        job.error = error
        job.reserved = 0
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "reserved", "finished_at", "updated_at"])


def fail_stale_jobs(*, now: datetime | None = None) -> int:
    """Fails jobs stuck queued or running (their worker died past the queue's retries) and releases
    their quota. Scheduled every ten minutes."""
    now = now or timezone.now()
    before = now - timedelta(minutes=int(getattr(settings, "AI_JOB_STALE_MINUTES", 30)))
    stale = selectors.stale_job_ids(before=before)
    for job_id in stale:
        _fail_job(
            job_id=job_id,
            error="The job did not finish in time (the worker may have stopped). The unused quota was released.",
        )
    return len(stale)


# --- Metrics for ops and insights ---------------------------------------------------------------------


def usage_totals(*, since: datetime) -> AIUsageTotals:
    """Provider calls, failures, spend and tokens from the request log, questions stored, since ``since``."""
    totals = selectors.log_totals(since=since)
    return AIUsageTotals(
        requests=totals["requests"] or 0,
        errors=totals["errors"] or 0,
        cost_usd=float(totals["cost"] or 0),
        tokens=int((totals["tokens_in"] or 0) + (totals["tokens_out"] or 0)),
        questions=selectors.questions_since(since=since),
    )


def cost_since(*, since: datetime) -> float:
    """What the AI provider calls cost (US dollars) since ``since``, failed calls included."""
    return float(selectors.cost_since(since=since))


def questions_and_cost_by_user(*, since: datetime) -> dict[int, tuple[int, float]]:
    """{user_id: (questions generated, provider cost in USD)} since ``since``."""
    questions = selectors.questions_by_user(since=since)
    costs = selectors.cost_by_user(since=since)
    return {
        user_id: (questions.get(user_id, 0), float(costs.get(user_id, Decimal(0))))
        for user_id in questions.keys() | costs.keys()
    }


# --- Export and import (portability) -----------------------------------------------------------------

_RECORD_COLUMNS = tuple(name for name in selectors.QUESTION_COLUMNS if name not in {"id", "job_id"})


def export_questions(*, user: User) -> Iterator[QuestionRecord]:
    """The user's questions, oldest first."""
    rows = selectors.questions_of(user_id=user.pk).order_by("created_at", "id").values_list(*_RECORD_COLUMNS)
    for row in rows.iterator(chunk_size=2000):
        yield QuestionRecord(**dict(zip(_RECORD_COLUMNS, row, strict=True)))


@transaction.atomic
def import_questions(*, user: User, questions: Sequence[QuestionRecord]) -> tuple[int, int]:
    """Stores questions of the user's contents; returns (created, skipped). A question already stored on
    its content (same type, text and answer) or on a content that is not the user's is skipped."""
    owned = {ref.id for ref in contents_for_user(user=user, ids=list({q.content_id for q in questions}))}
    existing = set(
        AIQuestion.objects.filter(user=user, content_id__in=owned).values_list(
            "content_id", "type", "question", "correct_answer"
        )
    )
    new = []
    for record in questions:
        key = (record.content_id, record.type, record.question, record.correct_answer)
        if record.content_id not in owned or key in existing:
            continue
        existing.add(key)
        new.append(AIQuestion(user=user, **{name: getattr(record, name) for name in _RECORD_COLUMNS}))
    AIQuestion.objects.bulk_create(new, batch_size=2000)
    return len(new), len(questions) - len(new)
