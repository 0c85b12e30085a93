"""Django admin registrations of the ai module: questions, daily usage, the request log (with cost per
day and per model for the filtered rows), and generation jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from modules.ai import services
from modules.ai.models import AIJob, AIQuestion, AIRequestLog, AIUsage, Outcome
from modules.common.admin import LargeTableAdmin, ReadOnlyAdmin, ViewOnlyAdmin, recent_values
from modules.common.errors import DomainError

# The action retries at most this many jobs per click (each reserves quota and queues a task).
RETRY_AT_ONCE = 100


@admin.register(AIQuestion)
class AIQuestionAdmin(LargeTableAdmin):
    list_display = (
        "id",
        "type",
        "short_question",
        "user",
        "content",
        "difficulty",
        "provider",
        "model",
        "tokens_used",
        "created_at",
    )
    list_filter = ("type", "difficulty", recent_values("provider"), recent_values("model"), "created_at")
    search_fields = ("question", "correct_answer", "user__email")
    raw_id_fields = ("user", "content", "job")
    list_select_related = ("user", "content")
    readonly_fields = ("provider", "model", "tokens_used", "generation_time_ms", "created_at")

    @admin.display(description="question")
    def short_question(self, obj: AIQuestion) -> str:
        return obj.question[:80]


@admin.register(AIUsage)
class AIUsageAdmin(admin.ModelAdmin):
    list_display = ("date", "user", "questions_generated", "tokens_used", "cost_usd", "updated_at")
    list_filter = ("date",)
    search_fields = ("user__email",)
    date_hierarchy = "date"
    raw_id_fields = ("user",)
    list_select_related = ("user",)
    readonly_fields = ("tokens_used", "cost_usd", "updated_at")


@admin.register(AIRequestLog)
class AIRequestLogAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """Read-only: the log is append-only. The change list shows totals, cost per model and cost per
    day for whatever the filters select, within the last ``SUMMARY_DAYS`` days unless a date filter
    says otherwise (the log grows with every AI call: the whole of it was aggregated on every page)."""

    SUMMARY_DAYS = 30

    change_list_template = "admin/ai/airequestlog/change_list.html"
    list_display = (
        "created_at",
        "task",
        "provider",
        "model",
        "outcome",
        "tokens_in",
        "tokens_out",
        "cost_usd",
        "latency_ms",
        "user",
    )
    list_filter = (
        ("created_at", admin.DateFieldListFilter),
        "outcome",
        "task",
        recent_values("provider"),
        recent_values("model"),
        recent_values("prompt_version"),
    )
    search_fields = ("user__email", "error", "model")
    list_select_related = ("user",)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if not context or "cl" not in context:
            return response  # a redirect (bad filter) or an error page
        rows = context["cl"].queryset.order_by()
        dated = any(key.startswith("created_at__") for key in request.GET)
        if not dated:
            rows = rows.filter(created_at__gte=timezone.now() - timedelta(days=self.SUMMARY_DAYS))
        context["summary_days"] = None if dated else self.SUMMARY_DAYS
        metrics = {
            "requests": Count("id"),
            "errors": Count("id", filter=Q(outcome=Outcome.ERROR)),
            "tokens_in": Sum("tokens_in"),
            "tokens_out": Sum("tokens_out"),
            "cost": Sum("cost_usd"),
        }
        context["summary_total"] = rows.aggregate(**metrics)
        context["summary_by_model"] = list(
            rows.values("provider", "model").annotate(**metrics).order_by("-cost", "provider", "model")
        )
        context["summary_by_day"] = list(
            rows.annotate(day=TruncDate("created_at")).values("day").annotate(**metrics).order_by("-day")[:31]
        )
        return response


@admin.register(AIJob)
class AIJobAdmin(ViewOnlyAdmin):
    """Jobs are the worker's: nothing here edits one (a status set by hand would leave a job "queued"
    with no task, its quota reserved). A failed job is retried by the action, through ``retry_job``:
    a new job of the same user over its contents left, with the quota reserved anew."""

    list_display = (
        "id",
        "user",
        "status",
        "content_count",
        "reserved",
        "retried_as",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "created_at")
    search_fields = ("user__email", "error")
    date_hierarchy = "created_at"
    raw_id_fields = ("user", "usage")
    list_select_related = ("user",)
    actions = ("retry_failed_jobs",)

    @admin.action(
        description="Retry the selected failed jobs (their contents left, as new jobs)",
        permissions=("retry",),
    )
    def retry_failed_jobs(self, request: HttpRequest, queryset: QuerySet[AIJob]) -> None:
        for job_id in queryset.order_by("pk").values_list("pk", flat=True)[:RETRY_AT_ONCE]:
            try:
                retry = services.retry_job(job_id=job_id)
            except DomainError as error:
                self.message_user(request, f"Job {job_id}: {error.detail}", messages.WARNING)
            else:
                self.message_user(request, f"Job {job_id}: retried as job {retry.id}.", messages.SUCCESS)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ai.change_aijob")

    @admin.display(description="contents")
    def content_count(self, obj: AIJob) -> int:
        return len(obj.content_ids or [])
