from django.apps import AppConfig

from modules.common.schedules import ScheduleSpec


class OpsConfig(AppConfig):
    name = "modules.ops"
    label = "ops"
    verbose_name = "Ops"
    default_auto_field = "django.db.models.BigAutoField"

    schedules = (
        ScheduleSpec("ops.collect_metrics", "modules.ops.tasks.collect_metrics", "* * * * *"),
        # Every minute too; it reads the samples of the last window, so running in the same minute as
        # the collection (before or after it) only shifts its view by one sample.
        ScheduleSpec("ops.alert_sweep", "modules.ops.tasks.run_alert_sweep", "* * * * *"),
        ScheduleSpec("ops.prune_metric_samples", "modules.ops.tasks.prune_metric_samples", "17 3 * * *"),
    )
