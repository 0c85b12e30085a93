"""Request field types every module's schemas share.

``ClientDatetime``: a datetime a client sends (body or query). Pydantic accepts anything from year 1
to 9999, with or without an offset, and services cannot take either extreme: a naive value compared
with an aware one raises ``TypeError``, and ``until - 1 hour`` on ``0001-01-01`` (or converting
``0001-01-01T00:00+14:00`` to UTC) raises ``OverflowError``. This type answers such input 422 at the
schema and hands the service an aware UTC datetime:

- no offset: read as UTC (the contract puts UTC on the wire);
- outside [1900-01-01, 9000-01-01) UTC: rejected, which leaves any arithmetic a service does (hours to
  years) inside Python's and PostgreSQL's ranges.

``FilterId``: an id a list is filtered by (a query parameter). An id that is not positive or beyond a
``bigint`` (no row has it) becomes 0, which no row has either: the list is empty on every backend, where
PostgreSQL compared the value as a numeric but SQLite's driver could not bind it (an ``OverflowError``,
a 500 on ``make run``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator

from modules.common.time import UTC

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
EARLIEST_CLIENT_DATETIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_CLIENT_DATETIME = datetime(9000, 1, 1, tzinfo=UTC)


def client_datetime(value: datetime) -> datetime:
    # Check the year before any conversion: converting 0001-01-01T00:00+14:00 to UTC overflows.
    if not EARLIEST_CLIENT_DATETIME.year <= value.year < LATEST_CLIENT_DATETIME.year:
        raise ValueError(
            f"must be between {EARLIEST_CLIENT_DATETIME.isoformat()} and {LATEST_CLIENT_DATETIME.isoformat()}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


ClientDatetime = Annotated[datetime, AfterValidator(client_datetime)]


def filter_id(value: int) -> int:
    return value if 1 <= value <= BIGINT_MAX else 0


FilterId = Annotated[int, AfterValidator(filter_id)]
