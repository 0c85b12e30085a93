"""Portability tests: files under a temporary directory; jobs run inline when their transaction commits."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django_q.conf import Conf

from modules.identity.testing import auth_headers
from modules.portability import selectors


@pytest.fixture(autouse=True)
def _portability_dirs(settings, tmp_path: Path) -> None:
    settings.PORTABILITY_EXPORT_DIR = tmp_path / "exports"
    settings.PORTABILITY_UPLOAD_DIR = tmp_path / "uploads"


@pytest.fixture
def upload(django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """POSTs a file to the import route (the job runs inline) and answers the response."""

    def post(user: Any, path: Path, kind: str, **fields: Any) -> Any:
        client = Client(headers=auth_headers(user))
        with path.open("rb") as file, django_capture_on_commit_callbacks(execute=True):
            return client.post("/api/portability/imports/", {"kind": kind, "file": file, **fields})

    return post


@pytest.fixture
def job_of() -> Callable[..., dict[str, Any]]:
    def get(user: Any, kind: str, job_id: int) -> dict[str, Any]:
        response = Client(headers=auth_headers(user)).get(f"/api/portability/{kind}/{job_id}/")
        assert response.status_code == 200, response.content
        return response.json()

    return get


@pytest.fixture
def slow_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks wait in the ORM broker as in production (no worker here), and each request lingers between
    counting the learner's jobs and creating its own: without a lock, every request would pass."""
    monkeypatch.setattr(Conf, "SYNC", False)
    count = selectors.unfinished_jobs_seen_since

    def counted_slowly(*args: Any, **kwargs: Any) -> Any:
        result = count(*args, **kwargs)
        time.sleep(0.2)
        return result

    monkeypatch.setattr(selectors, "unfinished_jobs_seen_since", counted_slowly)
