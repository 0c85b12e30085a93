"""Time helpers: everything is stored in UTC; a user's "today" is their local calendar day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

UTC = ZoneInfo("UTC")


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


def zone(name: str) -> ZoneInfo:
    """The user's zone; an unknown name (should not happen: it is validated on save) falls back to UTC."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def is_valid_timezone(name: str) -> bool:
    return bool(name) and name in _zone_names()


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def local_date(moment: datetime, tz_name: str) -> date:
    return moment.astimezone(zone(tz_name)).date()


def local_day_bounds(day: date, tz_name: str) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day, as aware UTC datetimes (DST-safe)."""
    tz = zone(tz_name)
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def end_of_local_day(moment: datetime, tz_name: str) -> datetime:
    return local_day_bounds(local_date(moment, tz_name), tz_name)[1]
