"""Run one round of review reminders by hand: ``manage.py send_review_reminders``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from modules.learning import services


class Command(BaseCommand):
    help = "Email the users whose local reminder hour is now and who have reviews due (once per local day)."

    def handle(self, *args: Any, **options: Any) -> None:
        sent = services.send_review_reminders()
        self.stdout.write(f"Review reminders queued: {sent}")
