from django.apps import AppConfig

from modules.common.schedules import ScheduleSpec


class LearningConfig(AppConfig):
    name = "modules.learning"
    label = "learning"
    verbose_name = "Learning"
    default_auto_field = "django.db.models.BigAutoField"

    schedules = (
        # Hourly on the hour: each user is reminded in the hour their local clock shows their
        # daily_reminder_hour (timezones with half-hour offsets get it at :00 of the containing UTC hour).
        ScheduleSpec(
            "learning.review_reminders", "modules.learning.tasks.send_review_reminders", "0 * * * *"
        ),
        ScheduleSpec(
            "learning.prune_idempotency", "modules.learning.tasks.prune_idempotency_records", "23 4 * * *"
        ),
        # Daily: refit the memory models of learners with enough new reviews (or a week-old fit).
        ScheduleSpec("learning.memory_fits", "modules.learning.tasks.enqueue_memory_fits", "41 3 * * *"),
    )

    def ready(self) -> None:
        from django.core import checks

        from modules.identity import services as identity
        from modules.learning import readcache
        from modules.learning.checks import read_cache_is_shared
        from modules.learning.services import delete_learning_data, delete_review_history_batch

        checks.register(read_cache_is_shared, checks.Tags.caches)
        # A process-local cache outside DEBUG switches the read cache off: say so once, at startup.
        readcache.announce()
        identity.on_account_deletion(delete_learning_data)
        identity.on_account_erasure_batch("learning.ReviewHistory", delete_review_history_batch)
