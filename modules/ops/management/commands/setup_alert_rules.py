"""A fresh deployment's starter alert rules, so a failing worker or a full disk reaches someone before
an admin has written any rule. Run once after the first release (docs/ops.md, "Alert rules"); each
rule is created only when no rule has its name, so an admin's changes are never overwritten. A rule an
admin deleted comes back only if this is run again."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from modules.ops import services

STARTER_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "Tasks failing",
        "metric": "queue_failed_tasks",
        "operator": ">",
        "threshold": 0,
        "window_minutes": 5,
        "aggregation": "last",
        "cooldown_minutes": 60,
        "severity": "critical",
    },
    {
        "name": "Queue backlog",
        "metric": "queue_queued_tasks",
        "operator": ">",
        "threshold": 100,
        "window_minutes": 10,
        "aggregation": "min",
        "cooldown_minutes": 60,
        "severity": "warning",
    },
    {
        "name": "API errors",
        "metric": "api_error_rate",
        "operator": ">",
        "threshold": 5,
        "window_minutes": 5,
        "aggregation": "avg",
        "cooldown_minutes": 30,
        "severity": "critical",
    },
    {
        "name": "Disk almost full",
        "metric": "disk_usage",
        "operator": ">",
        "threshold": 90,
        "window_minutes": 5,
        "aggregation": "last",
        "cooldown_minutes": 240,
        "severity": "warning",
    },
    {
        "name": "AI provider failing",
        "metric": "ai_error_rate",
        "operator": ">",
        "threshold": 20,
        "window_minutes": 15,
        "aggregation": "last",
        "cooldown_minutes": 60,
        "severity": "warning",
    },
)


class Command(BaseCommand):
    help = (
        "Create the starter alert rules (failing tasks, queue backlog, API errors, disk, AI provider) that "
        "do not exist yet, notifying ADMIN_EMAILS and, when SLACK_WEBHOOK_URL is set, Slack."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        taken = {rule.name for rule in services.list_rules()}
        recipients = list(settings.ADMIN_EMAILS)
        slack = bool(settings.SLACK_WEBHOOK_URL)
        if not recipients and not slack:
            self.stderr.write(
                "warning: neither ADMIN_EMAILS nor SLACK_WEBHOOK_URL is set: the rules will fire but notify nobody"
            )
        for values in STARTER_RULES:
            if values["name"] in taken:
                self.stdout.write(f"kept {values['name']} (a rule has this name)")
                continue
            services.create_rule(
                values={**values, "notify_emails": recipients, "notify_slack": slack, "is_active": True}
            )
            self.stdout.write(f"created {values['name']}")
