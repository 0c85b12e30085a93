from __future__ import annotations

from datetime import UTC, date, datetime

from modules.common.time import end_of_local_day, is_valid_timezone, local_date, local_day_bounds, zone


def test_local_date_follows_the_users_zone() -> None:
    moment = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert local_date(moment, "UTC") == date(2026, 3, 1)
    assert local_date(moment, "Asia/Seoul") == date(2026, 3, 2)
    assert local_date(moment, "America/New_York") == date(2026, 3, 1)


def test_local_day_bounds_are_23_hours_on_a_spring_forward_day() -> None:
    start, end = local_day_bounds(date(2026, 3, 8), "America/New_York")
    assert start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 23 * 3600


def test_end_of_local_day() -> None:
    moment = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert end_of_local_day(moment, "Asia/Seoul") == datetime(2026, 6, 1, 15, 0, tzinfo=UTC)


def test_timezone_validation_and_fallback() -> None:
    assert is_valid_timezone("Europe/Berlin")
    assert not is_valid_timezone("Mars/Olympus")
    assert not is_valid_timezone("")
    assert zone("Mars/Olympus") == zone("UTC")
