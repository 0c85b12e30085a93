"""Today's queue and the content list are served from a per-user cache that every write invalidates."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from modules.learning import readcache
from modules.learning.testing import make_category, make_content, make_due_content

pytestmark = pytest.mark.django_db


def today(client: Client) -> dict[str, Any]:
    response = client.get("/api/review/today/")
    assert response.status_code == 200
    return response.json()


def test_a_repeated_read_is_answered_from_the_cache(
    auth_client: Client, user, django_assert_num_queries
) -> None:
    make_due_content(user=user, title="due")
    first = today(auth_client)
    with django_assert_num_queries(1):  # the authenticated user only
        second = today(auth_client)
    assert second == first


def test_completing_a_review_is_visible_to_the_very_next_read(auth_client: Client, user) -> None:
    card = make_due_content(user=user, title="due")
    assert today(auth_client)["count"] == 1
    response = auth_client.post(
        "/api/review/complete/",
        {"content_id": card.pk, "result": "remembered"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert today(auth_client)["count"] == 0


def test_content_writes_and_category_renames_refresh_the_content_list(auth_client: Client, user) -> None:
    category = make_category(user=user, name="Old name")
    make_content(user=user, title="first", category=category)
    assert auth_client.get("/api/content/").json()["count"] == 1

    created = auth_client.post(
        "/api/content/", {"title": "second", "body": "text"}, content_type="application/json"
    )
    assert created.status_code == 201
    assert auth_client.get("/api/content/").json()["count"] == 2

    renamed = auth_client.patch(
        f"/api/content/categories/{category.pk}/", {"name": "New name"}, content_type="application/json"
    )
    assert renamed.status_code == 200
    names = {
        item["category"]["name"]
        for item in auth_client.get("/api/content/").json()["items"]
        if item["category"]
    }
    assert names == {"New name"}

    assert auth_client.delete(f"/api/content/{created.json()['id']}/").status_code == 204
    assert auth_client.get("/api/content/").json()["count"] == 1


def test_a_read_computed_before_a_write_is_never_served_after_it(user) -> None:
    calls: list[int] = []

    def compute_old() -> str:
        # The slow reader read the old rows; meanwhile a write commits and bumps the version.
        calls.append(1)
        readcache._bump(user.pk)
        return "old"

    assert readcache.cached(user_id=user.pk, name="t", variant=(1,), compute=compute_old) == "old"
    assert readcache.cached(user_id=user.pk, name="t", variant=(1,), compute=lambda: "new") == "new"
    assert (
        readcache.cached(user_id=user.pk, name="t", variant=(1,), compute=lambda: "newer") == "new"
    )  # a hit


def test_users_do_not_share_entries(client_for, user, other_user) -> None:
    make_due_content(user=user, title="mine")
    make_due_content(user=other_user, title="theirs")
    assert [i["content"]["title"] for i in today(client_for(user))["items"]] == ["mine"]
    assert [i["content"]["title"] for i in today(client_for(other_user))["items"]] == ["theirs"]


def test_a_timezone_change_reads_a_fresh_answer(auth_client: Client, user, django_assert_num_queries) -> None:
    make_due_content(user=user, title="due")
    today(auth_client)
    response = auth_client.patch(
        "/api/accounts/users/me/", {"timezone": "Pacific/Kiritimati"}, content_type="application/json"
    )
    assert response.status_code == 200
    with django_assert_num_queries(2):  # a miss: the zone is part of the key
        assert today(auth_client)["count"] == 1
    with django_assert_num_queries(1):
        today(auth_client)


def test_the_cache_can_be_turned_off(auth_client: Client, user, settings, django_assert_num_queries) -> None:
    settings.LEARNING_READ_CACHE_SECONDS = 0
    make_due_content(user=user, title="due")
    today(auth_client)
    with django_assert_num_queries(2):  # the user and the queue, every time
        today(auth_client)


def test_an_unreachable_cache_only_costs_the_shortcut(user, settings) -> None:
    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    try:
        assert (
            readcache.cached(user_id=user.pk, name="t", variant=(), compute=lambda: "computed") == "computed"
        )
        readcache.invalidate(user.pk)  # logged, not raised
    finally:
        del caches["default"]


def test_admin_deletes_drop_the_owners_cached_reads(user, auth_client: Client) -> None:
    from modules.identity.testing import make_admin

    admin = make_admin(is_superuser=True)
    staff = Client()
    staff.force_login(admin)
    content = make_due_content(user=user, title="doomed")
    assert today(auth_client)["count"] == 1

    response = staff.post(f"/admin/learning/content/{content.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert today(auth_client)["count"] == 0
