"""Autovacuum of the review schedules by a small fraction of the table (PostgreSQL only).

Every review updates its card's schedule, and the queue, the forecast and the dashboard count a
learner's schedules with index-only scans, which skip the heap only on pages the visibility map marks
all-visible. An update clears its page's mark until the next vacuum, and PostgreSQL's default waits
for 50 + 20% of the table's rows to change (2,000,000 updates for 10 million cards). Measured on the
bench database (docs/benchmarks.md, session 26): 344 updated schedules out of 27,200 made the heavy
learner's forecast visit the heap 957 times (3.8 -> 4.7 ms). Vacuumed after 1,000 + 2% of the rows,
the marks come back a hundred times sooner on a large table.
"""

from django.db import migrations

TABLE = "learning_reviewschedule"
SETTINGS = "autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000"
RESET = "autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold"


def apply_settings(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(TABLE)} SET ({SETTINGS})")


def reset_settings(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(TABLE)} RESET ({RESET})")


class Migration(migrations.Migration):
    dependencies = [("learning", "0013_request_keys")]

    operations = [migrations.RunPython(apply_settings, reset_settings)]
