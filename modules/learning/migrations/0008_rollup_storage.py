"""Storage settings of the kept rollups (PostgreSQL only; nothing changes elsewhere).

The rollups are tiny and rewritten all the time: a review updates a recall group, a tally, a day tally
and a total; every content created or deleted updates a content total and a category total. Each
update leaves a dead row version behind. With the default fill factor (100) a full page cannot take
the new version, so the update is not HOT: every index gets a new entry as well, and the table and its
indexes grow until vacuum catches up. Measured on the bench database, on a server without autovacuum
(docs/benchmarks.md, session 17): 76 category totals in 78 MB, 19 content totals in 44 MB, 6,939
recall groups in 115 MB, after a seed and a morning of review loops.

- ``fillfactor = 70``: room on every page for the next versions, so updates stay HOT (no index
  entry) and pages are pruned as they are read;
- autovacuum by a fixed number of dead rows (1,000), not by a fraction of a table this small, and
  its statistics refreshed as often.
"""

from django.db import migrations

TABLES = (
    "learning_recallgroup",
    "learning_contenttotal",
    "learning_categorytotal",
    "learning_reviewtally",
    "learning_reviewdaytally",
    "learning_reviewtotal",
)
SETTINGS = (
    "fillfactor = 70, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, "
    "autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000"
)
RESET = (
    "fillfactor, autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
    "autovacuum_analyze_scale_factor, autovacuum_analyze_threshold"
)


def apply_settings(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET ({SETTINGS})")


def reset_settings(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} RESET ({RESET})")


class Migration(migrations.Migration):
    dependencies = [("learning", "0007_category_totals_day_tallies")]

    operations = [migrations.RunPython(apply_settings, reset_settings)]
