"""Search over title and body: trigram GIN indexes on PostgreSQL (no-op elsewhere).

The content list filters with ``icontains``, which Django compiles on PostgreSQL to
``UPPER(col) LIKE UPPER('%term%')``; a ``gin_trgm_ops`` index on ``UPPER(col)`` serves exactly that
expression, so substring search stays an index scan with the same semantics as SQLite's fallback.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    "learning_content_title_trgm": "title",
    "learning_content_body_trgm": "body",
}


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON learning_content USING gin (UPPER({column}) gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("learning", "0001_initial")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
