"""Many new rows written at once: PostgreSQL's ``COPY`` where it runs, ``INSERT`` elsewhere (SQLite).

``bulk_create`` builds a model instance per row, then an ``INSERT`` whose values the ORM prepares one
field at a time and psycopg adapts one array element at a time: for an import of a million reviews
that was half the time of the whole import (about 60 s of Python). ``COPY ... FROM STDIN`` sends the
rows as they are, adapted by psycopg's C code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

from django.db import connection
from django.db.models import Field, Model

__all__ = ["insert_rows"]

_INSERT_BATCH = 2000  # rows per executemany where there is no COPY


def insert_rows(model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Inserts ``rows`` (each the values of ``columns``, fields' attribute names such as ``user_id``, in
    that order) into ``model``'s table, in the current transaction; returns how many.

    Nothing Django adds on its side is applied: no model instance, no signal, no ``default`` and no
    ``auto_now`` (a column left out takes its database default, NULL for a nullable field, so name
    every column that has a value to take). Errors are Django's (``IntegrityError``, ``DataError``...).
    """
    quote = connection.ops.quote_name
    fields: list[Field[Any, Any]] = [model._meta.get_field(name) for name in columns]  # type: ignore[misc]
    table = quote(model._meta.db_table)
    names = ", ".join(quote(field.column) for field in fields)  # identifiers from the model, quoted
    count = 0
    if connection.vendor != "postgresql":  # SQLite (make run): the same rows through INSERTs
        placeholders = ", ".join(["%s"] * len(fields))
        with connection.cursor() as cursor:
            iterator = iter(rows)
            while chunk := list(islice(iterator, _INSERT_BATCH)):
                values = [
                    [
                        field.get_db_prep_save(value, connection)
                        for field, value in zip(fields, row, strict=True)
                    ]
                    for row in chunk
                ]
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", values)  # noqa: S608
                count += len(chunk)
        return count
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.connection.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
            count += 1
    return count
