"""A dead worker is visible: the admins' health has a ``worker`` check (a live Django-Q2 cluster
registered in the broker's cache, the same test as ``manage.py worker_health``) and a ``collection``
check (the newest metric sample at most 3 minutes old); /metrics says when metrics were collected and
leaves out values too old to be current. The real cluster is in tests/system/test_worker_down.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from modules.ops.testing import publish_cluster_status, record_samples, withdraw_cluster_status

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"


@pytest.fixture
def published() -> Iterator[list[str]]:
    keys: list[str] = []
    yield keys
    for key in keys:
        withdraw_cluster_status(key)


def health(client: Client) -> dict:
    response = client.get("/api/monitoring/health/")
    assert response.status_code == 200
    return response.json()


def test_without_a_running_cluster_the_worker_check_fails(staff_api_client: Client) -> None:
    record_samples("cpu_usage", [10])
    body = health(staff_api_client)
    assert body["status"] == "degraded"
    assert body["checks"]["queue"]["ok"] is True  # the broker answers: that alone said "ok" before
    assert body["checks"]["worker"]["ok"] is False
    assert "no working Django-Q2 cluster" in body["checks"]["worker"]["error"]
    assert body["checks"]["collection"]["ok"] is True


def test_a_working_cluster_on_another_host_satisfies_the_admins_check(
    staff_api_client: Client, published: list[str]
) -> None:
    record_samples("cpu_usage", [10])
    published.append(publish_cluster_status(host="worker-container-1"))
    body = health(staff_api_client)
    assert body["checks"]["worker"] == {
        "ok": True,
        "latency_ms": body["checks"]["worker"]["latency_ms"],
        "error": "",
    }
    assert body["status"] == "ok"
    # worker_health asks about its own host only (the worker container's healthcheck)
    with pytest.raises(CommandError, match=f"no working Django-Q2 cluster on {socket.gethostname()}"):
        call_command("worker_health")


def test_a_stopping_cluster_or_one_without_workers_does_not_count(
    staff_api_client: Client, published: list[str]
) -> None:
    from django_q.conf import Conf

    record_samples("cpu_usage", [10])
    published.append(publish_cluster_status(cluster_id="stopping", status=Conf.STOPPING))
    published.append(publish_cluster_status(cluster_id="empty", workers=0))
    body = health(staff_api_client)
    assert body["checks"]["worker"]["ok"] is False
    assert "Stopping" in body["checks"]["worker"]["error"]


def test_worker_health_and_the_worker_check_agree_on_this_host(
    staff_api_client: Client, published: list[str], capsys
) -> None:
    published.append(publish_cluster_status(cluster_id="here"))
    call_command("worker_health")
    assert "worker healthy: cluster here on" in capsys.readouterr().out
    assert health(staff_api_client)["checks"]["worker"]["ok"] is True


def test_collection_stopped_degrades_the_health_and_names_the_age(
    staff_api_client: Client, published: list[str]
) -> None:
    published.append(publish_cluster_status())
    record_samples("cpu_usage", [10, 20], end=timezone.now() - timedelta(minutes=5))
    body = health(staff_api_client)
    assert body["status"] == "degraded"
    assert body["checks"]["worker"]["ok"] is True
    assert body["checks"]["collection"]["ok"] is False
    assert body["checks"]["collection"]["error"].startswith(
        "metrics collection stopped: newest sample 5 min old"
    )
    assert body["metrics"]["cpu_usage"]["value"] == 20  # still shown, with its `at`


def test_no_sample_in_the_last_hour_is_reported(staff_api_client: Client) -> None:
    body = health(staff_api_client)
    assert body["checks"]["collection"] == {
        "ok": False,
        "latency_ms": body["checks"]["collection"]["latency_ms"],
        "error": "no metric collected in the last hour",
    }


def test_a_sample_two_minutes_old_is_still_current(staff_api_client: Client) -> None:
    record_samples("cpu_usage", [10], end=timezone.now() - timedelta(minutes=2))
    assert health(staff_api_client)["checks"]["collection"]["ok"] is True


def scrape(client: Client) -> dict:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def test_metrics_expose_when_they_were_collected_and_leave_out_stale_values(settings) -> None:
    settings.METRICS_BEARER_TOKEN = TOKEN
    now = timezone.now()
    record_samples("cpu_usage", [12.0], end=now)
    record_samples("db_size", [2048.0], end=now - timedelta(minutes=10))  # its collector stopped

    families = scrape(Client())

    collected = families["resee_metrics_collected_timestamp_seconds"]
    assert collected.type == "gauge"
    assert collected.samples[0].value == now.replace(second=0, microsecond=0).timestamp()
    assert families["resee_cpu_usage"].samples[0].value == 12.0
    assert "resee_db_size" not in families


def test_when_collection_stopped_only_its_timestamp_is_served(settings) -> None:
    settings.METRICS_BEARER_TOKEN = TOKEN
    at = (timezone.now() - timedelta(minutes=7)).replace(second=0, microsecond=0)
    record_samples("queue_active_workers", [2.0], end=at)

    families = scrape(Client())

    assert families["resee_metrics_collected_timestamp_seconds"].samples[0].value == at.timestamp()
    assert "resee_queue_active_workers" not in families
