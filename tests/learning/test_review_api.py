from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from modules.identity import services as identity
from modules.identity.testing import auth_headers, make_user
from modules.learning.models import IdempotencyRecord, ReviewHistory, ReviewSchedule
from modules.learning.testing import make_category, make_content, make_due_content, record_review

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")


def complete(client: Client, payload: dict, **headers: str):
    return client.post("/api/review/complete/", payload, content_type="application/json", headers=headers)


# --- Today's queue -----------------------------------------------------------------------------------


def test_today_lists_due_items_most_overdue_first(auth_client: Client, user, other_user) -> None:
    category = make_category(user=user, name="Words")
    due_now = make_due_content(user=user, title="due now", category=category)
    three_days = make_due_content(
        user=user, title="three days late", overdue_days=3, created_at=timezone.now() - timedelta(days=4)
    )
    make_content(user=user, title="next week", due_at=timezone.now() + timedelta(days=7))
    make_due_content(user=other_user, title="not mine", overdue_days=1)

    response = auth_client.get("/api/review/today/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["overdue_count"] == 1
    assert [item["content"]["title"] for item in body["items"]] == ["three days late", "due now"]
    late, now_item = body["items"]
    assert late["overdue_days"] == 3
    assert now_item["overdue_days"] in (0, 1)  # an hour ago may be yesterday just after midnight
    assert now_item["content"] == {
        "id": due_now.pk,
        "title": "due now",
        "body": due_now.body,
        "category": {"id": category.pk, "name": "Words", "slug": "words"},
    }
    assert set(late) == {"content", "stage", "next_review_date", "overdue_days", "retrievability"}
    assert 0 < late["retrievability"] < 1
    assert three_days.pk == late["content"]["id"]


def test_today_includes_everything_due_before_the_end_of_the_local_day(client_for) -> None:
    # In Tokyo (UTC+9) the local day ends at 15:00 UTC.
    user = make_user(timezone="Asia/Tokyo")
    now = timezone.now()
    local_end = (now.astimezone(TOKYO) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    make_content(user=user, title="later today", due_at=local_end - timedelta(minutes=5))
    make_content(user=user, title="tomorrow", due_at=local_end + timedelta(minutes=5))

    body = client_for(user).get("/api/review/today/").json()

    assert [item["content"]["title"] for item in body["items"]] == ["later today"]
    assert body["items"][0]["overdue_days"] == 0


def test_today_limit_cuts_the_items_but_not_the_counts(auth_client: Client, user) -> None:
    for days in range(5):
        make_due_content(user=user, overdue_days=days)
    body = auth_client.get("/api/review/today/?limit=2").json()
    assert len(body["items"]) == 2
    assert (body["count"], body["overdue_count"]) == (5, 4)


def test_today_pages_through_the_queue_with_offset_and_keeps_the_counts(auth_client: Client, user) -> None:
    for days in range(25):
        make_due_content(user=user, title=f"item {days:02d}", overdue_days=days % 3)
    first = auth_client.get("/api/review/today/").json()
    second = auth_client.get("/api/review/today/?offset=20").json()
    past_the_end = auth_client.get("/api/review/today/?offset=40").json()

    assert len(first["items"]) == 20  # the contract's default page size
    assert len(second["items"]) == 5
    ids = [item["content"]["id"] for item in first["items"] + second["items"]]
    assert len(set(ids)) == 25
    overdue_days = [item["overdue_days"] for item in first["items"] + second["items"]]
    assert overdue_days == sorted(overdue_days, reverse=True)  # most overdue first, across pages
    for body in (first, second, past_the_end):
        assert (body["count"], body["overdue_count"]) == (25, 16)
    assert past_the_end["items"] == []


def test_today_rejects_a_page_size_over_the_maximum(auth_client: Client) -> None:
    response = auth_client.get("/api/review/today/?limit=101")
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("due", [1, 10, 60])
def test_today_query_count_is_constant(
    auth_client: Client, user, due: int, django_assert_max_num_queries
) -> None:
    category = make_category(user=user, name="C")
    for index in range(due):
        make_due_content(user=user, overdue_days=index % 4, category=category if index % 2 else None)
    with django_assert_max_num_queries(2):  # the user and the queue
        body = auth_client.get("/api/review/today/?limit=100").json()
    assert body["count"] == due
    assert len(body["items"]) == due


def test_today_requires_authentication(api_client: Client) -> None:
    assert api_client.get("/api/review/today/").status_code == 401


# --- Completing a review --------------------------------------------------------------------------------


def test_remembered_moves_up_one_stage_and_schedules_its_interval(auth_client: Client, user) -> None:
    content = make_due_content(user=user)
    before = timezone.now()

    response = complete(
        auth_client, {"content_id": content.pk, "result": "remembered", "time_spent_seconds": 12}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["content_id"] == content.pk
    assert body["result"] == "remembered"
    assert (body["previous_stage"], body["stage"], body["interval_days"]) == (0, 1, 3)
    assert body["early"] is False
    assert 0 < body["retrievability_before"] <= 1
    next_review = datetime.fromisoformat(body["next_review_date"])
    assert before + timedelta(days=3) <= next_review <= timezone.now() + timedelta(days=3)
    schedule = ReviewSchedule.objects.get(content=content)
    assert (schedule.stage, schedule.review_count, schedule.interval_days) == (1, 1, 3)
    assert abs(schedule.next_review_date - next_review) < timedelta(milliseconds=1)  # JSON keeps ms
    history = ReviewHistory.objects.get(content=content)
    assert (history.result, history.stage_before, history.stage_after, history.time_spent_seconds) == (
        "remembered",
        0,
        1,
        12,
    )


def test_partial_keeps_the_stage_and_forgot_resets_it(auth_client: Client, user) -> None:
    content = make_due_content(user=user, stage=3)  # BASIC: 14 days
    partial = complete(auth_client, {"content_id": content.pk, "result": "partial"}).json()
    forgot = complete(auth_client, {"content_id": content.pk, "result": "forgot"}).json()
    assert (partial["previous_stage"], partial["stage"], partial["interval_days"]) == (3, 3, 14)
    assert (forgot["previous_stage"], forgot["stage"], forgot["interval_days"]) == (3, 0, 1)


def test_last_stage_repeats_the_last_interval(client_for) -> None:
    pro = make_user(tier="PRO")
    content = make_due_content(user=pro, stage=7)
    body = complete(client_for(pro), {"content_id": content.pk, "result": "remembered"}).json()
    assert (body["stage"], body["interval_days"]) == (7, 180)


def test_a_tier_downgrade_clamps_the_stage_at_the_next_review(client_for) -> None:
    member = make_user(tier="PRO")
    content = make_due_content(user=member, stage=6)
    identity.change_tier(user=member, tier="FREE", source="test")

    unchanged = ReviewSchedule.objects.get(content=content).stage
    body = complete(client_for(member), {"content_id": content.pk, "result": "remembered"}).json()

    assert unchanged == 6  # nothing moves until the next review
    assert (body["previous_stage"], body["stage"], body["interval_days"]) == (6, 1, 3)


def test_an_expired_subscription_reviews_on_the_free_ladder(client_for) -> None:
    member = make_user(tier="PRO")
    identity.change_tier(
        user=member, tier="PRO", source="test", expires_at=timezone.now() - timedelta(days=1)
    )
    content = make_due_content(user=member, stage=1)
    body = complete(client_for(member), {"content_id": content.pk, "result": "remembered"}).json()
    assert (body["stage"], body["interval_days"]) == (1, 3)


def test_an_early_review_is_allowed_and_flagged(auth_client: Client, user) -> None:
    content = make_content(user=user, due_at=timezone.now() + timedelta(days=5))
    body = complete(auth_client, {"content_id": content.pk, "result": "remembered"}).json()
    assert body["early"] is True
    assert ReviewHistory.objects.get(content=content).early is True


def test_reviewed_at_is_accepted_for_offline_clients(auth_client: Client, user) -> None:
    content = make_due_content(user=user, overdue_days=3, created_at=timezone.now() - timedelta(days=4))
    reviewed_at = (timezone.now() - timedelta(days=2)).replace(microsecond=0)
    body = complete(
        auth_client,
        {"content_id": content.pk, "result": "remembered", "reviewed_at": reviewed_at.isoformat()},
    ).json()
    assert datetime.fromisoformat(body["reviewed_at"]) == reviewed_at
    assert datetime.fromisoformat(body["next_review_date"]) == reviewed_at + timedelta(days=3)
    assert ReviewHistory.objects.get(content=content).reviewed_at == reviewed_at


@pytest.mark.parametrize(
    "offset",
    [timedelta(hours=1), timedelta(days=7, minutes=1)],
    ids=["future", "older-than-7-days"],
)
def test_reviewed_at_in_the_future_or_too_old_is_422(auth_client: Client, user, offset: timedelta) -> None:
    content = make_due_content(user=user, overdue_days=1, created_at=timezone.now() - timedelta(days=30))
    moment = timezone.now() + offset if offset < timedelta(days=1) else timezone.now() - offset
    response = complete(
        auth_client, {"content_id": content.pk, "result": "remembered", "reviewed_at": moment.isoformat()}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert not ReviewHistory.objects.exists()


def test_reviewed_at_before_the_last_review_is_422(auth_client: Client, user) -> None:
    content = make_due_content(user=user, created_at=timezone.now() - timedelta(days=6))
    complete(auth_client, {"content_id": content.pk, "result": "remembered"})
    response = complete(
        auth_client,
        {
            "content_id": content.pk,
            "result": "remembered",
            "reviewed_at": (timezone.now() - timedelta(days=1)).isoformat(),
        },
    )
    assert response.status_code == 422
    assert ReviewHistory.objects.count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"result": "remembered"},
        {"content_id": 1, "result": "easy"},
        {"content_id": 1, "result": "remembered", "time_spent_seconds": -1},
        {"content_id": 1, "result": "remembered", "stage": 4},
        {"content_id": 1, "result": "remembered", "reviewed_at": "yesterday"},
    ],
    ids=["missing-content", "unknown-result", "negative-time", "unknown-field", "bad-date"],
)
def test_invalid_completion_is_422(auth_client: Client, payload: dict) -> None:
    response = complete(auth_client, payload)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_completing_another_users_or_a_missing_content_is_404(auth_client: Client, other_user) -> None:
    theirs = make_due_content(user=other_user)
    for content_id in (theirs.pk, 999_999):
        response = complete(auth_client, {"content_id": content_id, "result": "remembered"})
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert ReviewSchedule.objects.get(content=theirs).review_count == 0


def test_completion_requires_authentication(api_client: Client) -> None:
    assert complete(api_client, {"content_id": 1, "result": "remembered"}).status_code == 401


def test_completion_takes_at_most_five_statements(
    auth_client: Client, user, django_assert_max_num_queries
) -> None:
    content = make_due_content(user=user)
    # user, SAVEPOINT, locked schedule, one write (history, schedule update, tallies, key), RELEASE
    with django_assert_max_num_queries(5):
        response = complete(
            auth_client, {"content_id": content.pk, "result": "remembered"}, **{"Idempotency-Key": "k-1"}
        )
    assert response.status_code == 200
    with django_assert_max_num_queries(5):  # the same without the key
        response = complete(auth_client, {"content_id": content.pk, "result": "partial"})
    assert response.status_code == 200


# --- Idempotency --------------------------------------------------------------------------------------


def test_a_replayed_idempotency_key_changes_nothing_and_answers_the_same_body(
    auth_client: Client, user
) -> None:
    content = make_due_content(user=user)
    payload = {"content_id": content.pk, "result": "remembered", "time_spent_seconds": 5}

    first = complete(auth_client, payload, **{"Idempotency-Key": "abc-123"})
    second = complete(auth_client, payload, **{"Idempotency-Key": "abc-123"})

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert ReviewHistory.objects.filter(content=content).count() == 1
    assert ReviewSchedule.objects.get(content=content).stage == 1


def test_the_same_key_with_a_different_body_is_409(auth_client: Client, user) -> None:
    content = make_due_content(user=user)
    complete(auth_client, {"content_id": content.pk, "result": "remembered"}, **{"Idempotency-Key": "key"})
    response = complete(
        auth_client, {"content_id": content.pk, "result": "forgot"}, **{"Idempotency-Key": "key"}
    )
    assert (response.status_code, response.json()["code"]) == (409, "conflict")
    assert ReviewHistory.objects.filter(content=content).count() == 1


def test_idempotency_keys_are_per_user(client_for, user, other_user) -> None:
    mine, theirs = make_due_content(user=user), make_due_content(user=other_user)
    a = complete(
        client_for(user), {"content_id": mine.pk, "result": "remembered"}, **{"Idempotency-Key": "same"}
    )
    b = complete(
        client_for(other_user),
        {"content_id": theirs.pk, "result": "remembered"},
        **{"Idempotency-Key": "same"},
    )
    assert a.status_code == b.status_code == 200
    assert ReviewHistory.objects.count() == 2


def test_without_a_key_each_completion_counts(auth_client: Client, user) -> None:
    content = make_due_content(user=user)
    for _ in range(2):
        complete(auth_client, {"content_id": content.pk, "result": "remembered"})
    assert ReviewHistory.objects.filter(content=content).count() == 2


@pytest.mark.parametrize("key", ["k" * 256, "nul\u0000", "tab\tkey"])
def test_an_overlong_or_unprintable_idempotency_key_is_422(auth_client: Client, user, key: str) -> None:
    content = make_due_content(user=user)
    response = complete(
        auth_client, {"content_id": content.pk, "result": "remembered"}, **{"Idempotency-Key": key}
    )
    assert response.status_code == 422


def test_a_failed_request_stores_no_key(auth_client: Client) -> None:
    response = complete(
        auth_client, {"content_id": 424242, "result": "remembered"}, **{"Idempotency-Key": "nope"}
    )
    assert response.status_code == 404
    assert not IdempotencyRecord.objects.exists()


def test_old_idempotency_records_are_pruned_by_the_daily_task(user) -> None:
    from modules.learning import tasks

    now = timezone.now()
    IdempotencyRecord.objects.create(
        user=user, key="old", request_hash="x", response={}, created_at=now - timedelta(hours=25)
    )
    IdempotencyRecord.objects.create(
        user=user, key="new", request_hash="x", response={}, created_at=now - timedelta(hours=23)
    )

    assert tasks.prune_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


# --- Scheduler switch --------------------------------------------------------------------------------


def test_fsrs_users_get_fsrs_intervals_and_memory_state(client_for) -> None:
    member = make_user(tier="PRO", scheduler="fsrs")
    content = make_due_content(user=member)
    body = complete(client_for(member), {"content_id": content.pk, "result": "remembered"}).json()
    schedule = ReviewSchedule.objects.get(content=content)
    assert schedule.scheduler == "fsrs"
    assert schedule.stability is not None and schedule.difficulty is not None
    assert body["stage"] == 1
    assert body["interval_days"] == 2  # FSRS-6 default parameters, Good on a new card


def test_switching_to_fsrs_rebuilds_memory_from_the_history(client_for) -> None:
    member = make_user(tier="PRO")
    content = make_content(user=member, created_at=timezone.now() - timedelta(days=6))
    client = client_for(member)
    for days_ago, result in ((5, "remembered"), (2, "remembered")):
        reviewed_at = timezone.now() - timedelta(days=days_ago)
        complete(client, {"content_id": content.pk, "result": result, "reviewed_at": reviewed_at.isoformat()})
    assert ReviewSchedule.objects.get(content=content).scheduler == "ladder"

    identity.update_profile(user=member, changes={"scheduler": "fsrs"})
    body = complete(client, {"content_id": content.pk, "result": "remembered"}).json()

    schedule = ReviewSchedule.objects.get(content=content)
    assert schedule.scheduler == "fsrs"
    assert schedule.review_count == 3
    assert body["previous_stage"] == 2 and body["stage"] == 3
    assert ReviewHistory.objects.filter(content=content).count() == 3  # history kept
    assert schedule.stability > 2.3  # more than a first review's stability: the past was replayed


def test_switching_back_to_the_ladder_continues_from_the_stage(client_for) -> None:
    member = make_user(tier="BASIC", scheduler="fsrs")
    content = make_due_content(user=member, stage=2)
    client = client_for(member)
    complete(client, {"content_id": content.pk, "result": "remembered"})
    identity.update_profile(user=member, changes={"scheduler": "ladder"})
    schedule = ReviewSchedule.objects.get(content=content)
    ReviewSchedule.objects.filter(pk=schedule.pk).update(next_review_date=timezone.now() - timedelta(hours=1))
    body = complete(client, {"content_id": content.pk, "result": "remembered"}).json()
    assert (body["previous_stage"], body["stage"], body["interval_days"]) == (3, 4, 30)
    assert ReviewSchedule.objects.get(content=content).stability is None


# --- History --------------------------------------------------------------------------------------


def test_history_is_a_cursor_list_newest_first(auth_client: Client, user, other_user) -> None:
    content = make_content(user=user, created_at=timezone.now() - timedelta(days=7))
    for days_ago in (6, 4, 2):
        complete(
            auth_client,
            {
                "content_id": content.pk,
                "result": "remembered",
                "reviewed_at": (timezone.now() - timedelta(days=days_ago)).isoformat(),
            },
        )
    theirs = make_due_content(user=other_user)
    complete(Client(headers=auth_headers(other_user)), {"content_id": theirs.pk, "result": "forgot"})

    first = auth_client.get("/api/review/history/?page_size=2").json()

    assert set(first) == {"results", "next", "previous", "next_cursor", "previous_cursor"}
    assert [row["stage_after"] for row in first["results"]] == [3, 2]
    row = first["results"][0]
    assert {
        "id",
        "content_id",
        "result",
        "reviewed_at",
        "stage_before",
        "stage_after",
        "interval_days",
        "time_spent_seconds",
    } <= set(row)
    assert first["next"] is not None
    second = auth_client.get(first["next"]).json()
    assert [row["stage_after"] for row in second["results"]] == [1]
    assert second["next"] is None


@pytest.mark.parametrize(
    "raw", ["p=abc", "p=2024-13-45T99:00:00", "o=-1", "p=2024-01-01&o=99999999", "r=maybe"]
)
def test_a_crafted_history_cursor_is_422(auth_client: Client, raw: str) -> None:
    import base64

    cursor = base64.b64encode(raw.encode()).decode()
    response = auth_client.get(f"/api/review/history/?cursor={cursor}")
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_a_garbage_history_cursor_is_422(auth_client: Client) -> None:
    response = auth_client.get("/api/review/history/?cursor=not-base64!")
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["query", "cursor"], "msg": "Invalid cursor.", "type": "value_error"}
    ]


