from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "modules.ops"
    label = "ops"
    verbose_name = "Ops"
    default_auto_field = "django.db.models.BigAutoField"
