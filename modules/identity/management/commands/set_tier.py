"""``python manage.py set_tier <email> <FREE|BASIC|PRO> [--days N]``: change a user's tier, recorded."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from modules.identity import services
from modules.identity.tiers import Tier


class Command(BaseCommand):
    help = "Put a user on a subscription tier (recorded in the tier change history)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("tier", type=str.upper, choices=[tier.value for tier in Tier])
        parser.add_argument(
            "--days", type=int, default=None, help="the tier expires after this many days (default: never)"
        )

    def handle(self, *args: Any, email: str, tier: str, days: int | None, **options: Any) -> None:
        try:
            user = services.change_tier_by_email(email=email, tier=tier, source="command", days=days)
        except services.User.DoesNotExist as exc:
            raise CommandError(f"No user with the email {email!r}") from exc
        except ValueError as exc:
            raise CommandError(f"--days {days}: {exc}") from exc
        info = services.subscription_info(user)
        until = f" until {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else ""
        self.stdout.write(self.style.SUCCESS(f"{user.email} is now on {info.tier.value}{until}"))
