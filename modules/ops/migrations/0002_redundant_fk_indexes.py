"""Drops the foreign keys' own indexes: an event's (rule, fired_at) and a notification's unique (event, kind,
channel, target) lead with the column and serve every lookup, the cascades' too. As learning's 0009: only the
indexes go (Django's AlterField would drop and re-add the foreign key constraints); same names on SQLite."""

import django.db.models.deletion
from django.db import migrations, models

# (index, table, column): the names Django gave them
INDEXES = (
    ("ops_alertevent_rule_id_05e3b9eb", "ops_alertevent", "rule_id"),
    ("ops_alertnotification_event_id_3e4d8354", "ops_alertnotification", "event_id"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
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
                    model_name="alertevent",
                    name="rule",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="ops.alertrule",
                    ),
                ),
                migrations.AlterField(
                    model_name="alertnotification",
                    name="event",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notifications",
                        to="ops.alertevent",
                    ),
                ),
            ],
        ),
    ]
