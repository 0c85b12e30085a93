from django.apps import AppConfig

from modules.common.schedules import ScheduleSpec


class AIConfig(AppConfig):
    name = "modules.ai"
    label = "ai"
    verbose_name = "AI"
    default_auto_field = "django.db.models.BigAutoField"

    schedules = (
        ScheduleSpec("ai.fail_stale_jobs", "modules.ai.tasks.fail_stale_jobs", "*/10 * * * *"),
        ScheduleSpec("ai.prune_request_keys", "modules.ai.tasks.prune_request_keys", "41 4 * * *"),
    )
    warm_ups = ("modules.ai.providers.registry.preload",)  # modules/common/warmup.py

    def ready(self) -> None:
        from django.core import checks

        from modules.ai.checks import sync_call_timing

        checks.register(sync_call_timing)
