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

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from modules.portability.models import ExportJob, ImportJob
        from modules.portability.services.files import remove_files_of_deleted_job

        for model in (ExportJob, ImportJob):
            post_delete.connect(
                remove_files_of_deleted_job, sender=model, dispatch_uid=f"files-of-{model.__name__}"
            )