def test_history_filters_by_content(auth_client: Client, user) -> None:
    first, second = make_due_content(user=user), make_due_content(user=user)
    complete(auth_client, {"content_id": first.pk, "result": "remembered"})
    complete(auth_client, {"content_id": second.pk, "result": "forgot"})

    body = auth_client.get(f"/api/review/history/?content_id={second.pk}").json()

    assert [(row["content_id"], row["result"]) for row in body["results"]] == [(second.pk, "forgot")]


@pytest.mark.parametrize("page_size", [1, 10, 100])
def test_history_query_count_is_constant(
    auth_client: Client, user, page_size: int, django_assert_max_num_queries
) -> None:
    content = make_due_content(user=user)
    for index in range(30):
        record_review(content=content, reviewed_at=timezone.now() - timedelta(hours=index))
    with django_assert_max_num_queries(2):
        body = auth_client.get(f"/api/review/history/?page_size={page_size}").json()
    assert len(body["results"]) == min(page_size, 30)


def test_history_is_read_only(auth_client: Client, user) -> None:
    content = make_due_content(user=user)
    complete(auth_client, {"content_id": content.pk, "result": "remembered"})
    history_id = ReviewHistory.objects.get().pk
    for method in ("post", "put", "patch", "delete"):
        response = getattr(auth_client, method)("/api/review/history/", {}, content_type="application/json")
        assert response.status_code == 405
    assert auth_client.delete(f"/api/review/history/{history_id}/").status_code == 404
    assert ReviewHistory.objects.count() == 1


