"""The learner's calendar days: how FSRS counts "days since the last review".

FSRS (and Anki) count elapsed time in whole days of the learner's own calendar, not in 24-hour
periods: a review at 23:00 and the next one at 09:00 the following morning are one day apart, and two
reviews on the same calendar day are zero days apart (a *same-day* review). The day starts at
``day_start_hour`` local time (4 am by default, as in Anki), so a late-night session after midnight
still belongs to the previous day. Local time is the learner's IANA timezone (``zoneinfo``), so
daylight-saving changes move the boundary with the wall clock: the day always starts at 04:00 local,
whether that day is 23, 24 or 25 hours long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

DEFAULT_DAY_START_HOUR = 4
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_PROBE_SECONDS = 6 * 3600  # zones change offset at most once in six hours (in practice twice a year)


class InvalidTimezone(ValueError):
    """The timezone is not an IANA zone this machine knows (e.g. ``Mars/Olympus``)."""

    def __init__(self, name: object) -> None:
        super().__init__(f"unknown timezone {name!r}: expected an IANA name such as 'Europe/Paris'")
        self.name = name


def learner_zone(name: str) -> ZoneInfo:
    """The zone named ``name``; :class:`InvalidTimezone` when it does not exist."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise InvalidTimezone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:  # OSError: a path such as "/etc"
        raise InvalidTimezone(name) from error


@dataclass(frozen=True)
class LearnerDays:
    """Maps moments to the learner's day numbers (proleptic ordinals of the local calendar day)."""

    timezone: str = "UTC"
    day_start_hour: int = DEFAULT_DAY_START_HOUR
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.day_start_hour, bool) or not isinstance(self.day_start_hour, int):
            raise ValueError("day_start_hour must be a whole hour between 0 and 23")
        if not 0 <= self.day_start_hour <= 23:
            raise ValueError("day_start_hour must be a whole hour between 0 and 23")
        object.__setattr__(self, "zone", learner_zone(self.timezone))

    def day(self, at: datetime) -> int:
        """The learner's day number of ``at`` (consecutive days differ by one)."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("review times must be timezone-aware")
        local = at.astimezone(self.zone)
        # on the naive local wall clock, so the boundary is at day_start_hour local on DST days too
        return (local.replace(tzinfo=None) - timedelta(hours=self.day_start_hour)).date().toordinal()

    def days_of_epochs(self, epochs: np.ndarray) -> np.ndarray:
        """``day`` for many moments at once, given as POSIX seconds: the same numbers, vectorised.

        The zone's offset is looked up once per six hours of the range covered and at each change
        found (located to the second by bisection), not once per moment.
        """
        seconds = np.asarray(epochs, dtype=np.float64)
        if not len(seconds):
            return np.zeros(0, dtype=np.int64)
        changes, offsets = self._offset_changes(float(seconds.min()), float(seconds.max()))
        offset = np.asarray(offsets, dtype=np.float64)[np.searchsorted(changes, seconds, side="right")]
        local = seconds + offset - self.day_start_hour * 3600
        return np.floor(local / 86_400).astype(np.int64) + _EPOCH_ORDINAL

    def _offset(self, second: int) -> int:
        moment = datetime.fromtimestamp(second, tz=UTC).astimezone(self.zone)
        return int(moment.utcoffset().total_seconds())  # type: ignore[union-attr]

    def _offset_changes(self, first: float, last: float) -> tuple[list[int], list[int]]:
        """(the seconds at which the offset changes within [first, last], the offsets between)."""
        start, stop = int(np.floor(first)), int(np.ceil(last))
        probes = [*range(start, stop, _PROBE_SECONDS), stop]
        changes: list[int] = []
        offsets = [self._offset(start)]
        previous = start
        for probe in probes[1:]:
            current = self._offset(probe)
            if current != offsets[-1]:
                low, high = previous, probe  # offset(low) is the old one, offset(high) the new one
                while high - low > 1:
                    middle = (low + high) // 2
                    if self._offset(middle) == offsets[-1]:
                        low = middle
                    else:
                        high = middle
                changes.append(high)
                offsets.append(current)
            previous = probe
        return changes, offsets

    def elapsed_days(self, earlier: datetime, later: datetime) -> int:
        """Whole learner days from ``earlier`` to ``later``; 0 on the same day (never negative)."""
        return max(0, self.day(later) - self.day(earlier))

    def same_day(self, earlier: datetime, later: datetime) -> bool:
        return self.day(later) == self.day(earlier)
