from django.apps import AppConfig

from modules.common.schedules import ScheduleSpec


class PortabilityConfig(AppConfig):
    name = "modules.portability"
    label = "portability"
    verbose_name = "Data export and import"
    default_auto_field = "django.db.models.BigAutoField"

    schedules = (
        # Daily: export files past their lifetime, leftover uploads and jobs whose worker died.
        ScheduleSpec("portability.prune", "modules.portability.tasks.prune_files", "41 3 * * *"),
    )
