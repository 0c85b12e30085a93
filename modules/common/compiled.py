"""ORM queries compiled once and then run with new parameters: the hot read paths on PostgreSQL.

On this kind of machine Django spends about 0.6 ms turning a ``QuerySet`` into SQL and PostgreSQL
about 0.2 ms answering it. For the few reads every request makes (the authenticated user, today's
queue, the content list) the compilation is most of the cost, yet the SQL text is the same on every
call: only the parameter values change. ``fetch_rows`` compiles a query *shape* once and afterwards
only binds new values. The QuerySet stays the single definition of the query; nothing is written
twice in SQL. Measured with the read cache off (docs/benchmarks.md): users/me 1.74 -> 0.93 ms, today's
queue 5.85 -> 2.77 ms, the content list 6.24 -> 3.20 ms per request, in process.

What makes it safe:

- **Nothing is guessed.** A shape is compiled twice, with two different sets of sentinel values
  standing in for the arguments. The two SQL texts must be identical; a parameter that differs
  between them must be exactly the two sentinels of one argument (else that argument was transformed
  on its way into the SQL, as ``icontains`` wraps a string in ``%``), and one that is the same in
  both is a constant of the query itself. Every argument must land somewhere.
- **Arguments are checked on every call.** A call whose arguments do not have the names and types
  the shape was compiled with (a naive datetime where an aware one was, a bool where an int was)
  runs the ordinary ORM query instead.
- **It steps aside** wherever the shortcut could differ from the ORM: on databases other than
  PostgreSQL (the embedded SQLite default adapts parameter values itself), for arguments of other
  types than int, str and datetime (None and booleans change the SQL or cannot be told apart).
- **It can be turned off**: ``COMPILED_QUERIES=0`` (settings) runs every query through the ORM;
  ``make test`` runs the suite once that way too.

Result values go through the same converters the ORM would apply.

**Prepared statements.** A shape's SQL text never changes, so PostgreSQL need not parse and plan it on
every call either: ``prepared_cursor()`` runs it with server-side binding and ``prepare=True`` (psycopg
prepares a statement the first time a connection runs it and afterwards only binds values). Only the
statements run through it are prepared — the compiled shapes and the review's write — the rest of the
ORM keeps Django's default client-side binding. Measured on the review loop (docs/benchmarks.md): the
authenticated user's read 0.26 -> 0.05 ms, the review's write 1.1 -> 0.7 ms of server time.
``DATABASE_PREPARED_STATEMENTS=0`` turns it off for a pooler that cannot keep prepared statements
(PgBouncer before 1.21 in transaction mode, or without ``max_prepared_statements``).
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper
from django.db.models import QuerySet

_UNSUPPORTED = object()  # cache marker: this shape cannot take the shortcut
_SENTINEL_MARK = "\x1fresee-sentinel-"


class _Compiled:
    __slots__ = ("arg_types", "converters", "params", "sql")

    def __init__(
        self,
        sql: str,
        params: tuple[tuple[bool, Any], ...],
        converters: dict[int, Any],
        arg_types: dict[str, tuple[type, bool]],
    ) -> None:
        self.sql = sql
        # (True, argument name) or (False, constant value), in the order of the SQL's placeholders
        self.params = params
        # column position -> (converter functions, expression): what the ORM applies to each value
        self.converters = converters
        # argument name -> (type, is an aware datetime): what every call must pass
        self.arg_types = arg_types

    def accepts(self, args: dict[str, Any]) -> bool:
        return args.keys() == self.arg_types.keys() and all(
            _signature(value) == self.arg_types[name] for name, value in args.items()
        )


_cache: dict[Hashable, _Compiled | object] = {}
_lock = threading.Lock()


def enabled() -> bool:
    """Whether the shortcut is on (``settings.COMPILED_QUERIES``, default on)."""
    return bool(getattr(settings, "COMPILED_QUERIES", True))


# The connection's prepare threshold when prepared statements are on (config/settings.py): psycopg
# prepares a statement that ran this many times; none of ours is meant to get there by repetition
# (Django's ORM uses client-side binding, whose cursors never prepare), only by ``prepare=True``.
PREPARE_THRESHOLD = 2**31 - 1


def prepared_statements_enabled() -> bool:
    """Whether ``prepared_cursor`` prepares (``settings.DATABASE_PREPARED_STATEMENTS``, default on)."""
    return bool(getattr(settings, "DATABASE_PREPARED_STATEMENTS", True))


@contextmanager
def prepared_cursor(connection: Any) -> Iterator[Any]:
    """A cursor of ``connection`` whose statements PostgreSQL prepares once per connection.

    For SQL whose text is fixed and whose values all come as parameters (every value: the text is
    the statement's name). It is Django's cursor wrapper around psycopg's server-binding cursor, so
    errors are Django's and ``CaptureQueriesContext`` (the query-count tests) sees every statement.
    Elsewhere (SQLite, prepared statements off, a connection already binding on the server) it is the
    connection's ordinary cursor.
    """
    if connection.vendor == "postgresql" and prepared_statements_enabled():
        connection.ensure_connection()
    # psycopg prepares nothing on a connection without a threshold (Django's default: None, so that
    # its own server-binding cursors never prepare behind a pooler's back); the settings give one
    # that no statement reaches by repetition (``PREPARE_THRESHOLD``): only ``prepare=True`` prepares.
    if (
        connection.vendor != "postgresql"
        or not prepared_statements_enabled()
        or connection.connection.prepare_threshold is None
    ):
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _PreparingCursor(connection.connection)
    cursor = (
        _LoggedPreparedCursor(raw, connection) if connection.queries_logged else connection.make_cursor(raw)
    )
    with cursor:
        yield cursor


class _LoggedPreparedCursor(CursorDebugWrapper):
    """Django's debug cursor (``connection.queries``, ``CaptureQueriesContext``) for prepared
    statements: Django reads the executed SQL off psycopg's last client-side query, which a prepared
    execution does not have, so the statement is logged with its values composed here."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        try:
            text = self.db.ops.compose_sql(sql, params)
        except Exception:  # a value that cannot be shown client-side: log the statement's text
            text = sql
        with self.debug_sql(text, None):
            return super(CursorDebugWrapper, self).execute(sql, params)  # the wrappers, Django's errors


_PLACEHOLDER = re.compile(r"%(%|s)")


@functools.lru_cache(maxsize=256)
def native_placeholders(query: str) -> str:
    """``query`` with PostgreSQL's own placeholders: each ``%s`` becomes ``$1``, ``$2``... in order and
    ``%%`` a ``%``, as psycopg's conversion does. Cached per text: psycopg caches its conversion only
    for statements under 4 KB and 50 parameters, and the review's one statement has 62 (converting it
    again on every call was ~5% of an answer's CPU)."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda found: "%" if found.group(1) == "%" else f"${next(numbers)}", query)


def _preparing_cursor_class() -> type:
    from django.db.backends.postgresql.base import CursorMixin
    from psycopg import RawCursor

    class PreparingCursor(CursorMixin, RawCursor):  # type: ignore[misc, valid-type]
        """psycopg's cursor of native placeholders (server-side binding), with ``prepare=True`` on every
        ``execute``; the statements come with ``%s`` placeholders, as Django writes them, and are
        converted once per text (``native_placeholders``)."""

        def execute(
            self, query: Any, params: Any = None, *, prepare: bool | None = None, **kwargs: Any
        ) -> Any:
            if isinstance(query, str) and isinstance(params, list | tuple):
                query = native_placeholders(query)
            return super().execute(query, params, prepare=True, **kwargs)

    return PreparingCursor


class _LazyCursorClass:
    """The cursor class, built on first use (the PostgreSQL backend imports psycopg)."""

    _class: type | None = None

    def __call__(self, connection: Any) -> Any:
        if self._class is None:
            self._class = _preparing_cursor_class()
        return self._class(connection)


_PreparingCursor = _LazyCursorClass()


def fetch_rows(
    build: Callable[..., QuerySet],
    *,
    shape: Hashable,
    args: dict[str, Any],
    limit: int | None = None,
    offset: int = 0,
    using: str = DEFAULT_DB_ALIAS,
) -> list[tuple]:
    """The rows of ``build(**args)`` (a ``values_list`` QuerySet), sliced by ``limit``/``offset``.

    ``shape`` names everything that changes the SQL text apart from ``args`` (ordering, which filters
    are present...): two calls with the same shape must build the same SQL with the arguments in the
    same places.
    """
    connection = connections[using]
    compiled: _Compiled | object = _UNSUPPORTED
    if connection.vendor == "postgresql" and enabled():
        compiled = _cache.get(shape) or _UNSUPPORTED
        if shape not in _cache:
            compiled = _compile(build, args=args, using=using)
            with _lock:
                _cache[shape] = compiled
    if not isinstance(compiled, _Compiled) or not compiled.accepts(args):
        queryset = build(**args)
        if limit is not None:
            queryset = queryset[offset : offset + limit]
        elif offset:
            queryset = queryset[offset:]
        return [tuple(row) for row in queryset]
    sql = compiled.sql
    params = [args[item] if is_arg else item for is_arg, item in compiled.params]
    if limit is not None:
        sql = f"{sql} LIMIT %s OFFSET %s"
        params += [limit, offset]
    elif offset:
        sql = f"{sql} OFFSET %s"
        params.append(offset)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if compiled.converters:
        rows = [_converted(row, compiled.converters, connection) for row in rows]
    return rows


def _converted(row: tuple, converters: dict[int, Any], connection: Any) -> tuple:
    values = list(row)
    for position, (functions, expression) in converters.items():
        value = values[position]
        for convert in functions:
            value = convert(value, expression, connection)
        values[position] = value
    return tuple(values)


def _signature(value: Any) -> tuple[type, bool]:
    return type(value), isinstance(value, datetime) and value.tzinfo is not None


def _sentinel(value: Any, index: int, variant: int) -> Any:
    """A value of the argument's type that no real query would carry; ``variant`` 0 or 1 gives two
    different ones for the same argument."""
    if isinstance(value, bool):
        return _UNSUPPORTED  # two booleans cannot be told apart from the query's own constants
    if isinstance(value, int):
        return -7_340_000_000_000 - 2 * index - variant
    if isinstance(value, datetime):
        moment = datetime(1901 + variant, 1, 1) + timedelta(seconds=index)
        return moment.replace(tzinfo=UTC) if value.tzinfo is not None else moment
    if isinstance(value, str):
        return f"{_SENTINEL_MARK}{index}-{variant}\x1f"
    return _UNSUPPORTED


def _compiled_sql(
    build: Callable[..., QuerySet], sentinels: dict[str, Any], using: str
) -> tuple[str, tuple, Any]:
    queryset = build(**sentinels)
    compiler = queryset.query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    return sql, tuple(params), compiler


def _compile(build: Callable[..., QuerySet], *, args: dict[str, Any], using: str) -> _Compiled | object:
    sets = [
        {name: _sentinel(value, index, variant) for index, (name, value) in enumerate(args.items())}
        for variant in (0, 1)
    ]
    if any(value is _UNSUPPORTED for value in sets[0].values()):
        return _UNSUPPORTED
    (sql, first, compiler), (other_sql, second, _) = (
        _compiled_sql(build, sentinels, using) for sentinels in sets
    )
    if sql != other_sql or len(first) != len(second):
        return _UNSUPPORTED  # the SQL text depends on the values: no shape to reuse
    by_pair = {(sets[0][name], sets[1][name]): name for name in args}
    order: list[tuple[bool, Any]] = []
    for one, two in zip(first, second, strict=True):
        if type(one) is type(two) and one == two:
            if isinstance(one, str) and _SENTINEL_MARK in one:
                return _UNSUPPORTED
            order.append((False, one))  # a constant of the query itself (``is_active=True``)
            continue
        try:
            name = by_pair.get((one, two))
        except TypeError:  # an unhashable parameter (a list): not one of ours
            return _UNSUPPORTED
        if name is None or type(one) is not type(sets[0][name]):
            return _UNSUPPORTED  # an argument was transformed on its way into the SQL
        order.append((True, name))
    if {item for is_arg, item in order if is_arg} != set(args):
        return _UNSUPPORTED  # an argument does not reach the SQL unchanged
    converters = compiler.get_converters([column for column, _, _ in compiler.select])
    return _Compiled(sql, tuple(order), converters, {name: _signature(value) for name, value in args.items()})


def clear_cache() -> None:
    with _lock:
        _cache.clear()
