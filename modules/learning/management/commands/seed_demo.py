"""Create the demo account (once) with sample content, and print its credentials: ``manage.py seed_demo``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from modules.identity import services as identity
from modules.learning import services as learning

DEMO_EMAIL = "demo@resee.local"


class Command(BaseCommand):
    help = "Create the demo account demo@resee.local with sample content (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        demo = identity.ensure_demo_user(email=DEMO_EMAIL)
        if demo.created:
            self.stdout.write(self.style.SUCCESS(f"Demo account: {DEMO_EMAIL} / password: {demo.password}"))
        else:
            self.stdout.write(
                f"Demo account {DEMO_EMAIL} exists (password printed when it was created; "
                "reset it with `manage.py changepassword demo@resee.local`)."
            )
        created = learning.seed_demo_content(user=demo.user)
        if created:
            self.stdout.write(f"Sample content: {created} notes in 4 categories, some due today.")
