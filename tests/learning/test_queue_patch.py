"""After an answer, the cached first page of today's queue is patched instead of recomputed
(readcache.Patchable, services.review_change): the learner's next read costs no query, and it says
exactly what a fresh computation says.

These tests commit (``transaction=True``): the patch applies only to a write committed outside a
transaction, as the review route's writes are.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from modules.identity.testing import auth_headers, make_user
from modules.learning import api, readcache, services
from modules.learning.models import ReviewSchedule
from modules.learning.testing import make_content, make_due_content

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def learner() -> Any:
    return make_user(email="patch@example.test")


@pytest.fixture
def client(learner) -> Client:
    return Client(headers=auth_headers(learner))


def read(client: Client, path: str = "/api/review/today/") -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200
    return response.json()


def fresh(client: Client, settings, path: str = "/api/review/today/") -> dict[str, Any]:
    """The same read computed with the cache off."""
    settings.LEARNING_READ_CACHE_SECONDS = 0
    try:
        return read(client, path)
    finally:
        settings.LEARNING_READ_CACHE_SECONDS = 30


def same_queue(served: dict[str, Any], computed: dict[str, Any]) -> None:
    """Equal, except recall estimates computed a few milliseconds apart."""
    assert (served["count"], served["overdue_count"]) == (computed["count"], computed["overdue_count"])
    assert len(served["items"]) == len(computed["items"])
    for one, two in zip(served["items"], computed["items"], strict=True):
        assert {**one, "retrievability": 0} == {**two, "retrievability": 0}
        assert one["retrievability"] == pytest.approx(two["retrievability"], abs=1e-3)


def answer(client: Client, content_id: int, result: str = "remembered") -> None:
    response = client.post(
        "/api/review/complete/",
        {"content_id": content_id, "result": result},
        content_type="application/json",
        headers={"Idempotency-Key": f"k-{content_id}-{timezone.now().timestamp()}"},
    )
    assert response.status_code == 200, response.content


def due_cards(learner: Any, count: int, *, overdue_every: int = 3) -> list[int]:
    cards = [
        make_due_content(user=learner, title=f"card {index}", overdue_days=(index % overdue_every))
        for index in range(count)
    ]
    return [card.pk for card in cards]


def test_the_read_after_an_answer_is_patched_without_a_query_and_matches_a_fresh_one(
    learner, client, settings, django_assert_num_queries
) -> None:
    due_cards(learner, 30)
    first = read(client)
    assert first["count"] == 30 and len(first["items"]) == 20
    answered = first["items"][0]["content"]["id"]
    answer(client, answered)

    with django_assert_num_queries(1):  # the authenticated user: no queue query
        patched = read(client)
    assert answered not in [item["content"]["id"] for item in patched["items"]]
    assert patched["count"] == 29
    same_queue(patched, fresh(client, settings))


def test_a_run_of_answers_always_reads_what_a_fresh_computation_reads(learner, client, settings) -> None:
    due_cards(learner, 50)
    read(client)
    for step in range(26):  # past the spare items (20): at least one recompute on the way
        page = read(client)
        same_queue(page, fresh(client, settings))
        answer(client, page["items"][0]["content"]["id"], result=("remembered", "partial")[step % 2])
    same_queue(read(client), fresh(client, settings))


def test_an_answer_beyond_the_window_recomputes(
    learner, client, settings, django_assert_max_num_queries
) -> None:
    ids = due_cards(learner, 50, overdue_every=1)
    read(client)  # the window: the first 40 of 50
    last = ReviewSchedule.objects.filter(user=learner).order_by("-next_review_date", "-content_id").first()
    assert last is not None and last.content_id in ids
    answer(client, last.content_id)
    page = read(client)
    assert page["count"] == 49
    same_queue(page, fresh(client, settings))


def test_a_card_reviewed_ahead_of_time_leaves_the_page_as_it_was(
    learner, client, settings, django_assert_num_queries
) -> None:
    due_cards(learner, 5)
    ahead = make_content(user=learner, title="next week", due_at=timezone.now() + timedelta(days=7))
    before = read(client)
    answer(client, ahead.pk)
    with django_assert_num_queries(1):
        after = read(client)
    assert after == before
    same_queue(after, fresh(client, settings))


def test_the_content_list_is_recomputed_after_an_answer(learner, client, settings) -> None:
    due_cards(learner, 3)
    read(client)
    listed = read(client, "/api/content/")
    card = listed["items"][0]
    answer(client, card["id"])
    again = {item["id"]: item for item in read(client, "/api/content/")["items"]}
    assert again[card["id"]] != card  # its review state changed: not the old cached page
    assert again == {item["id"]: item for item in fresh(client, settings, "/api/content/")["items"]}


def test_another_write_between_the_answer_and_the_read_recomputes(
    learner, client, settings, django_assert_max_num_queries
) -> None:
    ids = due_cards(learner, 10)
    first = read(client)
    answer(client, first["items"][0]["content"]["id"])
    # a content created meanwhile (another device): a plain invalidation after the answer's change
    created = client.post(
        "/api/content/", {"title": "new", "body": "due tomorrow"}, content_type="application/json"
    )
    assert created.status_code == 201
    ReviewSchedule.objects.filter(content_id=created.json()["id"]).update(next_review_date=timezone.now())
    services.forget_cached_reads(user_id=learner.pk)
    page = read(client)
    assert page["count"] == 10  # 10 due - 1 answered + the new one
    assert set(ids) | {created.json()["id"]} >= {item["content"]["id"] for item in page["items"]}
    same_queue(page, fresh(client, settings))


def _window(
    keys: list[str], *, total: int, subtotal: int = 0, limit: int = 2, scope: str = "d"
) -> readcache.Window:
    """A list of numbers kept as a window: each item is its key."""
    return readcache.Window(
        template=b'{"items": [\x01], "total": \x02, "overdue": \x03}',
        items=[key.encode() for key in keys],
        keys=keys,
        limit=limit,
        total=total,
        subtotal=subtotal,
        scope=scope,
    )


class Counted:
    """A window's computation, counted."""

    def __init__(self, window: readcache.Window) -> None:
        self.window, self.calls = window, 0

    def __call__(self) -> readcache.Window:
        self.calls += 1
        return self.window


