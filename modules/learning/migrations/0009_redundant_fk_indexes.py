"""Drops the foreign keys' own indexes where a composite index or unique constraint leads with the same
column (it serves every lookup the single-column one did, the cascades' included): each was one more
index to write with every row — on every review, the history's two, the schedule's, the key's and the
tallies' — and the history's two held 17 MB of the heavy bench learner's 156 MB of history indexes
(docs/benchmarks.md, session 18). tests/test_indexes.py keeps new ones from coming back.

Only the indexes go: Django's own AlterField would also drop and re-add each foreign key constraint,
which re-checks every row of the history under a lock. The same index names on PostgreSQL and SQLite.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (index, table, column): the names Django gave them
INDEXES = (
    ("learning_category_user_id_253e1bc0", "learning_category", "user_id"),
    ("learning_content_user_id_edf4f76b", "learning_content", "user_id"),
    ("learning_idempotencyrecord_user_id_0c9987b0", "learning_idempotencyrecord", "user_id"),
    ("learning_memorymodelfit_user_id_c74e66ae", "learning_memorymodelfit", "user_id"),
    ("learning_recallgroup_user_id_ca4d98e2", "learning_recallgroup", "user_id"),
    ("learning_reminderlog_user_id_4b6d10a4", "learning_reminderlog", "user_id"),
    ("learning_reviewhistory_content_id_5fd7861c", "learning_reviewhistory", "content_id"),
    ("learning_reviewhistory_user_id_5035d3ff", "learning_reviewhistory", "user_id"),
    ("learning_reviewschedule_user_id_459582e0", "learning_reviewschedule", "user_id"),
    ("learning_reviewtally_user_id_f889134a", "learning_reviewtally", "user_id"),
    ("learning_reviewtotal_user_id_f112385d", "learning_reviewtotal", "user_id"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("learning", "0008_rollup_storage"),
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
                    model_name="category",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="learning_categories",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="content",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="learning_contents",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="memorymodelfit",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="recallgroup",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="reminderlog",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="reviewhistory",
                    name="content",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="history",
                        to="learning.content",
                    ),
                ),
                migrations.AlterField(
                    model_name="reviewhistory",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="reviewschedule",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="reviewtally",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="reviewtotal",
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
