"""Edge input to the learning routes answers 4xx: calendar edges and ids at the bigint bound."""

from __future__ import annotations

from django.test import Client

from modules.learning.testing import make_due_content


def test_a_reviewed_at_at_the_edge_of_the_calendar_is_422(auth_client: Client, user) -> None:
    content = make_due_content(user=user)
    for reviewed_at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01"):
        response = auth_client.post(
            "/api/review/complete/",
            {"content_id": content.pk, "result": "remembered", "reviewed_at": reviewed_at},
            content_type="application/json",
        )
        assert response.status_code == 422, (reviewed_at, response.content)
        assert response.json()["detail"][0]["loc"][-1] == "reviewed_at"


def test_a_content_id_beyond_bigint_is_422_and_at_the_bound_404(auth_client: Client) -> None:
    beyond = auth_client.post(
        "/api/review/complete/",
        {"content_id": 2**63, "result": "remembered"},
        content_type="application/json",
    )
    at_bound = auth_client.post(
        "/api/review/complete/",
        {"content_id": 2**63 - 1, "result": "remembered"},
        content_type="application/json",
    )
    assert (beyond.status_code, at_bound.status_code) == (422, 404)
