"""One JSON access line per request, with a request id every line of the request carries."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from config.logging import JsonFormatter, RequestIdFilter, request_id_var


def _access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "resee.access"]


def test_each_request_is_logged_once_with_its_id_and_without_its_query_string(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="resee.access"):
        response = Client().get("/api/health/live/?token=abc.def.ghi")
    [record] = _access_records(caplog)
    assert response.status_code == 200
    assert response["X-Request-ID"] and len(response["X-Request-ID"]) == 32
    assert (record.method, record.path, record.status) == ("GET", "/api/health/live/", 200)
    assert record.duration_ms >= 0
    line = JsonFormatter().format(record)
    assert "token" not in line and json.loads(line)["status"] == 200


def test_a_plain_request_id_from_the_proxy_is_kept_and_a_strange_one_replaced() -> None:
    kept = Client().get("/api/health/live/", headers={"X-Request-ID": "edge-1234abcd"})
    replaced = Client().get("/api/health/live/", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert kept["X-Request-ID"] == "edge-1234abcd"
    assert replaced["X-Request-ID"] != "<script>alert(1)</script>"


@pytest.mark.django_db
def test_an_error_answer_is_logged_with_its_status(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="resee.access"):
        Client().get("/api/review/today/")
    [record] = _access_records(caplog)
    assert record.status == 401 and record.user_id is None


def test_records_written_during_a_request_carry_its_id() -> None:
    record = logging.makeLogRecord({"msg": "inside"})
    token = request_id_var.set("req-42-abcdef")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    outside = logging.makeLogRecord({"msg": "outside"})
    RequestIdFilter().filter(outside)
    assert json.loads(JsonFormatter().format(record))["request_id"] == "req-42-abcdef"
    assert "request_id" not in json.loads(JsonFormatter().format(outside))