def _read(user_id: int, compute: Counted) -> dict[str, Any]:
    import json

    return json.loads(readcache.cached_window(user_id=user_id, name="t", variant=(), compute=compute))


def _write(user_id: int, change: readcache.Change | None = None) -> None:
    with readcache.writing(user_id=user_id):
        if change is not None:
            readcache.note_change(user_id=user_id, change=change)


def test_a_change_is_applied_only_to_the_version_it_replaced(learner) -> None:
    compute = Counted(_window(["1", "2", "3", "4"], total=4, subtotal=2))
    assert _read(learner.pk, compute) == {"items": [1, 2], "total": 4, "overdue": 2}
    _write(learner.pk, readcache.Change(scope="d", left="2", subtotal=True))
    # applied where the version was replaced: the next read is a hit of the patched page
    assert _read(learner.pk, compute) == {"items": [1, 3], "total": 3, "overdue": 1}
    assert compute.calls == 1
    _write(learner.pk, readcache.Change(scope="d", left="1"))
    assert _read(learner.pk, compute) == {"items": [3, 4], "total": 2, "overdue": 1}
    assert compute.calls == 1
    # another write in between: the window is a version behind, the next change leaves it stale
    _write(learner.pk)
    _write(learner.pk, readcache.Change(scope="d", left="3"))
    assert _read(learner.pk, compute) == {"items": [1, 2], "total": 4, "overdue": 2}
    assert compute.calls == 2
    # a change declared for another user is not carried by this user's invalidation
    readcache.note_change(user_id=learner.pk + 1, change=readcache.Change(scope="d", left="1"))
    readcache.invalidate(learner.pk)
    assert _read(learner.pk, compute)["items"] == [1, 2] and compute.calls == 3


def test_a_change_never_outlives_the_write_that_declared_it(learner) -> None:
    compute = Counted(_window(["1", "2", "3"], total=3))
    _read(learner.pk, compute)
    readcache.note_change(
        user_id=learner.pk, change=readcache.Change(scope="d", left="1")
    )  # outside any write
    _write(learner.pk)  # another write (a title edit, say): not its change
    assert _read(learner.pk, compute)["items"] == [1, 2] and compute.calls == 2  # recomputed


