"""A bug in an import or an export (any exception the job does not expect) fails the job with a message
instead of leaving it "running" until the prune's stale sweep hours later, and keeps nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from modules.identity.testing import auth_headers, make_user
from modules.learning.testing import make_content
from modules.portability.formats import anki, bundle
from modules.portability.testing import Note, build_package
from tests.portability.test_hostile_files import nothing_changed

pytestmark = pytest.mark.django_db


def _broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError("a bug")


def test_an_import_that_raises_unexpectedly_is_failed_and_keeps_nothing(
    tmp_path: Path, upload, job_of, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(anki, "read_collection", _broken)
    package = build_package(tmp_path / "deck.apkg", [Note(["Front", "Back"], timezone.now())])
    user = make_user()

    job = job_of(user, "imports", upload(user, package, "apkg").json()["id"])

    assert (job["status"], job["error_code"]) == ("failed", "import_failed"), job
    assert "unexpectedly" in job["error"]
    assert nothing_changed(user)
    assert "import failed unexpectedly" in caplog.text


def test_an_export_that_raises_unexpectedly_is_failed_and_leaves_no_file(
    monkeypatch, settings, tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    settings.PORTABILITY_EXPORT_DIR = tmp_path
    monkeypatch.setattr(bundle, "write_json", _broken)
    user = make_user()
    make_content(user=user)
    client = Client(headers=auth_headers(user))

    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            "/api/portability/exports/", {"format": "json"}, content_type="application/json"
        )
    job = client.get(f"/api/portability/exports/{created.json()['id']}/").json()

    assert (job["status"], job["error_code"]) == ("failed", "export_failed"), job
    assert list(tmp_path.iterdir()) == []
