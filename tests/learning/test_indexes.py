"""No index of the learning tables is a plain prefix of another one of the same table (migration 0009):
the longer index answers every lookup the shorter one did, and each index is one more write with every
row (on every review: the history's, the schedule's, the key's, the tallies'). A foreign key declared
with Django's default index next to a composite index leading with it fails here."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's catalog"),
]

_INDEXES = """
SELECT t.relname, c.relname, i.indisunique, i.indpred IS NOT NULL,
       ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord)
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = current_schema() AND t.relname LIKE 'learning\\_%%' AND i.indexprs IS NULL
"""


def _redundant() -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(_INDEXES)
        rows = cursor.fetchall()
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
    return found


def test_no_learning_index_is_a_prefix_of_another() -> None:
    assert _redundant() == []


def test_the_check_sees_a_redundant_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute('CREATE INDEX "learning_probe_idx" ON "learning_reviewhistory" ("user_id")')
    assert ("learning_reviewhistory", "learning_probe_idx", "learning_history_user_idx") in _redundant()