def test_history_rows_cannot_be_updated_in_code(user) -> None:
    content = make_due_content(user=user)
    row = record_review(content=content)
    row.result = "forgot"
    with pytest.raises(ValueError, match="append-only"):
        row.save()


# --- Forecast ---------------------------------------------------------------------------------------


def test_forecast_counts_due_reviews_per_local_day_with_overdue_today(auth_client: Client, user) -> None:
    now = timezone.now()
    make_due_content(user=user, overdue_days=2)
    make_content(user=user, due_at=now + timedelta(days=1, minutes=1))
    make_content(user=user, due_at=now + timedelta(days=1, minutes=2))
    make_content(user=user, due_at=now + timedelta(days=40))

    response = auth_client.get("/api/review/forecast/?days=7")

    assert response.status_code == 200
    days = response.json()
    assert len(days) == 7
    assert days[0]["date"] == timezone.localdate(now, UTC).isoformat()
    assert sum(day["due"] for day in days) == 3
    assert days[0]["due"] >= 1
    assert days[1]["due"] + days[2]["due"] == 2


def test_forecast_defaults_to_30_days_and_validates_the_range(auth_client: Client) -> None:
    assert len(auth_client.get("/api/review/forecast/").json()) == 30
    assert len(auth_client.get("/api/review/forecast/?days=365").json()) == 365
    assert auth_client.get("/api/review/forecast/?days=0").status_code == 422
    assert auth_client.get("/api/review/forecast/?days=366").status_code == 422


def test_forecast_uses_the_users_local_dates(client_for) -> None:
    user = make_user(timezone="Pacific/Kiritimati")  # UTC+14
    now = timezone.now()
    make_content(user=user, due_at=now + timedelta(minutes=1))
    days = client_for(user).get("/api/review/forecast/?days=2").json()
    local_today = now.astimezone(KIRITIMATI).date().isoformat()
    assert days[0]["date"] == local_today
    assert days[0]["due"] + days[1]["due"] == 1


def test_forecast_is_one_query(auth_client: Client, user, django_assert_max_num_queries) -> None:
    for days in range(10):
        make_content(user=user, due_at=timezone.now() + timedelta(days=days))
    with django_assert_max_num_queries(2):
        assert auth_client.get("/api/review/forecast/?days=365").status_code == 200
