"""The delete confirmation of an owner counts what goes with it instead of loading and listing every
cascaded row: its cost does not grow with the learner's history (Django's own page took 3.3 s for 5,000
reviews, and would outlast the web worker's timeout for a million). A content's page counts its
history; a user's page reads none of the account's data at all (an account is closed, and the worker
erases it: modules/identity/admin.py)."""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from modules.identity.testing import make_user
from modules.learning.models import ReviewHistory
from modules.learning.testing import make_content, record_review


def _learner(email: str, reviews: int):
    user = make_user(email=email)
    content = make_content(user=user)
    for _ in range(reviews):
        record_review(content=content)
    return user, content


def _confirmation(client: Client, url: str) -> tuple[int, str, int]:
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)
    return page.status_code, page.content.decode(), len(queries)


def test_a_users_confirmation_says_what_goes_and_costs_the_same_for_3_or_60_reviews(
    admin_client: Client,
) -> None:
    small, _ = _learner("small@example.com", 3)
    large, _ = _learner("large@example.com", 60)

    small_status, small_page, small_queries = _confirmation(
        admin_client, f"/admin/identity/user/{small.pk}/delete/"
    )
    large_status, large_page, large_queries = _confirmation(
        admin_client, f"/admin/identity/user/{large.pk}/delete/"
    )

    assert (small_status, large_status) == (200, 200)
    assert "User: large@example.com" in large_page and "review history" in large_page
    assert "permission" not in large_page.lower()  # nothing lacking: history goes with its owner
    assert large_queries == small_queries  # no query per review
    # ... and no row per review: Django's own page loaded and listed each one (an <li> per review)
    assert large_page.count("<li") == small_page.count("<li")


def test_a_contents_confirmation_counts_and_the_delete_still_removes_its_history(
    admin_client: Client,
) -> None:
    user, content = _learner("ada@example.com", 12)
    url = f"/admin/learning/content/{content.pk}/delete/"

    status, page, _ = _confirmation(admin_client, url)
    assert status == 200 and "Review history: 12" in page

    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not ReviewHistory.objects.filter(user=user).exists()


def test_the_bulk_delete_confirmation_names_every_selected_user(admin_client: Client) -> None:
    ada, _ = _learner("ada@example.com", 4)
    bob, _ = _learner("bob@example.com", 5)

    page = admin_client.post(
        "/admin/identity/user/", {"action": "delete_selected", "_selected_action": [ada.pk, bob.pk]}
    )

    assert page.status_code == 200
    assert (
        "User: ada@example.com" in page.content.decode() and "User: bob@example.com" in page.content.decode()
    )
    assert not page.context["perms_lacking"]
