"""Django admin registrations of the learning module: categories, content (with its schedule) and the
review history (read-only: history is append-only everywhere; it goes only with its content or user).

Deleting a content or a category here (one, or the bulk action) is the API's deletion
(``services.delete_content`` / ``delete_category``): the learner's tallies follow, and a content's
review history goes with it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from modules.common.admin import DeletesOwnedHistory, LargeTableAdmin, ReadOnlyAdmin
from modules.common.errors import NotFound
from modules.learning import services
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule


class ForgetsCachedReads(admin.ModelAdmin):
    """Admin edits bypass the services' writes, so they drop the owner's cached reads themselves.
    Deletions go through the service's deletion (``delete_through_service``), one by one in the bulk
    action; the cached reads are dropped again once the admin's transaction commits."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.forget_cached_reads(user_id=form.instance.user_id)

    delete_through_service: Callable[[Any], None]  # each subclass deletes through its service

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with contextlib.suppress(NotFound):  # deleted meanwhile: what was asked is done
            self.delete_through_service(obj)
        user_id = obj.user_id
        transaction.on_commit(lambda: services.forget_cached_reads(user_id=user_id))

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset.select_related("user"):
            self.delete_model(request, obj)


@admin.register(Category)
class CategoryAdmin(ForgetsCachedReads):
    list_display = ("name", "user", "slug", "created_at")
    search_fields = ("name", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("slug", "created_at")

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        obj.slug = services.category_slug(obj.name)
        super().save_model(request, obj, form, change)

    def delete_through_service(self, obj: Category) -> None:
        services.delete_category(user=obj.user, category_id=obj.pk)


class ReviewScheduleInline(admin.StackedInline):
    model = ReviewSchedule
    can_delete = False
    extra = 0
    max_num = 1
    fields = (
        "stage",
        "next_review_date",
        "last_reviewed_at",
        "review_count",
        "interval_days",
        "scheduler",
        "stability",
        "difficulty",
        "fsrs_state",
        "fsrs_step",
        "memory_stability",
        "memory_difficulty",
        "memory_day",
    )
    readonly_fields = (
        "last_reviewed_at",
        "review_count",
        "interval_days",
        "scheduler",
        "stability",
        "difficulty",
        "fsrs_state",
        "fsrs_step",
        # the kept FSRS-6 memory (services/card_memory.py): derived from the history, never edited
        "memory_stability",
        "memory_difficulty",
        "memory_day",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the first review is scheduled when the content is saved


@admin.register(Content)
class ContentAdmin(LargeTableAdmin, DeletesOwnedHistory, ForgetsCachedReads):
    list_display = ("title", "user", "category", "next_review", "created_at")
    list_filter = ("created_at",)
    search_fields = ("title", "user__email")
    list_select_related = ("user", "category", "schedule")
    raw_id_fields = ("user", "category")
    readonly_fields = ("created_at", "updated_at")
    inlines = (ReviewScheduleInline,)

    @admin.display(description="next review", ordering="schedule__next_review_date")
    def next_review(self, obj: Content) -> Any:
        schedule = getattr(obj, "schedule", None)
        return schedule.next_review_date if schedule else None

    def save_model(self, request: HttpRequest, obj: Content, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            services.ensure_schedule(content_id=obj.pk)

    def delete_through_service(self, obj: Content) -> None:
        services.delete_content(user=obj.user, content_id=obj.pk)


@admin.register(ReviewHistory)
class ReviewHistoryAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """Every review of every learner: counts capped (``LargeTableAdmin``), no date hierarchy (its links
    came from ``DISTINCT DATE_TRUNC`` and ``MIN``/``MAX`` over the table: 0.4 s at a million rows, 1.9 s
    behind a search), and the search finds a learner by exact email (an index) rather than scanning
    every review's content title and email for a substring (0.9 s per query at a million)."""

    list_display = (
        "content",
        "user",
        "result",
        "reviewed_at",
        "stage_before",
        "stage_after",
        "interval_days",
        "early",
    )
    list_filter = ("result", "early", "scheduler")
    search_fields = ("=user__email",)
    search_help_text = "A learner's exact email address."
    list_select_related = ("content", "user")
    deleted_with_owner = True  # with its content or its user (DeletesOwnedHistory), never on its own
