"""No index of our own modules' tables is a plain prefix of another one of the same table (learning's
migration 0009, then ai 0002, insights 0002, ops 0002, portability 0002): the longer index answers
every lookup the shorter one did, the cascades' included, and each index is one more write with every
row (on every review: the history's, the schedule's, the key's, the tallies'). A foreign key declared
with Django's default index next to a composite index or unique constraint leading with it fails here.
Django's and allauth's own tables (auth_, account_, socialaccount_, and the user's two many-to-many
tables in identity_) are theirs, not checked."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's catalog"),
]

MODULES = ("learning", "ai", "insights", "ops", "portability", "identity")
NOT_OURS = ("identity_user_groups", "identity_user_user_permissions")  # Django's auto M2M tables

_INDEXES = """
SELECT t.relname, c.relname, i.indisunique, i.indpred IS NOT NULL,
       ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord)
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = current_schema() AND t.relname ~ %s AND NOT (t.relname = ANY(%s)) AND i.indexprs IS NULL
"""


def _indexes() -> list[tuple[str, str, bool, bool, list[str]]]:
    with connection.cursor() as cursor:
        cursor.execute(_INDEXES, ["^(" + "|".join(MODULES) + ")_", list(NOT_OURS)])
        return cursor.fetchall()


def _redundant() -> list[tuple[str, str, str]]:
    rows = _indexes()
    found = []
    for table, name, unique, partial, columns in rows:
        if unique or partial:
            continue  # a unique index is a constraint, a partial one covers other rows
        for other_table, other, _, other_partial, other_columns in rows:
            if (
                other_table == table
                and other != name
                and not other_partial
                and len(other_columns) > len(columns)
                and list(other_columns[: len(columns)]) == list(columns)
            ):
                found.append((table, name, other))
    return sorted(found)


def test_no_index_of_our_tables_is_a_prefix_of_another() -> None:
    assert _redundant() == []


def test_the_check_reads_every_module_and_no_m2m_table() -> None:
    tables = {table for table, *_ in _indexes()}
    assert {table.split("_", 1)[0] for table in tables} == set(MODULES)
    assert not tables & set(NOT_OURS)


@pytest.mark.parametrize(
    ("table", "column", "covering"),
    [
        ("learning_reviewhistory", "user_id", "learning_history_user_idx"),  # a composite index
        ("ai_aiusage", "user_id", "ai_usage_one_row_per_user_day"),  # a unique constraint
    ],
)
def test_the_check_sees_a_redundant_index(table: str, column: str, covering: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE INDEX "probe_idx" ON "{table}" ("{column}")')
    assert (table, "probe_idx", covering) in _redundant()
