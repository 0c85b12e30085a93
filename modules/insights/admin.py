"""Django admin registrations of the insights module: the daily snapshots, read-only."""

from __future__ import annotations

from django.contrib import admin

from modules.common.admin import LargeTableAdmin, ViewOnlyAdmin
from modules.insights.models import LearningMetrics


@admin.register(LearningMetrics)
class LearningMetricsAdmin(LargeTableAdmin, ViewOnlyAdmin):
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
    list_filter = ("is_final", "date")  # no date hierarchy: its links scan every snapshot of the year
    search_fields = ("user__email",)
    ordering = ("-date", "user_id")
    list_select_related = ("user",)
