"""The ai module's tables. Nobody outside the module imports them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from modules.ai.providers.base import QuestionType
from modules.common.enums import model_choices
from modules.common.idempotency import IdempotentRequest
from modules.common.time import local_day_bounds

QUESTION_TYPE_LABELS = {
    QuestionType.MULTIPLE_CHOICE: "Multiple choice",
    QuestionType.FILL_BLANK: "Fill in the blank",
    QuestionType.BLUR: "Blur",
}


class Difficulty(models.TextChoices):
    BEGINNER = "beginner", "Beginner"
    INTERMEDIATE = "intermediate", "Intermediate"
    ADVANCED = "advanced", "Advanced"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"


class AITask(models.TextChoices):
    GENERATE_QUESTIONS = "generate_questions", "Generate questions"
    EVALUATE_ANSWER = "evaluate_answer", "Evaluate answer"
    ANALYZE_CONTENT = "analyze_content", "Analyse content"


def _money() -> models.DecimalField:
    return models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))


class AIUsage(models.Model):
    """One row per user per local calendar day: the quota counter and what the day cost.

    ``questions_generated`` also holds questions reserved by requests still running; a failed
    request gives its reservation back.

    ``window_start``/``window_end`` are the UTC instants [start, end) of the local day the row counts,
    fixed when the row is created (the day in the user's timezone of that moment). A question counted on
    a day also counts on every other day of the user whose window overlaps it, so a change of timezone
    cannot start a fresh day early (see ``services/quota.py``). Rows are identified by their window:
    after a change of timezone the same calendar date may have two rows (one per window).
    """

    # no index of its own: the unique constraint (user, window_end, window_start) below leads with it
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ai_usage", db_index=False
    )
    date = models.DateField(help_text="The user's local calendar day.")
    window_start = models.DateTimeField(
        blank=True,
        help_text="When the local day began (UTC); left blank: from the date and the user's timezone.",
    )
    window_end = models.DateTimeField(blank=True, help_text="When the local day ends (UTC), exclusive.")
    questions_generated = models.PositiveIntegerField(default=0)
    tokens_used = models.PositiveBigIntegerField(default=0)
    cost_usd = _money()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "AI usage (per user and day)"
        verbose_name_plural = "AI usage (per user and day)"
        ordering = ["-date", "user_id"]
        constraints = [
            # (user, window_end, …) also serves the quota's lookup "the user's days ending after
            # today began": a handful of index entries, whatever the user's history.
            models.UniqueConstraint(
                fields=["user", "window_end", "window_start"], name="ai_usage_one_row_per_user_day"
            ),
            models.CheckConstraint(
                condition=models.Q(questions_generated__gte=0), name="ai_usage_questions_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(window_end__gt=models.F("window_start")), name="ai_usage_window_not_empty"
            ),
        ]
        indexes = [models.Index(fields=["date"], name="ai_usage_date")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.date}: {self.questions_generated} questions"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A row made without its window (factories, the admin) counts its date in the user's timezone.
        if self.window_start is None or self.window_end is None:
            self.window_start, self.window_end = local_day_bounds(self.date, self.user.timezone)
        super().save(*args, **kwargs)


class AIJob(models.Model):
    """A batch generation over several contents, run by the worker."""

    # no index of its own: the index (user, created_at) below leads with it (one less to write)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ai_jobs", db_index=False
    )
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    params = models.JSONField(default=dict, help_text="question_types, difficulty_level, count (per content)")
    content_ids = models.JSONField(default=list)
    completed_content_ids = models.JSONField(default=list)
    error = models.TextField(blank=True)
    # The quota the job still holds: reserved when it was accepted, consumed content by content,
    # released when it fails. ``usage`` is the day it was reserved on.
    usage = models.ForeignKey(AIUsage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reserved = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A failed job retried from the admin: the new job over its contents left (``retry_job``).
    retried_as = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retry_of"
    )

    class Meta:
        verbose_name = "AI job"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="ai_job_user_created"),
            models.Index(fields=["status", "updated_at"], name="ai_job_status_updated"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"


class AIQuestion(models.Model):
    # no index of its own: the two indexes below lead with it (one less to write)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ai_questions", db_index=False
    )
    content = models.ForeignKey("learning.Content", on_delete=models.CASCADE, related_name="ai_questions")
    job = models.ForeignKey(AIJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="questions")
    type = models.CharField(max_length=20, choices=model_choices(QuestionType, QUESTION_TYPE_LABELS))
    question = models.TextField()
    options = models.JSONField(default=list, blank=True)
    correct_answer = models.TextField()
    explanation = models.TextField(blank=True)
    difficulty = models.CharField(max_length=12, choices=Difficulty.choices)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    tokens_used = models.PositiveIntegerField(default=0)
    generation_time_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "AI question"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "content", "-created_at"], name="ai_question_user_content"),
            models.Index(fields=["user", "-created_at"], name="ai_question_user_created"),
            models.Index(fields=["created_at"], name="ai_question_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.question[:60]}"


class AIRequestLog(models.Model):
    """Every provider call, successful or not. Append-only: rows are written once, never changed."""

    # no index of its own: the index (user, created_at) below leads with it (one less to write)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    task = models.CharField(max_length=20, choices=AITask.choices)
    prompt_version = models.CharField(max_length=20, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = _money()
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "AI request log entry"
        verbose_name_plural = "AI request log"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at"], name="ai_log_created"),
            models.Index(fields=["user", "created_at"], name="ai_log_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.provider}/{self.model} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("The AI request log is append-only.")
        super().save(*args, **kwargs)


class AIRequestKey(IdempotentRequest):
    """An ``Idempotency-Key`` of a generation (``generate``: the question ids, tokens and remaining
    quota it answered) or of a job (``job.create``: its id); ``common.idempotency``."""

    class Meta(IdempotentRequest.Meta):
        verbose_name = "AI idempotency key"
