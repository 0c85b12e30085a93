from django.apps import AppConfig

from modules.common.schedules import ScheduleSpec


class IdentityConfig(AppConfig):
    name = "modules.identity"
    label = "identity"
    verbose_name = "Identity"
    default_auto_field = "django.db.models.BigAutoField"

    schedules = (
        # Expired refresh tokens are useless but their outstanding/blacklist rows stay until pruned.
        ScheduleSpec(
            name="identity.flush_expired_tokens",
            func="modules.identity.tasks.flush_expired_tokens",
            cron="23 3 * * *",
        ),
        # The outbox's safety net: an email whose delivery task never reached the broker is queued again.
        ScheduleSpec(
            name="identity.requeue_stuck_emails",
            func="modules.identity.tasks.requeue_stuck_emails",
            cron="*/5 * * * *",
        ),
    )
