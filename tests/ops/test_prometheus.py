"""The Prometheus text endpoint /metrics: bearer token, latest samples as gauges, request counters."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from modules.ops.testing import record_samples

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"


@pytest.fixture
def token(settings) -> str:
    settings.METRICS_BEARER_TOKEN = TOKEN
    return TOKEN


def scrape(client: Client, token: str) -> dict:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def test_without_a_configured_token_the_endpoint_does_not_exist(settings) -> None:
    settings.METRICS_BEARER_TOKEN = ""
    response = Client().get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404


def test_a_missing_or_wrong_token_is_401(token: str) -> None:
    client = Client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_only_get_is_served(token: str) -> None:
    response = Client().post("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405


def test_latest_samples_are_gauges_and_api_requests_are_counters(token: str) -> None:
    record_samples("cpu_usage", [12.0, 34.5])
    record_samples("db_size", [2048.0])
    client = Client()
    client.get("/api/health/live/")
    client.get("/api/nope/")

    families = scrape(client, token)

    assert families["resee_cpu_usage"].type == "gauge"
    assert families["resee_cpu_usage"].samples[0].value == 34.5
    assert families["resee_db_size"].samples[0].value == 2048.0
    requests = families["resee_http_requests"]
    assert requests.type == "counter"
    by_labels = {
        (s.labels["method"], s.labels["route"], s.labels["status_class"]): s.value
        for s in requests.samples
        if s.name == "resee_http_requests_total"
    }
    assert by_labels[("GET", "/api/health/live/", "2xx")] == 1
    assert by_labels[("GET", "unmatched", "4xx")] == 1
    histogram = families["resee_http_request_duration_seconds"]
    count = next(s.value for s in histogram.samples if s.name.endswith("_count"))
    assert count == 2


def test_while_redis_is_unreachable_the_gauges_are_served_without_the_request_counters(
    token: str, settings, caplog
) -> None:
    """A real Redis client against a port nobody listens on (the production cache configuration)."""
    import socket

    from django.core.cache import caches

    from config.env import cache_config

    with socket.socket() as probe:  # a free port, closed again: connections to it are refused
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    record_samples("cpu_usage", [12.0])
    settings.CACHES = {"default": cache_config(f"redis://127.0.0.1:{closed_port}/0")}
    try:
        response = Client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    finally:
        del caches["default"]

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    assert families["resee_cpu_usage"].samples[0].value == 12.0
    assert families["resee_request_metrics_up"].samples[0].value == 0
    assert "resee_http_requests" not in families
    assert "request counters unreadable" in caplog.text


def test_request_metrics_up_is_1_when_the_cache_answers(token: str) -> None:
    families = scrape(Client(), token)
    assert families["resee_request_metrics_up"].samples[0].value == 1
