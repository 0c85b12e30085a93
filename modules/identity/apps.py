from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps

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
        # The erasure's safety net: an account closed over ten minutes ago and still present lost its
        # erasure task (services/closure.py), which is queued again.
        ScheduleSpec(
            name="identity.erase_lost_closures",
            func="modules.identity.tasks.erase_lost_closures",
            cron="*/5 * * * *",
        ),
    )


class ReseeAdminConfig(admin_apps.AdminConfig):
    """Django's admin app (label ``admin``) with Resee's site as the default one: its login is throttled
    per IP and per account like the API's (admin_site.py). Listed by its path in INSTALLED_APPS; never
    the default config of this package (that is ``IdentityConfig``)."""

    default = False
    default_site = "modules.identity.admin_site.ReseeAdminSite"
