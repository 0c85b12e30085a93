from __future__ import annotations

import pytest
from django.test import Client

from modules.identity.testing import make_user
from modules.learning.models import Category, Content
from modules.learning.testing import make_category, make_content

pytestmark = pytest.mark.django_db


def test_create_category_answers_201_with_slug_and_zero_count(auth_client: Client) -> None:
    response = auth_client.post(
        "/api/content/categories/",
        {"name": " Cell Biology ", "description": "cells"},
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": "Cell Biology",
        "slug": "cell-biology",
        "description": "cells",
        "content_count": 0,
    }


def test_category_name_is_unique_per_user_case_insensitively(auth_client: Client, user, other_user) -> None:
    make_category(user=user, name="History")
    make_category(user=other_user, name="Physics")

    duplicate = auth_client.post(
        "/api/content/categories/", {"name": "history"}, content_type="application/json"
    )
    someone_elses_name = auth_client.post(
        "/api/content/categories/", {"name": "Physics"}, content_type="application/json"
    )

    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "conflict"
    assert someone_elses_name.status_code == 201


def test_category_input_is_validated(auth_client: Client) -> None:
    empty = auth_client.post("/api/content/categories/", {"name": "   "}, content_type="application/json")
    too_long = auth_client.post(
        "/api/content/categories/", {"name": "x" * 101}, content_type="application/json"
    )
    unknown = auth_client.post(
        "/api/content/categories/", {"name": "Ok", "user_id": 3}, content_type="application/json"
    )
    nul = auth_client.post("/api/content/categories/", {"name": "a\u0000"}, content_type="application/json")
    assert [empty.status_code, too_long.status_code, unknown.status_code, nul.status_code] == [422] * 4
    assert unknown.json()["code"] == "validation_error"


def test_category_list_shows_only_mine_with_content_counts(
    auth_client: Client, user, other_user, django_assert_max_num_queries
) -> None:
    languages = make_category(user=user, name="Languages")
    make_category(user=user, name="Art")
    make_category(user=other_user, name="Secret")
    for index in range(3):
        make_content(user=user, title=f"word {index}", category=languages)

    with django_assert_max_num_queries(4):
        response = auth_client.get("/api/content/categories/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [(item["name"], item["content_count"]) for item in body["items"]] == [("Art", 0), ("Languages", 3)]


def test_patch_category_renames_it_and_rejects_a_taken_name(auth_client: Client, user) -> None:
    category = make_category(user=user, name="Maths")
    make_category(user=user, name="Music")

    renamed = auth_client.patch(
        f"/api/content/categories/{category.pk}/", {"name": "Mathematics"}, content_type="application/json"
    )
    taken = auth_client.patch(
        f"/api/content/categories/{category.pk}/", {"name": "MUSIC"}, content_type="application/json"
    )
    same_name_other_case = auth_client.patch(
        f"/api/content/categories/{category.pk}/", {"name": "mathematics"}, content_type="application/json"
    )

    assert renamed.status_code == 200
    assert renamed.json()["slug"] == "mathematics"
    assert taken.status_code == 409
    assert same_name_other_case.status_code == 200


def test_patch_category_with_null_name_is_422(auth_client: Client, user) -> None:
    category = make_category(user=user, name="Maths")
    response = auth_client.patch(
        f"/api/content/categories/{category.pk}/", {"name": None}, content_type="application/json"
    )
    assert response.status_code == 422


def test_deleting_a_category_keeps_its_content(auth_client: Client, user) -> None:
    category = make_category(user=user, name="Chemistry")
    content = make_content(user=user, category=category)

    response = auth_client.delete(f"/api/content/categories/{category.pk}/")

    assert response.status_code == 204
    assert not Category.objects.filter(pk=category.pk).exists()
    content.refresh_from_db()
    assert content.category_id is None
    assert auth_client.get(f"/api/content/{content.pk}/").json()["category"] is None


def test_another_users_category_is_404_for_patch_and_delete(auth_client: Client, other_user) -> None:
    theirs = make_category(user=other_user, name="Theirs")

    patch = auth_client.patch(
        f"/api/content/categories/{theirs.pk}/", {"name": "Mine"}, content_type="application/json"
    )
    delete = auth_client.delete(f"/api/content/categories/{theirs.pk}/")
    missing = auth_client.delete("/api/content/categories/999999/")

    assert (patch.status_code, patch.json()["code"]) == (404, "not_found")
    assert delete.status_code == 404
    assert missing.status_code == 404
    assert Category.objects.filter(pk=theirs.pk, name="Theirs").exists()


def test_categories_require_authentication(api_client: Client) -> None:
    response = api_client.get("/api/content/categories/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_an_unverified_user_reads_but_creates_neither_categories_nor_content(client_for) -> None:
    """The contract: until the email is verified an account can log in and read; writing answers 403."""
    unverified = make_user(verified=False)
    client = client_for(unverified)
    category = client.post("/api/content/categories/", {"name": "Drafts"}, content_type="application/json")
    content = client.post("/api/content/", {"title": "T", "body": "B"}, content_type="application/json")
    assert (category.status_code, category.json()["code"]) == (403, "email_not_verified")
    assert (content.status_code, content.json()["code"]) == (403, "email_not_verified")
    assert not Category.objects.filter(user=unverified).exists()
    assert not Content.objects.filter(user=unverified).exists()
    assert client.get("/api/content/categories/").status_code == 200
