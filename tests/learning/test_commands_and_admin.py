from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule
from modules.learning.testing import make_category, make_content, record_review

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_the_demo_account_once_and_prints_its_password() -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "demo@resee.local / password: " in out.getvalue()
    password = out.getvalue().split("password: ")[1].split()[0]
    demo = get_user_model().objects.get(email="demo@resee.local")
    assert demo.check_password(password)
    assert demo.is_email_verified

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "exists" in again.getvalue()
    assert get_user_model().objects.filter(email="demo@resee.local").count() == 1


def test_seed_demo_gives_the_demo_account_sample_notes_with_some_due_today() -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)

    demo = get_user_model().objects.get(email="demo@resee.local")
    assert "Sample content: 15 notes" in out.getvalue()
    assert Category.objects.filter(user=demo).count() == 4
    assert Content.objects.filter(user=demo).count() == 15
    assert ReviewHistory.objects.filter(user=demo).exists()
    assert ReviewSchedule.objects.filter(user=demo, next_review_date__lte=timezone.now()).count() >= 5
    # every history row follows the ladder rule it was recorded with
    for row in ReviewHistory.objects.filter(user=demo):
        assert row.reviewed_at <= timezone.now()

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert Content.objects.filter(user=demo).count() == 15
    assert "Sample content" not in again.getvalue()


def test_admin_lists_and_shows_learning_objects(user, admin_client) -> None:
    client = admin_client
    category = make_category(user=user, name="Admin view")
    content = make_content(user=user, category=category)
    record_review(content=content)

    for url in (
        "/admin/learning/category/",
        "/admin/learning/content/",
        f"/admin/learning/content/{content.pk}/change/",
        "/admin/learning/reviewhistory/",
        "/admin/learning/category/add/",
    ):
        assert client.get(url).status_code == 200, url


def test_admin_history_is_read_only_and_admin_content_gets_a_schedule(user, admin_client) -> None:
    client = admin_client
    row = record_review(content=make_content(user=user))

    assert client.get("/admin/learning/reviewhistory/add/").status_code == 403
    assert client.post(f"/admin/learning/reviewhistory/{row.pk}/delete/", {"post": "yes"}).status_code == 403

    response = client.post(
        "/admin/learning/content/add/",
        {
            "user": user.pk,
            "title": "Made in admin",
            "body": "Body",
            "schedule-TOTAL_FORMS": "0",
            "schedule-INITIAL_FORMS": "0",
            "schedule-MIN_NUM_FORMS": "0",
            "schedule-MAX_NUM_FORMS": "1",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    created = Content.objects.get(title="Made in admin")
    assert ReviewSchedule.objects.get(content=created).user_id == user.pk

    category_response = client.post("/admin/learning/category/add/", {"user": user.pk, "name": "Via Admin"})
    assert category_response.status_code == 302
    assert Category.objects.get(name="Via Admin").slug == "via-admin"


def _category_counts(auth_client) -> dict[str, int]:
    response = auth_client.get("/api/v1/content/categories/")
    assert response.status_code == 200
    return {row["name"]: row["content_count"] for row in response.json()["items"]}


def test_admin_deletes_a_content_with_history_as_the_api_does(user, admin_client, auth_client) -> None:
    category = make_category(user=user, name="Biology")
    content = make_content(user=user, category=category)
    record_review(content=content)
    assert _category_counts(auth_client) == {"Biology": 1}
    url = f"/admin/learning/content/{content.pk}/delete/"

    confirmation = admin_client.get(url)
    assert confirmation.status_code == 200
    assert not confirmation.context["perms_lacking"]  # not "doesn't have permission to delete"

    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Content.objects.filter(pk=content.pk).exists()
    assert not ReviewHistory.objects.filter(content_id=content.pk).exists()
    assert _category_counts(auth_client) == {"Biology": 0}  # the tallies followed (delete_content)


def test_admin_bulk_action_deletes_contents_with_history(user, admin_client, auth_client) -> None:
    category = make_category(user=user, name="Biology")
    contents = [make_content(user=user, category=category, title=f"Note {i}") for i in range(3)]
    for content in contents[:2]:
        record_review(content=content)
    selected = {"action": "delete_selected", "_selected_action": [c.pk for c in contents[:2]]}

    confirmation = admin_client.post("/admin/learning/content/", selected)
    assert confirmation.status_code == 200
    assert not confirmation.context["perms_lacking"]

    assert admin_client.post("/admin/learning/content/", {**selected, "post": "yes"}).status_code == 302
    assert list(Content.objects.filter(user=user).values_list("pk", flat=True)) == [contents[2].pk]
    assert not ReviewHistory.objects.filter(user_id=user.pk).exists()
    assert _category_counts(auth_client) == {"Biology": 1}


def test_admin_deletes_a_category_as_the_api_does(user, admin_client, auth_client) -> None:
    """A guard (passes on the old code too): the deletion now runs through ``delete_category``."""
    category = make_category(user=user, name="Biology")
    content = make_content(user=user, category=category)

    response = admin_client.post(f"/admin/learning/category/{category.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert Content.objects.get(pk=content.pk).category_id is None
    assert _category_counts(auth_client) == {}
