"""Create the demo account (once) and print its credentials: ``manage.py seed_demo``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from modules.identity import services as identity

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
