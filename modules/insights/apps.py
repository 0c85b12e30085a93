from django.apps import AppConfig

from modules.common.schedules import ScheduleSpec


class InsightsConfig(AppConfig):
    name = "modules.insights"
    label = "insights"
    verbose_name = "Insights"
    default_auto_field = "django.db.models.BigAutoField"

    schedules = (
        # Hourly: local days end at every hour somewhere; each run snapshots the days that ended
        # (provisional) and the days that became final since the last run.
        ScheduleSpec(
            "insights.snapshot_learning_metrics",
            "modules.insights.tasks.snapshot_learning_metrics",
            "17 * * * *",
        ),
        # Hourly: build learning's review tallies (what the dashboard and the retention view read)
        # for active learners who have none yet, or moved to another time zone.
        ScheduleSpec(
            "insights.build_review_tallies",
            "modules.insights.tasks.build_review_tallies",
            "7 * * * *",
        ),
    )
