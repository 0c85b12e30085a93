"""Shared request field types (modules/common/fields.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from modules.common.fields import ClientDatetime
from modules.common.time import UTC

ADAPTER = TypeAdapter(ClientDatetime)


def test_a_naive_datetime_is_read_as_utc() -> None:
    assert ADAPTER.validate_python("2026-03-01T10:00:00") == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_a_date_alone_is_midnight_utc() -> None:
    assert ADAPTER.validate_python("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)


def test_an_offset_is_converted_to_utc() -> None:
    value = ADAPTER.validate_python("2026-03-01T10:00:00+02:00")
    assert value == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert value.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",  # converting this one to UTC overflowed
        "0001-01-01",
        "1899-12-31T23:59:59Z",
        "9000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-14:00",
    ],
)
def test_datetimes_outside_the_supported_range_are_rejected(raw: str) -> None:
    with pytest.raises(ValidationError, match="must be between"):
        ADAPTER.validate_python(raw)


def test_the_range_bounds_are_inclusive_below_and_exclusive_above() -> None:
    assert ADAPTER.validate_python("1900-01-01T00:00:00Z").year == 1900
    assert ADAPTER.validate_python(datetime(8999, 12, 31, tzinfo=timezone(timedelta(hours=-1)))).year == 8999
