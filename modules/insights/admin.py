"""Django admin registrations of the insights module: the daily snapshots, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from modules.insights.models import LearningMetrics


@admin.register(LearningMetrics)
class LearningMetricsAdmin(admin.ModelAdmin):
    """Snapshots are derived data: they are browsed here, written only by the snapshot job."""

    list_display = (
        "date",
        "user",
        "reviews",
        "remembered",
        "partial",
        "forgot",
        "success_rate",
        "time_spent_seconds",
        "timezone",
        "is_final",
        "computed_at",
    )
    list_filter = ("is_final", "date")
    search_fields = ("user__email",)
    date_hierarchy = "date"
    ordering = ("-date", "user_id")
    list_select_related = ("user",)
    show_full_result_count = False  # no second COUNT(*) over a large table per page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
