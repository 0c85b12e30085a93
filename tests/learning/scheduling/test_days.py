"""Calendar days: hand-checked day boundaries, DST, the day-start hour and same-day reviews (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from modules.learning.scheduling import (
    CardState,
    FsrsScheduler,
    InvalidTimezone,
    LearnerDays,
    ReviewResult,
    SchedulerKind,
)
from modules.learning.scheduling.fsrs6 import DEFAULT_WEIGHTS, initial_state, next_state, recall

BERLIN, NEW_YORK, TOKYO = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")


def local(zone: ZoneInfo, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=zone, fold=fold)  # type: ignore[misc]


def test_late_night_belongs_to_the_previous_day_until_the_day_start_hour() -> None:
    days = LearnerDays("Asia/Tokyo", 4)
    evening = local(TOKYO, 2024, 5, 1, 23, 30)
    assert days.elapsed_days(evening, local(TOKYO, 2024, 5, 2, 3, 59)) == 0  # 4.5 h, same learner day
    assert days.same_day(evening, local(TOKYO, 2024, 5, 2, 3, 59))
    assert days.elapsed_days(evening, local(TOKYO, 2024, 5, 2, 4, 0)) == 1  # 4.5 h, next day
    assert days.elapsed_days(local(TOKYO, 2024, 5, 1, 4, 0), local(TOKYO, 2024, 5, 2, 3, 59)) == 0  # 24h-1m


def test_midnight_day_start() -> None:
    days = LearnerDays("Asia/Tokyo", 0)
    assert days.elapsed_days(local(TOKYO, 2024, 5, 1, 23, 30), local(TOKYO, 2024, 5, 2, 0, 30)) == 1
    assert days.elapsed_days(local(TOKYO, 2024, 5, 2, 0, 0), local(TOKYO, 2024, 5, 2, 23, 59)) == 0


def test_days_follow_the_learners_zone_not_utc() -> None:
    # 22:00 and 09:00 the next morning in Tokyo are 13:00 and 00:00 UTC
    first, second = local(TOKYO, 2024, 5, 1, 22, 0), local(TOKYO, 2024, 5, 2, 9, 0)
    assert LearnerDays("Asia/Tokyo").elapsed_days(first, second) == 1
    assert LearnerDays("UTC").elapsed_days(first, second) == 0  # 13:00 and 00:00 UTC: before 04:00 UTC
    # the same instants, given in UTC, map to the same learner days
    assert LearnerDays("Asia/Tokyo").elapsed_days(first.astimezone(UTC), second.astimezone(UTC)) == 1


def test_spring_forward_day_starts_at_four_local() -> None:
    # Berlin, 2024-03-31: clocks jump from 02:00 to 03:00, the learner day is 23 hours long
    days = LearnerDays("Europe/Berlin", 4)
    saturday_night = local(BERLIN, 2024, 3, 30, 23, 0)  # 22:00 UTC
    after_the_jump = local(BERLIN, 2024, 3, 31, 3, 30)  # 01:30 UTC, still Saturday's learner day
    sunday_morning = local(BERLIN, 2024, 3, 31, 4, 30)  # 02:30 UTC, 3.5 hours after the previous one
    assert days.elapsed_days(saturday_night, after_the_jump) == 0
    assert days.elapsed_days(saturday_night, sunday_morning) == 1
    assert days.elapsed_days(local(BERLIN, 2024, 3, 30, 4, 0), local(BERLIN, 2024, 3, 31, 4, 0)) == 1  # 23 h


def test_fall_back_day_is_25_hours_long() -> None:
    # New York, 2024-11-03: 01:00-02:00 happens twice, so the learner day that starts on Saturday
    # 2 November at 04:00 ends on Sunday at 04:00, 25 hours later
    days = LearnerDays("America/New_York", 4)
    start, end = local(NEW_YORK, 2024, 11, 2, 4, 0), local(NEW_YORK, 2024, 11, 3, 3, 59)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24, minutes=59)
    assert days.elapsed_days(start, end) == 0  # more than 24 hours, still the same learner day
    assert days.elapsed_days(start, local(NEW_YORK, 2024, 11, 3, 4, 0)) == 1
    first_130, second_130 = local(NEW_YORK, 2024, 11, 3, 1, 30), local(NEW_YORK, 2024, 11, 3, 1, 30, fold=1)
    assert second_130.astimezone(UTC) - first_130.astimezone(UTC) == timedelta(hours=1)
    assert days.day(first_130) == days.day(second_130) == days.day(local(NEW_YORK, 2024, 11, 2, 12, 0))


def test_elapsed_days_are_never_negative() -> None:
    days = LearnerDays()
    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert days.elapsed_days(at, at - timedelta(days=3)) == 0


@pytest.mark.parametrize("name", ["Mars/Olympus", "", " UTC", "../../etc/passwd", "/etc", "UTC\x00", 5, None])
def test_unknown_timezones_raise_invalid_timezone(name: object) -> None:
    with pytest.raises(InvalidTimezone) as raised:
        LearnerDays(name)  # type: ignore[arg-type]
    assert isinstance(raised.value, ValueError)
    with pytest.raises(InvalidTimezone):
        FsrsScheduler(timezone=name)  # type: ignore[arg-type]


@pytest.mark.parametrize("hour", [-1, 24, 4.5, True])
def test_day_start_hour_must_be_a_whole_hour_of_the_day(hour: object) -> None:
    with pytest.raises(ValueError, match="day_start_hour"):
        LearnerDays("UTC", hour)  # type: ignore[arg-type]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        LearnerDays().day(datetime(2024, 5, 1, 12))


# --- the scheduler counts calendar days --------------------------------------------------------------


def _reviewed(scheduler: FsrsScheduler, at: datetime) -> CardState:
    return scheduler.review(CardState(introduced_at=at), ReviewResult.REMEMBERED, at).state


def test_scheduler_treats_an_evening_and_the_next_morning_as_one_day_apart() -> None:
    fsrs = FsrsScheduler(timezone="Asia/Tokyo")
    evening, morning = local(TOKYO, 2024, 5, 1, 22, 0), local(TOKYO, 2024, 5, 2, 9, 0)  # 11 h apart
    card = _reviewed(fsrs, evening)
    step = fsrs.review(card, ReviewResult.REMEMBERED, morning)

    s0, d0 = initial_state(DEFAULT_WEIGHTS, 3)
    expected = next_state(DEFAULT_WEIGHTS, stability=s0, difficulty=d0, elapsed_days=1, rating=3)
    assert (step.state.stability, step.state.difficulty) == pytest.approx(expected)
    assert step.retrievability_before == pytest.approx(recall(DEFAULT_WEIGHTS, elapsed_days=1, stability=s0))
    # the queue's estimate stays smooth: 11 hours, not a whole day
    assert fsrs.recall_probability(card, morning) == pytest.approx(
        recall(DEFAULT_WEIGHTS, elapsed_days=11 / 24, stability=s0)
    )


def test_scheduler_uses_the_same_day_formula_after_midnight_before_the_day_start() -> None:
    fsrs = FsrsScheduler(timezone="Asia/Tokyo", day_start_hour=4)
    card = _reviewed(fsrs, local(TOKYO, 2024, 5, 1, 23, 30))
    step = fsrs.review(card, ReviewResult.REMEMBERED, local(TOKYO, 2024, 5, 2, 2, 0))

    s0, d0 = initial_state(DEFAULT_WEIGHTS, 3)
    assert step.retrievability_before == 1.0  # same day: t = 0
    assert (step.state.stability, step.state.difficulty) == pytest.approx(
        next_state(DEFAULT_WEIGHTS, stability=s0, difficulty=d0, elapsed_days=0, rating=3)
    )
    midnight_start = FsrsScheduler(timezone="Asia/Tokyo", day_start_hour=0)
    other = midnight_start.review(card, ReviewResult.REMEMBERED, local(TOKYO, 2024, 5, 2, 2, 0))
    assert other.state.stability != step.state.stability  # with a midnight start it is the next day


def test_scheduler_across_the_25_hour_day_is_a_same_day_review() -> None:
    fsrs = FsrsScheduler(timezone="America/New_York")
    card = _reviewed(fsrs, local(NEW_YORK, 2024, 11, 2, 4, 0))
    step = fsrs.review(card, ReviewResult.FORGOT, local(NEW_YORK, 2024, 11, 3, 3, 59))  # 24 h 59 min
    assert step.retrievability_before == 1.0
    s0, d0 = initial_state(DEFAULT_WEIGHTS, 3)
    assert step.state.stability == pytest.approx(
        next_state(DEFAULT_WEIGHTS, stability=s0, difficulty=d0, elapsed_days=0, rating=1)[0]
    )


def test_with_reviews_at_the_same_hour_our_fsrs_equals_the_fsrs_package() -> None:
    """Whole days apart at the same time of day, calendar days equal 24-hour days: same memory."""
    from fsrs import Card, Rating, State

    fsrs = FsrsScheduler(intervals=(1, 3, 7, 14, 30, 60, 120, 180))
    engine = fsrs.engine
    t0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    plan = [
        (0, 3),
        (1, 3),
        (1, 3),
        (4, 1),
        (4, 3),
        (5, 2),
        (13, 3),
        (13, 1),
        (14, 3),
        (40, 3),
    ]  # (day, rating)
    ours = CardState(introduced_at=t0)
    theirs = Card(card_id=1, state=State.Learning, step=0, due=t0)
    results = {1: ReviewResult.FORGOT, 2: ReviewResult.PARTIAL, 3: ReviewResult.REMEMBERED}
    for minute, (day, rating) in enumerate(plan):
        at = t0 + timedelta(days=day, minutes=minute)  # the same hour every day, later minute by minute
        step = fsrs.review(ours, results[rating], at)
        theirs, _ = engine.review_card(theirs, Rating(rating), at)
        ours = step.state
        assert (ours.stability, ours.difficulty) == pytest.approx(
            (theirs.stability, theirs.difficulty), rel=1e-12
        )
        assert step.interval_days == engine._next_interval(stability=theirs.stability)
        assert ours.scheduler == SchedulerKind.FSRS and ours.fsrs_state == int(theirs.state)


def test_scheduler_accepts_fitted_parameters() -> None:
    from modules.learning.scheduling import FsrsParameters

    weights = list(DEFAULT_WEIGHTS)
    weights[2] = 9.0  # a learner whose first "Good" lasts much longer
    fitted = FsrsScheduler(parameters=FsrsParameters(weights=tuple(weights), trained_on=5000))
    default = FsrsScheduler()
    at = datetime(2024, 5, 1, 9, tzinfo=UTC)
    assert fitted.parameters[2] == 9.0
    assert _reviewed(fitted, at).stability == 9.0
    assert fitted.review(CardState(introduced_at=at), ReviewResult.REMEMBERED, at).interval_days > (
        default.review(CardState(introduced_at=at), ReviewResult.REMEMBERED, at).interval_days
    )
    with pytest.raises(ValueError, match="outside"):
        FsrsScheduler(parameters=tuple([*DEFAULT_WEIGHTS[:20], 5.0]))  # decay beyond its bound


@pytest.mark.parametrize(
    "zone",
    ["UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe", "America/St_Johns"],
)
@pytest.mark.parametrize("hour", [0, 4, 23])
def test_day_numbers_of_many_moments_equal_one_by_one(zone: str, hour: int) -> None:
    # Vectorised (one offset lookup per six hours and per change) vs per moment, over three years
    # of random moments plus moments ten minutes apart around each DST change (Lord Howe moves by 30
    # minutes; St John's is UTC-3:30).
    import numpy as np

    days = LearnerDays(zone, hour)
    rng = np.random.default_rng(7)
    start = datetime(2022, 1, 1, tzinfo=UTC).timestamp()
    moments = list(start + rng.random(3000) * 3 * 365 * 86_400)
    local = ZoneInfo(zone)
    previous = None
    for hour_step in range(0, 3 * 365 * 24):
        offset = datetime.fromtimestamp(start + hour_step * 3600, tz=UTC).astimezone(local).utcoffset()
        if previous is not None and offset != previous:
            around = start + hour_step * 3600
            moments += [around + delta for delta in range(-7200, 7200, 599)]
        previous = offset
    epochs = np.array(moments)
    expected = [days.day(datetime.fromtimestamp(second, tz=UTC)) for second in moments]
    assert days.days_of_epochs(epochs).tolist() == expected
