"""Gives every AIUsage row the UTC window [start, end) of the local day it counts, and identifies rows
by (user, window) instead of (user, date): the daily quota is counted over the user's rows whose window
contains the present instant, so changing timezone no longer starts a fresh day (docs/ai.md, "Quotas").

Existing rows get the window of their date in the user's timezone at the time of the migration (the
timezone a row was counted in was not recorded). For a user who changed timezone on the migration day
that window may be off by the difference of the two offsets, for that one day only.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import migrations, models

UTC = ZoneInfo("UTC")


def _bounds(day: date, tz_name: str) -> tuple[datetime, datetime]:
    """As modules.common.time.local_day_bounds (kept here: a migration must not change with the code)."""
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def backfill_windows(apps, schema_editor):
    AIUsage = apps.get_model("ai", "AIUsage")
    # one UPDATE per (date, timezone) pair, not per row
    pairs = list(
        AIUsage.objects.filter(window_start__isnull=True)
        .values_list("date", "user__timezone")
        .distinct()
        .order_by()
    )
    for day, tz_name in pairs:
        start, end = _bounds(day, tz_name or "UTC")
        AIUsage.objects.filter(window_start__isnull=True, date=day, user__timezone=tz_name).update(
            window_start=start, window_end=end
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ai", "0002_redundant_fk_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="aiusage",
            name="window_start",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="aiusage",
            name="window_end",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(backfill_windows, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="aiusage",
            name="window_start",
            field=models.DateTimeField(
                blank=True,
                help_text="When the local day began (UTC); left blank: from the date and the user's timezone.",
            ),
        ),
        migrations.AlterField(
            model_name="aiusage",
            name="window_end",
            field=models.DateTimeField(blank=True, help_text="When the local day ends (UTC), exclusive."),
        ),
        migrations.RemoveConstraint(
            model_name="aiusage",
            name="ai_usage_one_row_per_user_day",
        ),
        migrations.AddConstraint(
            model_name="aiusage",
            constraint=models.UniqueConstraint(
                fields=("user", "window_end", "window_start"), name="ai_usage_one_row_per_user_day"
            ),
        ),
        migrations.AddConstraint(
            model_name="aiusage",
            constraint=models.CheckConstraint(
                condition=models.Q(("window_end__gt", models.F("window_start"))),
                name="ai_usage_window_not_empty",
            ),
        ),
    ]
