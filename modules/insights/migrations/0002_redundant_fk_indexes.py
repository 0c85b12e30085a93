"""Drops the user foreign key's own index: the unique (user, date) leads with the column and serves every
lookup, the cascades' too. As learning's 0009: only the index goes (Django's AlterField would drop and
re-add the foreign key constraint); the same name on SQLite."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (index, table, column): the names Django gave them
INDEXES = (("insights_learningmetrics_user_id_18b16cfd", "insights_learningmetrics", "user_id"),)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_initial"),
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
                    model_name="learningmetrics",
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