def test_what_a_window_cannot_tell_is_recomputed_and_a_page_is_never_patched_twice(learner) -> None:
    """The page of the version a review replaced may already have been computed without the card
    (a reader that read the version before the review and the rows after it): the card is then not in
    the window and the totals are left alone — unless it could lie beyond the window."""
    compute = Counted(_window(["1", "3"], total=3, subtotal=1))  # 3 due, 2 in the window
    _read(learner.pk, compute)
    _write(learner.pk, readcache.Change(scope="d", left="2", subtotal=True))  # before the last: already gone
    assert _read(learner.pk, compute) == {"items": [1, 3], "total": 3, "overdue": 1}
    assert compute.calls == 1
    _write(learner.pk, readcache.Change(scope="d", left="9"))  # after the last: it may lie beyond
    _read(learner.pk, compute)
    assert compute.calls == 2
    _write(learner.pk, readcache.Change(scope="another day", left="1"))
    _read(learner.pk, compute)
    assert compute.calls == 3
    _write(learner.pk, readcache.Change(scope="d"))  # nothing changed (a review ahead of time)
    _read(learner.pk, compute)
    assert compute.calls == 3
    _write(learner.pk, readcache.Change(scope="d", left="1"))  # the spare items ran out (3 due, 1 left)
    _read(learner.pk, compute)
    assert compute.calls == 4


def test_the_window_renders_the_page_byte_for_byte_as_the_route_does_and_so_does_the_script(
    learner, client, settings
) -> None:
    import json

    from ninja.responses import NinjaJSONEncoder

    from modules.learning.schemas import QueueOut

    for count in (0, 1, 25):
        ReviewSchedule.objects.filter(user=learner).delete()
        due_cards(learner, count)
        window = api._queue_window(learner, 20)
        body = window.render()
        page = services.review_queue(user=learner, limit=20)
        rendered = json.dumps(QueueOut.model_validate(page).model_dump(by_alias=True), cls=NinjaJSONEncoder)
        same_queue(json.loads(body), json.loads(rendered))  # recall estimates aside; byte for byte below
        assert _without_recall(body) == _without_recall(rendered.encode())
        assert len(window.items) == len(window.keys) == min(count, 40) and window.total == count
    # the script's rendering of a patched page is the window's own, byte for byte
    served = client.get("/api/review/today/").content
    first = json.loads(served)["items"][0]["content"]["id"]
    answer(client, first)
    patched = client.get("/api/review/today/").content
    kept = api._queue_window(learner, 20)
    assert first not in [item["content"]["id"] for item in json.loads(patched)["items"]]
    assert _without_recall(patched) == _without_recall(kept.render())
    assert _without_recall(patched) != _without_recall(served)


def _without_recall(page: bytes) -> bytes:
    """The page with its recall estimates blanked: they decay between two computations."""
    import re

    blanked, found = re.subn(rb'"retrievability": [0-9.e-]+', b'"retrievability": _', page)
    assert found == page.count(b'"retrievability"')
    return blanked


def test_without_a_shared_cache_an_answer_still_invalidates(learner, client, settings) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "p"}
    }
    settings.DEBUG = True  # local memory is accepted only there (make run)
    cache.clear()
    due_cards(learner, 3)
    first = read(client)
    answer(client, first["items"][0]["content"]["id"])
    assert read(client)["count"] == 2


def test_a_learner_s_windows_are_bounded_and_a_change_patches_a_few_of_them(learner) -> None:
    """A client asking for many page sizes: the user's set of windows stays small (the older ones are
    forgotten: their next read recomputes) and one change patches at most MAX_PATCHED_WINDOWS."""
    from django.core.cache import cache as default_cache

    computes = [Counted(_window(["1", "2", "3", "4"], total=4, limit=2)) for _ in range(12)]
    for variant, compute in enumerate(computes):
        readcache.cached_window(user_id=learner.pk, name="t", variant=(variant,), compute=compute)
    client = default_cache._cache.get_client()
    members = client.smembers(default_cache.make_key(readcache._registry_key(learner.pk)))
    assert 1 <= len(members) <= 8
    _write(learner.pk, readcache.Change(scope="d", left="1"))
    patched = 0
    for variant, compute in enumerate(computes):
        readcache.cached_window(user_id=learner.pk, name="t", variant=(variant,), compute=compute)
        patched += compute.calls == 1
    assert 1 <= patched <= readcache.MAX_PATCHED_WINDOWS
