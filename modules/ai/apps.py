from django.apps import AppConfig


class AIConfig(AppConfig):
    name = "modules.ai"
    label = "ai"
    verbose_name = "AI"
    default_auto_field = "django.db.models.BigAutoField"
