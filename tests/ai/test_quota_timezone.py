"""The daily question quota cannot be multiplied by changing timezone.

A usage row counts the user's local day in the timezone of the moment it was created, as the UTC
window [start, end) of that day. At every instant, the days whose windows contain it hold at most the
limit: a question counted on today (in the current timezone) is allowed only if every day of the user
overlapping today stays within the limit. Without a change of timezone, days do not overlap and
nothing differs; after one, the old days share the limit of the new days they overlap.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.test.utils import CaptureQueriesContext

from modules.ai import services
from modules.ai.models import AIQuestion, AIUsage
from modules.ai.services.quota import remaining_quota, reserve
from modules.ai.testing import make_job, make_usage
from modules.common.errors import QuotaExceeded
from modules.identity.testing import auth_headers, make_user
from modules.learning.testing import make_content
from tests.ai.paragraphs import PARAGRAPHS
from tests.concurrency import run_together

GENERATE = "/api/ai-review/generate/"
USAGE = "/api/ai-review/usage/"
ME = "/api/accounts/users/me/"

# 20:00 on Monday 30 November in UTC is already 10:00 on Tuesday 1 December in Kiritimati (UTC+14).
EVENING = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
UTC_DAY_ENDS = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
KIRITIMATI_DAY_ENDS = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def body(content_id: int, count: int = 10) -> dict[str, Any]:
    return {
        "content_id": content_id,
        "question_types": ["fill_blank", "multiple_choice"],
        "difficulty_level": "intermediate",
        "count": count,
    }


@pytest.fixture
def at(time_machine: Any) -> Any:
    """Stops the clock at the given instant (moves it there again when called again)."""

    def move(moment: datetime) -> None:
        time_machine.move_to(moment, tick=False)

    return move


@pytest.fixture
def learner(at: Any, settings: Any) -> Any:
    """A BASIC learner (30 questions a day) in UTC with one content, made at EVENING."""
    settings.AI_PROVIDER = "local"
    at(EVENING)
    user = make_user(tier="BASIC", timezone="UTC")
    title, text = PARAGRAPHS["photosynthesis"]
    user.content = make_content(user=user, title=title, body=text)
    return user


def move_to_timezone(user: Any, name: str) -> None:
    """As the learner would: PATCH their profile."""
    response = Client(headers=auth_headers(user)).patch(
        ME, {"timezone": name}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    user.refresh_from_db()


def usage_of(user: Any) -> dict[str, Any]:
    response = Client(headers=auth_headers(user)).get(USAGE)
    assert response.status_code == 200
    return response.json()


def generate(user: Any, count: int = 10) -> Any:
    return Client(headers=auth_headers(user)).post(
        GENERATE, body(user.content.pk, count), content_type="application/json"
    )


# --- the bypass ---------------------------------------------------------------------------------


def test_moving_to_a_timezone_where_tomorrow_has_begun_does_not_reset_the_quota(learner) -> None:
    reserve(user=learner, limit=30, count=30)  # 30 of 30 used on 30 November (UTC)
    assert generate(learner).status_code == 429

    move_to_timezone(learner, "Pacific/Kiritimati")  # where it is 1 December already
    usage = usage_of(learner)
    refused = generate(learner)

    assert usage == {
        "date": "2026-12-01",
        "questions_generated": 30,
        "daily_limit": 30,
        "remaining": 0,
        "tokens_used": 0,
        "cost_usd": 0.0,
    }
    assert refused.status_code == 429
    assert refused.json()["code"] == "quota_exceeded"
    assert "30 of 30 used today" in refused.json()["detail"]
    # not when the UTC day ends (in 4 hours): Kiritimati's 1 December overlaps it; its next midnight
    assert int(refused["Retry-After"]) == (KIRITIMATI_DAY_ENDS - EVENING).total_seconds() == 14 * 3600
    assert "The quota resets at midnight (Pacific/Kiritimati)." in refused.json()["detail"]
    assert not AIQuestion.objects.exists()


def test_moving_west_to_an_earlier_calendar_day_does_not_reset_the_quota(learner, at) -> None:
    morning = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 19:00 on 30 November in Los Angeles
    at(morning)
    reserve(user=learner, limit=30, count=30)  # 30 of 30 used on 1 December (UTC)

    move_to_timezone(learner, "America/Los_Angeles")
    usage = usage_of(learner)
    refused = generate(learner)

    assert (usage["date"], usage["questions_generated"], usage["remaining"]) == ("2026-11-30", 30, 0)
    assert refused.status_code == 429
    # 1 December in UTC overlaps 30 November and 1 December in Los Angeles: free on 2 December there
    assert int(refused["Retry-After"]) == 29 * 3600  # 08:00 UTC on 2 December
    assert "resets at midnight (America/Los_Angeles) on 2026-12-02" in refused.json()["detail"]


def test_switching_back_and_forth_gives_no_more_than_the_limit(learner, at) -> None:
    reserve(user=learner, limit=30, count=10)
    learner.timezone = "Pacific/Kiritimati"
    reserve(user=learner, limit=30, count=10)
    learner.timezone = "America/Los_Angeles"
    reserve(user=learner, limit=30, count=10)
    for name in ("UTC", "Pacific/Kiritimati", "America/Los_Angeles", "Asia/Tokyo"):
        learner.timezone = name
        with pytest.raises(QuotaExceeded):
            reserve(user=learner, limit=30, count=1)

    counted = AIUsage.objects.filter(user=learner, questions_generated__gt=0)
    assert counted.count() == 3  # one row per local day the questions were counted on


WEST = [  # real places one hour apart in December, each an hour west of the one before
    "Atlantic/Azores",
    "America/Noronha",
    "America/Sao_Paulo",
    "America/Halifax",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "Pacific/Pago_Pago",
]


def test_hopping_west_hour_after_hour_gives_no_fresh_quota_every_hour(learner, at) -> None:
    at(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    reserve(user=learner, limit=30, count=30)  # 30 late on 30 November (UTC)
    granted = 0
    # every hour, first the next place west, where it is 23:00 (a day that ends within the hour, so
    # questions counted on it would stop counting within the hour), then the place where a day has
    # just begun
    for hour in range(len(WEST)):
        for minutes in (0, 59):
            for name in (WEST[hour], WEST[hour - 1] if hour else "UTC"):
                at(datetime(2026, 12, 1, hour, minutes, tzinfo=UTC))
                move_to_timezone(learner, name)
                for _ in range(3):
                    try:
                        reserve(user=learner, limit=30, count=10)
                    except QuotaExceeded:
                        break
                    granted += 10

    # 1 December's 30 in UTC (a day that overlaps no day with questions), then nothing for 12 hours:
    # as much as staying in UTC gives (counting only the days open now, it was 330 more)
    assert granted == 30


# --- what the usage endpoint says ---------------------------------------------------------------


def test_usage_after_a_timezone_change_reports_what_is_really_available(learner) -> None:
    reserve(user=learner, limit=30, count=20)

    move_to_timezone(learner, "Pacific/Kiritimati")
    before = usage_of(learner)
    made = generate(learner, count=10)
    after = usage_of(learner)

    assert (before["date"], before["questions_generated"], before["remaining"]) == ("2026-12-01", 20, 10)
    assert made.status_code == 201, made.content
    assert made.json()["remaining_daily_quota"] == 0  # 20 on the UTC day + 10 on Kiritimati's
    assert (after["questions_generated"], after["remaining"]) == (30, 0)
    assert generate(learner, count=1).status_code == 429


def test_usage_adds_tokens_and_cost_of_every_day_overlapping_today(learner) -> None:
    make_usage(user=learner, day=EVENING.date(), questions=12, tokens=1000, cost_usd="0.25")
    learner.timezone = "Pacific/Kiritimati"
    learner.save(update_fields=["timezone"])
    make_usage(user=learner, day=EVENING.date() + timedelta(days=1), questions=3, tokens=200, cost_usd="0.05")
    make_usage(user=learner, day=EVENING.date() - timedelta(days=1), questions=30, tokens=9, cost_usd="1")

    assert usage_of(learner) == {
        "date": "2026-12-01",
        "questions_generated": 15,
        "daily_limit": 30,
        "remaining": 15,
        "tokens_used": 1200,
        "cost_usd": 0.3,
    }


def test_the_usage_endpoint_takes_as_many_queries_with_several_overlapping_days_as_with_one(learner) -> None:
    client = Client(headers=auth_headers(learner))
    reserve(user=learner, limit=30, count=5)
    client.get(USAGE)  # the first request of a token may read more (the token's cache)
    with CaptureQueriesContext(connection) as one_day:
        assert client.get(USAGE).json()["questions_generated"] == 5

    for days in range(1, 40):  # a long history, and two more days overlapping today
        make_usage(user=learner, day=EVENING.date() - timedelta(days=days), questions=30)
    for name in ("Pacific/Kiritimati", "America/Los_Angeles"):
        learner.timezone = name
        learner.save(update_fields=["timezone"])
        reserve(user=learner, limit=30, count=5)
    client = Client(headers=auth_headers(learner))
    client.get(USAGE)
    with CaptureQueriesContext(connection) as three_days:
        assert client.get(USAGE).json()["questions_generated"] == 15

    assert len(three_days.captured_queries) == len(one_day.captured_queries)


# --- when the quota frees up ----------------------------------------------------------------------


def test_the_quota_frees_at_the_first_local_midnight_once_the_old_day_no_longer_overlaps(learner, at) -> None:
    reserve(user=learner, limit=30, count=30)
    move_to_timezone(learner, "Pacific/Kiritimati")

    at(UTC_DAY_ENDS)  # 30 November is over in UTC, but Kiritimati's 1 December held 30 of its hours
    over_in_utc = generate(learner)
    at(KIRITIMATI_DAY_ENDS - timedelta(seconds=1))
    last_second = generate(learner)
    at(KIRITIMATI_DAY_ENDS)
    usage = usage_of(learner)
    allowed = generate(learner)

    assert over_in_utc.status_code == 429
    assert over_in_utc["Retry-After"] == str(10 * 3600)
    assert last_second.status_code == 429
    assert last_second["Retry-After"] == "1"
    assert (usage["date"], usage["questions_generated"], usage["remaining"]) == ("2026-12-02", 0, 30)
    assert allowed.status_code == 201, allowed.content


def test_moving_west_frees_the_quota_once_the_old_day_is_over_on_the_first_new_midnight(learner, at) -> None:
    at(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    reserve(user=learner, limit=30, count=30)  # 1 December in UTC: until 00:00 UTC on 2 December
    move_to_timezone(learner, "America/Los_Angeles")

    at(datetime(2026, 12, 2, 7, 59, 59, tzinfo=UTC))
    last_second = generate(learner)
    at(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))  # midnight in Los Angeles
    usage = usage_of(learner)
    allowed = generate(learner)

    assert (last_second.status_code, last_second["Retry-After"]) == (429, "1")
    assert (usage["date"], usage["questions_generated"], usage["remaining"]) == ("2026-12-02", 0, 30)
    assert allowed.status_code == 201, allowed.content


def test_moving_a_whole_day_west_at_the_same_hours_keeps_the_same_day(learner, at) -> None:
    # Kiritimati (UTC+14) and Honolulu (UTC-10): another calendar date, the same 24 hours
    move_to_timezone(learner, "Pacific/Kiritimati")
    reserve(user=learner, limit=30, count=30)
    move_to_timezone(learner, "Pacific/Honolulu")

    usage = usage_of(learner)
    refused = generate(learner)

    assert (usage["date"], usage["questions_generated"], usage["remaining"]) == ("2026-11-30", 30, 0)
    assert int(refused["Retry-After"]) == 14 * 3600  # midnight in both places
    assert AIUsage.objects.filter(user=learner).count() == 1


def test_retry_after_is_the_first_local_midnight_that_leaves_room_for_the_request(learner) -> None:
    move_to_timezone(learner, "Pacific/Kiritimati")
    reserve(user=learner, limit=30, count=5)  # Kiritimati's 1 December: until 10:00 UTC on 1 December
    move_to_timezone(learner, "America/Los_Angeles")
    reserve(user=learner, limit=30, count=25)  # Los Angeles' 30 November: until 08:00 UTC on 1 December

    with pytest.raises(QuotaExceeded) as ten:
        reserve(user=learner, limit=30, count=10)
    with pytest.raises(QuotaExceeded) as thirty:
        reserve(user=learner, limit=30, count=30)

    # Los Angeles' 1 December still overlaps Kiritimati's day for two hours: 5 of 30 count on it
    assert ten.value.retry_after_seconds == 12 * 3600  # room for 10 at midnight in Los Angeles
    assert "The quota resets at midnight (America/Los_Angeles)." in str(ten.value.detail)
    assert thirty.value.retry_after_seconds == 36 * 3600  # room for 30 only on 2 December there
    assert "on 2026-12-02" in str(thirty.value.detail)


# --- the ordinary cases -----------------------------------------------------------------------------


def test_a_user_who_never_changes_timezone_resets_at_local_midnight(at, settings) -> None:
    settings.AI_PROVIDER = "local"
    at(datetime(2026, 12, 1, 4, 30, tzinfo=UTC))  # 23:30 on 30 November in New York
    user = make_user(tier="BASIC", timezone="America/New_York")
    title, text = PARAGRAPHS["photosynthesis"]
    user.content = make_content(user=user, title=title, body=text)
    reserve(user=user, limit=30, count=30)

    refused = generate(user)
    before = usage_of(user)
    at(datetime(2026, 12, 1, 5, 0, tzinfo=UTC))  # midnight in New York
    after = usage_of(user)
    allowed = generate(user)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "1800"
    assert "The quota resets at midnight (America/New_York)." in refused.json()["detail"]
    assert (before["date"], before["questions_generated"], before["remaining"]) == ("2026-11-30", 30, 0)
    assert (after["date"], after["questions_generated"], after["remaining"]) == ("2026-12-01", 0, 30)
    assert allowed.status_code == 201
    assert allowed.json()["remaining_daily_quota"] == 20


def test_local_days_across_daylight_saving_time_still_follow_each_other(at) -> None:
    # 14 March 2027 lasts 23 hours in New York (clocks go forward at 2:00)
    user = make_user(tier="BASIC", timezone="America/New_York")
    at(datetime(2027, 3, 14, 12, 0, tzinfo=UTC))
    reserve(user=user, limit=30, count=30)

    with pytest.raises(QuotaExceeded) as refused:
        reserve(user=user, limit=30, count=1)
    reserve(user=user, limit=30, count=30, now=datetime(2027, 3, 15, 4, 0, tzinfo=UTC))  # midnight EDT

    assert refused.value.retry_after_seconds == 16 * 3600
    windows = list(user.ai_usage.order_by("window_start").values_list("window_start", "window_end"))
    assert windows == [
        (datetime(2027, 3, 14, 5, 0, tzinfo=UTC), datetime(2027, 3, 15, 4, 0, tzinfo=UTC)),
        (datetime(2027, 3, 15, 4, 0, tzinfo=UTC), datetime(2027, 3, 16, 4, 0, tzinfo=UTC)),
    ]


def test_a_reservation_given_back_after_a_timezone_change_frees_the_quota(learner, at) -> None:
    usage_id = reserve(user=learner, limit=30, count=9)  # a queued job's reservation
    job = make_job(user=learner, content_ids=[learner.content.pk], usage_id=usage_id, reserved=9)

    move_to_timezone(learner, "Pacific/Kiritimati")
    held = usage_of(learner)
    at(EVENING + timedelta(hours=1))
    assert services.fail_stale_jobs() == 1
    released = usage_of(learner)

    assert (held["questions_generated"], held["remaining"]) == (9, 21)
    job.refresh_from_db()
    assert (job.status, job.reserved) == ("failed", 0)
    assert (released["questions_generated"], released["remaining"]) == (0, 30)
    assert AIUsage.objects.get(pk=usage_id).date == EVENING.date()  # given back to the day it was held on
    assert remaining_quota(usage_id=usage_id, limit=30) == 30


# --- concurrency (real PostgreSQL, one connection per thread) --------------------------------------


@pytest.mark.django_db(transaction=True)
def test_parallel_reservations_on_both_sides_of_a_timezone_change_never_pass_the_quota() -> None:
    user = make_user(tier="BASIC", timezone="UTC")
    reserve(user=user, limit=30, count=18, now=EVENING)  # 12 left
    east = copy.copy(user)
    east.timezone = "Pacific/Kiritimati"  # requests read before and after the profile change

    def one(index: int) -> bool:
        try:
            reserve(user=east if index % 2 else user, limit=30, count=5, now=EVENING)
        except QuotaExceeded:
            return False
        return True

    passed = run_together(one, 10, timeout=60)

    assert passed.count(True) == 2  # 12 left: two reservations of 5 fit, a third does not
    rows = AIUsage.objects.filter(user=user, window_start__lte=EVENING, window_end__gt=EVENING)
    assert sum(rows.values_list("questions_generated", flat=True)) == 28


# --- the migration ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_rows_their_day_in_the_users_timezone() -> None:
    executor = MigrationExecutor(connection)
    before = [("ai", "0002_redundant_fk_indexes")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    try:
        users = old.get_model("identity", "User")
        tokyo = users.objects.create(email="tokyo@example.com", timezone="Asia/Tokyo")
        utc = users.objects.create(email="utc@example.com", timezone="UTC")
        usage = old.get_model("ai", "AIUsage")
        usage.objects.create(user=tokyo, date=datetime(2026, 11, 30).date(), questions_generated=7)
        usage.objects.create(user=utc, date=datetime(2026, 11, 30).date(), questions_generated=3)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        # every app's latest migration, 0003 among them: the tests after this one need the whole schema
        executor.migrate(executor.loader.graph.leaf_nodes())

    windows = dict(AIUsage.objects.values_list("user__email", "window_start").order_by("user__email").all())
    assert windows == {
        "tokyo@example.com": datetime(2026, 11, 29, 15, 0, tzinfo=UTC),
        "utc@example.com": datetime(2026, 11, 30, 0, 0, tzinfo=UTC),
    }
    assert set(AIUsage.objects.values_list("window_end", flat=True)) == {
        datetime(2026, 11, 30, 15, 0, tzinfo=UTC),
        datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
    }
