"""POST /api/content/ with an Idempotency-Key creates the content once, however often it is retried,
also when the retries race (real threads, real commits on PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from modules.identity.testing import auth_headers, make_user
from modules.learning.models import Content, RequestKey, ReviewSchedule
from modules.learning.services import prune_idempotency_records
from tests.concurrency import run_together

URL = "/api/content/"
BODY = {"title": "Mitochondria", "body": "The powerhouse of the cell."}


def _post(client: Client, body: dict[str, Any], key: str | None) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(URL, body, content_type="application/json", headers=headers)


@pytest.mark.django_db
def test_a_retry_with_the_key_creates_nothing_and_answers_the_content(user: Any, auth_client: Client) -> None:
    first = _post(auth_client, BODY, "create-1")
    second = _post(auth_client, BODY, "create-1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert Content.objects.filter(user=user).count() == 1
    assert ReviewSchedule.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_without_a_key_or_with_another_key_each_request_creates(user: Any, auth_client: Client) -> None:
    _post(auth_client, BODY, None)
    _post(auth_client, BODY, None)
    _post(auth_client, BODY, "a")
    _post(auth_client, BODY, "b")

    assert Content.objects.filter(user=user).count() == 4


@pytest.mark.django_db
def test_the_key_with_another_body_is_a_conflict(user: Any, auth_client: Client) -> None:
    _post(auth_client, BODY, "create-1")
    other = _post(auth_client, {**BODY, "title": "Ribosomes"}, "create-1")

    assert other.status_code == 409
    assert other.json()["code"] == "conflict"
    assert list(Content.objects.filter(user=user).values_list("title", flat=True)) == ["Mitochondria"]


@pytest.mark.django_db
def test_keys_are_per_user(client_for: Any) -> None:
    ada, bob = make_user(), make_user()

    _post(client_for(ada), BODY, "shared")
    answer = _post(client_for(bob), {**BODY, "title": "Bob's"}, "shared")

    assert answer.status_code == 201
    assert answer.json()["title"] == "Bob's"
    assert Content.objects.filter(user=bob).count() == 1


@pytest.mark.django_db
def test_a_failed_request_leaves_its_key_free(user: Any, auth_client: Client) -> None:
    missing_category = _post(auth_client, {**BODY, "category_id": 999_999}, "create-1")
    assert missing_category.status_code == 404
    assert not RequestKey.objects.exists()

    retried = _post(auth_client, {**BODY, "category_id": 999_999}, "create-1")
    assert retried.status_code == 404
    fixed = _post(auth_client, BODY, "create-2")
    assert fixed.status_code == 201


@pytest.mark.django_db
def test_a_retry_answers_the_content_as_it_is_now_and_404_once_deleted(
    user: Any, auth_client: Client
) -> None:
    created = _post(auth_client, BODY, "create-1").json()
    auth_client.patch(f"{URL}{created['id']}/", {"title": "Edited"}, content_type="application/json")

    assert _post(auth_client, BODY, "create-1").json()["title"] == "Edited"

    auth_client.delete(f"{URL}{created['id']}/")
    gone = _post(auth_client, BODY, "create-1")
    assert gone.status_code == 404
    assert not Content.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_a_malformed_key_is_a_validation_error(auth_client: Client) -> None:
    answer = _post(auth_client, BODY, "é" * 3)

    assert answer.status_code == 422
    assert not Content.objects.exists()


@pytest.mark.django_db
def test_keys_older_than_a_day_are_pruned(user: Any, auth_client: Client) -> None:
    _post(auth_client, BODY, "old")
    _post(auth_client, BODY, "new")
    RequestKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))

    assert prune_idempotency_records() == 1
    assert list(RequestKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_racing_retries_create_one_content_and_all_answer_it() -> None:
    user = make_user()
    headers = auth_headers(user)

    def create(_: int) -> tuple[int, int]:
        answer = _post(Client(headers=headers), BODY, "race-1")
        return answer.status_code, answer.json()["id"]

    answers = run_together(create, 8, timeout=60)

    assert Content.objects.filter(user=user).count() == 1
    content_id = Content.objects.get(user=user).pk
    assert answers == [(201, content_id)] * 8
