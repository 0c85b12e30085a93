"""Client input to the ops routes never answers 500 (each case below was one)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from modules.ops.testing import record_samples

METRICS = "/api/monitoring/metrics/"


@pytest.mark.parametrize(
    "params",
    [
        {"until": "0001-01-01T00:00:00Z"},  # until - 1 hour overflowed
        {"until": "0001-01-01"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"since": "9999-12-31T23:59:59-14:00"},
    ],
)
def test_datetimes_at_the_edge_of_the_calendar_are_422(staff_api_client: Client, params: dict) -> None:
    response = staff_api_client.get(METRICS, {"name": "cpu_usage", **params})
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"][:1] == ["query"]


def test_a_datetime_without_an_offset_is_read_as_utc(staff_api_client: Client) -> None:
    # A naive since compared with an aware until raised TypeError.
    now = timezone.now().replace(second=0, microsecond=0)
    record_samples("memory_usage", [40, 41, 42], end=now)
    since = (now - timedelta(minutes=1)).replace(tzinfo=None).isoformat()

    response = staff_api_client.get(METRICS, {"name": "memory_usage", "since": since})

    assert response.status_code == 200, response.content
    assert [sample["value"] for sample in response.json()["samples"]] == [41, 42]
    assert response.json()["since"].endswith("Z")


def test_a_naive_since_with_an_aware_until_is_compared_in_utc(staff_api_client: Client) -> None:
    response = staff_api_client.get(
        METRICS, {"name": "cpu_usage", "since": "2026-01-01T10:00:00", "until": "2026-01-01T10:30:00+01:00"}
    )
    assert response.status_code == 422  # 10:30+01:00 is 09:30 UTC: before since
    assert response.json()["detail"][0]["msg"] == "since must not be after until."


def test_a_date_alone_is_midnight_utc(staff_api_client: Client) -> None:
    response = staff_api_client.get(
        METRICS, {"name": "cpu_usage", "since": "2026-01-01", "until": "2026-01-02"}
    )
    assert response.status_code == 200
    assert response.json()["since"].startswith("2026-01-01T00:00:00")
