"""Drops the user foreign keys' own indexes: each job table's index (user, created_at) leads with the
column and serves every lookup, the cascades' too. As learning's 0009: only the indexes go (Django's
AlterField would drop and re-add the foreign key constraints); the same names on SQLite."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (index, table, column): the names Django gave them
INDEXES = (
    ("portability_exportjob_user_id_15da746a", "portability_exportjob", "user_id"),
    ("portability_importjob_user_id_45210eb5", "portability_importjob", "user_id"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("portability", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    [f'DROP INDEX IF EXISTS "{name}"' for name, _, _ in INDEXES],
                    reverse_sql=[
                        f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")'
                        for name, table, column in INDEXES
                    ],
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="exportjob",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="importjob",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
    ]
